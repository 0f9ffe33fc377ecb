"""The authorization matrix over every /gestion/ route of the app, read from the route table
(a route added later is covered without touching this file): nobody, a candidate, a disabled
member, a gestionnaire of another pôle, an administrateur."""

from __future__ import annotations

import pytest
from account_helpers import log_in, make_client
from staff_helpers import dossier, enrol_staff, staff_login
from starlette.routing import Route

pytestmark = pytest.mark.anyio

# The routes a visitor without a staff session must reach: the login and the invitation.
OPEN = {"staff_login", "staff_second_step", "staff_invitation", "staff_logout"}
ADMIN_ONLY = {"staff_team", "staff_team_invite", "staff_team_disable", "staff_mails", "staff_mail_action"}


def staff_routes(app) -> list[tuple[str, str, str]]:
    """(name, method, path) of every /gestion/ route, path parameters filled."""
    out = []
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/gestion/") or route.name in OPEN:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            out.append((route.name, method, route.path))
    return out


def filled(path: str, dossier_id: str, file_id: str = "f", document_id: str = "d") -> str:
    return (
        path.replace("{dossier_id}", dossier_id)
        .replace("{file_id}", file_id)
        .replace("{document_id}", document_id)
        .replace("{page:int}", "1")
    )


async def ask(client, method: str, path: str, csrf_page: str):
    if method == "GET":
        return await client.get(path)
    return await client.post(path, data={"csrf_token": client.csrf((await client.page(csrf_page)).text)})


async def test_without_a_staff_session_every_route_leads_to_the_staff_login(app, settings, client, candidate):
    routes = staff_routes(app)
    assert len(routes) >= 12
    await log_in(client, candidate.email)  # a candidate's session gives nothing here
    async with make_client(app, settings) as nobody:
        for visitor, page in ((client, "/espace"), (nobody, "/gestion/connexion")):
            for name, method, path in routes:
                response = await ask(visitor, method, filled(path, "x"), page)
                assert response.status_code == 303, (name, method, response.status_code)
                assert response.headers["location"].startswith("/gestion/connexion"), name


async def test_another_pole_s_dossier_is_404_everywhere_and_admin_pages_too(app, settings, mailbox, clock):
    """SAH's gestionnaire gets 404 on every route of the industrial pôle's dossier (the same
    answer as a dossier that does not exist) and on the administrateurs' pages; an
    administrateur reaches the dossier."""
    async with (
        make_client(app, settings) as gestion,
        make_client(app, settings) as admin,
        make_client(app, settings) as other,
    ):
        elsewhere = await dossier(app, other, "indus@exemple.fr", "bp-electricien", deposit=True)
        secret = await enrol_staff(
            app, gestion, mailbox, clock, "sah@ac-poitiers.fr", "gestionnaire", ["sah"]
        )
        await staff_login(gestion, clock, "sah@ac-poitiers.fr", secret)
        doc = await app.state.services.review.get(elsewhere)
        file_id, document_id = doc["files"][0]["id"], doc["files"][0]["document_id"]
        for name, method, path in staff_routes(app):
            target = filled(path, elsewhere, file_id, document_id)
            response = await ask(gestion, method, target, "/gestion/")
            if "{dossier_id}" in path or name in ADMIN_ONLY:
                assert response.status_code == 404, (name, method)
            else:
                assert response.status_code in (200, 303, 400), (name, method, response.status_code)
        secret = await enrol_staff(app, admin, mailbox, clock, "admin@ac-poitiers.fr", "administrateur", [])
        await staff_login(admin, clock, "admin@ac-poitiers.fr", secret)
        assert (await admin.get(f"/gestion/dossiers/{elsewhere}")).status_code == 200
        assert (await admin.get(f"/gestion/dossiers/{elsewhere}/fichiers/{file_id}")).status_code == 200
        assert (await admin.get("/gestion/courriels")).status_code == 200


async def test_a_disabled_member_loses_every_page_at_once(app, settings, mailbox, clock):
    async with make_client(app, settings) as gestion:
        secret = await enrol_staff(
            app, gestion, mailbox, clock, "parti@ac-poitiers.fr", "gestionnaire", ["sah"]
        )
        await staff_login(gestion, clock, "parti@ac-poitiers.fr", secret)
        assert (await gestion.get("/gestion/dossiers")).status_code == 200
        await app.state.services.staff.disable("parti@ac-poitiers.fr")
        for name, method, path in staff_routes(app):
            if method == "GET":
                response = await gestion.get(filled(path, "x"))
                assert response.status_code == 303, name
                assert response.headers["location"].startswith("/gestion/connexion"), name
