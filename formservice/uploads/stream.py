"""Receiving one uploaded file without ever holding it in memory.

Starlette's `request.form()` has no limit on a file part's size and parses the whole body before the
view sees a single field; its `max_body_size` answers a bare 413 that says nothing of which file was
too big. Here the body is fed chunk by chunk to python-multipart's streaming parser: the fields are
checked when the file part begins (`before_file`: CSRF), the file goes straight to a temporary file,
and the request is refused (413) as soon as the limit is passed, or before reading anything when
Content-Length already says so.

A body that trickles in is stopped too (408): after a grace period its average rate since the start
must stay above a minimum, and no wait for the next chunk lasts longer than what that rate allows
(nor than `idle_timeout_s`), so that a client that sends nothing at all holds nothing for long. A
client gone in the middle (Starlette's ClientDisconnect, or any other error of the body's iterator)
is one line in the log and an UploadInterrupted (400). In every case the temporary file is removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from formservice.errors import AppError
from formservice.uploads.types import UploadRejected, size_fr

log = logging.getLogger("formservice.uploads")

# Boundaries, part headers and the closing delimiter around the file and the small fields.
ENVELOPE_BYTES = 16 * 1024
MAX_FIELDS = 16
MAX_FIELDS_BYTES = 64 * 1024
# The slowest body accepted, on average since its start, once the grace period is over; and the
# longest wait for one chunk, whatever the average. 10 Kio/s sends 5 Mo in about 8 minutes.
MIN_RATE_BYTES_PER_S = 10 * 1024
GRACE_S = 10.0
IDLE_TIMEOUT_S = 30.0

# Called with the fields received so far when the file part begins, before a byte of it is
# written: the place for the CSRF check (`web/middleware/csrf.verify_csrf`) and for the checks
# that refuse any file (quota, deadline). It runs inside the parser, synchronously: do any I/O
# before `receive_upload`.
BeforeFile = Callable[[Mapping[str, str]], object]


class UploadTooLarge(UploadRejected):
    """The body passed a limit; answered with 413 before the rest of the body is read."""

    status = 413


class MalformedUpload(UploadRejected):
    """The request is not the single-file form the page sends (a crafted or broken client)."""

    status = 400


class UploadTooSlow(UploadRejected):
    """The body came too slowly (reason 'too_slow') or stopped coming ('idle'): 408."""

    status = 408
    title = "Envoi interrompu"


class UploadInterrupted(UploadRejected):
    """The body's iterator failed before its end: the client went away (reason 'disconnected')."""

    status = 400
    title = "Envoi interrompu"


