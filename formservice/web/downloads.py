"""A candidate's stored file sent to the browser, streamed from the file store.

The same answer for the candidate's own download and the office's look at a piece: read by
chunks in a thread (the store's ``read`` blocks: disk or network), never held whole, sandboxed
(a file is never a page that runs anything) and never cached. The authorization check is the
caller's, before the file is opened.

And a file made while it is sent (an export's chunks), as an attachment, never cached."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

import anyio.to_thread
from starlette.responses import StreamingResponse

from formservice.files import FilesUnavailable
from formservice.files.contract import READ_CHUNK
from formservice.reporting.exports import Export

log = logging.getLogger("formservice.files")


def stored_file_response(reader: BinaryIO, meta: Mapping[str, Any], *, inline: bool) -> StreamingResponse:
    """``reader`` (from ``EnrolmentService.open_file``) as the answer, closed at its end."""
    return StreamingResponse(
        _chunks(reader),
        media_type=meta["media_type"],
        headers={
            "Content-Length": str(meta["size"]),
            "Content-Disposition": _disposition("inline" if inline else "attachment", meta["display_name"]),
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )


async def _chunks(reader: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(reader.read, READ_CHUNK):
            yield chunk
    except FilesUnavailable as exc:  # the store went away mid-file: the browser sees it cut short
        log.warning("téléchargement interrompu, stockage injoignable : %s", exc)
    finally:
        await anyio.to_thread.run_sync(reader.close)


def _disposition(kind: str, filename: str) -> str:
    """As Starlette's FileResponse writes it: RFC 6266 ``filename*`` when the name is not ASCII."""
    quoted = quote(filename)
    return f"{kind}; filename*=utf-8''{quoted}" if quoted != filename else f'{kind}; filename="{filename}"'


def attachment(export: Export) -> StreamingResponse:
    return StreamingResponse(
        export.chunks,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
