"""Retention: what the service holds is deleted when notice.yml says (``retention``).

- A session's dossiers and files ``retention.months`` after its end (``retention.sessions``), and
  the accounts that had no other dossier; a session missing from the list is reported, never
  deleted (the editors add its end date).
- An active account that took part in none of the ``inactive_after_sessions`` latest sessions
  (and existed before the oldest of them ended) is warned by mail, then deleted with whatever it
  still holds ``warning_days`` later if it still took no part; the warning is recorded with its
  mail in one atomic write, once per newest session.

The files are deleted through the file store (the local disk, or the S3 bucket's objects). A run
starts by checking the store answers (nothing is deleted otherwise). A store that stops
answering during the run leaves the files of the dossier being deleted without a record
(``files_left``: ``store check`` lists them, the service's next start removes them); the run
then deletes nothing more, so that the other dossiers keep their files and records together
until the next run.

Only anonymous counts are kept (an ``retention.session_deleted`` audit event: how many dossiers
by state and exam); the audit log names accounts by pseudonym only, never by name or address.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import anyio

from formservice.accounts.rules import ACTIVE
from formservice.audit import AuditLog
from formservice.clock import Clock, from_iso, to_iso
from formservice.files import FileStore, FilesUnavailable, FilesUnreachable
from formservice.notice import Notice
from formservice.outbox import Outbox
from formservice.review.states import state_of
from formservice.store import RecordMissing, Store
from formservice.store.records import Account, Enrolment

Links = Callable[..., str]
log = logging.getLogger("formservice.retention")


@dataclass
class RetentionReport:
    """What a run deleted (or, dry, would delete), for the operator: ids and pseudonyms only."""

    enrolments: dict[str, list[str]] = field(default_factory=dict)  # session -> enrolment ids
    files: int = 0
    files_left: int = 0  # deletion not confirmed (the store stopped answering), their record gone
    accounts: list[str] = field(default_factory=list)  # pseudonyms
    warned: list[str] = field(default_factory=list)  # pseudonyms
    unknown_sessions: Counter[str] = field(default_factory=Counter)  # session -> dossiers kept


def warning_key(notice: Notice) -> str:
    return f"suppression-{notice.retention.last_sessions()[0].name}"


def took_part(enrolments: list[Enrolment], notice: Notice) -> bool:
    recent = {s.name for s in notice.retention.last_sessions()}
    return any(d.get("session") in recent and d.get("version") for d in enrolments)


@dataclass(kw_only=True, eq=False)
class RetentionService:
    store: Store
    clock: Clock
    notices: Callable[[], Notice]  # the notice in force
    audit: AuditLog
    mail: Outbox
    links: Links
    files: FileStore

    def _today(self, notice: Notice) -> date:
        return self.clock.now().astimezone(notice.tz).date()

    async def run(self, *, dry_run: bool = False) -> RetentionReport:
        """FilesUnreachable, and nothing deleted, if the file store does not answer."""
        notice, report = self.notices(), RetentionReport()
        if not dry_run:
            try:
                await anyio.to_thread.run_sync(self.files.check)
            except FilesUnavailable as exc:
                log.error("conservation : stockage des justificatifs injoignable, rien supprimé (%s)", exc)
                raise FilesUnreachable(
                    f"Rien n'a été supprimé : le stockage des justificatifs ({self.files.describe()}) ne "
                    "répond pas. Relancez la commande quand il répond de nouveau."
                ) from exc
        await self._expired_sessions(notice, report, dry_run)
        await self._inactive_accounts(notice, report, dry_run)
        if report.warned and not dry_run:
            await self.mail.wake()
        return report

    # -- sessions past their retention ----------------------------------------------------------
    async def _expired_sessions(self, notice: Notice, report: RetentionReport, dry: bool) -> None:
        today, stats = self._today(notice), dict[str, Counter[str]]()
        owners: set[str] = set()
        async for page in self.store.enrolments.all_paged():
            for doc in page:
                session = str(doc.get("session"))
                deleted_on = notice.retention.deleted_on(session)
                if deleted_on is None:
                    report.unknown_sessions[session] += 1
                    continue
                if today < deleted_on:
                    continue
                if dry or await self._delete_enrolment(doc, report):
                    report.enrolments.setdefault(session, []).append(doc["id"])
                    stats.setdefault(session, Counter())[
                        f"{state_of(doc).value}/{doc['data'].get('exam')}"
                    ] += 1
                    owners.add(doc["account_id"])
        for session, counts in stats.items():
            if not dry:
                self.audit.event("retention.session_deleted", session=session, dossiers=dict(counts))
        for account_id in sorted(owners):
            if dry and not await self._other_enrolments(account_id, report):
                report.accounts.append(self.audit.pseudonym("a", account_id))
            elif not dry and not await self.store.enrolments.for_account(account_id):
                await self._delete_account(account_id, report, "session_expired")

    async def _other_enrolments(self, account_id: str, report: RetentionReport) -> bool:
        doomed = {i for ids in report.enrolments.values() for i in ids}
        return any(d["id"] not in doomed for d in await self.store.enrolments.for_account(account_id))

    async def _delete_enrolment(self, doc: Enrolment, report: RetentionReport) -> bool:
        """The record first, then its files (a crash between leaves files without a record, which
        the service removes at its next start). Nothing once the file store failed in this run."""
        if report.files_left or not await self.store.enrolments.delete_if(
            doc["id"], lambda d: d.get("session") == doc.get("session")
        ):
            return False
        for meta in doc.get("files", []):
            await self._delete_file(doc, meta["stored_name"], report)
        if not report.files_left:
            with contextlib.suppress(ValueError, OSError):
                await anyio.to_thread.run_sync(self.files.prune, doc["account_id"])
        return True

    async def _delete_file(self, doc: Enrolment, name: str, report: RetentionReport) -> None:
        """One file of a deleted dossier; once the store failed, the dossier's next ones are not
        tried (each try would wait for its timeout): they are counted as left."""
        if report.files_left:
            report.files_left += 1
            return
        try:
            await anyio.to_thread.run_sync(self.files.delete, doc["account_id"], name)
            report.files += 1
        except ValueError:  # a record naming no file the store could hold: nothing to delete
            pass
        except OSError as exc:
            report.files_left += 1
            log.error(
                "conservation interrompue : fichiers du dossier %s non supprimés (%s) ; ils seront "
                "supprimés au prochain démarrage du service, les dossiers restants à la prochaine exécution",
                doc["id"],
                exc,
            )

    async def _delete_account(self, account_id: str, report: RetentionReport, reason: str) -> None:
        for doc in await self.store.enrolments.for_account(account_id):
            await self._delete_enrolment(doc, report)
        if await self.store.enrolments.for_account(account_id):
            return  # a dossier kept (the file store stopped answering): the account waits with it
        if await self.store.accounts.delete_if(account_id, lambda a: True):
            await self.store.sessions.delete_for_account(account_id)
            self.audit.event("account.deleted", account_id=account_id, reason=reason)
            report.accounts.append(self.audit.pseudonym("a", account_id))

    # -- accounts unused for the latest sessions ------------------------------------------------
    async def _inactive_accounts(self, notice: Notice, report: RetentionReport, dry: bool) -> None:
        latest = notice.retention.last_sessions()
        if len(latest) < notice.retention.inactive_after_sessions:
            return  # not enough sessions known yet to judge
        oldest_end = notice.local(datetime.combine(latest[-1].ends, datetime.max.time()))
        now, key = self.clock.now(), warning_key(notice)
        grace = timedelta(days=notice.retention.warning_days)
        async for page in self.store.accounts.all_paged():
            for account in page:
                if account["status"] != ACTIVE or from_iso(account["created_at"]) > oldest_end:
                    continue
                if took_part(await self.store.enrolments.for_account(account["id"]), notice):
                    continue
                warned = account.get("reminders", {}).get(key)
                pseudonym = self.audit.pseudonym("a", account["id"])
                if warned is None:
                    if dry or await self._warn(account, key, notice, now + grace):
                        report.warned.append(pseudonym)
                elif now >= from_iso(warned) + grace:
                    if dry:
                        report.accounts.append(pseudonym)
                    else:
                        await self._delete_account(account["id"], report, "inactive")

    async def _warn(self, account: Account, key: str, notice: Notice, deletion: datetime) -> bool:
        sessions = [s.name for s in notice.retention.last_sessions()]
        mail = self.mail.prepare(
            account["email"],
            f"{notice.academie.name} : votre compte candidat sera supprimé",
            "retention_warning",
            {"deletion": deletion, "sessions": sessions, "login_link": self.links("login")},
        )
        now = to_iso(self.clock.now())

        def record(a: Account) -> Account:
            if key in a.get("reminders", {}):
                raise RecordMissing()  # warned meanwhile: nothing to do
            return a | {"reminders": {**a.get("reminders", {}), key: now}}

        try:
            await self.store.accounts.update(account["id"], record, lambda a: [mail])
        except RecordMissing:
            return False
        self.audit.event("account.deletion_warned", account_id=account["id"])
        return True
