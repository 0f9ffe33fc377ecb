"""MkDocs hook: the site is a view of notice.yml.

Why a hook and not mkdocs-macros: a hook can refuse to build (an invalid notice or an
undefined placeholder stops `mkdocs build --strict` with a non-zero exit), and it keeps our
logic in our code, so the build can move to another MkDocs-compatible engine later.

MkDocs reloads this file for every build (also on each `mkdocs serve` rebuild), and the
first event of a build is `on_config`, so the module-level state below never outlives a build.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import traceback
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import jinja2
import markupsafe
from icalendar import Alarm, Calendar, Event
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from formservice.frenchdates import date_fr, datetime_fr, time_fr
from formservice.notice import (
    Exam,
    Notice,
    NoticeError,
    Pole,
    Speciality,
    load_notice,
    notice_to_json,
)
from formservice.notice.site.stamp import NoticeVersion, write_stamp
from formservice.typography import french_html

NOTICE_ENV = "FORMSERVICE_NOTICE"
ICS_NAME = "calendrier.ics"
JSON_NAME = "notice.json"
CSP_NAME = "csp.json"

_state: dict[str, Any] = {}


# -- wording shared by pages and theme templates -------------------------------------------


def notice_path(config: MkDocsConfig) -> Path:
    """$FORMSERVICE_NOTICE (so that publish can build an edited copy), else notice.yml beside mkdocs.yml."""
    explicit = os.environ.get(NOTICE_ENV)
    if explicit:
        return Path(explicit).resolve()
    return Path(config.config_file_path or "mkdocs.yml").resolve().parent / "notice.yml"


def tz_label(notice: Notice) -> str:
    """'heure de Paris' from 'Europe/Paris': the time zone is a fact of the notice too."""
    return "heure de " + notice.timezone.rsplit("/", 1)[-1].replace("_", " ")


def exam_label(exam: Exam) -> str:
    return f"{exam.name} ({exam.id})"


def host(url: str) -> str:
    """'www.example.fr' from 'https://www.example.fr': what a reader recognises."""
    return urlsplit(url).netloc


def exams_of_pole(notice: Notice, pole: Pole) -> list[tuple[Exam, list[Speciality]]]:
    """The specialities a pôle handles, grouped by exam, in the notice's order."""
    grouped: dict[str, tuple[Exam, list[Speciality]]] = {}
    for exam, spec in notice.specialities_of_pole(pole.id):
        grouped.setdefault(exam.id, (exam, []))[1].append(spec)
    return list(grouped.values())


def template_context(notice: Notice) -> dict[str, Any]:
    """What pages and theme templates may use: the model, its placeholders, a few helpers."""
    return {
        "notice": notice,
        **notice.placeholders(),
        "tz_label": tz_label(notice),
        "exam_label": exam_label,
        "host": host,
        "condition_fr": notice.condition_text,
        "exams_of_pole": lambda pole: exams_of_pole(notice, pole),
    }


def datetime_html(dt: datetime) -> markupsafe.Markup:
    """datetime_fr, with the time kept on one line ('à 19 h 00' never splits) for big print."""
    return markupsafe.Markup('{} <span class="fs-nowrap">à {}</span>').format(date_fr(dt.date()), time_fr(dt))


def lowerfirst(text: str) -> str:
    """'Académie de X' in the middle of a sentence, without lowering the proper noun."""
    return text[:1].lower() + text[1:]


FILTERS = {
    "datetime_fr": datetime_fr,
    "datetime_html": datetime_html,
    "date_fr": date_fr,
    "host": host,
    "lowerfirst": lowerfirst,
}


# -- generated files -----------------------------------------------------------------------


def _build_stamp() -> datetime:
    """DTSTAMP: SOURCE_DATE_EPOCH when set, for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC).replace(microsecond=0)


def _activation_reminder(notice: Notice) -> str:
    """The rule a candidate forgets: activate the account in time, or lose it."""
    hours = notice.registration.activation_hours
    return (
        f"Après la création de votre compte, cliquez dans les {hours} heures sur le lien "
        "« Activer mon compte » reçu par courriel, sinon votre compte sera supprimé."
    )


class _CalendarDate(NamedTuple):
    key: str  # also the start of the event's UID (with the session: stable when the date moves)
    when: datetime
    summary: str
    description: str


def _calendar_dates(notice: Notice) -> list[_CalendarDate]:
    """The dates to remember; the documents' deadline only when it is not the closing itself."""
    session_name = notice.session.name
    activation = _activation_reminder(notice)
    deadline = datetime_fr(notice.registration.documents_deadline)
    dates = [
        _CalendarDate(
            "ouverture",
            notice.opens_at,
            f"Ouverture des inscriptions — {session_name}",
            f"Inscriptions uniquement par internet, jusqu'au {datetime_fr(notice.registration.closes)}. "
            + activation,
        ),
        _CalendarDate(
            "cloture",
            notice.closes_at,
            f"Clôture des inscriptions — {session_name}",
            "ATTENTION : aucune inscription ne sera reçue après cette date. "
            f"Pièces justificatives à déposer avant le {deadline}. " + activation,
        ),
    ]
    if notice.documents_deadline_at != notice.closes_at:
        dates.append(
            _CalendarDate(
                "pieces",
                notice.documents_deadline_at,
                f"Date limite des pièces justificatives — {session_name}",
                "Déposez vos pièces dans « Mes justificatifs » puis cliquez sur "
                "« J'ai fourni toutes mes pièces ».",
            )
        )
    return dates


def _two_days_before(summary: str) -> Alarm:
    """A reminder shown two days before the event."""
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(days=-2))
    return alarm


