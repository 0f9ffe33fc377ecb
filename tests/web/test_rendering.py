"""Links in pages come from the route table, remembered per table; every page is typeset in French."""

from __future__ import annotations

import io

import pypdf
import pytest
from account_helpers import Candidate, Client, Mailbox, log_in, settle
from enrolment_forms import valid_enrolment_form
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router
from typography_helpers import breakable_punctuation, page_text

from formservice.notice import Notice
from formservice.web.rendering import _RouteFacts, make_env, remembered_paths, url_path


async def ok(request):
    return PlainTextResponse("ok")


def test_url_path_matches_the_router_and_follows_a_later_route():
    router = Router([Route("/a", ok, name="a"), Route("/b/{token}", ok, name="b")])
    assert url_path(router, "a") == "/a" == str(router.url_path_for("a"))
    assert url_path(router, "b", token="x.y") == "/b/x.y" and url_path(router, "b", token="z") == "/b/z"
    router.routes.insert(0, Route("/c", ok, name="c"))  # a route added after the first page
    assert url_path(router, "c") == "/c"


def test_url_path_memory_is_bounded(monkeypatch):
    """Links with a token (one per activation mail) are computed, not kept beyond the bound."""
    monkeypatch.setattr(_RouteFacts, "MAX_PATHS", 3)
    router = Router([Route("/b/{token}", ok, name="b")])
    assert [url_path(router, "b", token=str(i)) for i in range(10)] == [f"/b/{i}" for i in range(10)]
    assert remembered_paths(router) == 3


# -- French typography on every page, document and mail -------------------------------------------

PUBLIC_PAGES = (
    "/compte/creer",
    "/compte/connexion",
    "/compte/mot-de-passe-oublie",
    "/compte/donnees-personnelles",
    "/gestion/connexion",
    "/une-page-qui-n-existe-pas",
)
SPACE_PAGES = (
    "/espace",
    "/espace/inscription",
    "/espace/documents",
    "/espace/justificatifs",
    "/espace/changement-adresse",
    "/espace/documents/recapitulatif",
)


@pytest.mark.anyio
async def test_no_line_of_a_service_page_can_start_with_a_punctuation_mark(
    client: Client, candidate: Candidate, notice: Notice, mailbox: Mailbox, app: Starlette
):
    """On every page a candidate meets (and in the PDF and the mails), no ordinary space stands before
    ``: ; ? ! »`` or after ``«``: whatever the screen's width, no line starts with one of them;
    phone numbers hold together and 1er is written with a superscript."""
    found = {}

    async def read(path: str) -> None:
        response = await client.get(path)
        assert response.status_code in (200, 404), path
        found[path] = breakable_punctuation(page_text(response.text))

    for path in PUBLIC_PAGES:
        await read(path)
    await log_in(client, candidate.email)
    assert (await client.submit("/espace/inscription", valid_enrolment_form(notice))).status_code == 303
    for path in SPACE_PAGES:
        await read(path)
    assert {path: excerpts for path, excerpts in found.items() if excerpts} == {}
    pdf = await client.get("/espace/documents/recapitulatif/pdf")  # rendered from the same template
    pdf_text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert breakable_punctuation(pdf_text) == [] and "\u00a0:" in pdf_text
    space = (await client.get("/espace")).text
    phone = notice.poles[0].phones[0]
    assert phone.replace(" ", "\u00a0") in space and f">{phone}<" not in space
    await settle(app)
    for mail in mailbox.to(candidate.email):
        assert breakable_punctuation(mailbox.text(mail)) == [], mail["Subject"]
        assert breakable_punctuation(page_text(mailbox.html(mail))) == [], mail["Subject"]


def test_every_template_is_typeset_once_rendered(tmp_path):
    """The environment typesets its .html as HTML (<sup> for 1er) and its .txt as plain text."""
    (tmp_path / "page.html").write_text("<p>Le {{ day }} : « {{ what }} »</p>", encoding="utf-8")
    (tmp_path / "mail.txt").write_text("Le {{ day }} : « {{ what }} »", encoding="utf-8")
    env = make_env((tmp_path,))
    values = {"day": "1er juin", "what": "clôture"}
    assert env.get_template("page.html").render(values) == (
        "<p>Le 1<sup>er</sup> juin\u00a0: «\u202fclôture\u202f»</p>"
    )
    assert env.get_template("mail.txt").render(values) == "Le 1er juin\u00a0: «\u202fclôture\u202f»"
