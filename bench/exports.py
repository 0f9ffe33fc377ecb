"""Exports benchmark: CSV and XLSX of 1k, 10k and 100k dossiers, ZIP of 1,000 dossiers' pieces.

For each size, the server runs in a subprocess (this file with --serve) over a TinyDB data
directory filled beforehand (dossiers in five states built with the real rules, their
candidates' accounts, one administrateur's session), and the export is downloaded from
/gestion/exports by a streaming client that throws the bytes away. Measured: seconds to the last
byte, and the server's peak RSS above its idle RSS (VmHWM reset before, and a 5 ms sampler).
The ZIP's throughput (MiB of files per second, from the POST to the last byte) is compared with
the raw read speed of the very same files, read in the same run by this process, and with the
HTTP stack alone: a bare Starlette app under the same uvicorn streaming as many bytes, in chunks
of the ZIP's size, to the same client (what no export can beat: uvicorn's h11 and httpx's parse
every byte in Python, on the same cores).
Targets: CSV of 100k dossiers <= 5 s, XLSX <= 20 s, memory above idle < 64 MiB for every export
at every size (flat: streaming), ZIP >= 0.5x the raw read speed.

    .venv/bin/python bench/exports.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
from common import REPO, Peak, free_port, status_kib, wait_for

SECRET = "bench-exports-secret-0123456789abcdefghij"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
MIB = 1024 * 1024
TARGETS = {"csv": 5.0, "xlsx": 20.0}  # seconds at the largest size
MEMORY_TARGET_MIB = 64
ZIP_TARGET = 0.5
STEP = 500  # documents inserted in one atomic step while filling
EXPECTED_ROWS = [0]  # the dossiers in the store being measured (the CSV must hold them all)


def settings_for(data_dir: Path, port: int) -> Any:
    from formservice.settings import Argon2Params, Settings

    return Settings(
        notice_path=REPO / "notice.yml",
        data_dir=data_dir,
        site_dir=data_dir / "site",
        base_url=f"http://127.0.0.1:{port}",
        secret_keys=(SECRET,),
        argon2=Argon2Params(time_cost=1, memory_cost=1024, parallelism=1),
        echo_outbox=False,
    )


def serve(data_dir: Path, port: int) -> None:
    from formservice.web.app import create_app

    _run(create_app(settings_for(data_dir, port)), port)


def serve_blob(total: int, port: int) -> None:
    """The HTTP stack alone: ``total`` bytes streamed in chunks of the ZIP's size."""
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from formservice.reporting.archive import ZIP_CHUNK

    blob = secrets.token_bytes(ZIP_CHUNK)

    async def chunks() -> Any:
        for start in range(0, total, ZIP_CHUNK):
            yield blob[: total - start]

    async def view(request: Any) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="application/octet-stream")

    _run(Starlette(routes=[Route("/", view)]), port)


def _run(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, server_header=False)


# -- the data --------------------------------------------------------------------------------------


def templates() -> list[Any]:
    """One dossier per state the office sees most, built with the real rules."""
    from review.dossiers import in_state

    from formservice.review.states import Action, State

    return [
        in_state(State.BROUILLON),
        in_state(State.DEPOSE),
        in_state(State.EN_VERIFICATION, Action.ACCEPT),
        in_state(State.INCOMPLET),
        in_state(State.COMPLET),
    ]


def dossier(template: dict[str, Any], i: int, session: str) -> dict[str, Any]:
    doc = copy.deepcopy(template)
    account_id = f"a{i:031d}"
    doc.update(id=f"d{i:07d}", key=f"{account_id}:{session}", account_id=account_id)
    doc["data"] = {**doc["data"], "last_name": f"Nom{i:07d}", "first_names": "Zoé", "postal_code": "01000"}
    doc["email"] = f"candidat{i:07d}@exemple.fr"
    for n, meta in enumerate(doc["files"]):
        meta["stored_name"] = f"b{i:07d}-{n}.pdf"
    return doc


def account(i: int, now: str) -> dict[str, Any]:
    return {
        "id": f"a{i:031d}",
        "email": f"candidat{i:07d}@exemple.fr",
        "status": "active",
        "password_hash": "x",
        "created_at": now,
        "activated_at": now,
        "password_changed_at": now,
    }


