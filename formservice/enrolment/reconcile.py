"""Files and records never disagree: reconciled at start, before the service takes requests.

An upload is stored durably before the record that points to it, and a removal commits the
record before it deletes the file, so a crash (``kill -9``, a power cut, the object store gone
in the middle) can leave:

- a stored file that no enrolment references: a document the candidate removed (the removal was
  committed, the deletion never happened) or one whose record was never saved. Keeping it would
  keep personal data nobody can see or delete any more: it is removed;
- uploads cut short: ``tmp_dir`` (the body being received, a file on its way to S3), ``.part``
  files next to the stored ones (the copy being written), S3 multipart uploads never completed;
- and, only through damage or a mistake by hand, a record whose file is gone: reported (the
  exam office must ask the candidate to send it again), never changed here.

Whatever changed less than ``stale_after`` before ``now`` is left alone (an orphan too: it may
be an upload whose record is being written), so that the check never races an upload of a
moment ago. At start with local files nothing is in flight (the store's lock keeps other
processes out) and ``stale_after`` is 0; an S3 bucket may be shared by several workers, so the
start then keeps a grace period.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from formservice.durable import fsync_dir, sorted_entries
from formservice.enrolment.records import Enrolment
from formservice.files import FileEntry, FileStore
from formservice.frenchdates import duration_fr
from formservice.store import Store


@dataclass
class ReconcileReport:
    """What `reconcile_files` did and found, for the start's log and ``store check``."""

    removed_orphans: list[str] = field(default_factory=list)  # stored files no record references
    removed_temp: list[str] = field(default_factory=list)  # uploads interrupted, older than stale_after
    missing: list[tuple[str, str]] = field(default_factory=list)  # (enrolment id, file id): file gone
    unknown: list[str] = field(default_factory=list)  # not named as the service names: left in place
    stale_after: timedelta = timedelta(hours=1)

    @property
    def clean(self) -> bool:
        return not (self.removed_orphans or self.removed_temp or self.missing or self.unknown)

    def lines(self) -> list[str]:
        """In French, for the operator: one line per kind of finding, then one per missing file."""
        lines = []
        if self.removed_orphans:
            lines.append(
                f"justificatifs : {len(self.removed_orphans)} fichier(s) qu'aucune inscription ne "
                "référence supprimé(s) (suppression confirmée ou envoi non enregistré avant un arrêt brutal)"
            )
        if self.removed_temp:
            lines.append(
                f"justificatifs : {len(self.removed_temp)} fichier(s) temporaire(s) d'envois interrompus "
                f"depuis plus de {duration_fr(self.stale_after)} supprimé(s)"
            )
        lines.extend(
            f"justificatifs : fichier inattendu laissé en place (nom que le service ne donne pas) : {path}"
            for path in self.unknown
        )
        lines.extend(
            f"justificatifs : l'inscription {enrolment_id} référence le fichier {file_id}, absent du "
            "stockage : l'enregistrement est laissé tel quel, le candidat doit renvoyer la pièce"
            for enrolment_id, file_id in self.missing
        )
        return lines


@dataclass(frozen=True)
class _Reference:
    enrolment_id: str
    file_id: str
    account_id: str
    stored_name: str


async def reconcile_files(
    store: Store,
    files: FileStore,
    tmp_dir: Path,
    *,
    now: datetime,
    stale_after: timedelta = timedelta(hours=1),
) -> ReconcileReport:
    """Remove the stored files that no enrolment references and the uploads cut short (in
    ``files``, and in ``tmp_dir``) last changed more than ``stale_after`` before ``now``; list
    the records whose file is missing. The file work runs in a thread: the event loop stays free.
    Other processes serving the same files (workers of a shared store, a shared object store)
    may have stored a file whose record is about to be committed: give them a ``stale_after``
    of an hour, and an unreferenced file younger than that is left alone."""
    references: list[_Reference] = []
    async for page in _enrolment_pages(store):
        references.extend(_references(page))
    report = ReconcileReport(stale_after=stale_after)
    cutoff = (now - stale_after).timestamp()
    await asyncio.to_thread(_reconcile, files, Path(tmp_dir), references, cutoff, report)
    return report


