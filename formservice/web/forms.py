"""Small request helpers shared by the views."""

from __future__ import annotations

from starlette.requests import Request

from formservice.web.middleware.csrf import checked_fields, checked_form


def client_ip(request: Request) -> str | None:
    """The peer address (uvicorn resolves X-Forwarded-For from FORWARDED_ALLOW_IPS proxies)."""
    return request.client.host if request.client else None


async def form_values(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (the last value wins; files are ignored).

    The CSRF middleware has already checked the token and the body size before any view runs,
    and kept the fields it parsed: the body is parsed once."""
    fields = checked_form(request)
    if fields is not None:
        return fields
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The submitted form with every value of each field (checkboxes sent several times)."""
    pairs = checked_fields(request)
    if pairs is None:
        form = await request.form()
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to after login: never another site (open redirect)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
    ):
        return default
    return value
