"""The published site says everything notice.yml says, and nothing is typed anywhere else."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import icalendar
import pytest
from notice_factory import notice_with
from site_fixtures import NOTICE, PAGES, ROOT, published_site, read_page
from typography_helpers import breakable_punctuation, page_text

from formservice.frenchdates import MONTHS, date_fr, datetime_fr
from formservice.notice import Notice, load_notice, notice_from_json, parse_notice
from formservice.notice.site.hook import calendar_ics, exam_label
from formservice.typography import french_text

NOTICE_MODEL = load_notice(NOTICE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_site(tmp_path_factory)


def facts(notice: Notice) -> list[tuple[str, str]]:
    """(page, text) pairs: every fact of the notice and the page that must state it."""
    home, steps, docs, contacts = PAGES
    found = [
        (home, notice.session.name),
        (home, notice.session.audience),
        (home, datetime_fr(notice.registration.opens)),
        (home, datetime_fr(notice.registration.closes)),
        (home, datetime_fr(notice.registration.documents_deadline)),
        (home, f"{notice.registration.activation_hours} heures"),
        (home, f"session {notice.session.previous_session}"),
        (home, notice.academie.website_section),
        (steps, datetime_fr(notice.registration.closes)),
        (steps, datetime_fr(notice.registration.documents_deadline)),
        (docs, datetime_fr(notice.registration.documents_deadline)),
        (docs, date_fr(notice.registration.age_reference_date, weekday=False)),
        (docs, f"{notice.uploads.max_file_mb} Mo"),
    ]
    found += [(page, exam.name) for exam in notice.exams for page in (home, docs, contacts)]
    found += [(contacts, spec.name) for exam in notice.exams for spec in exam.specialities]
    found += [(steps, step.title) for step in notice.steps]
    found += [(steps, download.name) for download in notice.downloads]
    found += [(docs, document.name) for document in notice.documents]
    for pole in notice.poles:
        found += [(contacts, pole.name), (contacts, pole.email), (steps, pole.email)]
        found += [(contacts, phone) for phone in pole.phones]
    return found


@pytest.mark.parametrize(("page", "fact"), facts(NOTICE_MODEL))
def test_fact_appears_in_page(site: Path, page: str, fact: str) -> None:
    """Each fact of notice.yml (date in French, phone, e-mail, exam, speciality, document) is on its page,
    typeset in French (no-break spaces in a phone number, before a colon)."""
    assert french_text(fact) in read_page(site / page).text


def test_site_builds_with_strict(site: Path) -> None:
    """`formservice publish` built every page with `mkdocs build --strict` plus the generated files."""
    for name in (*PAGES, "404.html", "calendrier.ics", "notice.json", "csp.json"):
        assert (site / name).is_file(), name


def test_announcement_bar_states_the_dates_on_every_page(site: Path) -> None:
    """Every page's announcement bar carries both instants and, without JavaScript, states the dates."""
    opens, closes = NOTICE_MODEL.opens_at.isoformat(), NOTICE_MODEL.closes_at.isoformat()
    for page in PAGES:
        html = (site / page).read_text(encoding="utf-8")
        assert f'data-opens="{opens}"' in html and f'data-closes="{closes}"' in html
        fallback = re.search(r'<p data-fs-state="dates">(.*?)</p>', html, re.DOTALL)
        assert fallback is not None
        text = re.sub(r"<[^>]+>|[ \t\r\n\f\v]+", " ", fallback.group(1))
        assert datetime_fr(NOTICE_MODEL.registration.opens) in re.sub(r"[ \t\r\n\f\v]+", " ", text)
        assert datetime_fr(NOTICE_MODEL.registration.closes) in re.sub(r"[ \t\r\n\f\v]+", " ", text)


def test_home_warns_and_links_to_the_service(site: Path) -> None:
    """The home page has the seed's warnings and the stable links to the form service."""
    home = read_page(site / "index.html")
    assert "ATTENTION\u00a0: aucune inscription ne sera reçue après cette date" in home.text
    assert "uniquement par internet" in home.text
    assert "Inscrivez-vous rapidement, sans attendre les derniers jours" in home.text
    hrefs = home.hrefs()
    assert {"/compte/creer", "/compte/connexion", "calendrier.ics", "notice.json"} <= hrefs
    assert {NOTICE_MODEL.academie.website, NOTICE_MODEL.academie.national_portal} <= hrefs


def test_guide_sends_returning_candidates_to_step_two(site: Path) -> None:
    """Returning candidates are told to go straight to step 2, and the postal-address rule is stated."""
    guide = read_page(site / "inscription/index.html")
    previous = NOTICE_MODEL.session.previous_session
    assert f"déjà présenté ou présentée à la session {previous}" in guide.text
    assert "allez directement à l'étape 2" in guide.text
    assert "#" + NOTICE_MODEL.steps[1].id in guide.hrefs()
    assert "Si vous changez d'adresse postale" in guide.text