async def _enrolment_pages(store: Store) -> AsyncIterator[list[Enrolment]]:
    """Every enrolment of every session, a page at a time."""
    async for page in store.enrolments.all_paged():
        yield page


def file_report(enrolments: list[Enrolment], files: FileStore) -> tuple[list[tuple[str, str]], list[str]]:
    """Read-only, for ``store check``: (records whose file is missing as (enrolment id, file id),
    stored files no record references). Nothing is removed: that is the start's job."""
    references = _references(enrolments)
    referenced = {(ref.account_id, ref.stored_name) for ref in references}
    found: set[tuple[str, str]] = set()
    orphans = []
    for entry in files.entries():
        if entry.state == "stored":
            found.add((entry.owner, entry.name))
            if (entry.owner, entry.name) not in referenced:
                orphans.append(entry.location)
    missing = [(r.enrolment_id, r.file_id) for r in references if (r.account_id, r.stored_name) not in found]
    return missing, orphans


def hash_problems(enrolments: list[Enrolment], files: FileStore) -> tuple[int, list[str]]:
    """Each file the records reference, read back from ``files``: (files checked, the ones
    missing or whose SHA-256 differs from their record's), for ``store copy``. Blocking: run it
    in a thread."""
    problems: list[str] = []
    checked = 0
    for doc in enrolments:
        for meta in doc.get("files", []):
            checked += 1
            try:
                digest = _sha256(files, doc["account_id"], meta["stored_name"])
            except OSError as exc:
                problems.append(
                    f"inscription {doc['id']}, fichier {meta['id']} : illisible ({exc.strerror or exc})"
                )
                continue
            if digest != meta.get("sha256"):
                problems.append(
                    f"inscription {doc['id']}, fichier {meta['id']} : empreinte SHA-256 différente"
                )
    return checked, problems


def _sha256(files: FileStore, owner: str, name: str) -> str:
    digest = hashlib.sha256()
    with files.open(owner, name) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _references(enrolments: list[Enrolment]) -> list[_Reference]:
    return [
        _Reference(doc["id"], meta["id"], doc["account_id"], meta["stored_name"])
        for doc in enrolments
        for meta in doc.get("files", [])
    ]


def _reconcile(
    files: FileStore, tmp_dir: Path, references: list[_Reference], cutoff: float, report: ReconcileReport
) -> None:
    referenced = {(ref.account_id, ref.stored_name) for ref in references}
    found: set[tuple[str, str]] = set()
    for entry in list(files.entries()):
        if entry.state == "stored":
            found.add((entry.owner, entry.name))
        _settle(files, entry, referenced, cutoff, report)
    report.missing.extend(
        (ref.enrolment_id, ref.file_id)
        for ref in references
        if (ref.account_id, ref.stored_name) not in found
    )
    _remove_stale_temp(tmp_dir, cutoff, report)


def _settle(
    files: FileStore,
    entry: FileEntry,
    referenced: set[tuple[str, str]],
    cutoff: float,
    report: ReconcileReport,
) -> None:
    """One thing found in the store: an old orphan or partial upload removed, an unknown one reported."""
    if entry.state == "unknown":
        report.unknown.append(entry.location)
    elif entry.modified >= cutoff:
        return
    elif entry.state == "partial":
        files.discard(entry)
        report.removed_temp.append(entry.location)
    elif (entry.owner, entry.name) not in referenced:
        files.delete(entry.owner, entry.name)
        report.removed_orphans.append(entry.location)


def _remove_stale_temp(tmp_dir: Path, cutoff: float, report: ReconcileReport) -> None:
    """Every file (``*.part`` or anything else: the folder is the uploads') older than the cutoff;
    a folder in there is reported, not entered."""
    removed = False
    for entry in sorted_entries(tmp_dir):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            report.unknown.append(str(path))
        elif entry.stat(follow_symlinks=False).st_mtime < cutoff:
            path.unlink(missing_ok=True)
            report.removed_temp.append(str(path))
            removed = True
    if removed:
        fsync_dir(tmp_dir)
