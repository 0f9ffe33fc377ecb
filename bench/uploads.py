"""Uploads benchmark: « Ajouter » against a raw streaming endpoint of the same server.

5 MiB PDFs (a real PDF padded with an uncompressed content stream, so the full inspection runs:
magic bytes, strict parse, scan of every object, fsync, record update) are POSTed 1 and 8 at a time
to the real « Ajouter » route of a logged-in candidate, and the very same multipart bodies to
``/_bench/raw``, a trivial route added to the bench's own app that copies ``request.stream()`` to
/dev/null. Both go through the same middlewares (access log, headers, session, CSRF).
Targets: service >= 0.8x the raw MiB/s; server's peak RSS < 64 MiB above idle at 8 concurrent uploads.

The server runs in a subprocess (this file with --serve), so that /proc/<pid>/status (VmRSS, VmHWM)
is the server's own; its data directory is a fresh temporary one on the real disk (fsync costs what
it costs), and its notice is a copy with the window open today and the upload quotas raised to the
schema's maxima; the files are removed through « Supprimer » between rounds.
Run: .venv/bin/python bench/uploads.py [--rounds 3] [--n1 16] [--n8 40] [--strict-target]   (about 15 s)
     .venv/bin/python bench/uploads.py --quick   (1 MiB files, a few of them: does it still run? a few
     seconds; the figures are only indicative and a missed target never fails the run)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
from common import (
    Peak,
    birth_date_for_age,
    free_port,
    run_concurrently,
    status_kib,
    valid_enrolment_form,
    wait_for,
)

if TYPE_CHECKING:
    from formservice.notice import Notice
    from formservice.settings import Settings

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
PASSWORD = "une phrase de passe de banc d'essai"
EMAIL = "banc.envois{}@exemple.fr"
# One candidate per concurrent upload: the service lets one account have only two uploads in
# flight (fairness), and a real evening peak is many candidates, not one sending eight files.
CANDIDATES = 8
SECRET = "bench-secret-key-0123456789abcdefghijkl"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ADD_RE = re.compile(r'action="/espace/justificatifs/([^/"]+)/ajouter"')
REMOVE_RE = re.compile(r'href="(/espace/justificatifs/fichier/[^/"]+/supprimer)"')
# Quotas at the schema's maxima (notice.Uploads), the file size as in the repository's notice.
RAISED_QUOTAS = {"max_files_per_document": 20, "max_files_total": 200, "max_total_mb": 2000}


# -- the server (subprocess) -----------------------------------------------------------------------


def server_settings(tmp: Path, port: int) -> Settings:
    from formservice.settings import Argon2Params, Settings

    return Settings(
        notice_path=tmp / "notice.yml",
        data_dir=tmp / "var",
        site_dir=tmp / "site",
        base_url=f"http://127.0.0.1:{port}",
        secret_keys=(SECRET,),
        argon2=Argon2Params(time_cost=1, memory_cost=1024, parallelism=1),  # one login, not measured
        hash_concurrency=1,
        echo_outbox=False,
    )


def serve(tmp: Path, port: int) -> None:
    """The service as `formservice serve` builds it, plus the raw endpoint."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from formservice.web.app import create_app
    from formservice.web.middleware.csrf import streams_csrf

    @streams_csrf  # multipart is refused (415) on routes not marked; this one checks no token
    async def raw(request: Request) -> PlainTextResponse:
        received = 0
        with open(os.devnull, "wb") as sink:
            async for chunk in request.stream():
                sink.write(chunk)
                received += len(chunk)
        return PlainTextResponse(str(received))

    app = create_app(server_settings(tmp, port))
    app.router.routes.insert(0, Route("/_bench/raw", raw, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, server_header=False)


def bench_notice(tmp: Path) -> None:
    from formservice.server import demo_notice_text

    text = demo_notice_text((REPO / "notice.yml").read_text(encoding="utf-8"), date.today())
    for key, value in RAISED_QUOTAS.items():
        text, count = re.subn(rf"(?m)^(\s+{key}):\s*\d+\s*$", rf"\g<1>: {value}", text)
        assert count == 1, f"uploads.{key} not found in notice.yml"
    (tmp / "notice.yml").write_text(text, encoding="utf-8")


# -- the file and the bodies ---------------------------------------------------------------------


def padded_pdf(size: int) -> bytes:
    """A valid one-page PDF of exactly `size` bytes: text, then comment lines in its (uncompressed)
    content stream, which every PDF reader parses and the upload checks accept."""
    from pypdf import PdfWriter
    from pypdf.generic import ContentStream, DictionaryObject, NameObject

    def build(padding: int) -> bytes:
        writer = PdfWriter()
        page = writer.add_blank_page(595, 842)
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        line = b"% " + b"scan " * 15 + b"\n"  # 78 bytes
        body = b"BT /F1 24 Tf 72 760 Td (Piece justificative) Tj ET\n"
        body += line * (padding // len(line)) + b"%" * (padding % len(line))
        content = ContentStream(None, writer)
        content.set_data(body)
        page.replace_contents(content)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    padding = size - len(build(0))
    for _ in range(5):  # the stream's /Length and the xref offsets grow with it: converge
        data = build(padding)
        if len(data) == size:
            return data
        padding += size - len(data)
    raise AssertionError(f"could not build a PDF of {size} bytes")


def multipart(csrf: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """The body a browser sends for the « Ajouter » form: the token first, then the file."""
    boundary = "----formservicebench" + secrets.token_hex(8)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# -- the client -----------------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def form_post(client: httpx.AsyncClient, page: str, path: str, data: dict[str, str]) -> httpx.Response:
    token = csrf_of((await client.get(page)).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def candidate(client: httpx.AsyncClient, outbox: Path, notice: Notice, email: str) -> list[str]:
    """Sign up, activate from the outbox mail, log in, « Enregistrer » an enrolment; returns the
    ids of the documents required for it."""
    account = {"email": email, "email_confirm": email, "password": PASSWORD, "password_confirm": PASSWORD}
    r = await form_post(client, "/compte/creer", "/compte/creer", account | {"accept": "oui"})
    assert r.status_code == 200, r.status_code
    link = ""
    for _ in range(200):
        for path in outbox.glob("*.eml"):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            if msg["To"] != email:
                continue
            body = msg.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"https?://\S+/compte/activer/\S+", str(body.get_content()))
            link = found.group(0) if found else link
        if link:
            break
        await anyio.sleep(0.05)
    activate = httpx.URL(link).path
    r = await form_post(client, activate, activate, {})
    assert r.status_code == 200 and "Votre compte est activé" in r.text, r.status_code
    r = await form_post(
        client, "/compte/connexion", "/compte/connexion", {"email": email, "password": PASSWORD}
    )
    assert r.status_code == 303, r.status_code
    young = birth_date_for_age(notice, 20)  # young enough for every piece the notice can ask for
    enrolment = valid_enrolment_form(notice, birth_date=young)
    r = await form_post(client, "/espace/inscription", "/espace/inscription", enrolment)
    assert r.status_code == 303, (r.status_code, r.text[:2000])
    documents = ADD_RE.findall((await client.get("/espace/justificatifs")).text)
    assert documents, "no « Ajouter » form on « Mes justificatifs »"
    return documents


async def remove_all(client: httpx.AsyncClient) -> int:
    html = (await client.get("/espace/justificatifs")).text
    paths = REMOVE_RE.findall(html)
    token = csrf_of(html)
    for path in paths:
        r = await client.post(path, data={"csrf_token": token})
        assert r.status_code == 303, r.status_code
    return len(paths)


async def run(args: argparse.Namespace, base_url: str, tmp: Path, pid: int) -> bool:
    from formservice.notice import load_notice

    outbox = tmp / "var" / "outbox"
    size = args.size_mib * MIB
    pdf = padded_pdf(size)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with contextlib.AsyncExitStack() as stack:
        notice = load_notice(tmp / "notice.yml")
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits))
            for _ in range(CANDIDATES)
        ]
        documents = [await candidate(c, outbox, notice, EMAIL.format(i)) for i, c in enumerate(clients)]
        prepared = []
        for c in clients:
            token = csrf_of((await c.get("/espace/justificatifs")).text)
            body, ctype = multipart(token, "justificatif.pdf", pdf)
            prepared.append((body, {"Content-Type": ctype}))
        client = clients[0]

        async def service(i: int) -> None:
            who = i % CANDIDATES
            body, headers = prepared[who]
            pieces = documents[who]
            r = await clients[who].post(
                f"/espace/justificatifs/{pieces[(i // CANDIDATES) % len(pieces)]}/ajouter",
                content=body,
                headers=headers,
            )
            assert r.status_code == 303, (r.status_code, re.findall(r'class="error"[^>]*>([^<]+)', r.text))

        async def raw(i: int) -> None:
            body, headers = prepared[0]
            r = await client.post("/_bench/raw", content=body, headers=headers)
            assert r.status_code == 200 and int(r.text) == len(body), (r.status_code, r.text[:200])

        async def remove_everything() -> int:
            return sum([await remove_all(c) for c in clients])

        rss_start = status_kib(pid, "VmRSS")
        await run_concurrently(
            2, 1, service
        )  # warm-up: imports (pypdf...), worker threads, first store writes
        await run_concurrently(2, 1, raw)
        await remove_everything()
        await anyio.sleep(0.5)
        idle = status_kib(pid, "VmRSS")

        # Memory first, from idle: 8 concurrent raw, then 8 concurrent through « Ajouter » (the
        # allocator keeps what the service freed, so a raw measure after it would inherit it).
        peaks: dict[str, int] = {}
        for name, one in (("raw", raw), ("service", service)):
            with Peak(pid) as peak:
                await run_concurrently(args.n8, 8, one)
            peaks[name] = peak.kib
        assert await remove_everything() == args.n8, "an accepted upload is not listed"

        best: dict[tuple[str, int], float] = {}
        for _ in range(args.rounds):
            for concurrency, n in ((1, args.n1), (8, args.n8)):
                for name, one in (("raw", raw), ("service", service)):
                    rate = n * size / MIB / await run_concurrently(n, concurrency, one)
                    best[name, concurrency] = max(best.get((name, concurrency), 0.0), rate)
                assert await remove_everything() == n, "an accepted upload is not listed"
        retained = status_kib(pid, "VmRSS")

    cpus = os.cpu_count()
    print(
        f"{args.size_mib} MiB PDF uploads, {args.n1} per measure at 1, {args.n8} at 8 concurrent, best of "
        f"{args.rounds}; {cpus} CPUs; data dir on {data_fs(outbox)}"
    )
    print(f"{'concurrency':<13}{'raw MiB/s':>11}{'service MiB/s':>15}{'ratio':>9}   target")
    ok = True
    for concurrency in (1, 8):
        raw_rate, svc_rate = best["raw", concurrency], best["service", concurrency]
        ratio = svc_rate / raw_rate
        ok &= ratio >= 0.8
        print(f"{concurrency:<13}{raw_rate:>11.1f}{svc_rate:>15.1f}{ratio:>8.2f}x   >= 0.8x")
    above = (peaks["service"] - idle) / 1024
    ok &= above < 64
    print(
        f"server RSS: {rss_start / 1024:.1f} MiB at start, {idle / 1024:.1f} MiB idle after warm-up; "
        f"peak at 8 concurrent: service {peaks['service'] / 1024:.1f} MiB "
        f"(+{above:.1f} MiB above idle, target < 64), raw {peaks['raw'] / 1024:.1f} MiB "
        f"(+{(peaks['raw'] - idle) / 1024:.1f} MiB); {retained / 1024:.1f} MiB after all the rounds"
    )
    return ok


