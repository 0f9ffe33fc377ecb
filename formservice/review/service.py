"""The office's check of the dossiers as use cases: start, decide on a piece, request a
correction, accept, declare irrecevable, resume, note; and the candidate's side of the loop:
replace a refused piece, confirm the corrections, withdraw.

The rules live in ``rules.py`` and ``states.py``; here each one runs inside the store's atomic
update (``store.enrolments.update(id, fn, mails)``), with the notice in force and the clock's
time read inside it, so that the state, the deadline and the pieces are checked in the same
step as the write; the mail the change causes is recorded in that same step, from the document
as written. A refusal writes nothing and mails nothing. Every action done is audited.

Authorization is not here: the web layer checks that the staff member may see the dossier's
pôle (``rules.pole_of_enrolment``) before calling a staff use case. The candidate's use cases
take the account id and refuse (404) a dossier that is not this account's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from formservice.audit import AuditLog
from formservice.clock import Clock, from_iso
from formservice.enrolment.rules import display_value
from formservice.files import FileStore
from formservice.frenchdates import date_fr
from formservice.notice import Notice
from formservice.outbox import Outbox
from formservice.review import listing, rules
from formservice.review.listing import query_words
from formservice.review.records import Enrolment
from formservice.review.states import ReviewError
from formservice.store import RecordMissing, Store, Where
from formservice.store.records import OutboxMail, StoredFileMeta

log = logging.getLogger("formservice.review")

# An absolute URL of a named route, for mails: ``links("my_uploads")``.
Links = Callable[..., str]
Mutation = Callable[[Enrolment, Notice, datetime], Enrolment]
MailsOf = Callable[[Enrolment, Notice], list[OutboxMail]]
Extra = Callable[[Enrolment, Notice], dict[str, Any]]

NO_DOSSIER = "Ce dossier n'existe pas."


def candidate_name(doc: Mapping[str, Any]) -> str:
    data = doc.get("data", {})
    return f"{data.get('first_names', '')} {data.get('last_name', '')}".strip() or "le candidat"


@dataclass(frozen=True)
class DossierFilter:
    """The list's filters, as a staff member sets them in the URL. ``poles``: the pôles the
    member may see (the web layer's authorization); the others narrow within them."""

    poles: Collection[str]
    pole: str = ""
    exam: str = ""
    speciality: str = ""
    state: str = ""
    pieces: str = ""
    waiting: str = ""
    query: str = ""

    def where(self, notice: Notice) -> Where:
        """The store's filter: a pôle or an exam is the set of its specialities."""
        poles = [self.pole] if self.pole else list(self.poles)
        specialities = sorted(
            spec.id
            for exam in notice.exams
            for spec in exam.specialities
            if spec.pole in poles
            and spec.pole in self.poles
            and (not self.exam or exam.id == self.exam)
            and (not self.speciality or spec.id == self.speciality)
        )
        where: dict[str, Collection[Any]] = {
            "session": [str(notice.session.name)],
            "speciality": specialities,
        }
        if self.state:
            where["state"] = [self.state]
        if self.pieces:
            where["pieces_state"] = [self.pieces]
        if self.waiting:
            where["waiting"] = [self.waiting]
        return where


def _with_email(email: str | None) -> Callable[[Enrolment], Enrolment]:
    def fn(doc: Enrolment) -> Enrolment:
        if email:
            doc["email"] = email
        return doc

    return fn


@dataclass(frozen=True)
class DossierPage:
    rows: list[Enrolment]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class ReviewService:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        notices: Callable[[], Notice],
        audit: AuditLog,
        mail: Outbox,
        links: Links,
        files: FileStore | None = None,
    ):
        self.store = store
        self.clock = clock
        self.notices = notices  # the notice in force: every write reads it as of now
        self.audit = audit
        self.mail = mail
        self.links = links
        self.files = files  # where the candidates' files are: a removed one is deleted

    # -- plumbing -------------------------------------------------------------------------------
    async def dossiers(self, filters: DossierFilter, *, page: int = 1, per_page: int = 50) -> DossierPage:
        """One page of the session's dossiers matching ``filters``, sorted by name, with the
        count: answered from the store's indexes (no dossier read but the page's)."""
        notice = self.notices()
        page = max(1, page)
        total, rows = await self.store.enrolments.listing(
            filters.where(notice),
            words=query_words(filters.query),
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        return DossierPage(rows, total, page, per_page)

    async def count_by(self, field: str, filters: DossierFilter) -> dict[Any, int]:
        """How many of the dossiers matching ``filters`` have each value of ``field`` (state,
        pieces_state, speciality): the home's and the statistics' counts, from the indexes."""
        return await self.store.enrolments.tally(field, filters.where(self.notices()))

    async def refresh_listing(self) -> int:
        """Bring the list fields of every dossier up to date with the notice in force (after an
        edit changed the required pieces or the specialities); returns how many were rewritten.
        A batch job: at start and when the notice changes."""
        notice, rewritten = self.notices(), 0
        done_under = listing.fingerprint(notice)
        if await self.store.counters.text("listing") == done_under:
            return 0  # the last full pass was under this notice and release: nothing is stale
        async for batch in self.store.enrolments.all_paged():
            for doc in batch:
                email = None
                if "email" not in doc:  # saved before the e-mail was copied into the dossier
                    account = await self.store.accounts.get(doc["account_id"])
                    email = account["email"] if account else None
                if email is None and not listing.stale(doc, notice):
                    continue
                try:  # ``derive`` rewrites the list fields on the way
                    await self.store.enrolments.update(doc["id"], _with_email(email))
                except RecordMissing:
                    continue
                rewritten += 1
        await self.store.counters.set_text("listing", done_under)
        return rewritten

    async def get(self, enrolment_id: str) -> Enrolment | None:
        return await self.store.enrolments.get(enrolment_id)

    async def _update(self, enrolment_id: str, mutate: Mutation, mails: MailsOf | None = None) -> Enrolment:
        """``mutate`` under the store's lock, with the notice and the time of the write; the mails
        of ``mails(doc as written, notice)`` recorded in the same step."""
        used: list[Notice] = []

        def fn(doc: Enrolment) -> Enrolment:
            notice = self.notices()
            used[:] = [notice]
            return mutate(doc, notice, self.clock.now())

        effects = None if mails is None else (lambda doc: mails(doc, used[0]))
        try:
            saved = await self.store.enrolments.update(enrolment_id, fn, effects)
        except RecordMissing:
            raise ReviewError(NO_DOSSIER, status=404) from None
        if mails is not None:
            await self.mail.wake()
        return saved

    async def _candidate_email(self, enrolment_id: str) -> str | None:
        doc = await self.store.enrolments.get(enrolment_id)
        if doc is None:
            raise ReviewError(NO_DOSSIER, status=404)
        account = await self.store.accounts.get(doc["account_id"])
        if account is None:
            log.warning("dossier %s : pas de compte, aucun courriel au candidat", enrolment_id)
            return None
        return account["email"]

    def _context(self, doc: Enrolment, notice: Notice) -> dict[str, Any]:
        data = doc.get("data", {})
        return {
            "notice": notice,
            "enrolment": doc,
            "pole": rules.pole_of_enrolment(notice, doc),
            "candidate_name": candidate_name(doc),
            "exam_name": display_value("exam", data.get("exam"), notice),
            "speciality_name": display_value("speciality", data.get("speciality"), notice),
        }

    def _to_candidate(self, to: str | None, subject: str, template: str, extra: Extra) -> MailsOf:
        def build(doc: Enrolment, notice: Notice) -> list[OutboxMail]:
            if to is None:
                return []
            context = {**self._context(doc, notice), **extra(doc, notice)}
            return [self.mail.prepare(to, f"{subject} — {notice.session.name}", template, context)]

        return build

    # -- the office -----------------------------------------------------------------------------
    async def start(self, staff_id: str, enrolment_id: str) -> Enrolment:
        """« Commencer la vérification » of a dossier déposé."""
        saved = await self._update(enrolment_id, lambda doc, notice, now: rules.start(doc, staff_id, now))
        self.audit.event("review.started", staff_id=staff_id, enrolment_id=enrolment_id)
        return saved

    async def decide(
        self,
        staff_id: str,
        enrolment_id: str,
        document_id: str,
        decision: str,
        *,
        reason_id: str | None = None,
        comment: str = "",
    ) -> Enrolment:
        """A decision on one piece (``rules.CONFORME``, ``NON_CONFORME``, ``NON_CONCERNE``). It
        mails nothing: the candidate hears of refused pieces with the correction request."""

        def mutate(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
            return rules.decide(
                doc, notice, staff_id, now, document_id, decision, reason_id=reason_id, comment=comment
            )

        saved = await self._update(enrolment_id, mutate)
        self.audit.event(
            "review.piece_decided",
            staff_id=staff_id,
            enrolment_id=enrolment_id,
            document_id=document_id,
            decision=decision,
            reason_id=reason_id if decision == rules.NON_CONFORME else None,
        )
        return saved

    async def request_correction(self, staff_id: str, enrolment_id: str) -> Enrolment:
        """« Demander des corrections »: the candidate is mailed each refused piece with its
        reason and message, the deadline, and the link to « Mes justificatifs »."""
        to = await self._candidate_email(enrolment_id)

        def extra(doc: Enrolment, notice: Notice) -> dict[str, Any]:
            correction = doc["review"]["corrections"][-1]
            refused = [p for p in rules.pieces(doc, notice) if p.document.id in correction["pieces"]]
            return {
                "pieces": refused,
                "deadline": rules.deadline_text(notice, correction["deadline"]),
                "link": self.links("my_uploads"),
            }

        def mails(doc: Enrolment, notice: Notice) -> list[OutboxMail]:
            deadline = from_iso(doc["review"]["corrections"][-1]["deadline"]).astimezone(notice.tz)
            subject = f"Pièces justificatives à corriger avant le {date_fr(deadline.date())}"
            return self._to_candidate(to, subject, "review_correction", extra)(doc, notice)

        saved = await self._update(
            enrolment_id,
            lambda doc, notice, now: rules.request_correction(doc, notice, staff_id, now),
            mails,
        )
        correction = saved["review"]["corrections"][-1]
        self.audit.event(
            "review.correction_requested",
            staff_id=staff_id,
            enrolment_id=enrolment_id,
            pieces=correction["pieces"],
            deadline=correction["deadline"],
        )
        return saved

    async def remind(self, staff_id: str, enrolment_id: str) -> Enrolment:
        """« Relancer »: mail the candidate exactly what remains for them to do (the pieces
        missing or refused, the button to click) and by when. Checked and mailed in one atomic
        step, so a candidate who completed a moment ago gets nothing; refused when there is
        nothing they can do."""
        to = await self._candidate_email(enrolment_id)

        def check(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
            rules.reminder(doc, notice, now)  # raises when there is nothing to remind
            return doc

        def mails(doc: Enrolment, notice: Notice) -> list[OutboxMail]:
            wanted = rules.reminder(doc, notice, self.clock.now())
            extra = {"reminder": wanted, "link": self.links("my_uploads")}
            subject = f"Votre dossier n'est pas terminé : à faire avant le {wanted.deadline}"
            return self._to_candidate(to, subject, "review_reminder", lambda d, n: extra)(doc, notice)

        saved = await self._update(enrolment_id, check, mails)
        self.audit.event("review.reminded", staff_id=staff_id, enrolment_id=enrolment_id)
        return saved

    async def accept(self, staff_id: str, enrolment_id: str) -> Enrolment:
        """« Dossier complet »: the candidate is mailed « votre inscription est définitive »."""
        to = await self._candidate_email(enrolment_id)
        mails = self._to_candidate(
            to,
            "Votre inscription est définitive",
            "review_complete",
            lambda doc, notice: {"link": self.links("my_documents")},
        )
        saved = await self._update(
            enrolment_id, lambda doc, notice, now: rules.accept(doc, notice, staff_id, now), mails
        )
        self.audit.event("review.accepted", staff_id=staff_id, enrolment_id=enrolment_id)
        return saved

    async def declare_ineligible(self, staff_id: str, enrolment_id: str, reason_id: str) -> Enrolment:
        """« Irrecevable », with a reason of the notice: the candidate is told why, and whom to ask."""
        to = await self._candidate_email(enrolment_id)

        def extra(doc: Enrolment, notice: Notice) -> dict[str, Any]:
            reason = notice.review.ineligibility_reason(doc["review"]["ineligibility_reason"] or "")
            return {"reason": reason.label if reason else "", "link": self.links("my_documents")}

        mails = self._to_candidate(to, "Votre inscription n'a pas été retenue", "review_ineligible", extra)
        saved = await self._update(
            enrolment_id,
            lambda doc, notice, now: rules.declare_ineligible(doc, notice, staff_id, now, reason_id),
            mails,
        )
        self.audit.event(
            "review.declared_ineligible", staff_id=staff_id, enrolment_id=enrolment_id, reason_id=reason_id
        )
        return saved

    async def resume(self, staff_id: str, enrolment_id: str) -> Enrolment:
        """« Reprendre la vérification » of a dossier incomplet, complet or irrecevable."""
        saved = await self._update(enrolment_id, lambda doc, notice, now: rules.resume(doc, staff_id, now))
        self.audit.event("review.resumed", staff_id=staff_id, enrolment_id=enrolment_id)
        return saved

    async def add_note(self, staff_id: str, enrolment_id: str, text: str) -> Enrolment:
        """A private note: never shown to the candidate, never in a mail, never in the audit log."""
        saved = await self._update(
            enrolment_id, lambda doc, notice, now: rules.add_note(doc, staff_id, text, now)
        )
        self.audit.event("review.note_added", staff_id=staff_id, enrolment_id=enrolment_id)
        return saved

    # -- the candidate --------------------------------------------------------------------------
    async def confirm_corrections(self, account_id: str, enrolment_id: str) -> Enrolment:
        """« J'ai effectué les corrections demandées »: the pôle is mailed the replaced pieces
        (Reply-To: the candidate)."""
        reply_to = await self._candidate_email(enrolment_id)

        def mails(doc: Enrolment, notice: Notice) -> list[OutboxMail]:
            context = self._context(doc, notice)
            pole = context["pole"]
            if pole is None:
                log.warning("dossier %s : pôle inconnu, corrections non signalées", enrolment_id)
                return []
            correction = doc["review"]["corrections"][-1]
            replaced = [
                p
                for p in rules.pieces(doc, notice)
                if p.document.id in correction["pieces"] and p.status is rules.PieceStatus.REMPLACEE
            ]
            context |= {
                "pieces": replaced,
                "correction": correction,
                "deadline": rules.deadline_text(notice, correction["deadline"]),
                "account_email": reply_to,
            }
            subject = f"Corrections reçues — {context['candidate_name']}, {context['speciality_name']}"
            return [
                self.mail.prepare(pole.email, subject, "review_corrections_done", context, reply_to=reply_to)
            ]

        saved = await self._update(
            enrolment_id,
            lambda doc, notice, now: rules.confirm_corrections(doc, notice, account_id, now),
            mails,
        )
        self.audit.event("review.corrections_confirmed", account_id=account_id, enrolment_id=enrolment_id)
        return saved

    async def withdraw(self, account_id: str, enrolment_id: str) -> Enrolment:
        """The candidate withdraws (for good): an acknowledgement is mailed to them."""
        to = await self._candidate_email(enrolment_id)
        mails = self._to_candidate(
            to, "Votre désistement est enregistré", "review_withdrawn", lambda doc, notice: {}
        )
        saved = await self._update(
            enrolment_id, lambda doc, notice, now: rules.withdraw(doc, account_id, now), mails
        )
        self.audit.event("review.withdrawn", account_id=account_id, enrolment_id=enrolment_id)
        return saved

    async def record_replacement(
        self, account_id: str, enrolment_id: str, document_id: str, meta: StoredFileMeta
    ) -> Enrolment:
        """Record a file received for a refused piece (received, checked and stored by the upload
        pipeline, with ``rules.check_can_replace`` as its check before the first byte is kept).
        If this write refuses it, the caller removes the stored file, as for any upload."""

        def mutate(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
            return rules.add_replacement(doc, notice, account_id, now, document_id, dict(meta))

        saved = await self._update(enrolment_id, mutate)
        self.audit.event(
            "review.piece_replaced", account_id=account_id, enrolment_id=enrolment_id, document_id=document_id
        )
        return saved

    async def _delete_files(self, account_id: str, removed: list[Any]) -> None:
        if self.files is None:
            return
        for meta in removed:
            try:
                await asyncio.to_thread(self.files.delete, account_id, meta["stored_name"])
            except OSError as exc:
                log.warning("fichier %s : suppression reportée au prochain démarrage (%s)", meta["id"], exc)

    async def remove_replacement(self, account_id: str, enrolment_id: str, file_id: str) -> Enrolment:
        """Remove a file of a refused piece; once the removal is committed, the file is deleted
        (a failure there leaves an orphan, removed at the next start by the reconciliation)."""
        removed: list[Any] = []

        def mutate(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
            removed[:] = [f for f in doc.get("files", []) if f["id"] == file_id]
            return rules.remove_replacement(doc, notice, account_id, now, file_id)

        saved = await self._update(enrolment_id, mutate)
        await self._delete_files(account_id, removed)
        self.audit.event(
            "review.replacement_removed", account_id=account_id, enrolment_id=enrolment_id, file_id=file_id
        )
        return saved