def test_contacts_give_links_and_exams_per_pole(site: Path) -> None:
    """Each pôle's section has tel: and mailto: links and lists the specialities it handles."""
    contacts = read_page(site / "contacts/index.html")
    for pole in NOTICE_MODEL.poles:
        section = contacts.section(pole.id)
        for _, uri in pole.tel_uris:
            assert uri in contacts.hrefs()
        assert f"mailto:{pole.email}" in contacts.hrefs()
        for exam, spec in NOTICE_MODEL.specialities_of_pole(pole.id):
            assert exam_label(exam) in section and spec.name in section
        others = [s for e in NOTICE_MODEL.exams for s in e.specialities if s.pole != pole.id]
        assert not [s.name for s in others if s.name in section]


def test_documents_per_exam_with_condition_and_example_mark(site: Path) -> None:
    """Each exam lists its documents, each with its condition in words and, if invented, the example mark."""
    docs = read_page(site / "pieces-justificatives/index.html")
    for exam in NOTICE_MODEL.exams:
        section = docs.section(exam.id.lower())
        documents = NOTICE_MODEL.documents_for_exam(exam.id)
        for document in documents:
            entry = french_text(f"{document.name} : {NOTICE_MODEL.condition_text(document)}.")
            assert entry in section
            marked = entry + " exemple, à confirmer" in section
            assert marked == document.example, document.id
        assert section.count("exemple, à confirmer") == sum(d.example for d in documents)
        assert not [d.name for d in NOTICE_MODEL.documents if exam.id not in d.exams and d.name in section]


def test_calendar_parses_with_the_right_instants(site: Path) -> None:
    """calendrier.ics parses; its opening and closing events carry the notice's instants, with TZID."""
    raw = (site / "calendrier.ics").read_bytes()
    calendar = icalendar.Calendar.from_ical(raw)
    events = {str(e["UID"]).split("-", 1)[0]: e for e in calendar.walk("VEVENT")}
    assert events["ouverture"].decoded("DTSTART") == NOTICE_MODEL.opens_at
    assert events["cloture"].decoded("DTSTART") == NOTICE_MODEL.closes_at
    for event in (events["ouverture"], events["cloture"]):
        assert event["DTSTART"].params["TZID"] == NOTICE_MODEL.timezone
        assert f"{NOTICE_MODEL.registration.activation_hours} heures" in str(event["DESCRIPTION"])
        assert "Activer mon compte" in str(event["DESCRIPTION"])
    local = NOTICE_MODEL.registration.closes
    assert f"DTSTART;TZID={NOTICE_MODEL.timezone}:{local:%Y%m%dT%H%M%S}" in raw.decode()
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == [NOTICE_MODEL.timezone]


def test_calendar_uids_do_not_change_when_a_date_moves() -> None:
    """An event's UID names its kind and the session, not its date: a moved closing updates the
    candidate's calendar event instead of adding another one."""
    moved = notice_with(closes="2025-11-20 18:00", documents_deadline="2025-11-27 18:00")

    def uids(notice: Notice) -> dict[str, str]:
        calendar = icalendar.Calendar.from_ical(calendar_ics(notice))
        return {str(e["SUMMARY"]).split(" —")[0]: str(e["UID"]) for e in calendar.walk("VEVENT")}

    before, after = uids(NOTICE_MODEL), uids(moved)
    assert before.items() <= after.items()  # the documents' deadline, now apart, is one more event
    assert not [uid for uid in after.values() if re.search(r"\d{8}", uid)]  # no date in a UID
    name = NOTICE_MODEL.session.name
    next_session = parse_notice(
        NOTICE.read_text(encoding="utf-8").replace(f"name: {name}", f"name: {name} bis")
    )
    assert not set(uids(next_session).values()) & set(before.values())  # another session, other events


def test_notice_json_round_trips(site: Path) -> None:
    """notice.json loads back into the model, equal to notice.yml."""
    data = json.loads((site / "notice.json").read_text(encoding="utf-8"))
    assert notice_from_json(data) == NOTICE_MODEL


def test_csp_json_lists_every_inline_script(site: Path) -> None:
    """csp.json holds the sha256 of every inline <script> of every page, and nothing else."""
    expected = set()
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL):
            if "src=" not in attrs:
                digest = hashlib.sha256(body.encode()).digest()
                expected.add("sha256-" + base64.b64encode(digest).decode())
    listed = json.loads((site / "csp.json").read_text(encoding="utf-8"))["script_hashes"]
    assert expected and set(listed) == expected and len(listed) == len(expected)


