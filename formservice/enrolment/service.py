"""Orchestration of the candidate's space: the store, the uploaded files and the mails.

The rules themselves live in enrolment.py and deadlines.py; here they run inside the store's
atomic update (so the deadline and the version are checked in the same step as the write), and
the side effects follow: a file is fsynced before the record pointing to it is saved, a file
whose record could not be saved is removed, mails go out after the write succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from formservice.enrolment import rules
from formservice.notice import Notice
from formservice.store import NotFound, Store
from formservice.store.repos import enrolment_key

log = logging.getLogger("formservice.enrolment.rules")
T = TypeVar("T")

# (recipient, subject, template under mail/ without extension, context): a French text + HTML mail.
SendMail = Callable[[str, str, str, dict[str, Any]], Awaitable[Any]]


@dataclass
class SaveOutcome:
    enrolment: dict[str, Any]
    changes: list[tuple[str, str, str]]
    first: bool


class EnrolmentService:
    def __init__(self, store: Store, files_dir: Path, send_mail: SendMail):
        self.store = store
        self.files_dir = files_dir
        self.send_mail = send_mail
        # Decoding an uploaded image (up to ~150 MiB for a second or two), parsing a PDF or
        # rendering one is CPU-bound: two dedicated threads do it, so the event loop stays
        # responsive and memory stays bounded whatever the number of candidates (the others wait
        # their turn), and only two threads ever hold allocator arenas for it.
        self._cpu = ThreadPoolExecutor(max_workers=2, thread_name_prefix="formservice-cpu")

    async def run_cpu_bound(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._cpu, fn)

    def close(self) -> None:
        """At shutdown: no new work; what runs finishes in the background."""
        self._cpu.shutdown(wait=False, cancel_futures=True)

    # -- reading --------------------------------------------------------------------------------
    async def current(self, account_id: str, notice: Notice) -> dict[str, Any] | None:
        found = await self.store.enrolments.get_by_key(enrolment_key(account_id, notice.session.name))
        return found

    async def previous(self, account_id: str, notice: Notice) -> dict[str, Any] | None:
        """The latest enrolment of an earlier session, to prefill identity and address."""
        others = [
            e
            for e in await self.store.enrolments.for_account(account_id)
            if e["session"] != notice.session.name
        ]
        return max(others, key=lambda e: e["updated_at"], default=None)

    async def _current_or_new(self, account_id: str, notice: Notice, now: datetime) -> dict[str, Any]:
        doc = await self.current(account_id, notice)
        if doc is not None:
            return doc
        fresh = rules.new_enrolment(
            secrets.token_urlsafe(12), enrolment_key(account_id, notice.session.name), account_id, notice, now
        )
        await self.store.enrolments.create_if_absent(fresh)
        doc = await self.current(account_id, notice)
        assert doc is not None
        return doc

    def file_path(self, account_id: str, stored_name: str) -> Path:
        return self.files_dir / account_id / stored_name

    async def find_file(self, account_id: str, file_id: str) -> tuple[dict[str, Any], Path] | None:
        """A file of this candidate's, or None: nobody else's file is ever found here."""
        for doc in await self.store.enrolments.for_account(account_id):
            for meta in doc.get("files", []):
                if meta["id"] == file_id:
                    return meta, self.file_path(account_id, meta["stored_name"])
        return None

    # -- writing --------------------------------------------------------------------------------
    async def save(
        self,
        account: dict[str, Any],
        data: dict[str, Any],
        expected_version: int,
        notice: Notice,
        now: datetime,
    ) -> SaveOutcome:
        doc = await self._current_or_new(account["id"], notice, now)
        before: dict[str, Any] = {}

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            before.update(current.get("data", {}))
            return rules.save(current, data, expected_version, notice, now)

        saved = await self.store.enrolments.update(doc["id"], mutate)
        diff = rules.changes(before, saved["data"], notice)
        first = saved["version"] == 1 and expected_version == 0
        if diff:
            subject = "Votre inscription est enregistrée" if first else "Modification de votre inscription"
            await self.send_mail(
                account["email"],
                f"{subject} — {notice.session.name}",
                "enrolment_saved",
                {"enrolment": saved, "changes": diff, "first": first, "notice": notice},
            )
        return SaveOutcome(saved, diff, first)

    async def add_file(
        self,
        account: dict[str, Any],
        document_id: str,
        stored: dict[str, Any],
        notice: Notice,
        now: datetime,
    ) -> dict[str, Any]:
        """Record a file already checked and fsynced under files_dir; removes it if refused."""
        doc = await self.current(account["id"], notice)
        try:
            if doc is None:
                raise rules.EnrolmentError("Enregistrez d'abord votre inscription dans « M'inscrire ».")
            meta = stored | {"id": secrets.token_urlsafe(12)}
            return await self.store.enrolments.update(
                doc["id"], lambda current: rules.add_file(current, document_id, meta, notice, now)
            )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self.file_path(account["id"], stored["stored_name"]).unlink()
            raise

    async def remove_file(self, account: dict[str, Any], file_id: str, notice: Notice, now: datetime) -> None:
        doc = await self.current(account["id"], notice)
        if doc is None:
            raise rules.EnrolmentError("Ce fichier n'existe pas.", status=404)
        removed: list[dict[str, Any]] = [f for f in doc.get("files", []) if f["id"] == file_id]
        await self.store.enrolments.update(
            doc["id"], lambda current: rules.remove_file(current, file_id, notice, now)
        )
        for meta in removed:
            with contextlib.suppress(FileNotFoundError):
                self.file_path(account["id"], meta["stored_name"]).unlink()

    async def complete(self, account: dict[str, Any], notice: Notice, now: datetime) -> dict[str, Any]:
        doc = await self.current(account["id"], notice)
        if doc is None:
            raise rules.EnrolmentError("Enregistrez d'abord votre inscription dans « M'inscrire ».")
        done = await self.store.enrolments.update(
            doc["id"], lambda current: rules.complete(current, notice, now)
        )
        await self.send_mail(
            account["email"],
            f"Accusé de réception de vos pièces justificatives — {notice.session.name}",
            "receipt",
            {"enrolment": done, "notice": notice},
        )
        return done

    async def request_address_change(
        self, account: dict[str, Any], address: dict[str, str], notice: Notice, now: datetime
    ) -> dict[str, Any]:
        doc = await self.current(account["id"], notice)
        if doc is None:
            raise rules.EnrolmentError("Vous n'avez pas d'inscription pour cette session.", status=404)
        try:
            updated = await self.store.enrolments.update(
                doc["id"], lambda current: rules.request_address_change(current, address, now)
            )
        except NotFound:
            raise rules.EnrolmentError(
                "Vous n'avez pas d'inscription pour cette session.", status=404
            ) from None
        pole = rules.pole_of(notice, updated["data"])
        context = {
            "enrolment": updated,
            "address": address,
            "notice": notice,
            "pole": pole,
            "account": account,
        }
        name = f"{updated['data'].get('last_name', '')} {updated['data'].get('first_names', '')}".strip()
        if pole is not None:
            await self.send_mail(
                pole.email, f"Changement d'adresse d'un candidat — {name}", "address_change_pole", context
            )
        await self.send_mail(
            account["email"], "Votre changement d'adresse a été transmis", "address_change_ack", context
        )
        return updated
