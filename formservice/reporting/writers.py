"""The three formats, each an async generator of byte chunks fed a page of rows at a time: the
memory held is a page's, whatever the size of the export, and the client gets bytes as they are
made (Starlette's StreamingResponse, or a file for the command line).

- CSV for French Excel: UTF-8 with a BOM, ``;``, CRLF, dates « 13/11/2025 19:00 » in the notice's
  time zone; a text starting with ``=``, ``+``, ``-``, ``@`` (or a tab, a carriage return) is
  prefixed with ``'`` so that no spreadsheet runs it as a formula; digits with a leading zero
  (a postal code « 01000 ») are written ``="01000"``, which Excel shows as the text it is.
- XLSX through XlsxWriter's ``constant_memory`` mode: typed cells (dates as dates), the header
  frozen, an autofilter; every text is written as a text (never a formula). XlsxWriter keeps the
  rows in a temporary file and zips the workbook at ``close``: its files go to a private folder
  of the data directory's ``tmp`` removed when the export ends (and a leftover of a crash at the
  next export); the zip is streamed to the client while it is compressed, from a worker thread.
- ZIP: ``archive``, onto a ``Sink``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import queue
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import anyio
import xlsxwriter

from formservice.durable import private_dir
from formservice.reporting.columns import Column, Kind, Value

BOM = "\ufeff"
FORMULA_START = frozenset("=+-@\t\r")
LEADING_ZERO = re.compile(r"0\d+")
CSV_DATETIME = "%d/%m/%Y %H:%M"
CSV_DATE = "%d/%m/%Y"
CHUNK = 256 * 1024  # bytes handed to the client at a time (at most, for the XLSX)
STALE_TMP = 6 * 3600  # seconds: a temporary folder of an export this old is a crash's leftover


T = TypeVar("T")


@contextlib.asynccontextmanager
async def closing(items: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``items``, closed on leaving (an async generator left early runs its ``finally`` now, not
    whenever it is collected: a temporary folder is removed, a worker thread stopped)."""
    try:
        yield items
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


# -- CSV ------------------------------------------------------------------------------------------


def neutralised(text: str) -> str:
    """A text no spreadsheet reads as a formula, nor as a number that loses its leading zero."""
    first = text[:1]
    if first in FORMULA_START and first:
        return "'" + text
    if first == "0" and LEADING_ZERO.fullmatch(text):
        return f'="{text}"'
    return text


def csv_cell(value: Value, tz: ZoneInfo) -> str:
    if type(value) is str:  # most cells: checked first
        return neutralised(value) if value else ""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime(CSV_DATETIME)
    if isinstance(value, date):
        return value.strftime(CSV_DATE)
    return neutralised(str(value))


def csv_lines(rows: Iterable[Sequence[Value]], tz: ZoneInfo) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerows([csv_cell(v, tz) for v in r] for r in rows)
    return buffer.getvalue().encode("utf-8")


async def csv_chunks(
    headers: Sequence[str], pages: AsyncIterator[list[list[Value]]], tz: ZoneInfo
) -> AsyncIterator[bytes]:
    yield BOM.encode("utf-8") + csv_lines([list(headers)], tz)
    async for page in pages:
        if page:
            yield csv_lines(page, tz)


# -- the sinks ------------------------------------------------------------------------------------


