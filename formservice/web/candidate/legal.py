"""« Mentions légales » and « Déclaration d'accessibilité »: pages French public services must
show, linked from every page's footer, written from the ``legal`` section of notice.yml."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from formservice.web.rendering import render


async def legal_notice(request: Request) -> Response:
    return await render(request, "candidate/legal/legal_notice.html")


async def accessibility(request: Request) -> Response:
    return await render(request, "candidate/legal/accessibility.html")
