"""Schema versions of stored documents, and the one way to move them forward.

Every engine stamps each document it writes with ``_schema`` = ``base.SCHEMA_VERSION``, so code
reading a document always knows which shape it has. Documents without ``_schema`` are version 0:
they come from a plain TinyDB database written before this engine existed.

Procedure to change the shape of stored documents (say, split ``name`` into two fields):

1. Here, write a pure function ``v1_to_v2(table: str, doc: Doc) -> Doc`` taking a document at
   version 1 and returning it at version 2. Pure means no clock, no I/O, no other document: it
   must give the same answer every time it runs, because it runs again for any document that a
   journal replays at the old version. It may return the same dict, modified. Tables it does
   not concern are returned unchanged.
2. Register it: ``MIGRATIONS[1] = v1_to_v2``, and bump ``SCHEMA_VERSION`` in ``base.py`` to 2 in
   the same commit, with a test that feeds a version-1 document through `upgrade`.
3. Before deploying, back up the data directory (``formservice store compact`` then copy
   ``var/store/snapshot.json``).
4. On the first start of the new release, the TinyDB engine applies the chain of functions to
   every older document while loading (`upgrade`, called from ``MemTable.build_indexes``), then
   writes a fresh snapshot, so the files are at the new version before the first request. The
   in-memory engine starts empty and needs nothing.
5. Going back is a restore, not a migration: a document *newer* than ``SCHEMA_VERSION`` makes
   the store refuse to open (an older release must not rewrite data it does not understand).

`formservice store check` counts documents per version, so an operator can see a migration done.
"""

from __future__ import annotations

from collections.abc import Callable

from formservice.store import contract as base
from formservice.store.contract import Doc, StoreError

Migration = Callable[[str, Doc], Doc]

SCHEMA_KEY = "_schema"


class SchemaTooNew(StoreError):
    """The data was written by a newer release than the running one."""


def _v0_to_v1(table: str, doc: Doc) -> Doc:
    """Version 1 is the first stamped shape: documents of a plain TinyDB database only get the stamp."""
    return doc


# version N -> function taking a version-N document to version N+1
MIGRATIONS: dict[int, Migration] = {0: _v0_to_v1}


def version_of(doc: Doc) -> int:
    version = doc.get(SCHEMA_KEY, 0)
    return version if isinstance(version, int) else 0


def upgrade(table: str, doc: Doc) -> Doc | None:
    """``doc`` brought to the current ``base.SCHEMA_VERSION``, or None if it already is there.

    Raises SchemaTooNew for a document from the future, StoreError if a step is missing.
    """
    target = base.SCHEMA_VERSION
    version = version_of(doc)
    if version == target:
        return None
    if version > target:
        raise SchemaTooNew(
            f"{table}/{doc.get('id')} : document au schéma {version}, plus récent que celui de ce "
            f"programme ({target}). Installez la version du service qui l'a écrit, "
            "ou restaurez une sauvegarde."
        )
    while version < target:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StoreError(f"aucune migration enregistrée du schéma {version} vers {version + 1}")
        doc = step(table, doc)
        version += 1
    doc[SCHEMA_KEY] = target
    return doc
