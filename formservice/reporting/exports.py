"""Exports as use cases: the dossiers of a selection as CSV or XLSX (``columns``), or their pieces
as a ZIP with a manifest; streamed a page of dossiers at a time (``store.enrolments.of_session``)
and audited when they end (who, the scope, how many rows, whether the client got it all).

Authorization is the caller's: ``selection`` builds the scope from the pôles the member may see
(``staff.rules.visible_poles``), and refuses (404) a pôle outside them.

The pieces are read from the file store (``archive``); ``Export.ready`` makes the first chunk
before the answer starts, so that a store that does not answer is a French 503, not a download
cut at its first byte.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from formservice.audit import AuditLog
from formservice.clock import Clock, from_iso
from formservice.errors import BadRequest, NotFound
from formservice.files import FileStore
from formservice.notice import Notice
from formservice.reporting import archive, writers
from formservice.reporting.columns import Column, Dossier, Selection, Value, columns, row
from formservice.review.records import Enrolment
from formservice.review.service import DossierFilter
from formservice.review.states import State
from formservice.store import Store

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "zip": ("application/zip", "zip"),
}
PAGE = 500
MANIFEST = "manifeste.csv"
MANIFEST_HEADERS = ("Dossier", "Fichier", "Pièce", "Nom déposé", "Taille (octets)", "SHA-256", "Remarque")


@dataclass
class Counts:
    """What an export held, for the audit log (updated as it goes)."""

    rows: int = 0
    files: int = 0
    missing: int = 0


@dataclass
class Export:
    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]
    counts: Counts = field(default_factory=Counts)

    async def ready(self) -> Export:
        """This export with its first chunk made now, before the answer starts: what fails before
        it (the file store does not answer: FilesUnreachable) is an error page."""
        first = await anext(self.chunks, None)
        return replace(self, chunks=_after(first, self.chunks))


async def _after(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
    async with writers.closing(rest):
        async for chunk in rest:
            yield chunk


def safe_part(text: str, limit: int = 60) -> str:
    """A piece of a file name any system accepts: ASCII letters, digits and dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")[:limit] or "sans-nom"


def folder_name(doc: Any) -> str:
    """« Kx3…_DURAND_Camille »: the registration number, then the name, as the list shows it."""
    data = doc.get("data", {})
    last = safe_part(str(data.get("last_name", ""))).upper()
    number = doc["id"] if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", doc["id"]) else safe_part(doc["id"], 40)
    return f"{number}_{last}_{safe_part(str(data.get('first_names', '')))}"


