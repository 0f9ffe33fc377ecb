"""The services over a TinyDB store in a test's data directory, with candidates made with the
real rules (``review.dossiers``) and their files in the service's file store, and a restart that
reopens the store."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from datetime import datetime

from review.dossiers import NOTICE

from formservice.accounts.rules import ACTIVE, new_account
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.web.composition import build_services


class World:
    """The services over a TinyDB store in the data directory, reopened by ``restart``."""

    def __init__(self, settings, clock, files=None):
        """``files``: a FileStore of the test's own (default: the one the settings name)."""
        self.settings, self.clock, self.files = settings, clock, files
        self.svc = None

    async def open(self):
        engine = TinyDBEngine(self.settings.store_dir)
        self.svc = build_services(self.settings, engine=engine, clock=self.clock, files=self.files)
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

    async def enrolment(
        self, account_id: str, doc, session: str, *, write_files: bool = True, size: int = 0
    ) -> str:
        """Another enrolment of ``account_id`` for ``session``, its files put in the service's file
        store (the local disk or S3) and recorded with their real size and SHA-256; ``size``:
        random bytes of that size after the PDF header."""
        enrolment_id = f"d-{account_id[:8]}-{session[-4:]}"
        contents = {f["id"]: b"%PDF-1.4 " + f["id"].encode() + os.urandom(size) for f in doc["files"]}
        files = [
            f
            | {
                "stored_name": f"{enrolment_id}-{f['stored_name']}",
                "size": len(contents[f["id"]]),
                "sha256": hashlib.sha256(contents[f["id"]]).hexdigest(),
            }
            for f in doc["files"]
        ]
        key = f"{account_id}:{session}"
        doc = doc | {
            "id": enrolment_id,
            "account_id": account_id,
            "key": key,
            "session": session,
            "files": files,
        }
        await self.svc.store.engine.insert("enrolments", doc)
        for meta in doc["files"] if write_files else []:
            source = io.BytesIO(contents[meta["id"]])
            await asyncio.to_thread(
                self.svc.files.put, account_id, meta["stored_name"], source, "application/pdf"
            )
        return enrolment_id
