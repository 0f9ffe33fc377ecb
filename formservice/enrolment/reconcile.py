"""Files and records never disagree: reconciled at start, before the service takes requests.

An upload is written and fsynced before the record that points to it, and a removal commits the
record before it unlinks the file, so a crash (``kill -9``, a power cut) can leave:

- a stored file that no enrolment references: a document the candidate removed (the removal was
  committed, the unlink never happened) or one whose record was never saved. Keeping it would
  keep personal data nobody can see or delete any more: it is removed;
- temporary files of uploads in flight: ``tmp_dir`` (the body being received) and
  ``.<token>.part`` next to the stored files (the copy being written); removed once older than
  ``stale_after``, so that the check can never race an upload of a moment ago;
- and, only through damage or a mistake by hand, a record whose file is gone: reported (the
  exam office must ask the candidate to send it again), never changed here.

Run it while nothing writes: at start, before serving, or from ``store check`` when the service
is stopped. During uploads it would remove a file stored but not yet recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from formservice.durable import fsync_dir
from formservice.enrolment.records import Enrolment
from formservice.frenchdates import duration_fr
from formservice.store import Store
from formservice.uploads import remove_stored
from formservice.uploads.storage import is_stored_name


@dataclass
class ReconcileReport:
    """What `reconcile_files` did and found, for the start's log and ``store check``."""

    removed_orphans: list[Path] = field(default_factory=list)  # stored files no record references
    removed_temp: list[Path] = field(default_factory=list)  # uploads interrupted, older than stale_after
    missing: list[tuple[str, str]] = field(default_factory=list)  # (enrolment id, file id): file gone
    unknown: list[Path] = field(default_factory=list)  # not named as the service names: left in place
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
            "disque : l'enregistrement est laissé tel quel, le candidat doit renvoyer la pièce"
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
    files_dir: Path,
    tmp_dir: Path,
    *,
    now: datetime,
    stale_after: timedelta = timedelta(hours=1),
    others_may_write: bool = False,
) -> ReconcileReport:
    """Remove the stored files under ``files_dir/<account id>/`` that no enrolment references and
    the temporary files (in ``tmp_dir``, and ``.part`` files next to stored ones) last modified
    more than ``stale_after`` before ``now``; list the records whose file is missing. The disk
    work runs in a thread: the event loop stays free. ``others_may_write``: other processes
    serve the same files (workers of a shared store) and may have stored a file whose record is
    about to be committed: an unreferenced file is then removed only once ``stale_after`` old."""
    references: list[_Reference] = []
    async for page in _enrolment_pages(store):
        references.extend(_references(page))
    report = ReconcileReport(stale_after=stale_after)
    cutoff = (now - stale_after).timestamp()
    orphan_cutoff = cutoff if others_may_write else math.inf
    await asyncio.to_thread(
        _reconcile_disk, Path(files_dir), Path(tmp_dir), references, (cutoff, orphan_cutoff), report
    )
    return report


async def _enrolment_pages(store: Store) -> AsyncIterator[list[Enrolment]]:
    """Every enrolment of every session, a page at a time."""
    async for page in store.enrolments.all_paged():
        yield page


def file_report(enrolments: list[Enrolment], files_dir: Path) -> tuple[list[tuple[str, str]], list[Path]]:
    """Read-only, for ``store check``: (records whose file is missing as (enrolment id, file id),
    stored files no record references). Nothing is removed: that is the start's job."""
    references = _references(enrolments)
    missing = [
        (ref.enrolment_id, ref.file_id)
        for ref in references
        if not _is_stored_file(Path(files_dir), ref.account_id, ref.stored_name)
    ]
    referenced = {(ref.account_id, ref.stored_name) for ref in references}
    orphans = [
        Path(entry.path)
        for folder in _entries(Path(files_dir))
        if folder.is_dir(follow_symlinks=False)
        for entry in _entries(Path(folder.path))
        if entry.is_file(follow_symlinks=False)
        and is_stored_name(entry.name)
        and (folder.name, entry.name) not in referenced
    ]
    return missing, orphans


