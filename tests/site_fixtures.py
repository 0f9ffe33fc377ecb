"""Helpers shared by the site tests: one published site per test session, HTML reading, a server.

Not a conftest: each test module declares its own fixture over `published_site`, which builds
once per session (the build takes seconds) whatever the number of modules using it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from formservice.notice.site.publish import publish

ROOT = Path(__file__).resolve().parent.parent
NOTICE = ROOT / "notice.yml"
PAGES = ("index.html", "inscription/index.html", "pieces-justificatives/index.html", "contacts/index.html")

_published: dict[str, Path] = {}


def published_site(factory: pytest.TempPathFactory) -> Path:
    """The repository's notice.yml published once for the whole session (read-only for tests)."""
    if "site" not in _published:
        site = factory.mktemp("published") / "site"
        publish(NOTICE, site)
        _published["site"] = site
    return _published["site"]


def copy_site(site: Path, target: Path) -> Path:
    """A private copy of a published site, for tests that publish over it."""
    shutil.copytree(site, target)
    return target


def snapshot(site: Path) -> dict[str, Any]:
    """Enough to tell whether a site folder was touched: its inode and each file's size and mtime."""
    files = {str(p.relative_to(site)): (p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*")}
    return {"inode": site.stat().st_ino, "files": files}


def normalise(text: str) -> str:
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()  # keeps no-break spaces


class PageReader(HTMLParser):
    """Visible text, links, and the text of each <h2 id> section of the article."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._skip = 0
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "h2" and values.get("id"):
            self._section = values["id"]
            self.sections[self._section or ""] = []
        elif tag == "a":
            self._link = (values.get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[0], normalise("".join(self._link[1]))))
            self._link = None
        elif tag == "article":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.chunks.append(data)
        if self._link is not None:
            self._link[1].append(data)
        if self._section is not None:
            self.sections[self._section].append(data)

    @property
    def text(self) -> str:
        return normalise("".join(self.chunks))

    def section(self, section_id: str) -> str:
        return normalise("".join(self.sections[section_id]))

    def hrefs(self) -> set[str]:
        return {href for href, _ in self.links}


def read_page(path: Path) -> PageReader:
    reader = PageReader()
    reader.feed(path.read_text(encoding="utf-8"))
    reader.close()
    return reader


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extra_headers: ClassVar[dict[str, str]] = {}

    def end_headers(self) -> None:
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(site: Path, headers: dict[str, str] | None = None) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 and a free port; yields the base URL."""
    handler = type("Handler", (_QuietHandler,), {"extra_headers": headers or {}})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
