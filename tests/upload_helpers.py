"""An upload form's body as a browser sends it, for the use-case tests (no HTTP needed)."""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator

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
