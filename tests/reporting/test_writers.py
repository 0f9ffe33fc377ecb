"""The writers on their own: what a spreadsheet would run or mangle is neutralised, and an export
abandoned half-way (the client went away) leaves no thread and no temporary file behind."""

from __future__ import annotations

import io
import threading
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from formservice.reporting import writers
from formservice.reporting.columns import Column, Kind

pytestmark = pytest.mark.anyio
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("01000", '="01000"'),
        ("86000", "86000"),
        ("Zoé Lefèvre", "Zoé Lefèvre"),
    ],
)
def test_a_cell_is_neither_a_formula_nor_a_number_losing_its_zero(text: str, written: str) -> None:
    assert writers.neutralised(text) == written


def test_csv_dates_are_paris_time_in_french_order() -> None:
    summer = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    assert writers.csv_cell(summer, PARIS) == "01/06/2026 19:00"
    assert writers.csv_cell(date(2001, 3, 2), PARIS) == "02/03/2001"
    assert writers.csv_lines([["a;b", None]], PARIS) == b'"a;b";\r\n'


def _columns() -> list[Column]:
    return [Column("Texte", "", lambda d: None), Column("Quand", "", lambda d: None, Kind.DATETIME)]


async def _pages(n: int, size: int):
    for p in range(n):
        yield [[f"ligne {p}-{i}", datetime(2025, 11, 13, 18, 0, tzinfo=UTC)] for i in range(size)]


async def test_xlsx_rows_come_back_typed(tmp_path) -> None:
    body = b"".join([c async for c in writers.xlsx_chunks(_columns(), _pages(3, 10), PARIS, tmp_path)])
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Texte", "Quand") and len(rows) == 31
    assert rows[1] == ("ligne 0-0", datetime(2025, 11, 13, 19, 0))
    assert not list(tmp_path.glob("export-*"))


async def test_an_abandoned_xlsx_leaves_nothing_behind(tmp_path) -> None:
    """The client takes the first chunk and goes away: the worker thread stops, the temporary
    folder is removed."""
    before = threading.active_count()
    chunks = writers.xlsx_chunks(_columns(), _pages(40, 500), PARIS, tmp_path)
    first = await anext(chunks)
    assert first.startswith(b"PK")
    await chunks.aclose()
    assert not list(tmp_path.glob("export-*"))
    assert not [t for t in threading.enumerate() if t.name == "formservice-export"]
    assert threading.active_count() <= before + 1  # anyio's idle worker may stay
