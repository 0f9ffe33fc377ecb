"""Security headers on every answer, as an ASGI middleware no route can forget.

A strict CSP without any inline script on the service's pages (the published site sends its own
CSP, with the hashes of Material's inline scripts, from ``published_site.py``), ``nosniff``,
``frame-ancestors 'none'``, a Referrer-Policy (token pages set ``no-referrer`` themselves), HSTS
under https and ``Cache-Control: no-store`` on every dynamic page.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_PREFIX = "/_service/static"
SERVICE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def default_headers(*, https: bool, static: bool) -> list[tuple[str, str]]:
    """Every answer's security headers (the reverse proxy's configuration adds the same ones to
    the site it serves itself: ``web/deploy.py``)."""
    headers = [
        ("content-security-policy", SERVICE_CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if https:
        headers.append(("strict-transport-security", "max-age=31536000"))
    if not static:
        headers.append(("cache-control", "no-store"))
    return headers


def _default_headers(https: bool, static: bool) -> list[tuple[bytes, bytes]]:
    return [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in default_headers(https=https, static=static)
    ]


class SecurityHeadersMiddleware:
    """Adds each header unless the response set it already (the published site's own CSP, a
    token page's Referrer-Policy); removes any ``server`` header."""

    def __init__(self, app: ASGIApp, *, https: bool):
        self.app = app
        self._defaults = {flag: _default_headers(https, flag) for flag in (False, True)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = self._defaults[str(scope.get("path", "")).startswith(STATIC_PREFIX + "/")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"server"]
                present = {k.lower() for k, _ in raw}
                raw.extend(item for item in defaults if item[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
