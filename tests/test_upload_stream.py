"""Receiving an upload as a stream: limits while reading, flat memory, nothing left behind."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import stat
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from formservice.uploads.inspect import MIB, UploadRejected, inspect_and_normalise
from formservice.uploads.stream import (
    BeforeFile,
    MalformedUpload,
    ReceivedUpload,
    UploadInterrupted,
    UploadTooLarge,
    UploadTooSlow,
    receive_upload,
)

pytestmark = pytest.mark.anyio

BOUNDARY = "----formservice-test-boundary-7MA4YWxkTrZu0gW"
CHUNK = 64 * 1024


# ---------------------------------------------------------------------------------------
# Bodies


async def receive(request, *args, **kwargs):
    """The stream reader takes headers and chunks: give it a Request's."""
    return await receive_upload(request.headers, request.stream(), *args, **kwargs)


def part(
    name: str, value: bytes | str, filename: str | None = None, content_type: str | None = None
) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    data = value.encode() if isinstance(value, str) else value
    return head.encode() + b"\r\n" + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def file_head(filename: str = "scan.pdf", content_type: str = "application/pdf") -> bytes:
    """Everything before the file's bytes: two small fields and the file part's headers."""
    return (
        part("csrf", "jeton-csrf")
        + part("document", "diplome")
        + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
    )


FILE_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


class CountingBody:
    """A request body produced on demand, counting the chunks the server actually pulled: the
    proof that a refusal came before the whole body was read."""

    def __init__(self, file_bytes: int, chunk: int = CHUNK, head: bytes | None = None):
        self.head = file_head() if head is None else head
        self.file_bytes = file_bytes
        self.chunk = chunk
        self.pulled = 0
        self.total_chunks = 2 + -(-file_bytes // chunk)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.pulled += 1
        yield self.head
        block = b"\x5a" * self.chunk  # one object reused: the generator itself holds no memory
        remaining = self.file_bytes
        while remaining:
            n = min(remaining, self.chunk)
            self.pulled += 1
            yield block if n == self.chunk else block[:n]
            remaining -= n
        self.pulled += 1
        yield FILE_TAIL

    def expected_sha256(self) -> str:
        digest = hashlib.sha256()
        block = b"\x5a" * self.chunk
        remaining = self.file_bytes
        while remaining:
            n = min(remaining, self.chunk)
            digest.update(block[:n])
            remaining -= n
        return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# A tiny app, as the views will use the module


@dataclass
class Seen:
    received: ReceivedUpload | None = None
    error: UploadRejected | None = None
    sha256: str = ""
    store: dict[str, Any] = field(default_factory=dict)


class CsrfRefused(Exception):
    """Stands for security.CsrfFailed, which the real view's `before_file` raises."""


def make_app(
    tmp_dir: Path,
    max_file_bytes: int,
    seen: Seen,
    dest: Path | None = None,
    before_file: BeforeFile | None = None,
) -> Starlette:
    async def upload(request: Request) -> Response:
        try:
            received = await receive(request, tmp_dir, max_file_bytes, before_file=before_file)
        except UploadRejected as exc:
            seen.error = exc
            return PlainTextResponse(exc.message, status_code=exc.status)
        except CsrfRefused:
            return PlainTextResponse("Formulaire expiré", status_code=403)
        seen.received = received
        with received.path.open("rb") as f:
            seen.sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        if dest is None:
            return JSONResponse({"size": received.size})
        with received:  # the temporary file goes, whatever the verdict
            try:
                stored = await run_in_threadpool(
                    inspect_and_normalise, received.path, received.filename, dest
                )
            except UploadRejected as exc:
                seen.error = exc
                return PlainTextResponse(exc.message, status_code=exc.status)
        seen.store = {"name": stored.stored_name, "display": stored.display_name}
        return JSONResponse(seen.store)

    return Starlette(routes=[Route("/upload", upload, methods=["POST"])])


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir()
    return path


async def post(app: Starlette, content: bytes | CountingBody, **headers: str) -> httpx.Response:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", **headers}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/upload", content=content, headers=headers)