async def fill(data_dir: Path, start: int, stop: int, sid_key: str) -> None:
    """Dossiers ``start`` to ``stop`` (and their accounts), STEP documents per atomic step; the
    administrateur and its session at the first call."""
    from formservice.clock import to_iso
    from formservice.notice import load_notice
    from formservice.review.listing import with_listing
    from formservice.store.tinydb.engine import TinyDBEngine

    notice = load_notice(REPO / "notice.yml")
    session = notice.session.name
    shapes = templates()
    now = to_iso(datetime.now(UTC))
    engine = TinyDBEngine(data_dir / "store")
    try:
        if start == 0:
            await engine.insert("staff", staff_member(now))
            record = {"id": sid_key, "staff_id": "s1", "created_at": now, "last_seen": now}
            await engine.insert("staff_sessions", record)
        for first in range(start, stop, STEP):
            numbers = range(first, min(stop, first + STEP))
            # As the service writes them: the e-mail copied, the list fields derived.
            docs: list[tuple[str, dict[str, Any]]] = [
                (
                    "enrolments",
                    dict(with_listing(cast(Any, dossier(shapes[i % len(shapes)], i, session)), notice)),
                )
                for i in numbers
            ]
            docs += [("accounts", account(i, now)) for i in numbers]
            await engine.insert(docs[0][0], docs[0][1], effects=_the(docs[1:]))
    finally:
        await engine.close()


def _the(docs: list[tuple[str, dict[str, Any]]]) -> Any:
    """Engine effects inserting ``docs`` in the same atomic step."""
    return lambda _doc: docs


def staff_member(now: str) -> dict[str, Any]:
    return {
        "id": "s1",
        "email": "admin@ac-poitiers.fr",
        "role": "administrateur",
        "poles": [],
        "status": "active",
        "password_hash": "x",
        "totp_secret": None,
        "totp_last_step": 0,
        "recovery_codes": [],
        "invited_at": now,
        "invited_by": None,
        "activated_at": now,
        "disabled_at": None,
        "disabled_by": None,
        "created_at": now,
    }


def write_files(data_dir: Path, count: int, size: int) -> int:
    """The pieces of the first ``count`` dossiers on disk (random bytes: stored, not compressed,
    in the ZIP as PDFs are); returns the bytes written."""
    total = 0
    shapes = templates()
    for i in range(count):
        folder = data_dir / "uploads" / f"a{i:031d}"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(len(shapes[i % len(shapes)]["files"])):
            (folder / f"b{i:07d}-{n}.pdf").write_bytes(secrets.token_bytes(size))
            total += size
    return total


def raw_read(data_dir: Path, count: int) -> float:
    """MiB/s reading the same files as the ZIP (warm: the ZIP's run read them just before)."""
    total, started = 0, time.perf_counter()
    for i in range(count):
        for path in (data_dir / "uploads" / f"a{i:031d}").iterdir():
            with path.open("rb") as f:
                while chunk := f.read(1024 * 1024):
                    total += len(chunk)
    return total / MIB / (time.perf_counter() - started)


# -- the measures ---------------------------------------------------------------------------------


async def download(client: httpx.AsyncClient, fmt: str) -> tuple[int, float]:
    """(bytes received, seconds from the POST to the last byte: the form's page is not timed)."""
    page = await client.get("/gestion/exports")
    assert page.status_code == 200, page.status_code
    token = CSRF_RE.search(page.text)
    assert token, "no CSRF token"
    received = lines = 0
    started = time.perf_counter()
    async with client.stream(
        "POST", "/gestion/exports", data={"csrf_token": token.group(1), "format": fmt}
    ) as r:
        assert r.status_code == 200, r.status_code
        async for chunk in r.aiter_raw():
            received += len(chunk)
            lines += chunk.count(b"\r\n")
    seconds = time.perf_counter() - started
    if fmt == "csv":  # an export that lost dossiers would be fast for a bad reason
        assert lines - 1 == EXPECTED_ROWS[0], f"CSV of {lines - 1} rows, {EXPECTED_ROWS[0]} dossiers stored"
    return received, seconds


async def measure(
    base_url: str, sid: str, pid: int, formats: list[str]
) -> dict[str, tuple[float, float, int]]:
    """(seconds, MiB above idle, bytes) per format."""
    cookies = {cookie_name(): sid}
    results = {}
    async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=600) as client:
        await client.get("/gestion/exports")  # warm-up: templates, imports
        for fmt in formats:
            idle = status_kib(pid, "VmRSS")
            with Peak(pid) as peak:
                size, seconds = await download(client, fmt)
            results[fmt] = (seconds, max(0, peak.kib - idle) / 1024, size)
    return results


