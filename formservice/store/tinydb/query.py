"""The indexes behind ``select`` and ``tally``: an order, words, and counts per combination of
facets, so that the office's list answers in time independent of the table's size.

- ``order``: the ids sorted by (order field, id), kept sorted on every write (a bisect and a
  memmove: microseconds at 100,000 rows); a page of a dense selection is found by walking it
  from the start, a sparse one by sorting the few candidates.
- ``words``: each normalised word -> the ids holding it, and the sorted list of words, so a
  prefix is a bisect and a short walk.
- ``facets``: the tuple of facet values of each id and a count per tuple. A total or a tally
  over facets sums the counts of the (few hundred) combinations, whatever the number of rows.

Every structure is updated only where a write changed it (most saves change no name and no
state). The caller holds the engine's lock; ids are the rows' keys.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from typing import Any

from formservice.store.contract import Doc, TableSpec

Key = tuple[str, str]  # (order value, id)
Accept = Callable[[tuple[Hashable, ...]], bool]


class QueryIndex:
    def __init__(self, spec: TableSpec, key_of: Callable[[Any], Hashable]):
        self.spec = spec
        self._key_of = key_of  # index_key of tables.py: a hashable stand-in for a JSON value
        self.order: list[Key] = []
        self.order_of: dict[str, str] = {}
        self.word_ids: dict[str, list[str]] = {}
        self.word_list: list[str] = []
        # One count per combination of values, for each group of fields counted together: the
        # list's facets first (``facet_of``/``facet_counts`` are that group's), then the
        # statistics' groups.
        self.groups: list[tuple[str, ...]] = [g for g in (spec.facets, *spec.counted) if g]
        self.group_of: list[dict[str, tuple[Hashable, ...]]] = [{} for _ in self.groups]
        self.group_counts: list[Counter[tuple[Hashable, ...]]] = [Counter() for _ in self.groups]
        main = bool(spec.facets)
        self.facet_of: dict[str, tuple[Hashable, ...]] = self.group_of[0] if main else {}
        self.facet_counts: Counter[tuple[Hashable, ...]] = self.group_counts[0] if main else Counter()
        self._bulk = False

    # -- maintenance ------------------------------------------------------------------------------

    def clear(self) -> None:
        self.__init__(self.spec, self._key_of)  # type: ignore[misc]

    def copy(self) -> QueryIndex:
        """A detached copy (``store check`` compares it off the lock)."""
        other = QueryIndex(self.spec, self._key_of)
        other.order = list(self.order)
        other.order_of = dict(self.order_of)
        other.word_ids = {w: list(ids) for w, ids in self.word_ids.items()}
        other.word_list = list(self.word_list)
        other.group_of = [dict(g) for g in self.group_of]
        other.group_counts = [Counter(c) for c in self.group_counts]
        if self.spec.facets:
            other.facet_of, other.facet_counts = other.group_of[0], other.group_counts[0]
        return other

    def begin_bulk(self) -> None:
        """Loading: append now, sort once in ``end_bulk`` (instead of n insertions)."""
        self.clear()
        self._bulk = True

    def end_bulk(self) -> None:
        self._bulk = False
        self.order.sort()
        self.word_list = sorted(self.word_ids)

    def _order_value(self, doc: Doc) -> str:
        return str(doc.get(self.spec.order) or "") if self.spec.order else ""

    def _words(self, doc: Doc) -> list[str]:
        found = doc.get(self.spec.words) if self.spec.words else None
        return sorted({w for w in found if isinstance(w, str) and w}) if isinstance(found, list) else []

    def _facets(self, doc: Doc) -> list[tuple[Hashable, ...]]:
        return [tuple(self._key_of(doc.get(f)) for f in group) for group in self.groups]

    def add(self, doc_id: str, doc: Doc) -> None:
        self._add_order(doc_id, self._order_value(doc))
        self._add_words(doc_id, self._words(doc))
        self._add_facets(doc_id, self._facets(doc))

    def remove(self, doc_id: str, doc: Doc) -> None:
        self._remove_order(doc_id)
        self._remove_words(doc_id, self._words(doc))
        self._remove_facets(doc_id)

    def replace(self, doc_id: str, old: Doc, new: Doc) -> None:
        """``old`` -> ``new``, touching only the structures whose value changed."""
        value = self._order_value(new)
        if self.order_of.get(doc_id) != value:
            self._remove_order(doc_id)
            self._add_order(doc_id, value)
        old_words, new_words = self._words(old), self._words(new)
        if old_words != new_words:
            self._remove_words(doc_id, old_words)
            self._add_words(doc_id, new_words)
        for at, values in enumerate(self._facets(new)):
            if self.group_of[at].get(doc_id) != values:
                self._remove_group(at, doc_id)
                self._add_group(at, doc_id, values)

    def _add_order(self, doc_id: str, value: str) -> None:
        self.order_of[doc_id] = value
        if self._bulk:
            self.order.append((value, doc_id))
        else:
            insort(self.order, (value, doc_id))

    def _remove_order(self, doc_id: str) -> None:
        value = self.order_of.pop(doc_id, None)
        if value is None:
            return
        at = bisect_left(self.order, (value, doc_id))
        if at < len(self.order) and self.order[at] == (value, doc_id):
            del self.order[at]

    def _add_words(self, doc_id: str, words: Iterable[str]) -> None:
        for word in words:
            ids = self.word_ids.get(word)
            if ids is None:
                self.word_ids[word] = [doc_id]
                if not self._bulk:
                    insort(self.word_list, word)
            else:
                ids.append(doc_id)

    def _remove_words(self, doc_id: str, words: Iterable[str]) -> None:
        for word in words:
            ids = self.word_ids.get(word)
            if ids is None or doc_id not in ids:
                continue
            ids.remove(doc_id)
            if not ids:
                del self.word_ids[word]
                at = bisect_left(self.word_list, word)
                if at < len(self.word_list) and self.word_list[at] == word:
                    del self.word_list[at]

    def _add_facets(self, doc_id: str, groups: list[tuple[Hashable, ...]]) -> None:
        for at, values in enumerate(groups):
            self._add_group(at, doc_id, values)

    def _remove_facets(self, doc_id: str) -> None:
        for at in range(len(self.groups)):
            self._remove_group(at, doc_id)

    def _add_group(self, at: int, doc_id: str, values: tuple[Hashable, ...]) -> None:
        self.group_of[at][doc_id] = values
        self.group_counts[at][values] += 1

    def _remove_group(self, at: int, doc_id: str) -> None:
        values = self.group_of[at].pop(doc_id, None)
        if values is not None:
            counts = self.group_counts[at]
            counts[values] -= 1
            if not counts[values]:
                del counts[values]

    # -- queries ----------------------------------------------------------------------------------

    def accept(self, where: Mapping[str, Collection[Hashable]]) -> Accept | None:
        """A test on a facet tuple for the facet part of ``where`` (None: everything passes)."""
        tests = [(self.spec.facets.index(f), set(keys)) for f, keys in where.items()]
        if not tests:
            return None
        # The combinations that pass, found once among the few hundred that exist: testing a
        # row is then one set lookup (a combination new since cannot be in a row read here:
        # the caller holds the lock).
        passing = {c for c in self.facet_counts if all(c[at] in keys for at, keys in tests)}
        return passing.__contains__

    def facet_total(self, accept: Accept | None) -> int:
        if accept is None:
            return len(self.order_of)
        return sum(n for facets, n in self.facet_counts.items() if accept(facets))

    def group_for(self, field: str, where: Collection[str]) -> int | None:
        """The first counted group holding ``field`` and every field of ``where``."""
        for at, group in enumerate(self.groups):
            if field in group and all(f in group for f in where):
                return at
        return None

    def group_tally(
        self, at: int, field: str, where: Mapping[str, Collection[Hashable]]
    ) -> dict[Hashable, int]:
        group = self.groups[at]
        position = group.index(field)
        tests = [(group.index(f), set(keys)) for f, keys in where.items()]
        out: Counter[Hashable] = Counter()
        for values, n in self.group_counts[at].items():
            if all(values[i] in keys for i, keys in tests):
                out[values[position]] += n
        return dict(out)

    def with_words(self, words: Iterable[str]) -> set[str] | None:
        """Ids holding, for each word asked, a word starting with it (None: no word asked)."""
        found: set[str] | None = None
        for prefix in words:
            ids: set[str] = set()
            at = bisect_left(self.word_list, prefix)
            while at < len(self.word_list) and self.word_list[at].startswith(prefix):
                ids.update(self.word_ids[self.word_list[at]])
                at += 1
            found = ids if found is None else found & ids
            if not found:
                return set()
        return found

    def walk(self, accept: Accept | None, offset: int, limit: int) -> list[str]:
        """The page of a dense selection: walk the order, keep the ids whose facets pass."""
        if accept is None:
            return [doc_id for _, doc_id in self.order[offset : offset + limit]]
        page: list[str] = []
        skip = offset
        facet_of = self.facet_of
        for _, doc_id in self.order:
            if accept(facet_of[doc_id]):
                if skip:
                    skip -= 1
                    continue
                page.append(doc_id)
                if len(page) == limit:
                    break
        return page

    def sort_page(self, ids: Iterable[str], offset: int, limit: int) -> list[str]:
        """The page of a sparse selection: the ``offset + limit`` first candidates in order."""
        order_of = self.order_of
        first = heapq.nsmallest(offset + limit, ids, key=lambda i: (order_of[i], i))
        return first[offset:]

    def problems(self, fresh: QueryIndex, table: str) -> list[str]:
        """Compare with an index rebuilt from the rows (`store check`), in French."""
        out = []
        if self.order != fresh.order:
            out.append(f"{table} : ordre de la liste incohérent")
        mine = {w: sorted(ids) for w, ids in self.word_ids.items()}
        if mine != {w: sorted(ids) for w, ids in fresh.word_ids.items()} or self.word_list != fresh.word_list:
            out.append(f"{table} : index des mots incohérent")
        if self.group_counts != fresh.group_counts or self.group_of != fresh.group_of:
            out.append(f"{table} : compteurs incohérents")
        return out