def request_for(chunks: Iterable[dict[str, Any]], headers: dict[str, str] | None = None) -> Request:
    """A bare Starlette request fed from scripted ASGI messages (for disconnects)."""
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})}
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    messages = iter(chunks)

    async def receive() -> dict[str, Any]:
        return next(messages)

    return Request(scope, receive)


# ---------------------------------------------------------------------------------------
# Receiving


async def test_file_and_fields_are_received(tmp_dir):
    """The small fields come back as text, the file as a private temporary file with its metadata."""
    seen = Seen()
    content = body(
        part("csrf", "jeton-csrf"),
        part("document", "diplome"),
        part("file", b"%PDF-1.7 contenu", filename="Relevé de notes.pdf", content_type="application/pdf"),
    )
    response = await post(make_app(tmp_dir, MIB, seen), content)
    assert response.status_code == 200
    received = seen.received
    assert received is not None
    assert received.fields == {"csrf": "jeton-csrf", "document": "diplome"}
    assert (received.field_name, received.filename) == ("file", "Relevé de notes.pdf")
    assert received.content_type == "application/pdf"
    assert received.size == 16 and received.path.read_bytes() == b"%PDF-1.7 contenu"
    assert received.path.parent == tmp_dir
    assert stat.S_IMODE(received.path.stat().st_mode) == 0o600
    with received:
        pass
    assert list(tmp_dir.iterdir()) == []


async def test_a_file_of_exactly_the_limit_is_accepted(tmp_dir):
    """The limit is inclusive: max_file_bytes passes, one more byte does not."""
    seen = Seen()
    app = make_app(tmp_dir, 256 * 1024, seen)
    assert (await post(app, CountingBody(256 * 1024))).status_code == 200
    assert seen.received is not None and seen.received.size == 256 * 1024
    seen.received.close()
    assert (await post(app, CountingBody(256 * 1024 + 1))).status_code == 413
    assert list(tmp_dir.iterdir()) == []


async def test_limit_is_enforced_while_streaming(tmp_dir):
    """A 20 MiB file against a 1 MiB limit: 413 after about 1 MiB was read, temporary file removed."""
    seen = Seen()
    stream = CountingBody(20 * MIB)
    response = await post(make_app(tmp_dir, MIB, seen), stream)
    assert response.status_code == 413
    assert isinstance(seen.error, UploadTooLarge) and seen.error.reason == "too_large"
    assert "dépasse la taille maximale de 1 Mo" in response.text
    assert stream.pulled <= MIB // CHUNK + 2
    assert stream.pulled < stream.total_chunks / 10
    assert list(tmp_dir.iterdir()) == []


async def test_declared_length_over_the_limit_is_refused_before_reading(tmp_dir):
    """When Content-Length already says too much, not a single chunk is pulled."""
    seen = Seen()
    stream = CountingBody(20 * MIB)
    response = await post(
        make_app(tmp_dir, MIB, seen), stream, **{"content-length": str(len(file_head()) + 20 * MIB + 40)}
    )
    assert response.status_code == 413
    assert stream.pulled == 0
    assert list(tmp_dir.iterdir()) == []


