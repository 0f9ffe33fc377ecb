"""Jinja templates: ``await render(request, "area/page.html", context, status=...)``.

Every page receives, besides its own context:

- ``notice``: the Notice in force; ``now``: the clock's time in the notice's time zone;
- ``account``: the logged-in account or None; ``csrf_token()``: the token for forms
  (``{% include "_csrf.html" %}`` writes the hidden input);
- ``url(name, **params)``: a path of this service (``url("login")``, ``url("static", path="x.css")``);
- ``phase``: "before" | "open" | "closed" for the registration window;
- filters ``datetime_fr``, ``date_fr``, ``duration_fr`` (aware datetimes shown in Paris time).

Every template of the environment comes out typeset in French (``formservice.typography``): a
page, a printable document and its PDF, a mail's two parts. Templates are written with ordinary
spaces; the no-break ones are added here, once, after rendering.

Templates type no fact: names, dates, phones and addresses come from ``notice``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from formservice import frenchdates
from formservice.enrolment.deadlines import registration_window
from formservice.enrolment.rules import files_for
from formservice.notice import Notice
from formservice.typography import french_html, french_text, plural
from formservice.uploads import size_fr
from formservice.web.auth import current_account
from formservice.web.middleware.csrf import csrf_token
from formservice.web.services import services

TEMPLATES_DIR = Path(__file__).parent / "templates"


class TypesetTemplate(jinja2.Template):
    """A template whose rendering is typeset: ``.html`` as HTML (text nodes only), ``.txt`` as
    plain text. Includes and macros are rendered inside their page, so a page is typeset once."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        output = super().render(*args, **kwargs)
        name = self.name or ""
        if name.endswith(".html"):
            return french_html(output)
        if name.endswith(".txt"):
            return french_text(output)
        return output


def make_env(extra_dirs: tuple[Path, ...] = ()) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*extra_dirs, TEMPLATES_DIR]),
        autoescape=jinja2.select_autoescape(["html"]),
        auto_reload=False,  # templates ship with the package: no stat() per render
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.template_class = TypesetTemplate
    env.filters["date_fr"] = _date_fr
    env.filters["datetime_fr"] = _datetime_fr
    env.filters["duration_fr"] = _duration_fr
    env.filters["filesize"] = size_fr
    env.filters["plural"] = plural  # {{ n | plural("fichier") }}: « 1 fichier », « 2 fichiers »
    env.globals["files_for"] = files_for
    return env


def _local(value: datetime | str, notice: Notice | None) -> datetime:
    """Aware instants (and the ISO strings stored in documents) shown in the notice's time zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None and notice is not None:
        return value.astimezone(notice.tz)
    return value


@jinja2.pass_context
def _datetime_fr(ctx: jinja2.runtime.Context, value: datetime | str, weekday: bool = True) -> str:
    return frenchdates.datetime_fr(_local(value, ctx.get("notice")), weekday)


@jinja2.pass_context
def _date_fr(ctx: jinja2.runtime.Context, value: date | str, weekday: bool = True) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = _local(value, ctx.get("notice")).date()
    return frenchdates.date_fr(value, weekday)


def _duration_fr(value: timedelta) -> str:
    return frenchdates.duration_fr(value)


class _RouteFacts:
    """What a page asks of the route table, computed once per table: ``url_path_for`` walks every
    route and raises an exception per miss, about 20 µs a link and a dozen links a page."""

    MAX_PATHS = 512  # links with a token (activation, reset) are not worth keeping

    def __init__(self, routes: list[Any]):
        self.count = len(routes)
        self.outbox_enabled = "dev_outbox" in {getattr(r, "name", None) for r in routes}
        self.paths: dict[Any, str] = {}


def _facts(router: Any) -> _RouteFacts:
    """Kept on the router itself (a Router is not hashable)."""
    facts: _RouteFacts | None = getattr(router, "_formservice_route_facts", None)
    if facts is None or facts.count != len(router.routes):  # a route added after start (tests, bench)
        facts = _RouteFacts(router.routes)
        router._formservice_route_facts = facts
    return facts


def remembered_paths(router: Any) -> int:
    """How many link paths are kept for this route table (bounded by ``_RouteFacts.MAX_PATHS``)."""
    return len(_facts(router).paths)


def url_path(router: Any, name: str, /, **params: Any) -> str:
    """``router.url_path_for(name, **params)`` as a string, remembered per route table."""
    facts = _facts(router)
    key = (name, *sorted(params.items())) if params else name
    try:
        return facts.paths[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable parameter: not remembered
        return str(router.url_path_for(name, **params))
    path = str(router.url_path_for(name, **params))
    if len(facts.paths) < _RouteFacts.MAX_PATHS:
        facts.paths[key] = path
    return path


async def page_context(request: Request) -> dict[str, Any]:
    svc = services(request)
    notice: Notice = svc.notice()
    now = svc.clock.now()
    try:
        account = await current_account(request)
    except Exception:  # the store is down: the error page must still render
        account = None

    router = request.app.router

    def url(name: str, /, **params: Any) -> str:
        return url_path(router, name, **params)

    return {
        "request": request,
        "notice": notice,
        "now": now.astimezone(notice.tz),
        "phase": registration_window(notice, now).value,
        "account": account,
        "csrf_token": lambda: csrf_token(request, svc.settings.secret_keys),
        "url": url,
        "development": not svc.settings.production,
        "outbox_enabled": _facts(router).outbox_enabled,
    }


async def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    values = await page_context(request)
    values.update(context or {})
    html = services(request).env.get_template(name).render(values)
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))