@dataclass
class ReceivedUpload:
    """The small fields and the file of one upload form. The temporary file is the caller's to
    hand over (e.g. to `uploads.inspect_and_normalise`) and to remove: use it as a context manager."""

    fields: dict[str, str]
    field_name: str
    filename: str  # as sent by the browser; see uploads.safe_display_name before showing it
    content_type: str  # as declared by the browser: a hint only, the content decides
    path: Path
    size: int
    sha256: str  # of the bytes received, computed while streaming

    def close(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ReceivedUpload:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _malformed(reason: str, detail: str) -> MalformedUpload:
    return MalformedUpload(
        reason,
        f"L'envoi du fichier n'a pas pu être lu ({detail}) : rechargez la page, choisissez de nouveau "
        "le fichier puis cliquez sur « Ajouter ».",
    )


def _too_large(max_file_bytes: int) -> UploadTooLarge:
    return UploadTooLarge("too_large", too_large_message(max_file_bytes))


def too_large_message(max_file_bytes: int) -> str:
    """What a candidate reads when a file passes the limit (here, or from the reverse proxy)."""
    return (
        f"Le fichier dépasse la taille maximale de {size_fr(max_file_bytes)} : réduisez-le (par exemple "
        "en le numérisant en 150 ou 200 ppp) et déposez-le de nouveau."
    )


def max_upload_body(max_file_bytes: int, max_fields_bytes: int = MAX_FIELDS_BYTES) -> int:
    """The largest upload body accepted: the file, the small fields and the multipart envelope
    (a reverse proxy in front refuses larger ones with the same limit)."""
    return max_file_bytes + max_fields_bytes + ENVELOPE_BYTES


def _too_slow(reason: str) -> UploadTooSlow:
    return UploadTooSlow(
        reason,
        "L'envoi était trop lent et a été interrompu : vérifiez votre connexion puis recommencez.",
    )


def _interrupted() -> UploadInterrupted:
    return UploadInterrupted(
        "disconnected",
        "L'envoi du fichier a été interrompu avant la fin : vérifiez votre connexion, choisissez de "
        "nouveau le fichier puis cliquez sur « Ajouter ».",
    )


@dataclass
class _Pace:
    """The minimum rate of a body, measured on the injected monotonic clock `now`."""

    min_rate: float  # bytes per second; 0 for none
    grace_s: float
    idle_timeout_s: float | None
    now: Callable[[], float]
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.now()

    def check(self, received: int) -> None:
        """After a chunk: past the grace period, the average since the start must reach the minimum."""
        elapsed = self.now() - self.started
        if self.min_rate > 0 and elapsed > self.grace_s and received < self.min_rate * elapsed:
            log.info("upload too slow: %d bytes in %.1f s", received, elapsed)
            raise _too_slow("too_slow")

    def wait_bound(self, received: int) -> tuple[float | None, str]:
        """How long the next chunk may take, and the reason given if it does not come in time: the
        time left before the average falls below the minimum ('too_slow'), or `idle_timeout_s`."""
        bound, reason = self.idle_timeout_s, "idle"
        if self.min_rate > 0:
            left = max(self.grace_s, received / self.min_rate) - (self.now() - self.started)
            if bound is None or left < bound:
                bound, reason = left, "too_slow"
        return bound, reason


async def _next_chunk(chunks: AsyncIterator[bytes], pace: _Pace, received: int) -> bytes | None:
    """The next chunk, None at the end of the body. Waits no longer than `pace` allows (408);
    a failure of the iterator that is not a refusal of ours means the client is gone (400)."""
    bound, reason = pace.wait_bound(received)
    try:
        # A bound already passed still takes a chunk that is there without waiting (the average
        # is then judged by `pace.check`), but waits for nothing.
        async with asyncio.timeout(None if bound is None else max(bound, 0.0)) as deadline:
            return await anext(chunks)
    except StopAsyncIteration:
        return None
    except AppError:
        raise
    except TimeoutError as exc:
        if not deadline.expired():
            raise _disconnected(exc, received) from None
        log.info("upload too slow: %d bytes, then nothing in time (%s)", received, reason)
        raise _too_slow(reason) from None
    except Exception as exc:  # Starlette's ClientDisconnect, a reset connection...: not our import
        raise _disconnected(exc, received) from None


def _disconnected(exc: Exception, received: int) -> UploadInterrupted:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    log.info("upload interrupted after %d bytes: %s", received, detail)
    return _interrupted()


@dataclass
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    """The parser's callbacks: they run synchronously inside `MultipartParser.write`, so raising
    here stops the parse at the byte that passed the limit."""

    def __init__(
        self,
        tmp_dir: Path,
        max_file_bytes: int,
        max_fields_bytes: int,
        max_fields: int,
        before_file: BeforeFile | None,
    ):
        self.tmp_dir = tmp_dir
        self.before_file = before_file
        self.max_file_bytes = max_file_bytes
        self.max_fields_bytes = max_fields_bytes
        self.max_fields = max_fields
        self.part = _Part()
        self.fields: dict[str, str] = {}
        self.fields_bytes = 0
        self.file: BinaryIO | None = None
        self.path: Path | None = None
        self.field_name = ""
        self.filename = ""
        self.content_type = ""
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers.append((bytes(self.part.header_name).lower(), bytes(self.part.header_value)))
        self.part.header_name.clear()
        self.part.header_value.clear()

    def on_headers_finished(self) -> None:
        headers = dict(self.part.headers)
        disposition, options = parse_options_header(headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise _malformed("bad_part", "une partie sans nom")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.fields) >= self.max_fields:
                raise _malformed("too_many_fields", "trop de champs")
            if self.part.name in self.fields:
                raise _malformed("duplicate_field", "un champ en double")
            return
        if self.path is not None:
            raise _malformed("too_many_files", "plus d'un fichier")
        if self.before_file is not None:
            self.before_file(dict(self.fields))
        self.part.is_file = True
        self.field_name = self.part.name
        self.filename = options[b"filename"].decode("utf-8", "replace")
        self.content_type = parse_options_header(headers.get(b"content-type"))[0].decode("latin-1")
        fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=self.tmp_dir)  # mode 0600
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.part.is_file:
            self.size += n
            if self.size > self.max_file_bytes:
                raise _too_large(self.max_file_bytes)
            assert self.file is not None
            chunk = data[start:end]
            self.file.write(chunk)
            self.sha256.update(chunk)  # hashed on the way in: the file is never read back for it
            return
        self.fields_bytes += n
        if self.fields_bytes > self.max_fields_bytes:
            raise UploadTooLarge("fields_too_large", "Les champs du formulaire sont trop longs.")
        self.part.data += data[start:end]

    def on_part_end(self) -> None:
        if self.part.is_file:
            assert self.file is not None
            self.file.close()
            return
        try:
            self.fields[self.part.name] = self.part.data.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("bad_field", "un champ mal encodé") from None

    def on_end(self) -> None:
        self.ended = True

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _boundary(headers: Mapping[str, str]) -> bytes:
    """The multipart boundary, or MalformedUpload for any other kind of body."""
    content_type, params = parse_options_header(headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise _malformed("not_multipart", "ce n'est pas un formulaire d'envoi de fichier")
    boundary = params.get(b"boundary")
    if not boundary:
        raise _malformed("no_boundary", "délimiteur absent")
    return boundary


def _check_declared_length(headers: Mapping[str, str], max_body: int, max_file_bytes: int) -> None:
    """Refuse before reading a byte when Content-Length already says the body is too large."""
    declared = headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise _malformed("bad_length", "longueur invalide")
    if int(declared) > max_body:
        raise _too_large(max_file_bytes)


def _parser(boundary: bytes, receiver: _Receiver) -> MultipartParser:
    return MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_end": receiver.on_end,
        },
    )


