"""Reminders: before ``registration.closes`` (``reminders.before_closing`` days) to every candidate
whose dossier is not déposé, naming what is missing; before a correction deadline
(``reminders.before_correction_deadline``) to the candidates still ``incomplet``, naming the
pieces still refused; ``reminders.activation_hours_before_purge`` hours before an unactivated
account is purged, a last activation link.

Each reminder goes at most once per candidate and occasion, whatever restarts happen: the
occasion is recorded (``reminders``: occasion -> when) in the same atomic write as the mail
(``update(id, fn, mails)``), and ``fn`` checks again, under the store's lock, that it is not
recorded yet and still needed, so a candidate who completed meanwhile gets nothing. A candidate
with an enrolment is reminded through it (the check sees its status); one without, through the
account (the occasion is then recorded there, and looked for there too).

An occasion names what it is about, so that a change makes a new one: the closing date
(``cloture-2025-11-13-2``: extended, the reminders go again before the new date), or the deadline
of the correction request in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from formservice.accounts import rules as account_rules
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock, from_iso, to_iso
from formservice.enrolment.rules import missing_documents
from formservice.frenchdates import datetime_fr
from formservice.notice import Notice
from formservice.outbox import Outbox
from formservice.review import rules as review_rules
from formservice.review.states import State, state_of
from formservice.store import RecordMissing, Store
from formservice.store.records import Account, Enrolment, OutboxMail
from formservice.store.repos import enrolment_key

log = logging.getLogger("formservice.reminders")

RUN_EVERY = timedelta(hours=1)  # the running service's pass: the occasions are days apart
Links = Callable[..., str]


class Kind(StrEnum):
    CLOSING = "closing"
    CORRECTION = "correction"
    ACTIVATION = "activation"


@dataclass(frozen=True)
class Reminder:
    """One mail to send (or, in a dry run, that would be sent)."""

    kind: Kind
    occasion: str
    to: str
    what: str  # what it says is missing, in French (the dry run's line)


class _Skip(Exception):
    """Inside the atomic write: already sent, or no longer needed. Nothing is written."""


# ---------------------------------------------------------------------------------------------
# The rules (pure)


def _due(days: list[int], deadline: datetime, now: datetime) -> int | None:
    """The latest reminder due before ``deadline``: the fewest days such that ``now`` is past
    ``deadline - days`` (a service down for a week sends one reminder, not two at once)."""
    if now >= deadline:
        return None
    return next((n for n in sorted(days) if now >= deadline - timedelta(days=n)), None)


def closing_occasion(notice: Notice, now: datetime) -> str | None:
    days = _due(list(notice.reminders.before_closing), notice.closes_at, now)
    return None if days is None else f"cloture-{notice.closes_at:%Y-%m-%d}-{days}"


def closing_need(doc: Mapping[str, Any] | None, notice: Notice) -> str | None:
    """What a candidate still has to do before the closing, or None (déposé, or beyond)."""
    if doc is None or not doc.get("version"):
        return "enregistrer votre inscription dans « M'inscrire »"
    if state_of(doc) is not State.BROUILLON:
        return None
    missing = missing_documents(notice, doc)
    if missing:
        return "déposer : " + " ; ".join(f"« {d.name} »" for d in missing)
    return "cliquer sur « J'ai fourni toutes mes pièces »"


def correction_occasion(doc: Mapping[str, Any], notice: Notice, now: datetime) -> str | None:
    correction = review_rules.current_correction(doc)
    if correction is None or correction["confirmed_at"]:
        return None
    deadline = from_iso(correction["deadline"]) + timedelta(seconds=1)
    days = _due(list(notice.reminders.before_correction_deadline), deadline, now)
    return None if days is None else f"correction-{correction['deadline'][:10]}-{days}"


def still_refused(doc: Mapping[str, Any], notice: Notice) -> list[review_rules.Piece]:
    correction = review_rules.current_correction(doc)
    asked = correction["pieces"] if correction else []
    return [
        p
        for p in review_rules.pieces(doc, notice)
        if p.document.id in asked and p.status is review_rules.PieceStatus.NON_CONFORME
    ]


def activation_due(account: Mapping[str, Any], notice: Notice, now: datetime) -> bool:
    if account.get("status") != account_rules.PENDING:
        return False
    deadline = from_iso(account["created_at"]) + notice.activation_delay
    return deadline - timedelta(hours=notice.reminders.activation_hours_before_purge) <= now < deadline


def sent(record: Mapping[str, Any], occasion: str) -> bool:
    return occasion in record.get("reminders", {})


def _recorded(record: Any, occasion: str, now: datetime) -> Any:
    if sent(record, occasion):
        raise _Skip()
    record["reminders"] = {**record.get("reminders", {}), occasion: to_iso(now)}
    return record


# ---------------------------------------------------------------------------------------------
# The use case


@dataclass
class Outcome:
    """What a pass did (or, dry, would do), by kind."""

    reminders: list[Reminder]

    def count(self, kind: Kind) -> int:
        return sum(1 for r in self.reminders if r.kind is kind)


@dataclass(kw_only=True, eq=False)
class ReminderService:
    store: Store
    clock: Clock
    notices: Callable[[], Notice]  # the notice in force
    audit: AuditLog
    mail: Outbox
    links: Links
    tokens: Tokens

    async def run(self, *, dry_run: bool = False) -> Outcome:
        """One pass over every occasion due now; ``dry_run``: say who would get what, send nothing."""
        notice, now = self.notices(), self.clock.now()
        done: list[Reminder] = []
        await self._closing(notice, now, dry_run, done)
        await self._corrections(notice, now, dry_run, done)
        await self._activations(notice, now, dry_run, done)
        if done and not dry_run:
            await self.mail.wake()
        return Outcome(done)

    def _prepare(self, to: str, subject: str, template: str, notice: Notice, **context: Any) -> OutboxMail:
        return self.mail.prepare(to, f"{subject} — {notice.session.name}", template, context)

    # -- before the closing ---------------------------------------------------------------------
    async def _closing(self, notice: Notice, now: datetime, dry: bool, done: list[Reminder]) -> None:
        occasion = closing_occasion(notice, now)
        if occasion is None:
            return
        async for page in self.store.accounts.all_paged():
            for account in page:
                if account["status"] != account_rules.ACTIVE or sent(account, occasion):
                    continue
                doc = await self.store.enrolments.get_by_key(
                    enrolment_key(account["id"], notice.session.name)
                )
                need = closing_need(doc, notice)
                if need is None or (doc is not None and sent(doc, occasion)):
                    continue
                reminder = Reminder(Kind.CLOSING, occasion, account["email"], need)
                if dry or await self._send_closing(account, doc, occasion, notice, now):
                    done.append(reminder)

    def _closing_mail(self, to: str, need: str, notice: Notice) -> OutboxMail:
        deadline = datetime_fr(notice.closes_at)
        subject = f"Votre inscription n'est pas terminée : clôture le {deadline}"
        links = {"login_link": self.links("login"), "uploads_link": self.links("my_uploads")}
        return self._prepare(to, subject, "reminder_closing", notice, need=need, deadline=deadline, **links)

    async def _send_closing(
        self, account: Account, doc: Enrolment | None, occasion: str, notice: Notice, now: datetime
    ) -> bool:
        to = account["email"]
        try:
            if doc is not None and doc.get("version"):

                def check(d: Enrolment) -> Enrolment:
                    if closing_need(d, notice) is None:
                        raise _Skip()
                    return _recorded(d, occasion, now)

                def mails(d: Enrolment) -> list[OutboxMail]:
                    return [self._closing_mail(to, closing_need(d, notice) or "", notice)]

                await self.store.enrolments.update(doc["id"], check, mails)
            else:
                mail = self._closing_mail(to, closing_need(None, notice) or "", notice)

                def check_account(a: Account) -> Account:
                    if a["status"] != account_rules.ACTIVE:
                        raise _Skip()
                    return _recorded(a, occasion, now)

                await self.store.accounts.update(account["id"], check_account, lambda a: [mail])
        except (_Skip, RecordMissing):
            return False
        self.audit.event("reminder.sent", account_id=account["id"], occasion=occasion)
        return True

    # -- before a correction deadline -----------------------------------------------------------
    async def _corrections(self, notice: Notice, now: datetime, dry: bool, done: list[Reminder]) -> None:
        async for page in self.store.enrolments.of_session(str(notice.session.name)):
            for doc in page:
                occasion = correction_occasion(doc, notice, now)
                if occasion is None or sent(doc, occasion):
                    continue
                account = await self.store.accounts.get(doc["account_id"])
                if account is None:
                    continue
                refused = still_refused(doc, notice)
                what = " ; ".join(f"« {p.document.name} »" for p in refused) or (
                    "cliquer sur « J'ai effectué les corrections demandées »"
                )
                reminder = Reminder(Kind.CORRECTION, occasion, account["email"], what)
                if dry or await self._send_correction(account, doc, occasion, notice, now):
                    done.append(reminder)

    async def _send_correction(
        self, account: Account, doc: Enrolment, occasion: str, notice: Notice, now: datetime
    ) -> bool:
        def check(d: Enrolment) -> Enrolment:
            if correction_occasion(d, notice, now) != occasion:
                raise _Skip()  # confirmed, resumed or accepted meanwhile
            return _recorded(d, occasion, now)

        def mails(d: Enrolment) -> list[OutboxMail]:
            correction = review_rules.current_correction(d)
            assert correction is not None
            deadline = review_rules.deadline_text(notice, correction["deadline"])
            subject = f"Pièces à remplacer avant le {deadline}"
            return [
                self._prepare(
                    account["email"],
                    subject,
                    "reminder_correction",
                    notice,
                    pieces=still_refused(d, notice),
                    deadline=deadline,
                    link=self.links("my_uploads"),
                )
            ]

        try:
            await self.store.enrolments.update(doc["id"], check, mails)
        except (_Skip, RecordMissing):
            return False
        self.audit.event("reminder.sent", account_id=account["id"], occasion=occasion)
        return True

    # -- before an unactivated account is purged ------------------------------------------------
    async def _activations(self, notice: Notice, now: datetime, dry: bool, done: list[Reminder]) -> None:
        for account in await self.store.accounts.with_status(account_rules.PENDING):
            if not activation_due(account, notice, now) or sent(account, Kind.ACTIVATION.value):
                continue
            deadline = account_rules.activation_deadline(account, notice.activation_delay)
            reminder = Reminder(
                Kind.ACTIVATION, Kind.ACTIVATION.value, account["email"], "activer son compte"
            )
            if dry or await self._send_activation(account, deadline, notice, now):
                done.append(reminder)

    async def _send_activation(
        self, account: Account, deadline: datetime, notice: Notice, now: datetime
    ) -> bool:
        token = self.tokens.activation.dumps({"a": account["id"]})
        mail = self._prepare(
            account["email"],
            f"Dernier rappel : activez votre compte avant le {datetime_fr(deadline.astimezone(notice.tz))}",
            "reminder_activation",
            notice,
            link=self.links("activate", token=token),
            deadline=deadline,
        )

        def check(a: Account) -> Account:
            if not activation_due(a, notice, now):
                raise _Skip()  # activated meanwhile
            return _recorded(a, Kind.ACTIVATION.value, now)

        try:
            await self.store.accounts.update(account["id"], check, lambda a: [mail])
        except (_Skip, RecordMissing):
            return False
        self.audit.event("reminder.sent", account_id=account["id"], occasion=Kind.ACTIVATION.value)
        return True
