"""Scale: the deadline-evening mix at 100,000 candidates, TinyDB (1 worker) against PostgreSQL
(1 and 2 workers), measured in the same run, on this machine.

The mix is a candidate's evening, per request: pages 70 % (« Mon espace », « M'inscrire »,
« Mes justificatifs »), saves 15 % (the form's GET then « Enregistrer »), uploads 10 % (a small
PDF « Ajouter », or a removal when a piece is full), logins 5 % (the login form then its POST,
as another of the 100,000 candidates: argon2id at the production cost). Each simulated user
does one action after another; ``--users`` of them at once, in a client process of their own
(a minimal keep-alive HTTP/1.1 client, bench/common.py).

The service runs as ``formservice serve [--workers N]`` in a child process, with its data as the
operator would have it (settings from the environment, mails as files in the outbox), measured
once its start-up work is done (the list fields checked over every dossier); PostgreSQL
is a real server started here from Debian's binaries, with ``fsync = on`` (durable, as in
production), on the same 2 cores. The store is seeded first: 100,000 activated accounts with a
saved enrolment each (TinyDB through its engine; PostgreSQL in bulk, through the same layout).

Prints requests/s and p99 per configuration, the ratio to TinyDB's (target: PostgreSQL with 2
workers >= 0.8x, p99 < 300 ms), pgbench's TPS of a comparable write (row lock, update of a
dossier, a mail inserted, one transaction), and a projection for a national campaign's last
evening from the measured costs. The last line says "All targets met." or "TARGET MISSED: ...";
the exit code does not depend on it.

    .venv/bin/python bench/scale.py [--candidates 100000] [--seconds 20] [--users 32]
    .venv/bin/python bench/scale.py --quick     (2,000 candidates, a few seconds per run)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import psycopg
from common import REPO, Http, Reply, valid_enrolment_form
from postgres_helpers import ROLE as PG_ROLE
from postgres_helpers import PostgresServer, postgres_bin

from formservice.accounts.passwords import Hasher
from formservice.accounts.rules import ACTIVE, new_account
from formservice.clock import to_iso
from formservice.enrolment import rules
from formservice.notice import Notice, load_notice
from formservice.review.listing import with_listing
from formservice.server import demo_notice_text
from formservice.settings import PRODUCTION_ARGON2
from formservice.store.postgres.layout import dumps, layout
from formservice.store.tinydb.engine import TinyDBEngine

PASSWORD = "une phrase de passe de banc d'essai"
MIX = (("page", 70), ("save", 15), ("upload", 10), ("login", 5))
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION_RE = re.compile(r'name="version" value="(\d+)"')
SECTION_RE = re.compile(r'<section class="card upload" id="piece-([^"]+)">(.*?)</section>', re.S)
FILE_RE = re.compile(r'href="/espace/justificatifs/fichier/([^"/]+)"')
PAGES = ("/espace", "/espace/inscription", "/espace/justificatifs")
SECRET = "banc-d-essai-" + "k7Qz3xW9pL2mN8vB4tR6yH1jF5dS0aGc"
TARGET_RATIO, TARGET_P99_MS = 0.8, 300.0


# -- the campaign's documents -------------------------------------------------------------------


def documents(notice: Notice, count: int, password_hash: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, document): ``count`` active accounts, each with an enrolment saved once."""
    now = datetime.now(UTC)
    data = rules.read_form(valid_enrolment_form(notice), notice).data
    for i in range(count):
        account_id, email = f"acc{i:07d}", f"candidat{i}@exemple.fr"
        account: dict[str, Any] = {**new_account(account_id, email, password_hash, now), "status": ACTIVE}
        account["activated_at"] = to_iso(now)
        yield "accounts", account
        key = f"{account_id}:{notice.session.name}"
        blank = rules.new_enrolment(f"enr{i:07d}", key, account_id, notice, now)
        blank["email"] = email
        doc = rules.save_with_changes(blank, {**data, "last_name": f"Nom{i:07d}"}, 0, notice, now).enrolment
        yield "enrolments", dict(with_listing(doc, notice))