@dataclass(kw_only=True, eq=False)
class ExportService:
    store: Store
    clock: Clock
    notices: Callable[[], Notice]  # the notice in force
    audit: AuditLog
    files: FileStore
    tmp_dir: Path

    # -- the scope ------------------------------------------------------------------------------
    def selection(
        self, visible: Sequence[str], *, pole: str = "", exam: str = "", speciality: str = "", state: str = ""
    ) -> Selection:
        """The scope of an export for a member who may see ``visible`` (pôle ids): a pôle outside
        them does not exist for them (404); an unknown exam, speciality or state is a mistake in
        the form (400)."""
        notice = self.notices()
        if pole and pole not in visible:
            raise NotFound()
        if exam and notice.exam(exam) is None:
            raise BadRequest(f"Examen inconnu : « {exam} ». Choisissez-le dans la liste.")
        found = notice.speciality(speciality) if speciality else None
        if speciality and found is None:
            raise BadRequest(f"Spécialité inconnue : « {speciality} ». Choisissez-la dans la liste.")
        if found is not None and exam and found[0].id != exam:
            raise BadRequest(f"La spécialité « {found[1].name} » n'est pas de l'examen {exam}.")
        if state and state not in {s.value for s in State}:
            raise BadRequest(f"État inconnu : « {state} ». Choisissez-le dans la liste.")
        return Selection(tuple([pole] if pole else visible), exam, speciality, state)

    # -- reading --------------------------------------------------------------------------------
    async def dossiers(
        self, selection: Selection, notice: Notice, counts: Counts | None = None
    ) -> AsyncIterator[list[Dossier]]:
        """The selection's dossiers of the notice's session, a page at a time, with each
        candidate's e-mail. The store's indexes pick the selection (``DossierFilter.where``);
        ``matches`` checks each dossier again as it is read."""
        where = DossierFilter(
            poles=selection.poles, exam=selection.exam, speciality=selection.speciality, state=selection.state
        ).where(notice)
        pages = self.store.enrolments.of_session(str(notice.session.name), page_size=PAGE, where=where)
        async with writers.closing(pages):
            async for batch in pages:
                page = []
                for doc in batch:
                    if selection.matches(doc, notice):
                        page.append(Dossier(doc, await self._email(doc), notice))
                if counts is not None:
                    counts.rows += len(page)
                if page:
                    yield page

    async def _email(self, doc: Enrolment) -> str:
        """The candidate's e-mail: copied into the dossier at its first save, or (a dossier saved
        before that) read from the account."""
        if doc.get("email"):
            return str(doc["email"])
        account = await self.store.accounts.get(doc["account_id"])
        return account["email"] if account else ""

    async def _rows(
        self, cols: list[Column], selection: Selection, notice: Notice, counts: Counts
    ) -> AsyncIterator[list[list[Value]]]:
        pages = self.dossiers(selection, notice, counts)
        async with writers.closing(pages):
            async for page in pages:
                yield [row(cols, d) for d in page]

    # -- the exports ----------------------------------------------------------------------------
    def export(self, fmt: str, selection: Selection, *, staff_id: str | None) -> Export:
        """The export in ``fmt`` (csv, xlsx, zip); nothing is read before the first chunk is
        asked for. ``staff_id``: who asks (None: the command line)."""
        if fmt not in FORMATS:
            raise BadRequest("Format inconnu : choisissez CSV, XLSX ou ZIP des pièces.")
        notice = self.notices()
        counts = Counts()
        if fmt == "zip":
            chunks = self._pieces(selection, notice, counts)
        else:
            cols = columns(notice)
            rows = self._rows(cols, selection, notice, counts)
            if fmt == "csv":
                chunks = writers.csv_chunks([c.header for c in cols], rows, notice.tz)
            else:
                chunks = writers.xlsx_chunks(cols, rows, notice.tz, self.tmp_dir)
        media_type, extension = FORMATS[fmt]
        stamp = self.clock.now().astimezone(notice.tz).strftime("%Y%m%d-%H%M")
        name = f"{'pieces' if fmt == 'zip' else 'dossiers'}-{safe_part(notice.session.name).lower()}-{stamp}"
        audited = self._audited(chunks, fmt, selection, counts, staff_id)
        return Export(f"{name}.{extension}", media_type, audited, counts)

    async def _audited(
        self,
        chunks: AsyncIterator[bytes],
        fmt: str,
        selection: Selection,
        counts: Counts,
        staff_id: str | None,
    ) -> AsyncIterator[bytes]:
        """The chunks, then one audit event, whether the export went to its end or not."""
        complete = False
        guarded = archive.guarded(chunks, f"export {fmt}")
        try:
            async with writers.closing(guarded):
                async for chunk in guarded:
                    yield chunk
            complete = True
        finally:
            self.audit.event(
                "export.made",
                staff_id=staff_id,
                actor="gestion" if staff_id else "ligne de commande",
                format=fmt,
                scope=selection.described(),
                rows=counts.rows,
                files=counts.files,
                files_missing=counts.missing,
                complete=complete,
            )

    # -- the pieces -----------------------------------------------------------------------------
    async def _pieces(self, selection: Selection, notice: Notice, counts: Counts) -> AsyncIterator[bytes]:
        """One folder per dossier, each file named after its piece (``piece-identite-1.pdf``),
        then ``manifeste.csv``: each file's size and the SHA-256 recorded when it was deposited
        (what the receiver checks the file against). The manifest's lines wait in a temporary
        file of the export's private folder, not in memory."""
        folder = writers.temporary_folder(self.tmp_dir)
        stream = archive.ZipStream()
        try:
            with (folder / MANIFEST).open("w+", encoding="utf-8", newline="") as manifest:
                lines = csv.writer(manifest, delimiter=";", lineterminator="\r\n")
                manifest.write(writers.BOM)
                lines.writerow(MANIFEST_HEADERS)
                done = _recorder(lines, counts, notice)
                pages = self.dossiers(selection, notice, counts)
                async with writers.closing(pages):
                    async for page in pages:
                        async with writers.closing(
                            stream.add_files(self.files, _page_files(page), done)
                        ) as chunks:
                            async for chunk in chunks:
                                yield chunk
                _add_manifest(stream, manifest, self.clock.now().astimezone(notice.tz))
            yield stream.close()
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))

    # -- the command line -----------------------------------------------------------------------
    async def write_to(self, export: Export, output: Path) -> None:
        """The export into ``output`` (0600), through ``output.part`` renamed at the end: a cron
        job never leaves half a file under the expected name."""
        part = output.with_name(output.name + ".part")
        handle = await anyio.to_thread.run_sync(_private_file, part)
        try:
            async for chunk in export.chunks:
                await anyio.to_thread.run_sync(handle.write, chunk)
            await anyio.to_thread.run_sync(handle.close)
            part.replace(output)
        except BaseException:
            handle.close()
            part.unlink(missing_ok=True)
            raise


def _page_files(page: list[Dossier]) -> list[archive.ZipItem]:
    """The files of a page of dossiers, each with its manifest line."""
    items = []
    for dossier in page:
        doc, tz = dossier.doc, dossier.notice.tz
        base = folder_name(doc)
        ranks: Counter[str] = Counter()
        for meta in doc.get("files", []):
            piece = meta["document_id"]
            ranks[piece] += 1
            name = f"{base}/{piece}-{ranks[piece]}{os.path.splitext(meta['stored_name'])[1]}"
            when = from_iso(meta["uploaded_at"]).astimezone(tz)
            line = (doc["id"], name, piece, meta["display_name"], str(meta["size"]), meta["sha256"])
            items.append(archive.ZipItem(name, when, doc["account_id"], meta["stored_name"], line))
    return items


def _recorder(lines: Any, counts: Counts, notice: Notice) -> archive.Done:
    """What is done once a file is in the archive (or found missing): its manifest line."""

    def done(item: archive.ZipItem, present: bool) -> None:
        counts.files += present
        counts.missing += not present
        remark = "" if present else "absent du stockage : non inclus"
        lines.writerow([writers.csv_cell(v, notice.tz) for v in (*item.about, remark)])

    return done


def _add_manifest(stream: archive.ZipStream, manifest: Any, when: datetime) -> None:
    manifest.seek(0)
    with stream.entry(MANIFEST, when, deflate=True) as entry:
        while text := manifest.read(archive.READ_CHUNK):
            entry.write(text.encode("utf-8"))


def _private_file(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")