def _check_complete(receiver: _Receiver) -> None:
    """The body ended properly and held a file (an empty part without a name is no file)."""
    if not receiver.ended:
        raise _malformed("incomplete", "envoi incomplet")
    if receiver.path is None or (receiver.size == 0 and not receiver.filename):
        raise MalformedUpload(
            "no_file", "Aucun fichier n'a été reçu : choisissez un fichier puis cliquez sur « Ajouter »."
        )


async def _feed(
    parser: MultipartParser, chunks: AsyncIterator[bytes], max_body: int, max_file: int, pace: _Pace
) -> None:
    """Give the body to the parser chunk by chunk; stop reading as soon as it passes ``max_body``
    or comes too slowly."""
    received = 0
    iterator = aiter(chunks)
    try:
        while (chunk := await _next_chunk(iterator, pace, received)) is not None:
            received += len(chunk)
            if received > max_body:
                raise _too_large(max_file)
            pace.check(received)
            parser.write(chunk)
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    parser.finalize()


async def receive_upload(
    headers: Mapping[str, str],
    chunks: AsyncIterator[bytes],
    tmp_dir: Path,
    max_file_bytes: int,
    max_fields_bytes: int = MAX_FIELDS_BYTES,
    *,
    max_fields: int = MAX_FIELDS,
    before_file: BeforeFile | None = None,
    min_rate_bytes_per_s: float = MIN_RATE_BYTES_PER_S,
    grace_s: float = GRACE_S,
    idle_timeout_s: float | None = IDLE_TIMEOUT_S,
    now: Callable[[], float] = time.monotonic,
) -> ReceivedUpload:
    """Read a multipart/form-data body holding exactly one file part and a few small text fields.

    ``headers`` are the request's (case-insensitive: Starlette's ``request.headers``), ``chunks``
    its body as it arrives (``request.stream()``); no web framework is needed here.

    Raises UploadTooLarge (413) as soon as the file passes `max_file_bytes` (or the fields
    `max_fields_bytes`), MalformedUpload (400) for anything but such a form, UploadTooSlow (408)
    when, after `grace_s` seconds, the average rate since the start is below
    `min_rate_bytes_per_s` (0: no minimum) or when no chunk comes for `idle_timeout_s` (None: no
    bound), UploadInterrupted (400) when `chunks` itself fails (ClientDisconnect: the client is
    gone; logged as one line at info level). Whatever `before_file` raises propagates (nothing of
    the file is written then), and so does a cancellation. On any error the temporary file is
    removed. Memory stays flat: one chunk at a time. `now` is the monotonic clock the rate is
    measured with (the waits themselves are the event loop's).
    """
    boundary = _boundary(headers)
    max_body = max_upload_body(max_file_bytes, max_fields_bytes)
    _check_declared_length(headers, max_body, max_file_bytes)
    receiver = _Receiver(tmp_dir, max_file_bytes, max_fields_bytes, max_fields, before_file)
    pace = _Pace(min_rate_bytes_per_s, grace_s, idle_timeout_s, now)
    try:
        try:
            await _feed(_parser(boundary, receiver), chunks, max_body, max_file_bytes, pace)
        except FormParserError as exc:
            raise _malformed("bad_multipart", "format multipart invalide") from exc
        _check_complete(receiver)
    except BaseException:
        receiver.discard()
        raise
    assert receiver.path is not None
    return ReceivedUpload(
        fields=receiver.fields,
        field_name=receiver.field_name,
        filename=receiver.filename,
        content_type=receiver.content_type,
        path=receiver.path,
        size=receiver.size,
        sha256=receiver.sha256.hexdigest(),
    )
