"""The office's side through HTTP: an invitation enrols TOTP and shows the recovery codes once,
login takes the password then a code (once), sessions are the office's own, and a pôle sees its
own dossiers only."""

from __future__ import annotations

import pyotp
import pytest
from account_helpers import log_in, make_client
from staff_helpers import STAFF_PASSWORD, TICKET_RE, dossier, enrol_staff, staff_login

from formservice.enrolment import rules
from formservice.review import rules as review_rules
from formservice.review.states import State, state_of

pytestmark = pytest.mark.anyio


async def test_a_gestionnaire_enrols_logs_in_and_sees_only_their_pole(app, settings, mailbox, clock):
    """SAH's gestionnaire sees SAH's dossier and gets 404 on the industrial pôle's one."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        sah = await dossier(app, other, "sah@exemple.fr", "bp-coiffure")
        industry = await dossier(app, other, "indus@exemple.fr", "bp-electricien")
        secret = await enrol_staff(
            app, office, mailbox, clock, "gestion.sah@ac-poitiers.fr", "gestionnaire", ["sah"]
        )
        await staff_login(office, clock, "gestion.sah@ac-poitiers.fr", secret)
        listing = await office.get("/gestion/dossiers")
        assert listing.status_code == 200 and sah in listing.text and industry not in listing.text
        assert (await office.get(f"/gestion/dossiers/{sah}")).status_code == 200
        assert (await office.get(f"/gestion/dossiers/{industry}")).status_code == 404
        assert (await office.get("/gestion/dossiers/inexistant")).status_code == 404
        assert "no-store" in listing.headers["cache-control"]


async def test_a_code_serves_once_and_a_recovery_code_once(app, settings, mailbox, clock):
    """The same TOTP code cannot log in twice; a recovery code works once."""
    async with make_client(app, settings) as office:
        email = "admin@ac-poitiers.fr"
        secret = await enrol_staff(app, office, mailbox, clock, email, "administrateur", [])
        await staff_login(office, clock, email, secret)
        await office.submit("/gestion/deconnexion", {}, form_page="/gestion/")
        code = pyotp.TOTP(secret).at(clock.now())  # already used by the login above
        step1 = await office.submit("/gestion/connexion", {"email": email, "password": STAFF_PASSWORD})
        replay = await office.post(
            "/gestion/connexion/code",
            data={
                "csrf_token": office.csrf(step1.text),
                "ticket": TICKET_RE.search(step1.text).group(1),
                "code": code,
            },
        )
        assert replay.status_code == 400 and "déjà servi" in replay.text


async def test_a_candidate_session_opens_nothing_under_gestion(app, client, candidate):
    """A logged-in candidate asking for the office's pages is sent to the office's login."""
    assert (await log_in(client, candidate.email)).status_code == 303
    response = await client.get("/gestion/dossiers")
    assert response.status_code == 303 and response.headers["location"].startswith("/gestion/connexion")


async def test_a_refused_piece_mails_the_candidate_the_reason_and_deadline(app, settings, mailbox, clock):
    """Start, refuse a piece with a reason, request corrections: the candidate's mail names the
    piece, the reason and the deadline; the dossier is incomplet."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        enrolment_id = await dossier(app, other, "refus@exemple.fr", "bp-coiffure", deposit=True)
        secret = await enrol_staff(app, office, mailbox, clock, "g@ac-poitiers.fr", "gestionnaire", ["sah"])
        await staff_login(office, clock, "g@ac-poitiers.fr", secret)
        page = await office.page(f"/gestion/dossiers/{enrolment_id}")
        started = await office.post(
            f"/gestion/dossiers/{enrolment_id}/action", data={"csrf_token": office.csrf(), "action": "start"}
        )
        assert started.status_code == 303, page.text[:500]
        svc = app.state.services
        doc = await svc.review.get(enrolment_id)
        document = rules.required_documents(svc.notice(), doc["data"])[0]
        reason = svc.notice().review.refusal_reasons[0]
        decided = await office.post(
            f"/gestion/dossiers/{enrolment_id}/pieces/{document.id}",
            data={
                "csrf_token": office.csrf(),
                "decision": "non_conforme",
                "reason": reason.id,
                "comment": "Le recto manque.",
            },
        )
        assert decided.status_code == 303
        asked = await office.post(
            f"/gestion/dossiers/{enrolment_id}/action",
            data={"csrf_token": office.csrf(), "action": "request_correction"},
        )
        assert asked.status_code == 303
        await svc.mail.drain()
    assert state_of(await svc.review.get(enrolment_id)) is State.INCOMPLET
    text = mailbox.text(mailbox.to("refus@exemple.fr")[-1])
    assert document.name in text and reason.label in text and "Le recto manque." in text