def _slug(text: str) -> str:
    """'session-juin-2026' from 'Session juin 2026': ASCII, lower case, dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "session"


def _calendar_event(date: _CalendarDate, session: str, uid_host: str, stamp: datetime) -> Event:
    """One VEVENT, with a reminder two days before the closing. Its UID names the kind of date,
    the session and the académie's host, never the date itself: when an editor moves the
    closing, the candidate's calendar updates its event instead of adding a second one."""
    event = Event()
    event.add("uid", f"{date.key}-{_slug(session)}@{uid_host}")
    event.add("dtstamp", stamp)
    event.add("dtstart", date.when)
    event.add("summary", date.summary)
    event.add("description", date.description)
    if date.key == "cloture":
        event.add_component(_two_days_before(date.summary))
    return event


def calendar_ics(notice: Notice) -> bytes:
    """Opening, closing and the documents' deadline as events in the notice's time zone (TZID),
    with the rules to remember."""
    uid_host = host(notice.academie.website) or "formservice"
    cal = Calendar()
    cal.add("prodid", "-//formservice//note aux candidats//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{notice.session.name} — inscriptions")
    stamp = _build_stamp()
    for date in _calendar_dates(notice):
        cal.add_component(_calendar_event(date, notice.session.name, uid_host, stamp))
    year = timedelta(days=366)
    cal.add_missing_timezones(
        first_date=(notice.opens_at - year).date(), last_date=(notice.closes_at + year).date()
    )
    return bytes(cal.to_ical())


def notice_json(notice: Notice) -> str:
    return json.dumps(notice_to_json(notice), ensure_ascii=False, indent=2) + "\n"


INLINE_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def inline_script_hashes(html: str) -> set[str]:
    """CSP source expressions ('sha256-...') of the inline scripts of one page."""
    return {
        "sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        for attrs, body in INLINE_SCRIPT_RE.findall(html)
        if not re.search(r"\bsrc\s*=", attrs, re.IGNORECASE)
    }


# -- MkDocs events -------------------------------------------------------------------------


def _page_source(sources: dict[str, str], name: str) -> tuple[str, None, Callable[[], bool]] | None:
    """A page's Markdown as a Jinja source, recompiled if the page's text changes."""
    source = sources.get(name)
    if source is None:
        return None
    return source, None, lambda: sources.get(name) == source


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between builds, keyed by their source's checksum (so never stale).
    Material's ~40 templates and our pages are otherwise compiled on every build: ~0.25 s."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no private writable temp folder: compile every time
        return None


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    path = notice_path(config)
    config.watch.append(str(path))  # `mkdocs serve` rebuilds when an editor saves notice.yml
    try:
        version = NoticeVersion.of_file(path)  # read first: the site then shows at most this one
    except OSError:
        version = None  # load_notice says why in the editor's words
    try:
        notice = load_notice(path)
    except NoticeError as exc:
        raise PluginError(f"{exc.summary(path)} :\n{exc.report()}") from None
    config.site_name = notice.academie.name
    config.site_description = f"{notice.session.name} : {notice.session.audience}"
    _state.clear()
    _state["notice"] = notice
    sources: dict[str, str] = {}  # page Markdown by src_uri, filled by on_page_markdown
    pages = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _page_source(sources, name)),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    pages.filters.update(FILTERS)
    pages.globals.update(template_context(notice))
    _state.update(notice=notice, pages=pages, sources=sources, version=version)
    return config


def on_env(env: jinja2.Environment, config: MkDocsConfig, files: Files) -> jinja2.Environment:
    """Theme overrides (the announcement bar) read the same data as the pages."""
    env.bytecode_cache = _bytecode_cache()
    env.globals.update(template_context(_state["notice"]))
    env.filters.update(FILTERS)
    return env


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    env: jinja2.Environment = _state["pages"]
    _state["sources"][page.file.src_uri] = markdown
    if page.is_homepage:  # the browser tab says what the site is about, not only who publishes it
        page.meta.setdefault("title", f"{_state['notice'].session.name} : inscriptions")
    try:
        return env.get_template(page.file.src_uri).render(page=page)
    except jinja2.TemplateSyntaxError as exc:
        raise PluginError(f"{page.file.src_uri}, ligne {exc.lineno} : {exc.message}") from None
    except jinja2.TemplateError as exc:
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
        where = f", ligne {lines[-1]}" if lines else ""
        raise PluginError(f"{page.file.src_uri}{where} : {exc}") from None


def on_files(files: Files, config: MkDocsConfig) -> Files:
    notice: Notice = _state["notice"]
    files.append(File.generated(config, ICS_NAME, content=calendar_ics(notice)))
    files.append(File.generated(config, JSON_NAME, content=notice_json(notice)))
    return files


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """French typography on every page, as the service applies it to its own (one module)."""
    return french_html(output)


def on_post_template(output_content: str, template_name: str, config: MkDocsConfig) -> str:
    """The theme's own pages (404.html) too; sitemap.xml and the like are not prose."""
    return french_html(output_content) if template_name.endswith(".html") else output_content


def on_post_build(config: MkDocsConfig) -> None:
    """The service's Content-Security-Policy allows exactly the theme's inline scripts; the stamp
    says which notice.yml the site was built from (``stamp.py``)."""
    hashes: set[str] = set()
    for page in sorted(Path(config.site_dir).rglob("*.html")):
        hashes |= inline_script_hashes(page.read_text(encoding="utf-8"))
    target = Path(config.site_dir) / CSP_NAME
    target.write_text(json.dumps({"script_hashes": sorted(hashes)}, indent=2) + "\n", encoding="utf-8")
    if _state.get("version") is not None:  # which notice.yml this site shows (site/publication.json)
        write_stamp(Path(config.site_dir), _state["version"], _build_stamp())
