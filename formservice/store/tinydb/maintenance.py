"""`formservice store check` and `formservice store compact`, for the operator.

``check`` only reads: it takes no lock and repairs nothing, so it is safe while the service
runs (it then reads a state that keeps moving, and says so). It loads the snapshot and the
journals exactly as the engine would, rebuilds every index, and reports counts, schema
versions, what a crash left behind and every inconsistency, in French.

``compact`` opens the store (so the service must be stopped: the lock refuses otherwise, and the
running service compacts by itself anyway), writes a fresh snapshot and drops the journals.

Exit codes: 0 all good, 1 problems found or operation failed, 2 nothing to work on.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

from formservice.store import contract as base
from formservice.store import migrations
from formservice.store.contract import TABLES, Doc, StoreError, TableSpec
from formservice.store.tinydb import integrity, recovery
from formservice.store.tinydb.journal import CorruptStore
from formservice.store.tinydb.lockfile import holder_pid, is_locked
from formservice.store.tinydb.tables import MemTable


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def check(directory: Path) -> int:
    """``formservice store check``: ``directory`` is the store's (``Settings.store_dir``).

    Every check runs and reports before the verdict, so that the operator sees all the problems
    of the directory at once, as the service would meet them on its next start.
    """
    if not directory.is_dir():
        beside_files = _records_lost_beside_files(directory, {})
        if beside_files:  # the service would create an empty store there, and refuse it
            _err(f"Aucun store dans {directory}.")
            return _verdict(beside_files)
        _err(f"Aucun store dans {directory} : rien à vérifier (le service le crée au premier démarrage).")
        return 2
    running = _announce_if_running(directory)
    loaded = _load(directory, running)
    if loaded is None:
        return 1
    print(f"Store {directory}")
    print(
        f"  instantané : {loaded.snapshot_size / 1e6:.1f} Mo ; journaux {loaded.live_gens or 'aucun'} : "
        f"{loaded.journal_bytes / 1e6:.1f} Mo"
    )
    versions: Counter[int] = Counter()
    problems = _check_tables(loaded, versions)
    problems += _check_schema_versions(versions)
    problems += _records_lost_beside_files(directory, loaded.rows)
    _report_crash_leftovers(loaded, running)
    return _verdict(problems)


def _records_lost_beside_files(directory: Path, rows: dict[str, dict[str, str]]) -> list[str]:
    """A store without records next to an uploads folder holding files: the engine refuses it."""
    problem = integrity.uploads_without_records(directory, rows, integrity.uploads_dir_of(directory))
    return [] if problem is None else [str(problem)]


def _announce_if_running(directory: Path) -> bool:
    """Whether the service holds the store. check reads it anyway (it takes no lock), but says
    that the state it reports keeps moving."""
    running = is_locked(directory)
    if running:
        pid = holder_pid(directory)
        print(
            f"Le service tourne (processus {pid or '?'}) : vérification en lecture seule "
            "d'un état qui continue d'évoluer."
        )
    return running


def _load(directory: Path, running: bool) -> recovery.Loaded | None:
    """The snapshot and journals read as the engine would, without repairing; None once the
    damage is reported. A running service may compact while we read (snapshot replaced,
    journals deleted), so a failure is then retried before it counts. Data missing (a journal
    or the snapshot gone) is a problem of the verdict, with what to do."""
    attempts = 3 if running else 1
    for attempt in range(1, attempts + 1):
        try:
            return recovery.load(directory, repair=False)
        except (CorruptStore, OSError) as exc:
            if attempt == attempts and isinstance(exc, integrity.DataMissing):
                _verdict([str(exc)])
            elif attempt == attempts:
                _err(f"Store illisible : {exc}")
                _err("Restaurez la dernière sauvegarde de ce dossier, ou faites examiner les fichiers.")
    return None


def read_table(directory: Path, table: str) -> list[Doc] | None:
    """The documents of ``table`` as the files hold them, read without the lock (the service may
    be running: its last acknowledged writes are in the journal); None once a problem is printed."""
    if not directory.is_dir():
        _err(f"Aucun store dans {directory}.")
        return None
    loaded = _load(directory, running=is_locked(directory))
    if loaded is None:
        return None
    return [json.loads(body) for body in loaded.rows.get(table, {}).values()]


def _check_tables(loaded: recovery.Loaded, versions: Counter[int]) -> list[str]:
    """Rebuild every table's indexes, as opening would (a duplicate written by hand is only found
    there), printing each table's count; count the documents of each schema version into
    ``versions`` on the way, and return the problems found."""

    def note_version(table: str, doc: Doc) -> None:
        versions[migrations.version_of(doc)] += 1
        return None

    problems: list[str] = []
    for name in sorted(set(TABLES) | set(loaded.rows)):
        mem = MemTable(name, TABLES.get(name, TableSpec()), loaded.rows.get(name, {}))
        problems += mem.build_indexes(upgrade=note_version)
        known = "" if name in TABLES else " (table inconnue de cette version, conservée)"
        print(f"  {name} : {_n(len(mem.rows), 'document')}{known}")
    return problems


def _check_schema_versions(versions: Counter[int]) -> list[str]:
    """Older documents are migrated at the next start, so they are only mentioned; newer ones
    make the store refuse to open (this release must not rewrite data it does not understand),
    so they are a problem."""
    by_version = ", ".join(f"v{v} : {n}" for v, n in sorted(versions.items()))
    print(f"  schémas : {by_version or 'aucun document'}")
    current = base.SCHEMA_VERSION
    newer = sum(n for v, n in versions.items() if v > current)
    older = sum(n for v, n in versions.items() if v < current)
    if older:
        print(f"  {older} document(s) à migrer vers le schéma {current} au prochain démarrage")
    if newer:
        return [f"{newer} document(s) écrits par une version plus récente (schéma > {current})"]
    return []


def _report_crash_leftovers(loaded: recovery.Loaded, running: bool) -> None:
    """What a crash left (torn tail, old journals) is a note, not a problem: the next start
    clears it. While the service runs, a tail is a write in progress, so nothing is noted."""
    for text in [] if running else loaded.notes:
        print(f"  note : {text}")


def _verdict(problems: list[str]) -> int:
    if problems:
        for text in problems:
            _err(f"  problème : {text}")
        _err(f"{_n(len(problems), 'problème')} : le service refusera de démarrer sur ce dossier.")
        return 1
    print("Aucun problème.")
    return 0


def compact(directory: Path) -> int:
    from formservice.store.tinydb.engine import TinyDBEngine

    if not directory.is_dir():
        _err(f"Aucun store dans {directory} : rien à compacter.")
        return 2
    try:
        engine = TinyDBEngine(directory)
    except StoreError as exc:
        _err(str(exc))
        if is_locked(directory):
            _err("Le service compacte lui-même son journal : inutile de l'arrêter pour cela.")
        return 1

    async def run() -> tuple[int, dict[str, int]]:
        try:
            size = await engine.compact()
            counts = {name: await engine.count(name) for name in TABLES}
        finally:
            await engine.close()
        return size, counts

    try:
        size, counts = asyncio.run(run())
    except StoreError as exc:
        _err(f"Compactage impossible : {exc}")
        return 1
    total = sum(counts.values())
    print(f"Compactage terminé : {_n(total, 'document')}, instantané de {size / 1e6:.1f} Mo, journal vidé.")
    return 0


def _n(count: int, word: str) -> str:
    """« 1 document », « 3 documents » (an engine module: typography's plural is a layer above)."""
    return f"{count} {word}{'s' if count > 1 else ''}"