def test_no_third_party_resource(site: Path) -> None:
    """No script, style, font or image is loaded from another host (no CDN, no web fonts)."""
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        tags = re.findall(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*>", html, re.IGNORECASE)
        assert not [t for t in tags if re.search(r"(src|href)=[\"']?(https?:)?//", t, re.IGNORECASE)], page
    for sheet in site.rglob("*.css"):
        urls = re.findall(r"url\(\s*[\"']?([^\"')]+)", sheet.read_text(encoding="utf-8"))
        assert not [u for u in urls if re.match(r"(https?:)?//", u)], sheet
        assert not re.search(r"@import\s+(url\()?[\"']?(https?:)?//", sheet.read_text(encoding="utf-8"))


def test_no_line_of_a_site_page_can_start_with_a_punctuation_mark(site: Path) -> None:
    """French typography on every page of the site (the hook typesets them as the service does its
    own): no ordinary space before ``: ; ? ! »`` nor after ``«``, phones in one piece, 1er in <sup>."""
    for page in (*PAGES, "404.html"):
        html = (site / page).read_text(encoding="utf-8")
        assert breakable_punctuation(page_text(html)) == [], page
    contacts = (site / "contacts/index.html").read_text(encoding="utf-8")
    for phone in (p for pole in NOTICE_MODEL.poles for p in pole.phones):
        assert phone.replace(" ", "\u00a0") in contacts and f">{phone}<" not in contacts
    if NOTICE_MODEL.registration.age_reference_date.day == 1:  # « moins de 25 ans au 1er juin »
        assert "1<sup>er</sup>" in (site / "pieces-justificatives/index.html").read_text(encoding="utf-8")


def test_the_404_page_is_french_with_ways_back(site: Path) -> None:
    """Material's « 404 - Not found » is replaced: a French page linking home, to the candidate's
    space and to the contacts, with links that work from any depth (the service serves it for
    every unknown path)."""
    page = read_page(site / "404.html")
    assert "Page introuvable" in page.text and "Not found" not in page.text
    assert {"/", "/espace", "/contacts/"} <= page.hrefs()


def test_every_page_has_the_service_header_and_a_link_to_the_space(site: Path) -> None:
    """One product: the header names the académie and the session as the service's does, and the
    menu and the header lead to « Mon espace candidat »."""
    for name in (*PAGES, "404.html"):
        page = read_page(site / name)
        assert f"{NOTICE_MODEL.academie.name} Note aux candidats · {NOTICE_MODEL.session.name}" in page.text
        assert ("/espace", "Mon espace candidat") in page.links, name


def test_pages_are_french(site: Path) -> None:
    """Every page declares lang="fr"."""
    for page in PAGES:
        assert '<html lang="fr"' in (site / page).read_text(encoding="utf-8")


# -- no fact typed outside notice.yml --------------------------------------------------------

MONTH_WORDS = "|".join(MONTHS)
LITERAL_PATTERNS = {
    "téléphone": r"\b0\d(?:[ .-]?\d{2}){4}\b|\b05 16 52\b",
    "adresse électronique": r"[\w.+-]+@[\w-]+\.[a-z]{2,}",
    "date": rf"\b\d{{1,2}}(?:er)? (?:{MONTH_WORDS})\b|(?:{MONTH_WORDS}) 20\d\d|\b20\d\d-\d\d-\d\d\b",
    "année": r"\b20\d\d\b",
    "heure": r"\b\d{1,2} ?h ?\d\d\b",
}


def hand_written_files() -> list[Path]:
    """Pages, theme overrides, assets and templates: wording only, facts come from notice.yml."""
    folders = [ROOT / "docs", ROOT / "formservice" / "templates"]
    files = [p for folder in folders if folder.is_dir() for p in folder.rglob("*") if p.is_file()]
    suffixes = (".md", ".html", ".css", ".js", ".txt", ".j2")
    return [p for p in files if p.suffix in suffixes] + [ROOT / "mkdocs.yml"]


def without_placeholders(text: str) -> str:
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.DOTALL)


def test_no_literal_fact_outside_notice_yml() -> None:
    """No date, phone, e-mail or other fact of notice.yml is typed in docs/, the templates or mkdocs.yml."""
    notice = NOTICE_MODEL
    names = [notice.academie.name, notice.academie.website, notice.academie.national_portal]
    names += [p.email for p in notice.poles] + [ph for p in notice.poles for ph in p.phones]
    names += [e.name for e in notice.exams] + [s.name for e in notice.exams for s in e.specialities]
    names += [d.name for d in notice.documents]
    found = []
    for path in hand_written_files():
        text = without_placeholders(path.read_text(encoding="utf-8"))
        for what, pattern in LITERAL_PATTERNS.items():
            found += [f"{path.relative_to(ROOT)} : {what} « {m} »" for m in re.findall(pattern, text)]
        found += [f"{path.relative_to(ROOT)} : « {name} »" for name in names if name in text]
    assert not found
