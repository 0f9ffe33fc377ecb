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
  its rename): both generations are replayed in order.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from formservice.durable import fsync_dir
from formservice.store.tinydb.journal import (
    CorruptStore,
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
    if snap.exists():
        meta, rows = read_snapshot(snap)
        if int(meta.get("format", FORMAT)) > FORMAT:
            raise CorruptStore(f"{snap} : format {meta.get('format')} inconnu de cette version du service")
        first = int(meta.get("journal", 0))
        snapshot_size = snap.stat().st_size
    gens = journal_generations(directory)
    stale = [g for g in gens if g < first]
    live = [g for g in gens if g >= first]
    if live and first and live[0] != first:
        raise CorruptStore(f"{journal_path(directory, first)} manquant : l'instantané en dépend")
    for previous, gen in itertools.pairwise(live):
        if gen != previous + 1:
            raise CorruptStore(f"{journal_path(directory, previous + 1)} manquant entre deux journaux")

    loaded = Loaded(rows=rows, first_gen=first, live_gens=live, tail_size=0, snapshot_size=snapshot_size)
    for gen in live:
        path = journal_path(directory, gen)
        result = replay(path, rows, last=gen == live[-1])
        loaded.notes.extend(result.notes)
        loaded.journal_bytes += result.good_size
        loaded.tail_size = result.good_size
        if repair and result.dropped:
            with open(path, "r+b") as f:
                f.truncate(result.good_size)
                os.fsync(f.fileno())

    if repair:
        leftovers = [journal_path(directory, g) for g in stale] + [directory / (SNAPSHOT_NAME + TMP_SUFFIX)]
        removed = False
        for path in leftovers:
            if path.exists():
                path.unlink()
                removed = True
        if removed:
            fsync_dir(directory)
    elif stale:
        loaded.notes.append(f"{len(stale)} ancien(s) journal(aux) déjà repris dans l'instantané, à supprimer")
    return loaded


def drop_journals_before(directory: Path, gen: int) -> None:
    """After a snapshot covering them is durable: delete the older journal generations."""
    removed = False
    for old in journal_generations(directory):
        if old < gen:
            journal_path(directory, old).unlink(missing_ok=True)
            removed = True
    if removed:
        fsync_dir(directory)
