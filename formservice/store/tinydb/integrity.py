"""Never start over earlier data: what the store directory shows existed must still be there.

A journal deleted or cut down to nothing, a snapshot removed, a store emptied while the
candidates' files remain: each would otherwise open as a store with fewer records (or none),
and the next writes would build on it as if it were the truth. Opening refuses instead
(`DataMissing`, naming what is missing and where), and ``formservice store check`` reports it.

The evidence, and why each rule holds in a directory that only crashes have touched:

- ``snapshot.json`` names the first journal generation it does not hold: that journal exists
  (compaction makes it durable before it writes the snapshot that points to it);
- without a snapshot, the journals start at generation 1 (only a snapshot lets older ones go);
- ``manifest.json`` (`Manifest`), written by the engine once the store is open and again when it
  closes, names the journal generation in use then and its size. A journal only grows until a
  snapshot covers it (a torn tail is cut back to the last acknowledged group, never below what
  the manifest saw), so that journal still exists and is at least that long, unless a snapshot
  written since covers its generation;
- a store holding no record at all while the uploads folder next to it (``<data_dir>/uploads``,
  `uploads_dir_of`) holds files has lost its records: the files belong to enrolments.

An operator who restored an older copy of the store on purpose deletes ``manifest.json`` (the
messages say so): it is written again at the next start.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from formservice.durable import fsync_dir, open_private
from formservice.store.tinydb.journal import CorruptStore, journal_path
from formservice.store.tinydb.snapshot import SNAPSHOT_NAME

MANIFEST_NAME = "manifest.json"
MANIFEST_TMP = MANIFEST_NAME + ".tmp"
MANIFEST_FORMAT = 1
# Settings.uploads_dir is <data_dir>/uploads and Settings.store_dir <data_dir>/store; the engine
# is given only the latter (store.factory: ``tinydb:PATH``), so it finds the uploads from there.
UPLOADS_NAME = "uploads"


class DataMissing(CorruptStore):
    """Part of the store is gone although the directory shows it existed: opening would start
    over earlier data with fewer records."""


class JournalMissing(DataMissing):
    """A journal generation the snapshot or the manifest relies on is absent or shorter."""


class SnapshotMissing(DataMissing):
    """The journals start after generation 1 but no snapshot holds the generations before."""


class UploadsWithoutRecords(DataMissing):
    """The store holds no record while candidates' files lie next to it."""


def _restore(directory: Path) -> str:
    return (
        "Le service refuse de démarrer sur des données incomplètes : restaurez le dossier "
        f"{directory} depuis la dernière sauvegarde."
    )


def _restored_on_purpose(directory: Path) -> str:
    return (
        f"{_restore(directory)} Si vous avez restauré volontairement une copie plus ancienne, "
        f"supprimez {directory / MANIFEST_NAME} puis relancez."
    )


# -- the manifest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    journal: int  # the journal generation in use
    journal_bytes: int  # its size then: every byte of it acknowledged
    records: int  # documents in the store then (for the messages)

    def dumps(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "journal": self.journal,
                "journal_bytes": self.journal_bytes,
                "records": self.records,
            }
        )


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest, None if there is none (a store from an earlier release, or never opened);
    CorruptStore if it does not parse (it is replaced atomically: no crash leaves half of it)."""
    path = directory / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        manifest = Manifest(int(data["journal"]), int(data["journal_bytes"]), int(data.get("records", 0)))
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptStore(
            f"{path} : manifeste illisible ({exc}). Vérifiez que le journal et l'instantané sont "
            "complets, puis supprimez ce fichier : il est réécrit au démarrage."
        ) from None
    return manifest


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace ``manifest.json`` atomically (temp file, fsync, rename, directory fsync); OSError
    if the disk refuses, the old manifest then being intact."""
    tmp = directory / MANIFEST_TMP
    try:
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(manifest.dumps() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, directory / MANIFEST_NAME)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


# -- the rules --------------------------------------------------------------------------------------