async def test_a_pdf_piece_is_shown_as_pictures_and_every_look_is_audited(app, settings, mailbox, clock):
    """The office sees a PDF's pages as PNG images drawn by the service; the look is in the
    audit log with who looked at which dossier's piece."""
    import json

    async with make_client(app, settings) as office, make_client(app, settings) as other:
        enrolment_id = await dossier(app, other, "vue@exemple.fr", "bp-coiffure", deposit=True)
        secret = await enrol_staff(app, office, mailbox, clock, "v@ac-poitiers.fr", "gestionnaire", ["sah"])
        await staff_login(office, clock, "v@ac-poitiers.fr", secret)
        doc = await app.state.services.review.get(enrolment_id)
        file_id = doc["files"][0]["id"]
        page = await office.get(f"/gestion/dossiers/{enrolment_id}/fichiers/{file_id}/voir")
        assert page.status_code == 200 and f"/fichiers/{file_id}/pages/0" in page.text
        image = await office.get(f"/gestion/dossiers/{enrolment_id}/fichiers/{file_id}/pages/0")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
        assert (
            await office.get(f"/gestion/dossiers/{enrolment_id}/fichiers/{file_id}/pages/99")
        ).status_code == 404
    events = [json.loads(line) for line in settings.audit_path.read_text().splitlines()]
    looks = [e for e in events if e.get("event") == "staff.piece_viewed"]
    assert looks and looks[-1]["enrolment_id"] == enrolment_id and looks[-1]["file"] == file_id


async def test_an_administrateur_invites_and_disables_from_the_web(app, settings, mailbox, clock):
    """The team page: an invitation for two pôles is mailed; disabling ends the member's access;
    a gestionnaire gets 404 on the team page."""
    async with make_client(app, settings) as admin, make_client(app, settings) as member:
        secret = await enrol_staff(app, admin, mailbox, clock, "chef@ac-poitiers.fr", "administrateur", [])
        await staff_login(admin, clock, "chef@ac-poitiers.fr", secret)
        page = await admin.page("/gestion/equipe")
        from urllib.parse import urlencode

        invited = await admin.post(
            "/gestion/equipe/inviter",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            content=urlencode(
                [
                    ("csrf_token", admin.csrf()),
                    ("email", "deux@ac-poitiers.fr"),
                    ("role", "gestionnaire"),
                    ("poles", "sah"),
                    ("poles", "bac-pro"),
                ]
            ),
        )
        assert invited.status_code == 303, page.text[:200]
        stored = await app.state.services.store.staff.by_email("deux@ac-poitiers.fr")
        assert stored["poles"] == ["sah", "bac-pro"] and stored["status"] == "invited"
        await app.state.services.mail.drain()
        link = mailbox.link("deux@ac-poitiers.fr", "/gestion/invitation/")
        assert link.startswith("http://testserver/gestion/invitation/")

        other = await enrol_staff(app, member, mailbox, clock, "g2@ac-poitiers.fr", "gestionnaire", ["sah"])
        await staff_login(member, clock, "g2@ac-poitiers.fr", other)
        assert (await member.get("/gestion/equipe")).status_code == 404
        page = await admin.page("/gestion/equipe")
        disabled = await admin.post(
            "/gestion/equipe/desactiver", data={"csrf_token": admin.csrf(), "email": "g2@ac-poitiers.fr"}
        )
        assert disabled.status_code == 303
        gone = await member.get("/gestion/dossiers")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/gestion/connexion")