class Sink:
    """A write-only file (no ``tell``, no ``seek``: zipfile then writes data descriptors) that
    keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.pending = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._parts.append(bytes(data))
        self.pending += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.pending = 0
        return data


class Abandoned(Exception):
    """The client went away: the worker thread stops writing."""


class ThreadSink(Sink):
    """The sink of a worker thread: chunks of about CHUNK bytes go through a bounded queue to the
    event loop (``next_chunk``); a full queue makes the worker wait, so a slow client slows the
    work instead of filling the memory."""

    END = b""

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
        self._abandoned = threading.Event()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        written = super().write(data)
        if self.pending >= CHUNK:
            self._put(self.take())
        return written

    def _put(self, item: bytes | BaseException | None) -> None:
        while True:
            if self._abandoned.is_set():
                raise Abandoned()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(self, work: Callable[[], object]) -> None:
        """In the worker thread: ``work()`` (which writes here), then the end or the error."""
        try:
            work()
            if self.pending:
                self._put(self.take())
            self._put(None)
        except Abandoned:
            pass
        except BaseException as exc:  # handed to the event loop, raised there
            with contextlib.suppress(Abandoned):
                self._put(exc)

    def next_chunk(self) -> bytes | None:
        """In a thread of anyio's pool: the next chunk, END if none came within a moment (so that
        a cancelled wait never holds a thread for long), None at the end."""
        try:
            item = self._queue.get(timeout=0.5)
        except queue.Empty:
            return self.END
        if isinstance(item, BaseException):
            raise item
        return item

    def abandon(self) -> None:
        self._abandoned.set()


async def _drain(sink: ThreadSink, work: Callable[[], object]) -> AsyncIterator[bytes]:
    """Run ``work`` in a thread of its own, yielding what it writes to ``sink`` as it comes."""
    worker = threading.Thread(target=sink.run, args=(work,), name="formservice-export", daemon=True)
    worker.start()
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(sink.next_chunk)
            if chunk is None:
                return
            if chunk:
                yield chunk
    finally:
        sink.abandon()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(worker.join)


# -- temporary folders ---------------------------------------------------------------------------


def temporary_folder(tmp_dir: Path) -> Path:
    """A private folder for one export's temporary files, after removing those a crash left."""
    private_dir(tmp_dir)
    cutoff = time.time() - STALE_TMP
    for old in tmp_dir.glob("export-*"):
        with contextlib.suppress(OSError):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
    folder = tmp_dir / f"export-{secrets.token_hex(8)}"
    private_dir(folder)
    return folder


# -- XLSX -----------------------------------------------------------------------------------------


class _Sheet:
    def __init__(self, book: Any, cols: Sequence[Column], tz: ZoneInfo):
        self.book, self.cols, self.tz = book, cols, tz
        self.sheet = book.add_worksheet("Dossiers")
        self.formats = {
            Kind.DATE: book.add_format({"num_format": "dd/mm/yyyy"}),
            Kind.DATETIME: book.add_format({"num_format": "dd/mm/yyyy hh:mm"}),
        }
        header = book.add_format({"bold": True, "bottom": 1})
        self.sheet.freeze_panes(1, 0)
        for i, col in enumerate(cols):
            self.sheet.set_column(i, i, 18 if col.kind is Kind.TEXT else 16)
            self.sheet.write_string(0, i, col.header, header)
        self.next_row = 1

    def write(self, rows: list[list[Value]]) -> None:
        sheet, formats, tz = self.sheet, self.formats, self.tz
        for values in rows:
            r = self.next_row
            for c, value in enumerate(values):
                if value is None or value == "":
                    continue
                if isinstance(value, datetime):
                    naive = value.astimezone(tz).replace(tzinfo=None)
                    sheet.write_datetime(r, c, naive, formats[Kind.DATETIME])
                elif isinstance(value, date):
                    day = datetime.combine(value, datetime.min.time())
                    sheet.write_datetime(r, c, day, formats[Kind.DATE])
                else:
                    sheet.write_string(r, c, str(value))
            self.next_row += 1

    def finish(self) -> None:
        self.sheet.autofilter(0, 0, max(0, self.next_row - 1), len(self.cols) - 1)
        self.book.close()


async def xlsx_chunks(
    cols: Sequence[Column], pages: AsyncIterator[list[list[Value]]], tz: ZoneInfo, tmp_dir: Path
) -> AsyncIterator[bytes]:
    folder = temporary_folder(tmp_dir)
    try:
        sink = ThreadSink()
        book = xlsxwriter.Workbook(
            sink,
            {
                "constant_memory": True,
                "tmpdir": str(folder),
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        sheet = _Sheet(book, cols, tz)
        async for page in pages:
            await anyio.to_thread.run_sync(sheet.write, page)
        async with closing(_drain(sink, sheet.finish)) as chunks:  # its thread stopped if left early
            async for chunk in chunks:
                yield chunk
    finally:
        shutil.rmtree(folder, ignore_errors=True)
