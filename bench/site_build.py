"""Time `formservice publish` against the floor: `mkdocs build` of an empty Material site.

Both run as child processes in the same run, alternately, so the machine's load weighs on both
alike; the medians of several runs are compared. Target: publish at most 1.5x the floor (it
adds the validation of notice.yml, our pages, the .ics/.json files and the CSP hashes).

    .venv/bin/python bench/site_build.py [--runs 7] [--strict-target]
    .venv/bin/python bench/site_build.py --quick   (one run of each, no warm-up: does it still run?
                                                    the ratio is only indicative, never fails)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5
EMPTY_CONFIG = "site_name: Vide\ntheme:\n  name: material\n"


def timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--strict-target", action="store_true", help="exit 1 when above the target")
    parser.add_argument("--quick", action="store_true", help="1 run, no warm-up; never exits 1 on the target")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1

    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp_name:
        tmp = Path(tmp_name)
        empty = tmp / "empty"
        (empty / "docs").mkdir(parents=True)
        (empty / "mkdocs.yml").write_text(EMPTY_CONFIG, encoding="utf-8")
        (empty / "docs" / "index.md").write_text("# Vide\n", encoding="utf-8")
        floor_cmd = [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp / "empty-site")]
        publish_cmd = [
            sys.executable, "-m", "formservice.cli", "publish",
            "--notice", str(ROOT / "notice.yml"), "--site-dir", str(tmp / "site"),
        ]  # fmt: skip

        if not args.quick:
            timed(floor_cmd, empty)  # warm the file cache for both
            timed(publish_cmd, ROOT)
        floor: list[float] = []
        ours: list[float] = []
        for _ in range(args.runs):
            floor.append(timed(floor_cmd, empty))
            ours.append(timed(publish_cmd, ROOT))

    floor_s, ours_s = statistics.median(floor), statistics.median(ours)
    ratio = ours_s / floor_s
    print(f"mkdocs build, empty Material site : median {floor_s:.3f} s over {args.runs} runs")
    print(f"formservice publish                : median {ours_s:.3f} s over {args.runs} runs")
    verdict = "OK" if ratio <= TARGET else "TARGET MISSED"
    print(f"ratio publish / empty site         : {ratio:.2f}x (target <= {TARGET}x) {verdict}")
    return 1 if args.strict_target and ratio > TARGET and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