def hash_problems(enrolments: list[Enrolment], files_dir: Path) -> tuple[int, list[str]]:
    """Each file the records reference, read back under ``files_dir``: (files checked, the ones
    missing or whose SHA-256 differs from their record's), for ``store copy``."""
    problems: list[str] = []
    checked = 0
    for doc in enrolments:
        for meta in doc.get("files", []):
            checked += 1
            path = Path(files_dir) / doc["account_id"] / meta["stored_name"]
            try:
                digest = _sha256(path)
            except OSError as exc:
                problems.append(f"inscription {doc['id']}, fichier {meta['id']} : illisible ({exc.strerror})")
                continue
            if digest != meta.get("sha256"):
                problems.append(
                    f"inscription {doc['id']}, fichier {meta['id']} : empreinte SHA-256 différente"
                )
    return checked, problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _references(enrolments: list[Enrolment]) -> list[_Reference]:
    return [
        _Reference(doc["id"], meta["id"], doc["account_id"], meta["stored_name"])
        for doc in enrolments
        for meta in doc.get("files", [])
    ]


def _reconcile_disk(
    files_dir: Path,
    tmp_dir: Path,
    references: list[_Reference],
    cutoffs: tuple[float, float],
    report: ReconcileReport,
) -> None:
    referenced: dict[str, set[str]] = {}
    for ref in references:
        referenced.setdefault(ref.account_id, set()).add(ref.stored_name)
        if not _is_stored_file(files_dir, ref.account_id, ref.stored_name):
            report.missing.append((ref.enrolment_id, ref.file_id))
    for entry in _entries(files_dir):
        if entry.is_dir(follow_symlinks=False):
            _reconcile_account(Path(entry.path), referenced.get(entry.name, set()), cutoffs, report)
        else:
            report.unknown.append(Path(entry.path))
    _remove_stale_temp(tmp_dir, cutoffs[0], report)


def _reconcile_account(
    folder: Path, referenced: set[str], cutoffs: tuple[float, float], report: ReconcileReport
) -> None:
    """One account's folder: orphans (older than the orphans' cutoff) removed (``remove_stored``
    fsyncs the folder), stale ``.part`` files removed, anything else reported."""
    cutoff, orphan_cutoff = cutoffs
    temp_removed = False
    for entry in _entries(folder):
        path = Path(entry.path)
        is_file = entry.is_file(follow_symlinks=False)
        if is_file and is_stored_name(entry.name):
            if entry.name not in referenced and (
                orphan_cutoff == math.inf or entry.stat(follow_symlinks=False).st_mtime < orphan_cutoff
            ):
                remove_stored(folder, entry.name)
                report.removed_orphans.append(path)
        elif is_file and entry.name.startswith(".") and entry.name.endswith(".part"):
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                path.unlink(missing_ok=True)
                report.removed_temp.append(path)
                temp_removed = True
        else:
            report.unknown.append(path)
    if temp_removed:
        fsync_dir(folder)


def _remove_stale_temp(tmp_dir: Path, cutoff: float, report: ReconcileReport) -> None:
    """Every file (``*.part`` or anything else: the folder is the uploads') older than the cutoff;
    a folder in there is reported, not entered."""
    removed = False
    for entry in _entries(tmp_dir):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            report.unknown.append(path)
        elif entry.stat(follow_symlinks=False).st_mtime < cutoff:
            path.unlink(missing_ok=True)
            report.removed_temp.append(path)
            removed = True
    if removed:
        fsync_dir(tmp_dir)


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    """The entries of ``directory`` in name order; none if it does not exist (yet)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda e: e.name)
    except FileNotFoundError:
        return []


def _is_stored_file(files_dir: Path, account_id: str, stored_name: str) -> bool:
    """Whether the record's file is there, as a regular file. Names that are not ours (a record
    damaged or edited by hand) are never looked up: such a file counts as missing."""
    if not is_stored_name(stored_name) or not account_id or "/" in account_id or account_id in (".", ".."):
        return False
    try:
        return stat.S_ISREG(os.lstat(files_dir / account_id / stored_name).st_mode)
    except FileNotFoundError:
        return False