async def seed_tinydb(store_dir: Path, docs: Iterator[tuple[str, dict[str, Any]]]) -> None:
    engine = TinyDBEngine(store_dir)
    try:
        batch: list[tuple[str, dict[str, Any]]] = []
        for item in docs:
            batch.append(item)
            if len(batch) == 1000:
                await asyncio.gather(*(engine.insert(t, d) for t, d in batch))
                batch.clear()
        await asyncio.gather(*(engine.insert(t, d) for t, d in batch))
        await engine.compact()
    finally:
        await engine.close()


def seed_postgres(url: str, docs: Iterator[tuple[str, dict[str, Any]]]) -> None:
    """In bulk, with the engine's own layout (statements, column values, words)."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        rows: dict[str, list[list[Any]]] = {}
        words: list[tuple[str, str]] = []
        for table, doc in docs:
            lay = layout(table)
            stamped = {**doc, "_schema": 1}
            rows.setdefault(table, []).append([doc["id"], dumps(stamped), *lay.values(stamped)])
            words += [(doc["id"], w) for w in lay.words(stamped)]
        for table, values in rows.items():
            cur.executemany(layout(table).insert, values)
        cur.executemany("INSERT INTO enrolments__words (id, word) VALUES (%s, %s)", words)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


# -- the service, in a child process ----------------------------------------------------------------


@dataclass
class Served:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_service(
    name: str, data_dir: Path, notice_path: Path, store: str, workers: int, root: Path
) -> Served:
    with socket_free() as port:
        pass
    env = {
        **os.environ,
        "FORMSERVICE_DATA_DIR": str(data_dir),
        "FORMSERVICE_NOTICE": str(notice_path),
        "FORMSERVICE_SECRET_KEY": SECRET,
        "FORMSERVICE_STORE": store,
        "FORMSERVICE_SITE_DIR": str(root / "site"),
    }
    log = root / f"{name.replace(' ', '_').replace(',', '')}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "formservice.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(name, process, f"http://127.0.0.1:{port}", log)
    asyncio.run(wait_ready(served))
    wait_idle(process.pid)
    return served


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its children (the workers), from /proc."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for one in [pid, *map(int, children.read_text().split() if children.exists() else [])]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_idle(pid: int, timeout: float = 300.0) -> None:
    """Until the service's start-up work (the office's list refreshed over every dossier, the
    files reconciled) is done: less than 5 % of a core over half a second."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before < 0.025:
            return
        before = now


