"""An upload form's body as a browser sends it, for the use-case tests (no HTTP needed), and the
message the page shows in a piece after an upload or a removal (for the HTTP tests)."""

from __future__ import annotations

import html
import io
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

from pypdf import PdfWriter


def multipart(document_field: str, token: str, content: bytes) -> tuple[dict[str, str], list[bytes]]:
    """The headers and the body (in 1000-byte chunks) of an « Ajouter » form with this file."""
    boundary = secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="{document_field}"; '
            'filename="piece.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "content-length": str(len(body))}
    return headers, [body[i : i + 1000] for i in range(0, len(body), 1000)]


async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def minimal_pdf() -> bytes:
    """A one-page blank PDF, which the upload checks accept."""
    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    return out.getvalue()


PIECE_MESSAGE_RE = re.compile(r'id="message-([^"]+)"[^>]*>([^<]*)</p>')


async def piece_message(client: Any, response: Any) -> tuple[str, str]:
    """After « Ajouter » or « Supprimer »: the redirect (never a page answering the POST itself,
    which a reload would send again), then the piece it points to and the message shown in it."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    page = await client.page(location)
    found = PIECE_MESSAGE_RE.search(page.text)
    assert found, page.text
    assert location.endswith(f"#message-{found.group(1)}"), location
    return found.group(1), html.unescape(found.group(2))
