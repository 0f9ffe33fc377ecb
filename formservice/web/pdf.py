"""HTML to PDF for the printable documents (récapitulatif, confirmation, accusé de réception).

The PDF is rendered from the very template of the « Visualiser / imprimer » page, so the two
never disagree. WeasyPrint is told to fetch nothing: no file, no network, whatever the HTML says.
The PDF is tagged as PDF/UA-1 (WeasyPrint's ``pdf_variant="pdf/ua-1"``, which turns
``pdf_tags`` on): a screen reader reads its headings, tables and paragraphs in order, in French
(the page's ``lang``), titled by the page's ``<title>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

STATIC = Path(__file__).parent / "static"
PRINT_CSS = STATIC / "print.css"
PDF_VARIANT = "pdf/ua-1"  # tagged, for screen readers


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> NoReturn:
            raise ValueError(f"external resource refused: {url}")

    return NoFetch()


def html_to_pdf(html: str) -> bytes:
    from PIL import ImageFile
    from weasyprint import CSS, HTML

    # WeasyPrint's import makes Pillow accept truncated images process-wide; our documents embed
    # no image, and the upload checks must keep refusing damaged ones.
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    fetcher = _fetcher()
    document = HTML(string=html, url_fetcher=fetcher)
    css = CSS(string=PRINT_CSS.read_text(encoding="utf-8"), url_fetcher=fetcher)
    pdf = document.write_pdf(stylesheets=[css], pdf_variant=PDF_VARIANT, pdf_tags=True)
    assert pdf is not None
    return bytes(pdf)