class socket_free:
    """A free loopback port (closed before the service binds it)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


async def wait_ready(served: Served, timeout: float = 120.0) -> None:
    http = Http(served.base_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise SystemExit(f"{served.name}: the service exited\n{served.log.read_text()[-3000:]}")
        try:
            if (await http.request("GET", "/compte/connexion")).status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{served.name}: the service never got ready\n{served.log.read_text()[-3000:]}")


# -- the load: users in a process of their own ---------------------------------------------------------


class User:
    def __init__(self, base_url: str, candidates: int, seed: int, pdf: bytes):
        self.http = Http(base_url)
        self.candidates = candidates
        self.rnd = random.Random(seed)
        self.pdf = pdf
        self.sid: str | None = None
        self.samples: list[tuple[float, float, str]] = []  # (start, seconds, "METHOD path")
        self.errors: list[str] = []

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        started = time.monotonic()
        reply = await self.http.request(method, path, cookie=self.sid, **kwargs)
        kind = f"{method} {re.sub(r'/[A-Za-z0-9_-]{12,}', '/…', path)}"
        self.samples.append((started, time.monotonic() - started, kind))
        return reply

    def expect(self, reply: Reply, *statuses: int, what: str) -> bool:
        if reply.status in statuses:
            return True
        self.errors.append(f"{what}: {reply.status}")
        return False

    async def login(self) -> None:
        self.sid = None
        form = await self.call("GET", "/compte/connexion")
        self.sid = form.cookie("sid")
        email = f"candidat{self.rnd.randrange(self.candidates)}@exemple.fr"
        token = CSRF_RE.search(form.body.decode())
        assert token
        done = await self.call(
            "POST",
            "/compte/connexion",
            form={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        self.sid = done.cookie("sid") if self.expect(done, 303, what="login") else None

    async def page(self) -> None:
        self.expect(await self.call("GET", self.rnd.choice(PAGES)), 200, what="page")

    async def save(self, notice_form: dict[str, str]) -> None:
        page = await self.call("GET", "/espace/inscription")
        text = page.body.decode()
        version, token = VERSION_RE.search(text), CSRF_RE.search(text)
        if not (version and token):
            self.errors.append("save: no form")
            return
        city = f"Ville{self.rnd.randrange(10**6)}"
        form = {**notice_form, "city": city, "version": version.group(1), "csrf_token": token.group(1)}
        self.expect(await self.call("POST", "/espace/inscription", form=form), 303, what="save")

    async def upload(self, max_files: int) -> None:
        page = (await self.call("GET", "/espace/justificatifs")).body.decode()
        token = CSRF_RE.search(page)
        sections = {doc: FILE_RE.findall(body) for doc, body in SECTION_RE.findall(page)}
        if not token or not sections:
            self.errors.append("upload: no page")
            return
        room = [doc for doc, files in sections.items() if len(files) < max_files]
        if not room:
            files = self.rnd.choice(list(sections.values()))
            removal = await self.call(
                "POST",
                f"/espace/justificatifs/fichier/{files[0]}/supprimer",
                form={"csrf_token": token.group(1)},
            )
            self.expect(removal, 303, what="remove")
            return
        boundary = secrets.token_hex(8)
        disposition = f"--{boundary}\r\nContent-Disposition: form-data; name="
        head = (
            f'{disposition}"csrf_token"\r\n\r\n{token.group(1)}\r\n'
            f'{disposition}"file"; filename="piece.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        )
        body = head.encode() + self.pdf + f"\r\n--{boundary}--\r\n".encode()
        reply = await self.call(
            "POST",
            f"/espace/justificatifs/{self.rnd.choice(room)}/ajouter",
            raw=(f"multipart/form-data; boundary={boundary}", body),
        )
        self.expect(reply, 303, what="upload")

    async def run(self, warmup: float, until: float, notice_form: dict[str, str], max_files: int) -> None:
        await anyio.sleep(self.rnd.uniform(0, warmup / 2))  # a crowd that arrives, not one burst
        await self.login()
        actions, weights = [a for a, _ in MIX], [w for _, w in MIX]
        while time.monotonic() < until:
            action = self.rnd.choices(actions, weights)[0]
            if action == "login" or self.sid is None:
                await self.login()
            elif action == "page":
                await self.page()
            elif action == "save":
                await self.save(notice_form)
            else:
                await self.upload(max_files)


def load_process(
    conn: Connection, base_url: str, candidates: int, users: int, seconds: float, notice: str
) -> None:
    """Run ``users`` users for a warm-up then ``seconds``; send back the samples of the measured
    window (start, seconds, kind) and the refusals met."""
    loaded = load_notice(Path(notice))
    form = valid_enrolment_form(loaded)
    pdf = small_pdf()
    warmup = min(3.0, seconds / 3)

    async def main() -> tuple[list[tuple[float, float, str]], list[str]]:
        crowd = [User(base_url, candidates, n, pdf) for n in range(users)]
        start = time.monotonic() + warmup
        async with anyio.create_task_group() as tg:
            for user in crowd:
                tg.start_soon(user.run, warmup, start + seconds, form, loaded.uploads.max_files_per_document)
        window = [x for u in crowd for x in u.samples if start <= x[0] < start + seconds]
        return window, [e for u in crowd for e in u.errors]

    conn.send(anyio.run(main))


def small_pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Result:
    name: str
    rate: float
    p99_ms: float
    p99_no_login_ms: float  # the argon2id of a login is most of the tail
    errors: int
    error_kinds: list[str]


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else math.inf


def database_cpu() -> float:
    """CPU seconds of every PostgreSQL server process on the machine (this run's only)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().split(") ", 1)
        except OSError:
            continue
        if name.endswith("(postgres"):
            parts = fields.split()
            total += (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(served: Served, candidates: int, users: int, seconds: float, notice_path: Path) -> Result:
    service0, database0 = cpu_seconds(served.process.pid), database_cpu()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=load_process, args=(child, served.base_url, candidates, users, seconds, str(notice_path))
    )
    process.start()
    samples, errors = parent.recv()
    service_cpu, db_cpu = cpu_seconds(served.process.pid) - service0, database_cpu() - database0
    process.join()
    if os.environ.get("SCALE_DETAIL"):
        n = max(1, len(samples))
        print(f"  {served.name}: CPU per request: service {service_cpu / n * 1000:.2f} ms, "
              f"PostgreSQL {db_cpu / n * 1000:.2f} ms (warm-up included)")  # fmt: skip
        kinds: dict[str, list[float]] = {}
        for _, took, kind in samples:
            kinds.setdefault(kind, []).append(took)
        for kind, took in sorted(kinds.items()):
            print(f"    {kind:<40} n={len(took):>6} mean {sum(took) / len(took) * 1000:7.1f} ms", flush=True)
    return Result(
        served.name,
        len(samples) / seconds,
        p99([took for _, took, _ in samples]),
        p99([took for _, took, kind in samples if kind != "POST /compte/connexion"]),
        len(errors),
        sorted(set(errors))[:5],
    )


# -- pgbench: PostgreSQL's own ceiling for a comparable write ---------------------------------------------

PGBENCH_SCRIPT = """\\set n random(0, {last})
BEGIN;
SELECT doc FROM enrolments WHERE id = 'enr' || lpad(:n::text, 7, '0') FOR UPDATE;
UPDATE enrolments SET doc = jsonb_set(doc, '{{version}}', to_jsonb((doc->>'version')::int + 1))
  WHERE id = 'enr' || lpad(:n::text, 7, '0');
INSERT INTO outbox (id, doc, f_state) VALUES (md5(random()::text || clock_timestamp()::text),
  '{{"state": "pending"}}'::jsonb, '"pending"'::jsonb);
COMMIT;
"""


def pgbench(server: PostgresServer, database: str, candidates: int, seconds: float, root: Path) -> float:
    script = root / "save.sql"
    script.write_text(PGBENCH_SCRIPT.format(last=candidates - 1), encoding="utf-8")
    script.chmod(0o644)
    command = [
        str(server.bin_dir / "pgbench"), "-n", "-f", str(script), "-c", "8", "-j", "2",
        "-T", str(max(1, round(seconds))), "-h", str(server.root), "-U", PG_ROLE, database,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    found = re.search(r"tps = ([\d.]+)", done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    return float(found.group(1))


# -- the run -----------------------------------------------------------------------------------------


def prepare(root: Path, candidates: int) -> tuple[Path, Path, Notice, str]:
    """The notice (window around today), a TinyDB data directory seeded; the password hash."""
    notice_path = root / "notice.yml"
    notice_path.write_text(
        demo_notice_text((REPO / "notice.yml").read_text(encoding="utf-8"), date.today()), encoding="utf-8"
    )
    notice = load_notice(notice_path)
    hasher = Hasher(PRODUCTION_ARGON2, 1)
    password_hash = asyncio.run(hasher.hash(PASSWORD))
    hasher.close()
    tiny_dir = root / "tinydb"
    asyncio.run(seed_tinydb(tiny_dir / "store", documents(notice, candidates, password_hash)))
    return notice_path, tiny_dir, notice, password_hash


def verdicts(results: dict[str, Result]) -> list[str]:
    base = results["tinydb1"]
    pg2 = results["pg2"]
    missed = []
    if pg2.rate < TARGET_RATIO * base.rate:
        missed.append(
            f"PostgreSQL 2 workers at {pg2.rate / base.rate:.2f}x of TinyDB (target >= {TARGET_RATIO}x)"
        )
    if pg2.p99_ms >= TARGET_P99_MS:
        missed.append(f"p99 with PostgreSQL 2 workers {pg2.p99_ms:.0f} ms (target < {TARGET_P99_MS:.0f} ms)")
    missed += [
        f"{r.name}: {r.errors} refused answer(s) {r.error_kinds}" for r in results.values() if r.errors
    ]
    return missed


def projection(results: dict[str, Result], tps: float, national: int) -> list[str]:
    """Machines for a national last evening, from this run's costs (assumptions printed)."""
    share_evening, share_peak_hour, requests_per_visit = 0.3, 0.4, 20
    peak = national * share_evening * share_peak_hour * requests_per_visit / 3600
    per_machine = results["pg2"].rate
    writes = peak * (15 + 10 + 5) / 100 * 2  # a save, an upload or a login: ~2 transactions each
    machines = math.ceil(peak * 1.5 / per_machine) if per_machine else 0
    verdict = "enough, with room" if tps > 2 * writes else "a larger database server needed"
    return [
        f"projection: {national} candidates, {share_evening:.0%} of them on the last evening, "
        f"{share_peak_hour:.0%} of those in its busiest hour, {requests_per_visit} requests a visit: "
        f"{peak:.0f} requests/s at the peak",
        f"  service: {per_machine:.0f} requests/s per 2-core machine (PostgreSQL, 2 workers, database on "
        f"the same cores) -> {machines} machine(s) of this size with 50 % headroom, the database apart",
        f"  database: about {writes:.0f} write transactions/s at the peak, against {tps:.0f} TPS for a "
        f"save's write on these 2 cores (pgbench): {verdict}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--national", type=int, default=600_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.candidates, args.seconds, args.users = 2000, 3.0, 16
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL absent : installez le paquet postgresql (scripts/system-deps.sh test)")
    root = Path(tempfile.mkdtemp(prefix="fs-scale-"))
    os.chmod(root, 0o755)
    server = PostgresServer(bin_dir, fsync=True)
    served: list[Served] = []
    try:
        print(f"seeding {args.candidates} candidates (accounts + saved enrolments)...", flush=True)
        notice_path, tiny_dir, notice, password_hash = prepare(root, args.candidates)
        server.start()
        database = server.new_database(template="template0")
        url = server.url(database)
        from formservice.store.postgres.engine import PostgresEngine

        PostgresEngine(url)  # the schema
        seed_postgres(url, documents(notice, args.candidates, password_hash))
        results: dict[str, Result] = {}
        runs = [
            ("tinydb1", "TinyDB, 1 worker", tiny_dir, "", 1),
            ("pg1", "PostgreSQL, 1 worker", root / "pg1", url, 1),
            ("pg2", "PostgreSQL, 2 workers", root / "pg2", url, 2),
        ]
        for key, name, data_dir, store, workers in runs:
            service = start_service(name, data_dir, notice_path, store, workers, root)
            served.append(service)
            results[key] = measure(service, args.candidates, args.users, args.seconds, notice_path)
            service.stop()
        tps = pgbench(server, database, args.candidates, args.seconds, root)
        report(args, results, tps)
    finally:
        for service in served:
            if service.process.poll() is None:
                service.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


def report(args: argparse.Namespace, results: dict[str, Result], tps: float) -> None:
    mix = ", ".join(f"{name} {weight} %" for name, weight in MIX)
    print(f"\nscale: {args.candidates} candidates, deadline-evening mix ({mix}), {args.users} users, "
          f"{args.seconds:.0f} s per run, on {os.cpu_count()} cores")  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load} (other processes on these cores slow PostgreSQL most: each "
          "query waits for its server process to be scheduled)")  # fmt: skip
    print(f"{'configuration':<24}{'req/s':>9}{'p99 ms':>9}{'ratio':>9}   p99 without logins (ms)")
    base = results["tinydb1"].rate
    for result in results.values():
        ratio = result.rate / base if base else 0.0
        tail = f"{result.p99_no_login_ms:.0f}"
        print(f"{result.name:<24}{result.rate:>9.1f}{result.p99_ms:>9.0f}{ratio:>8.2f}x   {tail}")
    pg2 = results["pg2"]
    ratio = pg2.rate / base if base else 0.0
    print(f"ratio PostgreSQL 2 workers / TinyDB 1 worker: {ratio:.2f}x (target >= {TARGET_RATIO}x) "
          f"{'OK' if ratio >= TARGET_RATIO else 'TARGET MISSED'}")  # fmt: skip
    print(f"p99 PostgreSQL 2 workers: {pg2.p99_ms:.0f} ms (target < {TARGET_P99_MS:.0f} ms) "
          f"{'OK' if pg2.p99_ms < TARGET_P99_MS else 'TARGET MISSED'}")  # fmt: skip
    print(f"pgbench, a save's write (row lock, update, a mail inserted; 8 clients): {tps:.0f} TPS")
    for line in projection(results, tps, args.national):
        print(line)
    missed = verdicts(results)
    print("All targets met." if not missed else "TARGET MISSED: " + "; ".join(missed))


if __name__ == "__main__":
    sys.exit(main())
