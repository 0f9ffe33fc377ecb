"""``formservice deploy nginx``: nginx's configuration in front of the service, generated.

Nothing in it is typed twice: the largest request body comes from notice.yml's upload limit
(with the upload form's envelope, ``uploads.stream.max_upload_body``), the site's CSP from the
published site's ``csp.json`` (``PublishedSite.csp``), its cache lifetimes and security headers
from the service's own (``published_site``, ``middleware.headers``), the page shown for a body
too large from the service's own refusal (``uploads.stream.too_large_message``).

nginx serves the published site's files itself, buffers every request body whole before the
service sees it (a slow client ties up nginx, never a worker), and passes the rest to the
service with the client's address and scheme in headers it sets itself, never the client's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import escape

from formservice.notice import Notice
from formservice.uploads import MIB, size_fr
from formservice.uploads.stream import max_upload_body, too_large_message
from formservice.web.middleware.headers import default_headers
from formservice.web.published_site import ASSETS_CACHE, ASSETS_PATH, PAGES_CACHE, PublishedSite

TEMPLATES = Path(__file__).parent / "templates" / "deploy"
UPLOADS_PAGE = "/espace/justificatifs"  # where the page of a refused file sends the candidate back


@dataclass(frozen=True)
class NginxSite:
    """What the generated configuration does not read from the service: where it runs."""

    server_name: str
    site_dir: Path  # the published site (absolute: nginx's root)
    certificate: Path
    certificate_key: Path
    upstreams: tuple[str, ...] = ("127.0.0.1:8000",)
    listen: str = "443"
    http_listen: str | None = "80"  # the plain-http server that redirects to https; None: none
    trusted: str = "127.0.0.1"  # what the service trusts forwarded headers from, for the comment


def nginx_config(site: NginxSite, notice: Notice, notice_path: Path) -> str:
    max_file_bytes = notice.uploads.max_file_mb * MIB
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # a configuration file, not HTML: values are checked below instead
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    csp = PublishedSite(site.site_dir).csp()  # with the hashes of the site's inline scripts
    site_headers = [
        (name, _quotable(csp if name == "content-security-policy" else value, '"'))
        for name, value in default_headers(https=True, static=True)
    ]
    return env.get_template("nginx.conf").render(
        notice_path=notice_path,
        server_name=_plain(site.server_name),
        site_dir=_plain(str(Path(site.site_dir).resolve())),
        certificate=_plain(str(site.certificate)),
        certificate_key=_plain(str(site.certificate_key)),
        upstreams=[_plain(u) for u in site.upstreams],
        listen=_plain(site.listen),
        http_listen=_plain(site.http_listen) if site.http_listen else None,
        trusted=site.trusted,
        max_file=size_fr(max_file_bytes),
        max_body=max_upload_body(max_file_bytes),
        too_large_page=too_large_page(max_file_bytes),
        site_headers=site_headers,
        assets_path=ASSETS_PATH,
        assets_cache=ASSETS_CACHE,
        pages_cache=PAGES_CACHE,
    )


def too_large_page(max_file_bytes: int) -> str:
    """The French page nginx answers a body over the limit with (the service never sees it)."""
    message = escape(too_large_message(max_file_bytes))
    page = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Fichier trop volumineux</title></head>"
        '<body style="font-family: sans-serif; max-width: 40rem; margin: 2rem auto">'
        f"<h1>Fichier trop volumineux</h1><p>{message}</p>"
        f'<p><a href="{UPLOADS_PAGE}">Revenir à mes justificatifs</a></p></body></html>'
    )
    return _quotable(page, "'")


def _quotable(value: str, quote: str) -> str:
    """``value`` inside an nginx string between ``quote``s: no quote that would end it, no ``$``
    that would read a variable, no backslash or line break."""
    if any(c in value for c in f"{quote}$\\\n"):
        raise ValueError(f"cannot be written in an nginx string: {value!r}")
    return value


def _plain(value: str) -> str:
    """A name, path or address written bare in the configuration: nothing nginx would parse."""
    if not value or any(c.isspace() or c in ";{}'\"$#\\" for c in value):
        raise ValueError(f"not usable in an nginx configuration: {value!r}")
    return value
