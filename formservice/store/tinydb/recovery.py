"""Reading a store directory back: the snapshot, then every journal generation after it.

Shared by the engine (``repair=True``: it owns the directory, so it cuts torn tails off and
deletes what a crash left behind) and by ``formservice store check`` (``repair=False``: it only
reads, and may run while the service is up).

What a crash can leave, and what loading does with it:
- a torn journal tail (a group never acknowledged): dropped, and with ``repair`` truncated;
- ``snapshot.json.tmp`` (compaction killed before its rename): deleted;
- journals older than the snapshot (compaction killed between its rename and its unlinks):
  their content is in the snapshot, so they are deleted;
- a new journal generation next to the old one, with the old snapshot (compaction killed before
  its rename): both generations are replayed in order;
- ``manifest.json.tmp`` (the engine killed while writing its manifest): deleted.

What no crash leaves, a journal or a snapshot missing or cut short while the directory shows it
existed, raises `integrity.DataMissing` before anything is repaired (see `integrity`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from formservice.durable import fsync_dir
from formservice.store.tinydb import integrity
from formservice.store.tinydb.journal import (
    CorruptStore,
    Replay,
    journal_generations,
    journal_path,
    replay,
)
from formservice.store.tinydb.snapshot import FORMAT, SNAPSHOT_NAME, TMP_SUFFIX, read_snapshot


@dataclass
class Loaded:
    rows: dict[str, dict[str, str]]  # table -> id -> document JSON text
    first_gen: int  # the first journal generation not in the snapshot
    live_gens: list[int]  # generations replayed, in order
    tail_size: int  # good size of the last live journal (where appending resumes)
    snapshot_size: int = 0
    journal_bytes: int = 0
    notes: list[str] = field(default_factory=list)


def load(directory: Path, *, repair: bool) -> Loaded:
    snap = directory / SNAPSHOT_NAME
    rows: dict[str, dict[str, str]] = {}
    first = 0
    snapshot_size = 0
    has_snapshot = snap.exists()
    if has_snapshot:
        meta, rows = read_snapshot(snap)
        if int(meta.get("format", FORMAT)) > FORMAT:
            raise CorruptStore(f"{snap} : format {meta.get('format')} inconnu de cette version du service")
        first = int(meta.get("journal", 0))
        snapshot_size = snap.stat().st_size
    manifest = integrity.read_manifest(directory)
    gens = journal_generations(directory)
    stale = [g for g in gens if g < first]
    live = [g for g in gens if g >= first]
    integrity.check_generations(
        directory,
        snapshot=snap if has_snapshot else None,
        snapshot_records=sum(len(table) for table in rows.values()),
        first=first,
        live=live,
        manifest=manifest,
    )

    loaded = Loaded(rows=rows, first_gen=first, live_gens=live, tail_size=0, snapshot_size=snapshot_size)
    replayed: dict[int, Replay] = {}
    for gen in live:
        result = replay(journal_path(directory, gen), rows, last=gen == live[-1])
        replayed[gen] = result
        loaded.notes.extend(result.notes)
        loaded.journal_bytes += result.good_size
        loaded.tail_size = result.good_size
    integrity.check_sizes(directory, manifest, {gen: r.good_size for gen, r in replayed.items()})

    if repair:
        _repair(directory, replayed, stale)
    elif stale:
        loaded.notes.append(f"{len(stale)} ancien(s) journal(aux) déjà repris dans l'instantané, à supprimer")
    return loaded


def _repair(directory: Path, replayed: dict[int, Replay], stale: list[int]) -> None:
    """Cut the torn tails off, delete what a crash left behind (the loading checks passed)."""
    for gen, result in replayed.items():
        if result.dropped:
            with open(journal_path(directory, gen), "r+b") as f:
                f.truncate(result.good_size)
                os.fsync(f.fileno())
    leftovers = [journal_path(directory, g) for g in stale] + [
        directory / (SNAPSHOT_NAME + TMP_SUFFIX),
        directory / integrity.MANIFEST_TMP,
    ]
    removed = False
    for path in leftovers:
        if path.exists():
            path.unlink()
            removed = True
    if removed:
        fsync_dir(directory)


def drop_journals_before(directory: Path, gen: int) -> None:
    """After a snapshot covering them is durable: delete the older journal generations."""
    removed = False
    for old in journal_generations(directory):
        if old < gen:
            journal_path(directory, old).unlink(missing_ok=True)
            removed = True
    if removed:
        fsync_dir(directory)