def check_generations(
    directory: Path,
    *,
    snapshot: Path | None,
    snapshot_records: int,
    first: int,
    live: list[int],
    manifest: Manifest | None,
) -> None:
    """Before any journal is read: every generation the snapshot and the manifest rely on is
    there. ``snapshot`` is its path if there is one, ``first`` the first generation it does not
    hold (0 for a snapshot written by hand), ``live`` the generations from ``first`` on."""
    if snapshot is not None and first and (not live or live[0] != first):
        raise JournalMissing(
            f"Le journal {journal_path(directory, first)} est absent alors que l'instantané {snapshot} "
            f"({snapshot_records} enregistrement(s)) en dépend : les écritures confirmées depuis cet "
            f"instantané manqueraient. {_restore(directory)}"
        )
    if snapshot is None and live and live[0] > 1:
        raise SnapshotMissing(
            f"L'instantané {directory / SNAPSHOT_NAME} est absent alors que le premier journal présent "
            f"est {journal_path(directory, live[0])} : les enregistrements des journaux précédents, "
            f"repris dans l'instantané, manqueraient. {_restore(directory)}"
        )
    for previous, gen in itertools.pairwise(live):
        if gen != previous + 1:
            raise JournalMissing(
                f"Le journal {journal_path(directory, previous + 1)} est absent alors que "
                f"{journal_path(directory, previous).name} et {journal_path(directory, gen).name} "
                f"l'encadrent. {_restore(directory)}"
            )
    if manifest is None or manifest.journal < first:  # a snapshot written since covers it
        return
    if manifest.journal not in live and (manifest.journal_bytes or manifest.records):
        raise JournalMissing(
            f"Le journal {journal_path(directory, manifest.journal)} est absent alors que le manifeste "
            f"{directory / MANIFEST_NAME} l'indique comme journal en cours ({manifest.journal_bytes} "
            f"octet(s) confirmés ; {manifest.records} enregistrement(s) dans le store). "
            f"{_restored_on_purpose(directory)}"
        )


def check_sizes(directory: Path, manifest: Manifest | None, good_sizes: dict[int, int]) -> None:
    """Once the journals are read (``good_sizes``: generation -> bytes up to its last good
    commit): the journal the manifest names is at least as long as it was."""
    if manifest is None or manifest.journal not in good_sizes:
        return
    good = good_sizes[manifest.journal]
    if good >= manifest.journal_bytes:
        return
    path = journal_path(directory, manifest.journal)
    now = "est vide" if good == 0 else f"ne contient plus que {good} octet(s) confirmés"
    raise JournalMissing(
        f"Le journal {path} {now} alors que le manifeste {directory / MANIFEST_NAME} en indiquait "
        f"{manifest.journal_bytes} ({manifest.records} enregistrement(s) dans le store) : des écritures "
        f"confirmées ont disparu (journal tronqué ou remplacé par une copie plus ancienne). "
        f"{_restored_on_purpose(directory)}"
    )


def uploads_dir_of(store_dir: Path) -> Path:
    """``<data_dir>/uploads`` for the store ``<data_dir>/store`` (see Settings.uploads_dir)."""
    return Path(store_dir).parent / UPLOADS_NAME


def count_files(directory: Path) -> int:
    """Files (anything but directories) anywhere under ``directory``, never following a link;
    0 if it does not exist."""
    count = 0
    for _root, _dirs, files in os.walk(directory):
        count += len(files)
    return count


def uploads_without_records(
    store_dir: Path, rows: dict[str, dict[str, str]], uploads_dir: Path
) -> UploadsWithoutRecords | None:
    """The problem (to raise or to report) if the store holds no record while ``uploads_dir``
    holds files; None otherwise. Only an empty store costs a walk of the uploads."""
    if any(rows.values()):
        return None
    files = count_files(uploads_dir)
    if not files:
        return None
    return UploadsWithoutRecords(
        f"Le store {store_dir} ne contient aucun enregistrement alors que le dossier des justificatifs "
        f"{uploads_dir} contient {files} fichier(s) : les données des candidats ont sans doute été "
        f"perdues (journal supprimé ou vidé). {_restore(store_dir)} Si ces fichiers sont vraiment à "
        f"supprimer, videz {uploads_dir} puis relancez."
    )
