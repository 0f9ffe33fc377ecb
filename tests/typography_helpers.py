"""What French typography forbids in a rendered page, said as a list of the offending excerpts.

A line may break at an ordinary space (or a line break in the HTML source); so a page whose text
has an ordinary space before ``: ; ? ! »`` or after ``«`` can show a line starting with one of
them on some screen width. Used by the unit tests (HTML from the service and the site) and, on
the text Chromium lays out, by the browser tests.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BREAKABLE = "[ \t\r\n\f\v]"
_FORBIDDEN = re.compile(rf".{{0,20}}(?:{BREAKABLE}+[:;?!»]|«{BREAKABLE}+).{{0,10}}", re.S)


def breakable_punctuation(text: str) -> list[str]:
    """The excerpts of `text` where a line could start with ``: ; ? ! »`` or end with ``«``."""
    return [m.group(0) for m in _FORBIDDEN.finditer(text)]


class _Text(HTMLParser):
    """The text a reader sees: no script, style, comment; ``<pre>``/``<code>`` kept apart."""

    SKIP = ("script", "style", "pre", "code", "textarea")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def page_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.chunks)
