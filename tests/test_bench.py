"""The benchmarks still run: each bench/*.py with --quick exits 0 and prints its ratio lines.

--quick runs tiny sizes on a shared machine: the figures are not checked against the targets
(a script may say "TARGET MISSED" and must still exit 0), only that every measure was taken and
reported. The benchmarks proper are `make bench`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
RATIO = r"\d+\.\d\dx"
VERDICT = r"^(All targets met\.|TARGET MISSED\b.*)$"

# script -> the lines its report must hold (regular expressions, one line each)
EXPECTED: dict[str, list[str]] = {
    "site_build.py": [
        rf"^ratio publish / empty site\s+: {RATIO} \(target <= 1\.5x\) (OK|TARGET MISSED)$",
    ],
    "store.py": [
        rf"^{op}\s+\d+\.\d\d\s+\d+\.\d\d\s+{RATIO}"
        for op in ("insert, 1 writer", "insert, 32 writers", "lookup by e-mail", "checked update")
    ]
    + [r"^Memory, child process opening our \d+-record store: ", VERDICT],
    "accounts.py": [
        rf"^signups \(GET \+ POST\)\s+\d+\.\d\s+{RATIO} \(>= 0\.9x\)",
        rf"^logins \(GET \+ POST\)\s+\d+\.\d\s+{RATIO} \(>= 0\.9x\)",
        rf"^GET /espace\s+\d+\.\d\s+{RATIO} \(>= 0\.5x\)",
        VERDICT,
    ],
    "backoffice.py": [
        rf"^{name}\s+\d+\s+\d+\s+{RATIO}\s+{RATIO}$"
        for name in ("GET /espace", "list, state filter", "list, name search", "dossier page")
    ]
    + [VERDICT],
    "exports.py": [rf"^{fmt}\s+[\d,]+\s+\d+\.\d\d\s+\d+\.\d\s+\d+\.\d$" for fmt in ("csv", "xlsx")]
    + [
        rf"^(csv|xlsx) of [\d,]+: \d+\.\d\d s, {RATIO} the \d+ s target (OK|TARGET MISSED)$",
        rf"^zip \d+\.\d MiB/s vs raw read \d+\.\d MiB/s: {RATIO} \(target >= 0\.5x\) (OK|TARGET MISSED)$",
        rf"^zip \d+\.\d MiB/s vs the HTTP stack alone streaming as many bytes \d+\.\d MiB/s: {RATIO} ",
        VERDICT,
    ],
    "scale.py": [
        rf"^{name}\s+\d+\.\d\s+\d+\s+{RATIO}\s+\d+$"
        for name in ("TinyDB, 1 worker", "PostgreSQL, 1 worker", "PostgreSQL, 2 workers")
    ]
    + [
        rf"^ratio PostgreSQL 2 workers / TinyDB 1 worker: {RATIO} \(target >= 0\.8x\) (OK|TARGET MISSED)$",
        r"^p99 PostgreSQL 2 workers: \d+ ms \(target < 300 ms\) (OK|TARGET MISSED)$",
        r"^pgbench, a save's write .*: \d+ TPS$",
        r"^projection: \d+ candidates, .* \d+ requests/s at the peak$",
        VERDICT,
    ],
    "uploads.py": [rf"^{concurrency}\s+\d+\.\d\s+\d+\.\d\s+{RATIO}\s+>= 0\.8x$" for concurrency in (1, 8)]
    + [r"^server RSS: .* peak at 8 concurrent: service ", VERDICT],
}


def test_every_benchmark_is_covered() -> None:
    """A new bench script gets its expected lines here, so it is run like the others."""
    scripts = {p.name for p in BENCH.glob("*.py")} - {"common.py"}
    assert scripts == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_runs_quick_and_reports_its_ratios(script: str) -> None:
    """``bench/<script> --quick`` exits 0 within a minute and prints each of its ratio lines."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    missing = [pattern for pattern in EXPECTED[script] if not re.search(pattern, done.stdout, re.MULTILINE)]
    assert not missing, f"lines not printed: {missing}\n{report}"
