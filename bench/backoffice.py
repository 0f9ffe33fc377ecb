"""Back office: the dossier list (filtered, searched), the home, the statistics and a dossier
page, at growing sizes.

Prints µs per request at each size, the growth from the smallest to the largest size (target
<= 2x: indexes, not scans) and the ratio to GET /espace measured in the same run (target >=
0.5x, i.e. a list page costs at most twice a candidate's home page). In-process (httpx over
ASGI) on the TinyDB engine in a temporary directory, one staff member of the SAH pôle.

    .venv/bin/python bench/backoffice.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import REPO

from formservice.accounts.passwords import Hasher
from formservice.clock import FrozenClock, to_iso
from formservice.settings import Argon2Params, Settings
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.web.app import create_app
from formservice.web.middleware.sessions import new_sid, session_key

NOW = datetime(2025, 10, 22, 8, 0, tzinfo=UTC)  # inside the repository notice's window
SPECIALITIES = ["bp-coiffure", "bp-boulanger", "bp-electricien", "cs-sommellerie"]  # SAH, SAH, indus, bac pro


def dossier(i: int, session: str) -> dict:
    speciality = SPECIALITIES[i % len(SPECIALITIES)]
    exam = speciality.split("-")[0].upper()
    return {
        "id": f"d{i:07d}",
        "key": f"a{i:07d}:{session}",
        "account_id": f"a{i:07d}",
        "session": session,
        "status": "complete" if i % 3 else "saved",
        "version": 1,
        "data": {
            "exam": exam,
            "speciality": speciality,
            "last_name": f"Nom{i:07d}",
            "first_names": "Camille",
        },
        "created_at": to_iso(NOW),
        "updated_at": to_iso(NOW),
        "history": [],
        "files": [],
        "address_changes": [],
    }


async def measure(client: httpx.AsyncClient, path: str, rounds: int) -> float:
    """Median µs of ``rounds`` GETs of ``path`` (each must answer 200)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times) * 1e6


async def run_size(size: int, rounds: int, root: Path) -> dict[str, float]:
    data_dir = root / f"var-{size}"
    settings = Settings(
        notice_path=REPO / "notice.yml",
        data_dir=data_dir,
        base_url="http://bench",
        secret_keys=("b" * 20 + "enchmark-secret-0123456789",),
        argon2=Argon2Params(time_cost=1, memory_cost=1024, parallelism=1),
    )
    engine = TinyDBEngine(data_dir / "store")
    clock = FrozenClock(NOW)
    app = create_app(settings, engine=engine, clock=clock)
    svc = app.state.services
    session = svc.notice().session.name
    async with app.router.lifespan_context(app):
        for i in range(size):
            await svc.store.enrolments.create_if_absent(dossier(i, session))  # derived fields
        await engine.insert(
            "staff",
            {
                "id": "s1",
                "email": "g@ac-poitiers.fr",
                "role": "gestionnaire",
                "poles": ["sah"],
                "status": "active",
                "password_hash": await Hasher(settings.argon2).hash("x" * 16),
                "totp_secret": None,
                "totp_last_step": 0,
                "recovery_codes": [],
                "invited_at": to_iso(NOW),
                "invited_by": None,
                "activated_at": to_iso(NOW),
                "disabled_at": None,
                "disabled_by": None,
                "created_at": to_iso(NOW),
            },
        )
        staff_sid, candidate_sid = new_sid(), new_sid()
        await svc.staff.open_session(await svc.store.staff.get("s1"), session_key(staff_sid))
        await engine.insert(
            "accounts",
            {
                "id": "a0000000",
                "email": "c@exemple.fr",
                "status": "active",
                "password_hash": "x",
                "created_at": to_iso(NOW),
                "activated_at": to_iso(NOW),
                "password_changed_at": to_iso(NOW),
            },
        )
        await engine.insert(
            "sessions",
            {
                "id": session_key(candidate_sid),
                "account_id": "a0000000",
                "created_at": to_iso(NOW),
                "last_seen": to_iso(NOW),
            },
        )
        transport = httpx.ASGITransport(app=app)
        cookies = {settings.staff_cookie_name: staff_sid, settings.cookie_name: candidate_sid}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", cookies=cookies) as client:
            await client.get("/gestion/dossiers")  # warm-up: templates, imports
            return {
                "GET /espace": await measure(client, "/espace", rounds),
                "list, state filter": await measure(client, "/gestion/dossiers?etat=depose", rounds),
                "list, name search": await measure(client, f"/gestion/dossiers?q=nom{size // 2:07d}", rounds),
                "list, 3 filters": await measure(
                    client, "/gestion/dossiers?examen=BP&etat=depose&pieces=manquantes&page=2", rounds
                ),
                "home (counts)": await measure(client, "/gestion/", rounds),
                "statistics": await measure(client, "/gestion/statistiques", rounds),
                "dossier page": await measure(client, "/gestion/dossiers/d0000000", rounds),
            }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few requests")
    args = parser.parse_args()
    sizes = [200, 2_000] if args.quick else [1_000, 10_000, 100_000]
    rounds = 5 if args.quick else 30
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: asyncio.run(run_size(size, rounds, Path(tmp))) for size in sizes}
    small, large = sizes[0], sizes[-1]
    print(f"Median µs per request, in-process, TinyDB engine; sizes {', '.join(f'{s:,}' for s in sizes)}")
    print(f"{'request':<22}" + "".join(f"{s:>12,}" for s in sizes) + f"{'growth':>9}{'vs /espace':>12}")
    missed = []
    for name in results[small]:
        row = [results[s][name] for s in sizes]
        growth = row[-1] / row[0]
        versus = results[large]["GET /espace"] / results[large][name]
        print(f"{name:<22}" + "".join(f"{v:>12.0f}" for v in row) + f"{growth:>8.2f}x{versus:>11.2f}x")
        if name != "GET /espace" and growth > 2:
            missed.append(f"{name}: growth {growth:.2f}x > 2x")
        if name != "GET /espace" and versus < 0.5:
            missed.append(f"{name}: {versus:.2f}x GET /espace < 0.5x")
    print(f"targets: growth {large:,}/{small:,} <= 2x; ratio to GET /espace >= 0.5x")
    print("TARGET MISSED: " + "; ".join(missed) if missed else "All targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
