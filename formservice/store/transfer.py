"""``formservice store copy``: every table of one engine into another (TinyDB ↔ PostgreSQL).

The copy goes through the contract only (``ids``/``get_many`` a page at a time, ``insert``), so
any pair of engines works and the memory held is a page's. The destination must be empty: a
copy never merges two campaigns. The counts are compared table by table once it is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from formservice.store.contract import TABLES, Engine

PAGE = 500


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def copy_tables(
    source: Engine, target: Engine, *, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy every document of every table; the problems found (a destination not empty, a
    count that differs after the copy) are in the report, nothing is copied into a non-empty one."""
    report = CopyReport()
    filled = {t: n for t in TABLES if (n := await target.count(t))}
    if filled:
        report.problems.append(
            "la destination n'est pas vide ("
            + ", ".join(f"{t} : {n}" for t, n in filled.items())
            + ") : copiez vers un stockage neuf"
        )
        return report
    for table in TABLES:
        ids = await source.ids(table)
        for start in range(0, len(ids), PAGE):
            for doc in await source.get_many(table, ids[start : start + PAGE]):
                await target.insert(table, doc)
            if progress is not None:
                progress(table, min(start + PAGE, len(ids)))
        report.copied[table] = len(ids)
        there, here = await source.count(table), await target.count(table)
        if there != here:
            report.problems.append(f"{table} : {there} document(s) à la source, {here} à la destination")
    return report
