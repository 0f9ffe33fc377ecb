"""The candidate's space as use cases: save the enrolment, receive a file, remove it, « J'ai
fourni toutes mes pièces », report a change of address.

Files are this service's, in every state of the dossier, with one pipeline (in-flight limit,
antivirus, CPU queue, removal on refusal); which rules a file obeys (the enrolment's, or the
review's while the office asks for corrections) is said by ``enrolment.pieces``.

The rules live in ``rules.py`` and ``deadlines.py``; here they run inside the store's atomic
update (so the deadline and the version are checked in the same step as the write), and the side
effects follow: a file is stored durably (``files.FileStore``: fsynced on the local disk, or
acknowledged by the object store) before the record pointing to it is saved, a file whose record
could not be saved is removed, mails go out after the write succeeded. Views never see the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from formservice.clock import Clock
from formservice.durable import private_dir
from formservice.enrolment import rules
from formservice.enrolment.pieces import check_upload, ensure_not_closed, in_correction
from formservice.enrolment.quotas import with_reserved
from formservice.enrolment.records import Enrolment, StoredFileMeta
from formservice.errors import NotFound, NotSaved, ServiceUnavailable, TooManyRequests
from formservice.files import FileStore, FilesUnavailable, FilesUnreachable, StoredFileMissing
from formservice.notice import Notice
from formservice.outbox import Outbox
from formservice.review import rules as review_rules
from formservice.states import MemoryStates, States
from formservice.states import State as Held
from formservice.store import RecordMissing, Store
from formservice.store.records import OutboxMail
from formservice.store.repos import enrolment_key
from formservice.uploads import (
    Clamd,
    StoredFile,
    UploadLimits,
    inspect_and_normalise,
    safe_display_name,
)
from formservice.uploads.stream import receive_upload

log = logging.getLogger("formservice.enrolment")
T = TypeVar("T")

# An absolute URL of a named route, for mails: ``links("my_documents")``.
Links = Callable[..., str]
# Raises when the upload form's token does not belong to this visitor (CsrfFailed).
TokenCheck = Callable[[str | None], None]

NO_ENROLMENT = "Enregistrez d'abord votre pré-inscription dans « M'inscrire »."
UPLOADS_IN_FLIGHT = 2  # per account: a third parallel upload is refused before it is read
UPLOAD_PLACE_TTL_S = 2 * 3600.0  # an upload this old has long been cut by the minimum rate
BUSY = (
    "Le service traite beaucoup de fichiers en ce moment : rien n'a été enregistré. "
    "Réessayez dans une minute."
)
TOO_MANY_AT_ONCE = (
    f"Vous envoyez déjà {UPLOADS_IN_FLIGHT} fichiers : attendez la fin de leur envoi, puis ajoutez celui-ci."
)
FILE_NOT_SAVED = (
    "Votre fichier n'a pas été enregistré : le stockage des justificatifs ne répond pas. Rien n'a été "
    "modifié dans votre dossier ; déposez-le de nouveau dans quelques minutes."
)


@dataclass
class SaveOutcome:
    enrolment: Enrolment
    changes: list[tuple[str, str, str]]
    first: bool
    pieces_changed: bool = False  # the pieces asked are not the same as before the change
    reopened: bool = False  # « J'ai fourni toutes mes pièces » is to be validated again


@dataclass
class Upload:
    """What ``upload`` recorded: the file's metadata, and the document it is for."""

    document_id: str
    file: StoredFileMeta
    replacement: bool = False  # sent in answer to a correction request