def http_stack(total: int) -> float:
    """MiB/s of the HTTP stack alone streaming ``total`` bytes (best of three, as warm as the ZIP)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-blob", str(total), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(port, proc, timeout=60)
        return max(asyncio.run(_blob_speed(port, total)) for _ in range(3))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _blob_speed(port: int, total: int) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        started, received = time.perf_counter(), 0
        async with client.stream("GET", f"http://127.0.0.1:{port}/") as r:
            async for chunk in r.aiter_raw():
                received += len(chunk)
        assert received == total, (received, total)
        return received / MIB / (time.perf_counter() - started)


def run_server(data_dir: Path, sid: str, formats: list[str]) -> dict[str, tuple[float, float, int]]:
    port = free_port()
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(data_dir), str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(port, proc, timeout=300)
        return asyncio.run(measure(f"http://127.0.0.1:{port}", sid, proc.pid, formats))
    except Exception:
        print((data_dir / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def cookie_name() -> str:
    return str(settings_for(REPO / "var", 0).staff_cookie_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: does it still run?")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-blob", nargs=2, metavar=("BYTES", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return 0
    if args.serve_blob:
        serve_blob(int(args.serve_blob[0]), int(args.serve_blob[1]))
        return 0
    from formservice.web.middleware.sessions import new_sid, session_key

    sizes = [200, 1_000] if args.quick else [1_000, 10_000, 100_000]
    zip_count, file_size = (50, 20_000) if args.quick else (1_000, 100_000)
    sid = new_sid()
    tmp = Path(tempfile.mkdtemp(prefix="bench-exports-", dir=os.environ.get("BENCH_TMP")))
    data_dir = tmp / "var"
    rows: dict[int, dict[str, tuple[float, float, int]]] = {}
    try:
        done = 0
        for size in sizes:
            asyncio.run(fill(data_dir, done, size, session_key(sid)))
            if done == 0:
                file_bytes = write_files(data_dir, zip_count, file_size)
            done = size
            formats = ["csv", "xlsx", "zip"] if size == sizes[0] else ["csv", "xlsx"]
            EXPECTED_ROWS[0] = size
            rows[size] = run_server(data_dir, sid, formats)
            if size == sizes[0]:
                raw = raw_read(data_dir, zip_count)
                stack = http_stack(rows[size]["zip"][2])
        return report(sizes, rows, zip_count, file_bytes, (raw, stack))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


Rows = dict[int, dict[str, tuple[float, float, int]]]


def report(sizes: list[int], rows: Rows, zip_count: int, file_bytes: int, speeds: tuple[float, float]) -> int:
    """``speeds``: the raw read of the ZIP's files and the HTTP stack alone, in MiB/s."""
    raw, stack = speeds
    largest, missed = sizes[-1], []
    print(f"Exports from /gestion/exports, server in a subprocess, TinyDB engine; sizes {sizes}")
    print(f"{'export':<8}{'dossiers':>10}{'seconds':>10}{'MiB':>10}{'MiB above idle':>16}")
    for size in sizes:
        for fmt, (seconds, above, nbytes) in rows[size].items():
            if fmt != "zip":
                print(f"{fmt:<8}{size:>10,}{seconds:>10.2f}{nbytes / MIB:>10.1f}{above:>16.1f}")
            if above >= MEMORY_TARGET_MIB:
                missed.append(f"{fmt} of {size:,}: {above:.1f} MiB above idle >= {MEMORY_TARGET_MIB}")
    for fmt, target in TARGETS.items():
        seconds = rows[largest][fmt][0]
        verdict = "OK" if seconds <= target else "TARGET MISSED"
        print(
            f"{fmt} of {largest:,}: {seconds:.2f} s, {seconds / target:.2f}x the {target:.0f} s target "
            f"{verdict}"
        )
        if seconds > target:
            missed.append(f"{fmt} of {largest:,}: {seconds:.2f} s > {target:.0f} s")
    seconds, above, _ = rows[sizes[0]]["zip"]
    speed = file_bytes / MIB / seconds
    ratio = speed / raw
    verdict = "OK" if ratio >= ZIP_TARGET else "TARGET MISSED"
    print(
        f"zip of {zip_count:,} dossiers' pieces: {file_bytes / MIB:.1f} MiB in {seconds:.2f} s, "
        f"{above:.1f} MiB above idle"
    )
    print(
        f"zip {speed:.1f} MiB/s vs raw read {raw:.1f} MiB/s: {ratio:.2f}x (target >= {ZIP_TARGET}x) {verdict}"
    )
    seconds_alone = rows[sizes[0]]["zip"][2] / MIB / stack
    print(
        f"zip {speed:.1f} MiB/s vs the HTTP stack alone streaming as many bytes {stack:.1f} MiB/s: "
        f"{speed / stack:.2f}x (the archive's own cost: {max(0.0, seconds - seconds_alone):.2f} s)"
    )
    if ratio < ZIP_TARGET:
        missed.append(f"zip: {ratio:.2f}x the raw read speed < {ZIP_TARGET}x")
    print(
        f"targets: CSV <= {TARGETS['csv']:.0f} s, XLSX <= {TARGETS['xlsx']:.0f} s at {largest:,}; "
        f"< {MEMORY_TARGET_MIB} MiB above idle for every export; ZIP >= {ZIP_TARGET}x raw read"
    )
    print("TARGET MISSED: " + "; ".join(missed) if missed else "All targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