def data_fs(path: Path) -> str:
    """The file system type of the data directory (fsync is free on tmpfs)."""
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if str(path).startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n1", type=int, default=16, help="uploads per measure, one at a time")
    parser.add_argument("--n8", type=int, default=40, help="uploads per measure, 8 at a time")
    parser.add_argument("--size-mib", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--strict-target", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--quick", action="store_true", help="1 round of a few 1 MiB uploads; never exits 1 on a target"
    )
    parser.add_argument("--serve", nargs=2, metavar=("TMP", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    if args.quick:
        args.rounds, args.n1, args.n8, args.size_mib = 1, 2, 8, 1

    tmp = Path(tempfile.mkdtemp(prefix="bench-uploads-", dir=os.environ.get("BENCH_TMP")))
    bench_notice(tmp)
    port = free_port()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(tmp), str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    ok = False
    try:
        wait_for(port, proc)
        ok = anyio.run(run, args, f"http://127.0.0.1:{port}", tmp, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        server_log = (tmp / "server.log").read_text(errors="replace").strip()
        if server_log and (proc.returncode not in (0, -15) or not ok):
            print(server_log[-4000:], file=sys.stderr)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("All targets met." if ok else "TARGET MISSED (see above).")
    sys.exit(1 if args.strict_target and not ok and not args.quick else 0)


if __name__ == "__main__":
    main()
