"""The published site (``formservice publish`` output, ``site/``), served at ``/``.

Its answers get their own CSP: Material's inline scripts are allowed by the hashes that the build
writes to ``site/csp.json`` (``{"script_hashes": ["sha256-..."]}``), nothing else inline; every
answer of the site carries it, a ``304 Not Modified`` included. If the site has not been
published, ``/`` says so in French and the service still works.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from formservice.web.rendering import render

log = logging.getLogger("formservice.site")

SITE_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# How long a browser may keep what the site serves: pages and data are checked again each time
# (a new closing date shows at once), the theme's assets for an hour. The reverse proxy serving
# the site itself uses the same values (``web/deploy.py``).
ASSETS_PATH = "/assets/"
ASSETS_CACHE = "public, max-age=3600"
PAGES_CACHE = "no-cache"


class PublishedSite:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.files = StaticFiles(directory=self.directory, html=True, check_dir=False)
        self._csp_cache: tuple[tuple[int, int] | None, str] = (None, SITE_CSP.format(hashes=""))

    def published(self) -> bool:
        return (self.directory / "index.html").is_file()

    def csp(self) -> str:
        path = self.directory / "csp.json"
        try:
            st = path.stat()
        except OSError:
            return SITE_CSP.format(hashes="")
        signature = (st.st_mtime_ns, st.st_size)
        if self._csp_cache[0] != signature:
            hashes: list[str] = []
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                hashes = [
                    h for h in data.get("script_hashes", []) if isinstance(h, str) and h.startswith("sha")
                ]
            except (OSError, ValueError, AttributeError):
                log.error("site/csp.json illisible : aucun script en ligne du site n'est autorisé")
            quoted = "".join(f" '{h}'" for h in hashes if "'" not in h and " " not in h)
            self._csp_cache = (signature, SITE_CSP.format(hashes=quoted))
        return self._csp_cache[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _refuse_wrong_method(scope)
        if not self.published():
            if scope.get("path") in ("/", "/index.html") and scope.get("method") in ("GET", "HEAD"):
                response = await render(Request(scope, receive), "site_missing.html")
                await response(scope, receive, send)
                return
            raise HTTPException(status_code=404)
        csp = self.csp()
        assets = ASSETS_PATH in str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            # Whatever the answer: a 304 carries no Content-Type, and the browser merges its headers
            # into the copy it keeps; were they the service's strict CSP, Material's scripts and
            # the search index would be refused on every visit after the first.
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Every answer, a 304 too, carries the site's own policy (a 304 with the service's
                # would be merged into the cached page and block the site's scripts).
                headers["Content-Security-Policy"] = csp
                headers.setdefault("Cache-Control", ASSETS_CACHE if assets else PAGES_CACHE)
            await send(message)

        await self.files(scope, receive, send_with_headers)


def _refuse_wrong_method(scope: Scope) -> None:
    """A service path asked with the wrong method (GET on the logout) is a 405, not the site's 404:
    the catch-all Mount would otherwise win over the service route's partial match."""
    for route in scope["app"].router.routes:
        if getattr(route, "app", None) is not None and getattr(route, "path", None) == "":
            continue  # this Mount
        match, _ = route.matches(scope)
        if match is Match.PARTIAL:
            allow = ", ".join(sorted(getattr(route, "methods", None) or ()))
            raise HTTPException(status_code=405, headers={"Allow": allow})
        if match is Match.FULL:
            return
