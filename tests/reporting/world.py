"""The services over a TinyDB store in a test's data directory, with candidates made with the
real rules (``review.dossiers``), and a restart that reopens the store."""

from __future__ import annotations

from datetime import datetime

from review.dossiers import NOTICE

from formservice.accounts.rules import ACTIVE, new_account
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.web.composition import build_services


class World:
    """The services over a TinyDB store in the data directory, reopened by ``restart``."""

    def __init__(self, settings, clock):
        self.settings, self.clock = settings, clock
        self.svc = None

    async def open(self):
        engine = TinyDBEngine(self.settings.store_dir)
        self.svc = build_services(self.settings, engine=engine, clock=self.clock)
        return self.svc

    async def close(self):
        self.svc.close()
        await self.svc.store.close()

    async def restart(self):
        await self.close()
        return await self.open()

    async def candidate(self, name: str, doc=None, *, status: str = ACTIVE, created: datetime | None = None):
        """An account ``name``@exemple.fr (and its enrolment ``doc``, made with the real rules)."""
        account_id = name.ljust(32, "0")
        account = new_account(account_id, f"{name}@exemple.fr", "x", created or self.clock.now())
        await self.svc.store.engine.insert("accounts", account | {"status": status})
        if doc is not None:
            key = f"{account_id}:{NOTICE.session.name}"
            await self.svc.store.engine.insert(
                "enrolments", doc | {"id": f"d-{name}", "account_id": account_id, "key": key}
            )
        return account_id

    async def enrolment(self, account_id: str, doc, session: str, *, write_files: bool = True) -> str:
        """Another enrolment of ``account_id`` for ``session``, its files written on disk."""
        enrolment_id = f"d-{account_id[:8]}-{session[-4:]}"
        key = f"{account_id}:{session}"
        files = [f | {"stored_name": f"{enrolment_id}-{f['stored_name']}"} for f in doc["files"]]
        doc = doc | {
            "id": enrolment_id,
            "account_id": account_id,
            "key": key,
            "session": session,
            "files": files,
        }
        await self.svc.store.engine.insert("enrolments", doc)
        if write_files:
            folder = self.settings.uploads_dir / account_id
            folder.mkdir(parents=True, exist_ok=True)
            for meta in doc["files"]:
                (folder / meta["stored_name"]).write_bytes(b"%PDF-1.4 " + meta["id"].encode())
        return enrolment_id
