"""The snapshot: the whole store as a plain TinyDB JSON database, written atomically.

``snapshot.json`` is what TinyDB's own ``JSONStorage`` reads: ``TinyDB(path, access_mode="r")``
opens it for inspection (with ``tables.StoreTable`` as ``table_class``, our ids being strings).
It is laid out one document per line so that loading it needs neither a second copy of the file
as Python objects nor re-serializing each document::

    {"_meta": {"1": {"format": 1, "journal": 8, "schema": 1, "counts": {...}}},
    "accounts": {
    "a1": {"id":"a1","email":"x@y.fr",...},
    "a2": {...}
    },
    "sessions": {
    }
    }

``journal`` is the first journal generation *not* included: loading replays generations
``>= journal`` on top of the snapshot. The file is replaced only by `write_snapshot` (temp file,
fsync, ``os.replace``, directory fsync), so a crash leaves either the old or the new snapshot,
never half of one; it is 0600, like every file of the store. A file that does not follow the
layout (say, a stock TinyDB database copied in by hand) is still read, through ``json.loads``,
only more slowly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from formservice.durable import fsync_dir, open_private
from formservice.store.tinydb.journal import CorruptStore

SNAPSHOT_NAME = "snapshot.json"
TMP_SUFFIX = ".tmp"
FORMAT = 1
META_TABLE = "_meta"
_META_PREFIX = '{"_meta": {"1": '


def write_snapshot(
    directory: Path,
    tables: Mapping[str, Mapping[str, str]],
    meta: dict[str, Any],
    ready: Callable[[], object] | None = None,
) -> int:
    """Atomically replace ``directory/snapshot.json``; returns its size in bytes.

    ``tables`` maps table -> id -> document JSON text. ``ready`` runs once the new file is on
    disk and before it replaces the old one: compaction waits there until the journal cut it
    depends on is durable. If anything raises (disk full, ``ready``), the old snapshot is intact
    and the temp file is removed.
    """
    meta = {"format": FORMAT, **meta, "counts": {t: len(rows) for t, rows in tables.items()}}
    final = directory / SNAPSHOT_NAME
    tmp = directory / (SNAPSHOT_NAME + TMP_SUFFIX)
    try:
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(_META_PREFIX + json.dumps(meta, ensure_ascii=False) + "}")
            for name, rows in tables.items():
                out.write(",\n" + json.dumps(name, ensure_ascii=False) + ": {")
                sep = "\n"
                for doc_id, body in rows.items():
                    out.write(sep + json.dumps(doc_id, ensure_ascii=False) + ": " + body)
                    sep = ",\n"
                out.write("\n}")
            out.write("\n}\n")
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        if ready is not None:
            ready()
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    return size


def read_snapshot(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """(meta, table -> id -> JSON text) of a snapshot; CorruptStore if it does not parse."""
    try:
        with open(path, encoding="utf-8") as lines:
            return _read_lines(lines)
    except (ValueError, IndexError):
        pass
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CorruptStore(f"{path} : instantané illisible ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptStore(f"{path} : instantané illisible (objet JSON attendu)")
    meta_table = data.pop(META_TABLE, {}) or {}
    meta = meta_table.get("1", {}) if isinstance(meta_table, dict) else {}
    tables: dict[str, dict[str, str]] = {}
    for name, docs in data.items():
        if not isinstance(docs, dict):
            raise CorruptStore(f"{path} : table {name!r} illisible")
        tables[name] = {
            str(doc_id): json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            for doc_id, doc in docs.items()
        }
    return meta, tables


_decoder = json.JSONDecoder()


def _read_lines(lines: Iterator[str]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The fast path over the layout `write_snapshot` produces, streaming (memory holds the rows,
    never the file); ValueError on any deviation. Documents are not decoded here: building the
    indexes decodes each one, once."""
    head = next(lines).rstrip("\n").removesuffix(",")
    if not (head.startswith(_META_PREFIX) and head.endswith("}")):
        raise ValueError("not our layout")
    meta = json.loads(head[len(_META_PREFIX) : -1])
    if not isinstance(meta, dict):
        raise ValueError("meta")
    tables: dict[str, dict[str, str]] = {}
    rows: dict[str, str] | None = None
    for raw in lines:
        line = raw.rstrip("\n").removesuffix(",")
        if rows is None:
            if line == "}":  # end of the database object
                return meta, tables
            if not line.endswith(": {"):
                raise ValueError("table header expected")
            rows = tables.setdefault(json.loads(line[:-3]), {})
        elif line == "}":
            rows = None
        else:
            doc_id, end = _decoder.raw_decode(line)
            if line[end : end + 2] != ": " or not isinstance(doc_id, str):
                raise ValueError("document line expected")
            rows[doc_id] = line[end + 2 :]
    raise ValueError("truncated")
