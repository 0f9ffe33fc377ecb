"""A file made while it is sent: an export's chunks as an attachment, never cached."""

from __future__ import annotations

from starlette.responses import StreamingResponse

from formservice.reporting.exports import Export


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
