"""A candidate's PDF shown to the office as pictures, never opened in a PDF viewer.

PDFium (the engine of Chromium's viewer, without its scripting) draws each page server-side; the
office's browser receives PNG images only, so no action, form, script or link of the file can run
on a staff workstation. The original stays downloadable."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium

from formservice.uploads.types import UploadRejected

MAX_PAGES_SHOWN = 20
SCALE = 1.5  # about 108 dpi: an identity document is readable, a page stays under ~1 MB


class PageNotFound(UploadRejected):
    def __init__(self) -> None:
        super().__init__("no_page", "Cette page n'existe pas dans le document.", status=404)


def page_count(path: Path) -> int:
    document = pdfium.PdfDocument(str(path))
    try:
        return len(document)
    finally:
        document.close()


def page_png(path: Path, index: int, *, scale: float = SCALE) -> bytes:
    """Page ``index`` (from 0) of the PDF at ``path`` as a PNG image."""
    document = pdfium.PdfDocument(str(path))
    try:
        if not 0 <= index < min(len(document), MAX_PAGES_SHOWN):
            raise PageNotFound()
        page = document[index]
        try:
            image = page.render(scale=scale).to_pil()
        finally:
            page.close()
    finally:
        document.close()
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()