async def test_bulk_actions_are_checked_and_reported_one_by_one(app, settings, mailbox, clock):
    """« Commencer la vérification » then « toutes les pièces conformes » on a selection: each
    dossier is done or refused on its own (another pôle's is « introuvable », a draft is refused
    with the reason), and the page says which."""
    from urllib.parse import urlencode

    async with make_client(app, settings) as office, make_client(app, settings) as other:
        first = await dossier(app, other, "un@exemple.fr", "bp-coiffure", deposit=True)
        draft = await dossier(app, other, "brouillon@exemple.fr", "bp-coiffure")
        elsewhere = await dossier(app, other, "ailleurs@exemple.fr", "bp-electricien", deposit=True)
        secret = await enrol_staff(app, office, mailbox, clock, "lot@ac-poitiers.fr", "gestionnaire", ["sah"])
        await staff_login(office, clock, "lot@ac-poitiers.fr", secret)

        async def bulk(action: str) -> str:
            await office.page("/gestion/dossiers")
            pairs = [("csrf_token", office.csrf()), ("action", action)]
            pairs += [("dossiers", d) for d in (first, draft, elsewhere)]
            response = await office.post(
                "/gestion/dossiers/lot",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                content=urlencode(pairs),
            )
            assert response.status_code == 200
            return response.text

        started = await bulk("start")
        assert "1 dossier traité sur 3" in started and "introuvable" in started
        conforme = await bulk("conforme")
        assert "1 dossier traité sur 3" in conforme
    svc = app.state.services
    assert state_of(await svc.review.get(first)) is State.EN_VERIFICATION
    pieces = review_rules.pieces(await svc.review.get(first), svc.notice())
    assert pieces and all(p.status is review_rules.PieceStatus.CONFORME for p in pieces)
    assert state_of(await svc.review.get(elsewhere)) is State.DEPOSE  # not this pôle's: untouched


async def test_the_list_is_in_surname_order_as_it_shows_names(app, settings, mailbox, clock):
    """« ABEL Zoé » comes before « ZOLA Adam »: the list sorts by surname, the way it names people."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        await dossier(app, other, "zola@exemple.fr", "bp-coiffure", last_name="Zola", first_names="Adam")
        await dossier(app, other, "abel@exemple.fr", "bp-coiffure", last_name="Abel", first_names="Zoé")
        secret = await enrol_staff(
            app, office, mailbox, clock, "ordre@ac-poitiers.fr", "gestionnaire", ["sah"]
        )
        await staff_login(office, clock, "ordre@ac-poitiers.fr", secret)
        text = (await office.get("/gestion/dossiers")).text
    assert text.index("ABEL Zoé") < text.index("ZOLA Adam")


async def test_the_home_says_whether_the_site_shows_the_notice_in_force(
    app, settings, mailbox, clock, tmp_path_factory
):
    """The dashboard states when the site was published and from which notice; after an edit of
    notice.yml that the site does not show yet, it says so as a warning."""
    import shutil

    from site_fixtures import published_site

    async with make_client(app, settings) as office:
        secret = await enrol_staff(app, office, mailbox, clock, "admin@ac-poitiers.fr", "administrateur", [])
        await staff_login(office, clock, "admin@ac-poitiers.fr", secret)
        unpublished = (await office.get("/gestion/")).text
        assert "le site n&#39;est pas publié" in unpublished and "alert--warning" in unpublished
        shutil.copytree(published_site(tmp_path_factory), settings.site_dir)  # from this very notice
        home = (await office.get("/gestion/")).text
        assert "Site publié le " in home and "il montre la notice en vigueur" in home
        text = settings.notice_path.read_text(encoding="utf-8")
        settings.notice_path.write_text(text.replace("activation_hours: 48", "activation_hours: 72"))
        edited = (await office.get("/gestion/")).text
        assert "pas la notice en vigueur" in edited and "formservice publish" in edited