class EnrolmentService:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        notices: Callable[[], Notice],
        files: FileStore,
        tmp_dir: Path,
        mail: Outbox,
        links: Links,
        cpu_workers: int = 2,
        cpu_queue: int = 16,
        antivirus: Clamd | None = None,
        min_upload_rate: float = 10 * 1024,
        upload_grace_s: float = 10.0,
        states: States | None = None,
    ):
        self.store = store
        self.clock = clock
        self.notices = notices  # the notice in force: every write checks its deadline as of now
        self.files = files  # the candidates' files: local disk or object store
        self.tmp_dir = tmp_dir
        self.mail = mail
        self.links = links
        # Decoding an uploaded image (up to ~150 MiB for a second or two), parsing a PDF or
        # rendering one is CPU-bound: dedicated threads do it, so the event loop stays responsive
        # and memory stays bounded whatever the number of candidates (the others wait their turn).
        self._cpu = ThreadPoolExecutor(max_workers=cpu_workers, thread_name_prefix="formservice-cpu")
        self.cpu_queue = cpu_queue
        self.antivirus = antivirus  # every file as sent is scanned before anything is kept
        self.min_upload_rate = min_upload_rate
        self.upload_grace_s = upload_grace_s
        self._cpu_jobs = 0
        # Uploads being received, per account (document ids), in ``states`` (shared by every
        # worker when the store is): one candidate's parallel uploads are limited, and count
        # against their quotas before any of them is decoded.
        self.states: States = states if states is not None else MemoryStates()

    async def run_cpu_bound(self, fn: Callable[[], T]) -> T:
        """``fn`` on the CPU threads; refused at once (503, Retry-After) when ``cpu_queue`` jobs
        already wait: better a clear « réessayez » than a page that hangs for everyone."""
        if self._cpu_jobs >= self.cpu_queue:
            raise ServiceUnavailable(BUSY, headers={"Retry-After": "30"})
        self._cpu_jobs += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._cpu, fn)
        finally:
            self._cpu_jobs -= 1

    def close(self) -> None:
        """At shutdown: no new work; what runs finishes in the background."""
        self._cpu.shutdown(wait=False, cancel_futures=True)

    def _mail(
        self, to: str, subject: str, template: str, context: dict[str, Any], *, reply_to: str | None = None
    ) -> OutboxMail:
        """A mail of the space, recorded by the write that causes it."""
        notice: Notice = context["notice"]
        extra = {
            "space_link": self.links("my_documents"),
            "document_names": {d.id: d.name for d in notice.documents},
        }
        return self.mail.prepare(to, subject, template, {**extra, **context}, reply_to=reply_to)

    def _saved_mails(
        self, account: Mapping[str, Any], saved: rules.Saved, notice: Notice
    ) -> list[OutboxMail]:
        doc, diff = saved.enrolment, saved.changes
        if not diff:
            return []
        first = doc["version"] == 1
        subject = (
            "Votre pré-inscription est enregistrée" if first else "Modification de votre pré-inscription"
        )
        context = {
            "enrolment": doc,
            "changes": diff,
            "first": first,
            "reopened": saved.reopened,
            "required": rules.required_documents(notice, doc["data"]),
            "notice": notice,
        }
        return [
            self._mail(account["email"], f"{subject} — {notice.session.name}", "enrolment_saved", context)
        ]

    # -- reading --------------------------------------------------------------------------------
    async def current(self, account_id: str, notice: Notice) -> Enrolment | None:
        return await self.store.enrolments.get_by_key(enrolment_key(account_id, notice.session.name))

    async def previous(self, account_id: str, notice: Notice) -> Enrolment | None:
        """The latest enrolment of an earlier session, to prefill identity and address."""
        others = [
            e
            for e in await self.store.enrolments.for_account(account_id)
            if e["session"] != notice.session.name
        ]
        return max(others, key=lambda e: e["updated_at"], default=None)

    async def find_file(self, account_id: str, file_id: str) -> StoredFileMeta | None:
        """A file of this candidate's, or None: nobody else's file is ever found here."""
        for doc in await self.store.enrolments.for_account(account_id):
            for meta in doc.get("files", []):
                if meta["id"] == file_id:
                    return meta
        return None

    async def open_file(self, account_id: str, meta: StoredFileMeta, missing: str) -> BinaryIO:
        """The stored file of ``account_id``, open for reading (from a thread: ``read`` blocks);
        NotFound with ``missing`` if it is gone, 503 if the file store does not answer. The
        caller has checked who may read it."""
        return await self._on_files(lambda: self.files.open(account_id, meta["stored_name"]), missing)

    async def on_local_copy(
        self, account_id: str, meta: StoredFileMeta, missing: str, work: Callable[[Path], T]
    ) -> T:
        """``work`` (CPU work: PDFium drawing a page) on the CPU threads, over the stored file as a
        local path (fetched from the object store by an I/O thread first, when it is there)."""
        opened = await self._on_files(lambda: self.files.local_path(account_id, meta["stored_name"]), missing)
        path = await self._on_files(opened.__enter__, missing)
        try:
            return await self.run_cpu_bound(lambda: work(path))
        finally:
            await asyncio.to_thread(opened.__exit__, None, None, None)

    async def _on_files(self, call: Callable[[], T], missing: str) -> T:
        try:
            return await asyncio.to_thread(call)
        except StoredFileMissing:
            raise NotFound(missing) from None
        except FilesUnavailable as exc:
            log.error("stockage des justificatifs injoignable : %s", exc)
            raise FilesUnreachable() from exc

    async def _delete_stored(self, account_id: str, meta: Mapping[str, Any]) -> None:
        """Delete a file whose record is gone (or was never written); a failure leaves an orphan,
        which the reconciliation removes at the next start."""
        try:
            await asyncio.to_thread(self.files.delete, account_id, meta["stored_name"])
        except OSError as exc:
            log.warning("fichier %s : suppression reportée au prochain démarrage (%s)", meta.get("id"), exc)

    # -- « Enregistrer » --------------------------------------------------------------------------
    async def save(
        self,
        account: Mapping[str, Any],
        current: Enrolment | None,
        data: dict[str, Any],
        expected_version: int,
        notice: Notice,
        now: datetime,
    ) -> SaveOutcome:
        """One durable write: the first save inserts the finished document (a racing tab's
        duplicate is a VersionConflict); later ones update it under the store's lock. ``current``
        is the enrolment the caller already read for this request (None if there is none)."""
        if current is None:
            saved = await self._first_save(account, data, expected_version, notice, now)
        else:
            saved = await self._update(account, current["id"], data, expected_version, notice)
        if saved.changes:
            await self.mail.wake()
        first = saved.enrolment["version"] == 1 and expected_version == 0
        return SaveOutcome(saved.enrolment, saved.changes, first, saved.pieces_changed, saved.reopened)

    async def _first_save(
        self,
        account: Mapping[str, Any],
        data: dict[str, Any],
        expected_version: int,
        notice: Notice,
        now: datetime,
    ) -> rules.Saved:
        key = enrolment_key(account["id"], notice.session.name)
        blank = rules.new_enrolment(secrets.token_urlsafe(12), key, account["id"], notice, now)
        blank["email"] = account["email"]  # the office searches dossiers by it
        blank["number"] = rules.registration_number(
            notice, await self.store.counters.add("registration_number")
        )
        saved = rules.save_with_changes(blank, data, expected_version, self.notices(), self.clock.now())
        if not await self.store.enrolments.create_if_absent(
            saved.enrolment, self._saved_mails(account, saved, notice)
        ):
            raise rules.VersionConflict(await self.store.enrolments.get_by_key(key))
        return saved

    async def _update(
        self,
        account: Mapping[str, Any],
        enrolment_id: str,
        data: dict[str, Any],
        expected_version: int,
        notice: Notice,
    ) -> rules.Saved:
        outcome: list[rules.Saved] = []

        def mutate(doc: Enrolment) -> Enrolment:
            now = self.clock.now()
            outcome[:] = [rules.save_with_changes(doc, data, expected_version, self.notices(), now)]
            return outcome[0].enrolment

        try:
            stored = await self.store.enrolments.update(
                enrolment_id, mutate, lambda doc: self._saved_mails(account, outcome[0], notice)
            )
        except RecordMissing:
            raise rules.VersionConflict() from None
        return dataclasses.replace(outcome[0], enrolment=stored)

    # -- « Mes justificatifs » ----------------------------------------------------------------------
    async def upload(
        self,
        account: Mapping[str, Any],
        current: Enrolment | None,
        document_id: str,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        check_token: TokenCheck,
        notice: Notice,
    ) -> Upload:
        """« Ajouter »: stream the body to a temporary file (refused as soon as it passes the
        limit), check the form's token and the rules before the first byte of the file is written,
        inspect and re-encode the content off the event loop, store it, then record it; the file
        is removed if anything refuses it on the way."""
        token = secrets.token_hex(8)
        others = await self._reserve_upload(account["id"], document_id, token)
        try:
            stored = await self._receive(
                current, others, document_id, headers, body, check_token, notice, account["id"]
            )
        finally:
            await self._release_upload(account["id"], token)
        assert current is not None  # refused before the file otherwise
        meta: StoredFileMeta = {
            "id": secrets.token_urlsafe(12),
            "stored_name": stored.stored_name,
            "display_name": stored.display_name,
            "size": stored.size,
            "sha256": stored.sha256,
            "media_type": stored.media_type,
        }
        replacement: list[bool] = []

        def record(doc: Enrolment) -> Enrolment:
            notice, now = self.notices(), self.clock.now()
            ensure_not_closed(doc, notice)
            replacement[:] = [in_correction(doc)]
            if replacement[0]:
                return review_rules.add_replacement(doc, notice, account["id"], now, document_id, dict(meta))
            return rules.add_file(doc, document_id, dict(meta), notice, now)

        try:
            await self.store.enrolments.update(current["id"], record)
        except BaseException:
            await self._delete_stored(account["id"], meta)
            raise
        return Upload(document_id, meta, replacement=bool(replacement and replacement[0]))

    async def _reserve_upload(self, account_id: str, document_id: str, token: str) -> list[str]:
        """Take a place among the account's uploads in flight (on any worker); the documents of
        the others already there. TooManyRequests when every place is taken. A place whose
        process died is free again at once (or, at the latest, after UPLOAD_PLACE_TTL_S)."""
        now = self.clock.now()
        stamp = now.timestamp()
        me, alive = await self.states.owner(), await self.states.live_owners()

        def held(place: list[Any]) -> bool:
            return stamp - place[2] < UPLOAD_PLACE_TTL_S and (alive is None or place[3] in alive)

        def fn(states: list[Held | None]) -> tuple[list[Held | None], list[str] | None]:
            places = [p for p in (states[0] or {}).get("places", []) if held(p)]
            if len(places) >= UPLOADS_IN_FLIGHT:
                return [states[0]], None
            others = [p[1] for p in places]
            return [{"places": [*places, [token, document_id, stamp, me]]}], others

        others = await self.states.exchange(
            [("uploads_in_flight", account_id)], fn, now=now, ttl=timedelta(seconds=UPLOAD_PLACE_TTL_S)
        )
        if others is None:
            raise TooManyRequests(5, TOO_MANY_AT_ONCE)
        return others

    async def _release_upload(self, account_id: str, token: str) -> None:
        def fn(states: list[Held | None]) -> tuple[list[Held | None], None]:
            places = [p for p in (states[0] or {}).get("places", []) if p[0] != token]
            return [{"places": places} if places else None], None

        await self.states.exchange(
            [("uploads_in_flight", account_id)],
            fn,
            now=self.clock.now(),
            ttl=timedelta(seconds=UPLOAD_PLACE_TTL_S),
        )

    async def _receive(
        self,
        current: Enrolment | None,
        others: list[str],
        document_id: str,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        check_token: TokenCheck,
        notice: Notice,
        owner: str,
    ) -> StoredFile:
        """The checked, normalised file, stored durably for ``owner``; the temporary one is gone. The
        token, then the rules (counting the account's ``others`` uploads in flight as files
        already there), are checked when the file part begins, before a byte is kept; the total
        size once the file is received, before it is decoded."""
        limits = UploadLimits(max_file_bytes=notice.uploads.max_file_mb * 1024 * 1024)

        def check(size: int) -> None:
            if current is None:
                raise rules.EnrolmentError(NO_ENROLMENT)
            reserved = with_reserved(current, others)
            check_upload(reserved, document_id, size, self.notices(), self.clock.now())

        def before_file(fields: Mapping[str, str]) -> None:
            check_token(fields.get("csrf_token"))
            check(0)

        try:
            return await self._receive_and_store(limits, before_file, check, headers, body, owner)
        except FilesUnavailable as exc:  # the object store is gone: nothing kept, nothing recorded
            log.error("envoi de fichier non enregistré, stockage injoignable : %s", exc)
            raise NotSaved(FILE_NOT_SAVED) from exc
        except OSError as exc:  # a full disk or an I/O error: nothing was kept, say so honestly
            log.error("envoi de fichier non enregistré : %s", exc)
            raise NotSaved() from exc

    async def _receive_and_store(
        self,
        limits: UploadLimits,
        before_file: Callable[[Mapping[str, str]], None],
        check: Callable[[int], None],
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        owner: str,
    ) -> StoredFile:
        """Received in ``tmp_dir``, scanned, checked and normalised by the CPU threads into the
        file store's landing folder, then kept by an I/O thread (a no-op on the local disk, the
        upload itself for S3)."""
        private_dir(self.tmp_dir)
        received = await receive_upload(
            headers,
            body,
            self.tmp_dir,
            limits.max_file_bytes,
            before_file=before_file,
            min_rate_bytes_per_s=self.min_upload_rate,
            grace_s=self.upload_grace_s,
        )
        with received:
            check(received.size)
            if self.antivirus is not None:  # mostly waiting on the daemon's socket: a thread
                await asyncio.to_thread(
                    self.antivirus.scan, received.path, display=safe_display_name(received.filename)
                )
            dest = self.files.landing(owner)
            private_dir(dest)
            stored = await self.run_cpu_bound(
                lambda: inspect_and_normalise(
                    received.path, received.filename, dest, limits, move=True, sha256=received.sha256
                )
            )
        await asyncio.to_thread(self.files.keep, owner, stored.stored_name, stored.media_type, stored.sha256)
        return stored

    async def remove_file(
        self,
        account: Mapping[str, Any],
        current: Enrolment | None,
        file_id: str,
        notice: Notice,
        now: datetime,
    ) -> None:
        if current is None:
            raise rules.EnrolmentError("Ce fichier n'existe pas.", status=404)
        removed: list[StoredFileMeta] = []

        def mutate(doc: Enrolment) -> Enrolment:
            notice, now = self.notices(), self.clock.now()
            removed[:] = [f for f in doc.get("files", []) if f["id"] == file_id]
            ensure_not_closed(doc, notice)
            if in_correction(doc):
                return review_rules.remove_replacement(doc, notice, account["id"], now, file_id)
            return rules.remove_file(doc, file_id, notice, now)

        await self.store.enrolments.update(current["id"], mutate)
        for meta in removed:  # the removal is committed: a file left by a failure here is an orphan,
            await self._delete_stored(account["id"], meta)  # removed by the reconciliation; « supprimé »

    async def complete(
        self, account: Mapping[str, Any], current: Enrolment | None, notice: Notice, now: datetime
    ) -> Enrolment:
        if current is None:
            raise rules.EnrolmentError(NO_ENROLMENT)

        def receipt(doc: Enrolment) -> list[OutboxMail]:
            subject = f"Accusé de réception de vos pièces justificatives — {notice.session.name}"
            context = {"enrolment": doc, "notice": notice, **self._dossier_facts(doc, notice)}
            return [self._mail(account["email"], subject, "receipt", context)]

        def mutate(doc: Enrolment) -> Enrolment:
            notice = self.notices()
            ensure_not_closed(doc, notice)
            return rules.complete(doc, notice, self.clock.now())

        done = await self.store.enrolments.update(current["id"], mutate, receipt)
        await self.mail.wake()
        return done

    async def reopen(self, current: Enrolment | None) -> Enrolment:
        """« Modifier mes pièces »: the deposit reopened (déposé → brouillon), in one write."""
        if current is None:
            raise rules.EnrolmentError(NO_ENROLMENT)

        def mutate(doc: Enrolment) -> Enrolment:
            return rules.reopen(doc, self.notices(), self.clock.now())

        return await self.store.enrolments.update(current["id"], mutate)

    @staticmethod
    def _dossier_facts(doc: Enrolment, notice: Notice) -> dict[str, Any]:
        """What a mail says of the dossier, in words: the exam, the speciality, the pôle."""
        data = doc["data"]
        found = notice.speciality(str(data.get("speciality", "")))
        return {
            "exam": found[0] if found else None,
            "speciality": found[1] if found else None,
            "pole": rules.pole_of(notice, data),
            "birth_date": rules.display_value("birth_date", data.get("birth_date"), notice),
            # the number a person reads out (``number``, once dossiers have one), else the id
            "number": doc.get("number") or doc["id"],
        }

    # -- « Signaler un changement d'adresse » ---------------------------------------------------
    async def request_address_change(
        self,
        account: Mapping[str, Any],
        current: Enrolment | None,
        address: dict[str, str],
        notice: Notice,
        now: datetime,
    ) -> Enrolment:
        missing = rules.EnrolmentError("Vous n'avez pas d'inscription pour cette session.", status=404)
        if current is None:
            raise missing

        def mails(doc: Enrolment) -> list[OutboxMail]:
            """To the pôle (replies go to the candidate) and a copy to the candidate."""
            facts = self._dossier_facts(doc, notice)
            pole = facts["pole"]
            change = doc["address_changes"][-1]
            context = {
                "enrolment": doc,
                "address": change["address"],
                "previous": change.get("previous"),
                "changed_at": change["at"],
                "notice": notice,
                "account": account,
                **facts,
            }
            name = f"{doc['data'].get('last_name', '')} {doc['data'].get('first_names', '')}".strip()
            out = []
            if pole is not None:
                subject = f"Changement d'adresse d'un candidat — {name}"
                out.append(
                    self._mail(pole.email, subject, "address_change_pole", context, reply_to=account["email"])
                )
            ack = "Votre changement d'adresse a été transmis"
            out.append(self._mail(account["email"], ack, "address_change_ack", context))
            return out

        try:
            updated = await self.store.enrolments.update(
                current["id"], lambda doc: rules.request_address_change(doc, address, self.clock.now()), mails
            )
        except RecordMissing:
            raise missing from None
        await self.mail.wake()
        return updated