async def test_memory_stays_flat_for_a_50_mib_upload(tmp_dir):
    """50 MiB go through with a Python memory peak of a few hundred KiB: nothing is buffered."""
    seen = Seen()
    app = make_app(tmp_dir, 64 * MIB, seen)
    stream = CountingBody(50 * MIB)
    tracemalloc.start()
    try:
        response = await post(app, stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert peak < 3 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert seen.received is not None
    with seen.received as received:
        assert received.size == 50 * MIB == received.path.stat().st_size
        assert seen.sha256 == stream.expected_sha256()
    assert list(tmp_dir.iterdir()) == []


async def test_before_file_sees_the_fields_and_can_refuse_before_any_file_byte(tmp_dir):
    """The CSRF check runs when the file part begins: refused there, no temporary file was ever
    created and the file's bytes were not read."""
    calls: list[dict[str, str]] = []
    created: list[Path] = []

    def check(fields: Mapping[str, str]) -> None:
        calls.append(dict(fields))
        created.extend(tmp_dir.iterdir())
        if fields.get("csrf") != "bon-jeton":
            raise CsrfRefused()

    stream = CountingBody(20 * MIB)
    response = await post(make_app(tmp_dir, 64 * MIB, Seen(), before_file=check), stream)
    assert response.status_code == 403
    assert calls == [{"csrf": "jeton-csrf", "document": "diplome"}]
    assert created == [] and list(tmp_dir.iterdir()) == []
    assert stream.pulled <= 2


async def test_before_file_accepting_lets_the_file_through(tmp_dir):
    """A hook that returns lets the upload proceed normally."""
    seen = Seen()
    response = await post(make_app(tmp_dir, MIB, seen, before_file=lambda fields: None), CountingBody(1000))
    assert response.status_code == 200
    assert seen.received is not None
    seen.received.close()


async def test_a_token_sent_after_the_file_is_not_seen_by_before_file(tmp_dir):
    """Fields after the file part come too late for the check: put the hidden inputs first."""
    seen_fields: list[Mapping[str, str]] = []
    content = body(part("file", b"%PDF-", filename="a.pdf"), part("csrf", "bon-jeton"))
    received = await receive(single_shot(content), tmp_dir, MIB, before_file=seen_fields.append)
    with received:
        assert seen_fields == [{}]
        assert received.fields == {"csrf": "bon-jeton"}


INTERRUPTED = (
    "L'envoi du fichier a été interrompu avant la fin : vérifiez votre connexion, choisissez de "
    "nouveau le fichier puis cliquez sur « Ajouter »."
)


async def test_a_client_that_disconnects_leaves_nothing(tmp_dir, caplog):
    """A connection lost in the middle of the file (Starlette's ClientDisconnect): UploadInterrupted
    (400, 'disconnected'), one info line without a traceback, no temporary file."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": file_head(), "more_body": True},
        {"type": "http.request", "body": b"x" * CHUNK, "more_body": True},
        {"type": "http.disconnect"},
    ]
    with caplog.at_level(logging.DEBUG), pytest.raises(UploadInterrupted) as caught:
        await receive(request_for(messages), tmp_dir, MIB)
    assert (caught.value.reason, caught.value.status, caught.value.message) == (
        "disconnected",
        400,
        INTERRUPTED,
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert [(r.name, r.levelno, r.exc_info) for r in caplog.records] == [
        ("formservice.uploads", logging.INFO, None)
    ]
    assert (
        caplog.records[0].getMessage()
        == f"upload interrupted after {len(file_head()) + CHUNK} bytes: {ClientDisconnect.__name__}"
    )
    assert list(tmp_dir.iterdir()) == []


async def test_a_body_cut_before_its_closing_boundary_is_refused(tmp_dir):
    """A body that ends without its final delimiter is incomplete: refused, nothing kept."""
    messages = [{"type": "http.request", "body": file_head() + b"x" * 1000, "more_body": False}]
    with pytest.raises(MalformedUpload) as caught:
        await receive(request_for(messages), tmp_dir, MIB)
    assert caught.value.reason == "incomplete"
    assert list(tmp_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Refusals of forms the page never sends


def single_shot(content: bytes, content_type: str | None = None) -> Request:
    headers = {} if content_type is None else {"content-type": content_type}
    return request_for([{"type": "http.request", "body": content, "more_body": False}], headers)


MALFORMED = {
    "two-files": (
        body(part("a", b"1", filename="a.pdf"), part("b", b"2", filename="b.pdf")),
        None,
        "too_many_files",
    ),
    "too-many-fields": (
        body(*(part(f"f{i}", "x") for i in range(17)), part("file", b"1", "a.pdf")),
        None,
        "too_many_fields",
    ),
    "duplicate-field": (
        body(part("csrf", "a"), part("csrf", "b"), part("file", b"1", "a.pdf")),
        None,
        "duplicate_field",
    ),
    "part-without-name": (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
        None,
        "bad_part",
    ),
    "missing-boundary": (body(part("file", b"1", "a.pdf")), "multipart/form-data", "no_boundary"),
    "not-multipart": (b"file=a.pdf", "application/x-www-form-urlencoded", "not_multipart"),
    "garbage": (b"this is not multipart at all", None, "bad_multipart"),
    "no-file-part": (body(part("csrf", "a")), None, "no_file"),
    "no-file-chosen": (body(part("csrf", "a"), part("file", b"", filename="")), None, "no_file"),
    "field-not-utf8": (body(part("csrf", b"\xff\xfe"), part("file", b"1", "a.pdf")), None, "bad_field"),
}


@pytest.mark.parametrize(("content", "content_type", "reason"), list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_uploads_are_refused(tmp_dir, content, content_type, reason):
    """More than one file, too many fields, no boundary, not multipart...: 400 and nothing kept."""
    with pytest.raises(MalformedUpload) as caught:
        await receive(single_shot(content, content_type), tmp_dir, MIB)
    assert caught.value.reason == reason
    assert caught.value.status == 400
    assert caught.value.message.endswith("« Ajouter ».")
    assert list(tmp_dir.iterdir()) == []


async def test_oversized_fields_are_refused_with_413(tmp_dir):
    """The small fields have their own bound: a megabyte 'csrf' field is refused while read."""
    content = body(part("csrf", "x" * (100 * 1024)), part("file", b"1", "a.pdf"))
    with pytest.raises(UploadTooLarge) as caught:
        await receive(single_shot(content), tmp_dir, MIB, max_fields_bytes=64 * 1024)
    assert caught.value.reason == "fields_too_large"
    assert caught.value.status == 413


async def test_an_empty_file_with_a_name_is_received_for_inspection(tmp_dir):
    """A real zero-byte file (it has a name) is handed over, so that inspection says 'vide'."""
    received = await receive(single_shot(body(part("file", b"", filename="vide.pdf"))), tmp_dir, MIB)
    with received:
        assert (received.filename, received.size) == ("vide.pdf", 0)


def test_too_large_is_an_upload_rejection_with_status_413():
    """One handler renders every refusal: stream limits are UploadRejected too."""
    assert issubclass(UploadTooLarge, UploadRejected) and UploadTooLarge.status == 413
    assert issubclass(MalformedUpload, UploadRejected) and MalformedUpload.status == 400
    assert issubclass(UploadTooSlow, UploadRejected) and UploadTooSlow.status == 408
    assert issubclass(UploadInterrupted, UploadRejected) and UploadInterrupted.status == 400


# ---------------------------------------------------------------------------------------
# Slow bodies, silent clients, broken iterators


HEADERS = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
KIB = 1024
TOO_SLOW = "L'envoi était trop lent et a été interrompu : vérifiez votre connexion puis recommencez."


class Clock:
    """The monotonic clock the rate is measured with, moved by the body itself: no sleep."""

    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


class Trickle:
    """A body whose file comes in `count` chunks of `size` bytes, `step_s` seconds apart on
    `clock`; `pulled` counts the chunks the receiver asked for."""

    def __init__(self, clock: Clock, size: int, step_s: float, count: int, first_s: float = 0.0):
        self.clock, self.size, self.step_s, self.count, self.first_s = clock, size, step_s, count, first_s
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.clock.t += self.first_s
        self.pulled += 1
        yield file_head()
        for _ in range(self.count):
            self.clock.t += self.step_s
            self.pulled += 1
            yield b"z" * self.size
        self.pulled += 1
        yield FILE_TAIL


async def test_a_body_below_the_minimum_rate_is_stopped_after_the_grace_period(tmp_dir, caplog):
    """1 Kio/s: accepted for 10 seconds, then 408 with its message; the rest is never read and
    the temporary file is gone."""
    clock = Clock()
    trickle = Trickle(clock, KIB, step_s=1.0, count=100)
    with caplog.at_level(logging.INFO, logger="formservice.uploads"), pytest.raises(UploadTooSlow) as caught:
        await receive_upload(HEADERS, aiter(trickle), tmp_dir, MIB, now=clock)
    assert (caught.value.reason, caught.value.status, caught.value.message) == ("too_slow", 408, TOO_SLOW)
    assert trickle.pulled == 1 + 11  # the head, then 11 seconds of file: the 11th is past the grace
    assert list(tmp_dir.iterdir()) == []
    assert [r.getMessage() for r in caplog.records] == [
        f"upload too slow: {len(file_head()) + 11 * KIB} bytes in 11.0 s"
    ]


async def test_the_average_since_the_start_counts_not_one_pause(tmp_dir):
    """A fast start then a pause of 20 seconds: the average stays above 10 Kio/s, accepted."""
    clock = Clock()
    trickle = Trickle(clock, 400 * KIB, step_s=20.0, count=2)
    with await receive_upload(HEADERS, aiter(trickle), tmp_dir, MIB, now=clock) as received:
        assert received.size == 800 * KIB


async def test_a_slow_start_is_forgiven_during_the_grace_period(tmp_dir):
    """A small file sent at 1 Kio/s in 9 seconds is accepted: the minimum applies after `grace_s`."""
    clock = Clock()
    trickle = Trickle(clock, KIB, step_s=1.0, count=9)
    with await receive_upload(HEADERS, aiter(trickle), tmp_dir, MIB, now=clock) as received:
        assert received.size == 9 * KIB


async def test_the_rate_and_the_grace_period_are_parameters(tmp_dir):
    """At 2 Kio/s: accepted with a 1 Kio/s minimum, refused with 4 Kio/s after a 3-second grace."""
    clock = Clock()
    slow = Trickle(clock, 2 * KIB, step_s=1.0, count=30)
    with await receive_upload(HEADERS, aiter(slow), tmp_dir, MIB, min_rate_bytes_per_s=KIB, now=clock):
        pass
    slower = Trickle(clock, 2 * KIB, step_s=1.0, count=30)
    with pytest.raises(UploadTooSlow):
        await receive_upload(
            HEADERS, aiter(slower), tmp_dir, MIB, min_rate_bytes_per_s=4 * KIB, grace_s=3, now=clock
        )
    assert slower.pulled == 1 + 4
    disabled = Trickle(clock, KIB, step_s=60.0, count=3)
    with await receive_upload(HEADERS, aiter(disabled), tmp_dir, MIB, min_rate_bytes_per_s=0, now=clock):
        pass
    assert list(tmp_dir.iterdir()) == []


class Silent:
    """A client that opened the request and sends nothing more (after `head`, if any)."""

    def __init__(self, head: bytes = b""):
        self.head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        await asyncio.Event().wait()  # forever
        yield b""


async def test_a_client_that_sends_nothing_is_not_waited_for_beyond_the_grace_period(tmp_dir):
    """Nothing at all: the wait for the first chunk is bounded by the grace period (here 20 ms)."""
    with pytest.raises(UploadTooSlow) as caught:
        await asyncio.wait_for(receive_upload(HEADERS, aiter(Silent()), tmp_dir, MIB, grace_s=0.02), 5)
    assert caught.value.reason == "too_slow"
    assert list(tmp_dir.iterdir()) == []


async def test_a_wait_is_bounded_by_what_the_minimum_rate_allows(tmp_dir):
    """1 Mio received in about 102 seconds: at 10 Kio/s the average falls below the minimum 20 ms
    later, so the wait for the next chunk lasts 20 ms, not the 30 seconds of `idle_timeout_s`."""
    clock = Clock()
    sent = len(file_head()) + MIB

    async def body_then_silence() -> AsyncIterator[bytes]:
        yield file_head()
        clock.t += sent / (10 * KIB) - 0.02
        yield b"z" * MIB
        await asyncio.Event().wait()
        yield b""

    call = receive_upload(HEADERS, body_then_silence(), tmp_dir, 2 * MIB, now=clock)
    with pytest.raises(UploadTooSlow) as caught:
        await asyncio.wait_for(call, 5)
    assert caught.value.reason == "too_slow"
    assert list(tmp_dir.iterdir()) == []


async def test_a_client_that_stops_sending_meets_the_idle_timeout(tmp_dir):
    """Even with no minimum rate, no wait for a chunk lasts longer than `idle_timeout_s`; the
    temporary file already begun is removed."""
    call = receive_upload(
        HEADERS,
        aiter(Silent(file_head() + b"z" * 1000)),
        tmp_dir,
        MIB,
        min_rate_bytes_per_s=0,
        idle_timeout_s=0.02,
    )
    with pytest.raises(UploadTooSlow) as caught:
        await asyncio.wait_for(call, 5)
    assert (caught.value.reason, caught.value.status, caught.value.message) == ("idle", 408, TOO_SLOW)
    assert list(tmp_dir.iterdir()) == []


async def test_a_starlette_request_that_goes_silent_is_cut_cleanly(tmp_dir):
    """Through a real Request: the wait inside Starlette's `receive` is cancelled by our deadline,
    the body's generator is closed, and the refusal is the 408, not an error of Starlette's."""
    messages = iter([{"type": "http.request", "body": file_head() + b"z" * 100, "more_body": True}])

    async def receive() -> dict[str, Any]:
        message = next(messages, None)
        if message is None:
            await asyncio.Event().wait()
        assert message is not None
        return message

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [(b"content-type", HEADERS["content-type"].encode())],
    }
    request = Request(scope, receive)
    with pytest.raises(UploadTooSlow) as caught:
        await asyncio.wait_for(
            receive_upload(
                request.headers, request.stream(), tmp_dir, MIB, min_rate_bytes_per_s=0, idle_timeout_s=0.02
            ),
            5,
        )
    assert caught.value.reason == "idle"
    assert list(tmp_dir.iterdir()) == []


class Broken:
    """A body whose iterator fails with `error` after the file has begun."""

    def __init__(self, error: BaseException):
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield file_head() + b"z" * 500
        raise self.error


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError(104, "Connection reset by peer"), RuntimeError("boom"), TimeoutError(), OSError()],
    ids=["reset", "runtime-error", "its-own-timeout", "bare-os-error"],
)
async def test_any_failure_of_the_body_iterator_is_an_interrupted_upload(tmp_dir, caplog, error):
    """Not only Starlette's ClientDisconnect: whatever the iterator raises (a TimeoutError of its
    own too, which is not our deadline) is a client gone, logged in one line, nothing kept."""
    with caplog.at_level(logging.DEBUG), pytest.raises(UploadInterrupted) as caught:
        await receive_upload(HEADERS, aiter(Broken(error)), tmp_dir, MIB)
    assert caught.value.reason == "disconnected"
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is None
    assert type(error).__name__ in caplog.records[0].getMessage()
    assert list(tmp_dir.iterdir()) == []


async def test_a_refusal_raised_by_the_iterator_is_kept_as_it_is(tmp_dir):
    """An UploadRejected (ours) from the body is not turned into a disconnection."""
    ours = UploadTooLarge("proxy_limit", "Trop gros.")
    with pytest.raises(UploadTooLarge) as caught:
        await receive_upload(HEADERS, aiter(Broken(ours)), tmp_dir, MIB)
    assert caught.value is ours
    assert list(tmp_dir.iterdir()) == []


async def test_a_cancelled_upload_propagates_the_cancellation_and_leaves_nothing(tmp_dir):
    """Server shutdown cancels the request: CancelledError is not a disconnection, and the
    temporary file goes too."""
    task = asyncio.ensure_future(receive_upload(HEADERS, aiter(Silent(file_head() + b"z")), tmp_dir, MIB))
    for _ in range(100):
        if list(tmp_dir.iterdir()):
            break
        await asyncio.sleep(0)
    assert len(list(tmp_dir.iterdir())) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(tmp_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------
# With the inspection, as a view wires them


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


async def test_received_then_inspected_then_stored(tmp_dir, tmp_path):
    """Stream, inspect in a worker thread, store: the temporary file is gone, the stored one is there."""
    dest = tmp_path / "store"
    dest.mkdir()
    seen = Seen()
    content = body(part("csrf", "t"), part("file", png(), filename="scan.png", content_type="image/png"))
    response = await post(make_app(tmp_dir, MIB, seen, dest), content)
    assert response.status_code == 200
    assert [p.name for p in dest.iterdir()] == [seen.store["name"]]
    assert seen.store["display"] == "scan.png"
    assert list(tmp_dir.iterdir()) == []


async def test_hostile_file_through_the_stream_leaves_nothing_anywhere(tmp_dir, tmp_path):
    """HTML declared as image/png: 415 with its message, no temporary and no stored file."""
    dest = tmp_path / "store"
    dest.mkdir()
    seen = Seen()
    content = body(part("file", b"<html><script>alert(1)</script></html>", "x.png", "image/png"))
    response = await post(make_app(tmp_dir, MIB, seen, dest), content)
    assert response.status_code == 415
    assert "n'est pas une image PNG valide" in response.text
    assert list(tmp_dir.iterdir()) == [] and list(dest.iterdir()) == []
