"""The SQL of ``select``/``tally``/``ids`` filters and of ``check``'s consistency counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from formservice.store.contract import Where
from formservice.store.postgres.layout import Layout, dumps, like_prefix


def where_clause(
    lay: Layout, where: Where | None, words: Sequence[str] = (), *, tally: bool = False
) -> tuple[sql.Composable, list[Any]]:
    """The WHERE clause of ``select``/``tally``/``ids`` (table alias ``t``) and its parameters;
    ``tally``: a counted field may filter too (within its group, as the contract says)."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for field, accepted in (where or {}).items():
        column = sql.SQL("t.{}").format(lay.column(field, tally=tally))
        values = list(accepted)
        texts = [dumps(v) for v in values if v is not None]
        clauses: list[sql.Composable] = []
        if texts:
            clauses.append(sql.SQL("{} = ANY(%s::jsonb[])").format(column))
            params.append(texts)
        if any(v is None for v in values):
            clauses.append(sql.SQL("{} IS NULL").format(column))
        parts.append(sql.SQL("({})").format(sql.SQL(" OR ").join(clauses)) if clauses else sql.SQL("FALSE"))
    for prefix in words:
        if not lay.spec.words:
            parts.append(sql.SQL("FALSE"))
            continue
        parts.append(
            sql.SQL("EXISTS (SELECT 1 FROM {} w WHERE w.id = t.id AND w.word LIKE %s)").format(
                lay.words_table
            )
        )
        params.append(like_prefix(prefix))
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")), params


def consistency_checks(lay: Layout) -> list[tuple[sql.Composed, str]]:
    """Queries counting the rows whose derived columns or words disagree with their document."""
    checks: list[tuple[sql.Composed, str]] = [
        (
            sql.SQL("SELECT count(*) FROM {} WHERE doc ->> 'id' IS DISTINCT FROM id").format(lay.table),
            "l'identifiant diffère de la clé",
        )
    ]
    for field in lay.fields:
        checks.append(
            (
                sql.SQL(
                    "SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM NULLIF(doc -> {}, 'null'::jsonb)"
                ).format(lay.table, lay.column(field, tally=True), sql.Literal(field)),
                f"la colonne d'index {field} diffère du document",
            )
        )
    if lay.order_column is not None:
        checks.append(
            (
                sql.SQL("SELECT count(*) FROM {} WHERE {} IS DISTINCT FROM coalesce(doc ->> {}, '')").format(
                    lay.table, lay.order_column, sql.Literal(lay.spec.order)
                ),
                "la colonne de tri diffère du document",
            )
        )
    if lay.spec.words:
        checks.append(
            (
                sql.SQL(
                    "SELECT count(*) FROM {} t WHERE ARRAY(SELECT w.word FROM {} w WHERE w.id = t.id "
                    "ORDER BY 1) IS DISTINCT FROM ARRAY(SELECT DISTINCT e #>> '{{}}' FROM "
                    "jsonb_array_elements(CASE jsonb_typeof(t.doc -> {}) WHEN 'array' THEN t.doc -> {} "
                    "ELSE '[]'::jsonb END) e WHERE jsonb_typeof(e) = 'string' ORDER BY 1)"
                ).format(
                    lay.table, lay.words_table, sql.Literal(lay.spec.words), sql.Literal(lay.spec.words)
                ),
                "les mots de recherche diffèrent du document",
            )
        )
    return checks
