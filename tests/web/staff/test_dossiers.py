"""The office's home and list through HTTP: filters in the URL (pôle, exam, speciality, state,
pieces, what waits), search by name, e-mail or registration number, counts, pages."""

from __future__ import annotations

import re

import pytest
from account_helpers import make_client
from staff_helpers import dossier, enrol_staff, quick_dossier, staff_login

from formservice.typography import french_text

pytestmark = pytest.mark.anyio

ROW_RE = re.compile(r'name="dossiers" value="([^"]+)"')


def listed(page_text: str) -> list[str]:
    return ROW_RE.findall(page_text)


async def office_of(app, settings, mailbox, clock, client, role: str = "administrateur", poles=()):
    secret = await enrol_staff(app, client, mailbox, clock, f"{role}@ac-poitiers.fr", role, list(poles))
    await staff_login(client, clock, f"{role}@ac-poitiers.fr", secret)


async def test_filters_search_and_counts(app, settings, mailbox, clock):
    """Every filter narrows the list and the count says how many; a search finds a dossier by a
    part of the name (without accents), by e-mail, by registration number."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        lefevre = await dossier(
            app, other, "camille.lefevre@exemple.fr", "bp-coiffure", deposit=True, last_name="Lefèvre"
        )
        martin = await dossier(app, other, "martin@exemple.fr", "bp-boulanger", last_name="Martin-Durand")
        volt = await dossier(app, other, "volt@exemple.fr", "bp-electricien", last_name="Volt")
        await office_of(app, settings, mailbox, clock, office)

        everything = await office.get("/gestion/dossiers")
        assert sorted(listed(everything.text)) == sorted([lefevre, martin, volt])
        assert "3 dossiers" in everything.text

        async def ids(query: str) -> list[str]:
            page = await office.get(f"/gestion/dossiers?{query}")
            assert page.status_code == 200
            return sorted(listed(page.text))

        assert await ids("etat=depose") == [lefevre]
        assert await ids("etat=brouillon") == sorted([martin, volt])
        assert await ids("pole=sah") == sorted([lefevre, martin])
        assert await ids("specialite=bp-electricien") == [volt]
        assert await ids("pieces=manquantes") == sorted([martin, volt])
        assert await ids("pieces=a_verifier") == [lefevre]
        assert await ids("attente=depose") == [lefevre]
        assert await ids("pole=sah&etat=brouillon") == [martin]
        assert await ids("q=lefevre") == [lefevre]  # « Lefèvre » without its accent
        assert await ids("q=durand") == [martin]  # a part of « Martin-Durand »
        assert await ids("q=camille.lefevre%40exemple.fr") == [lefevre]
        assert await ids(f"q={volt}") == [volt]
        assert await ids("q=personne") == []
        assert await ids("etat=inconnu") == sorted([lefevre, martin, volt])  # an unknown value: ignored

        home = await office.get("/gestion/")
        waiting = r"Dossiers déposés, vérification non commencée</a>\s:\s<strong>1</strong>"
        assert re.search(waiting, home.text)
        assert re.search(r"Brouillon</a></th><td>2</td>", home.text), home.text
        assert re.search(r'\?pole=sah">[^<]+</a></th><td>2</td>', home.text)  # Lefèvre, Martin-Durand


async def test_a_gestionnaire_s_filters_never_reach_another_pole(app, settings, mailbox, clock):
    """pole=indus in the URL of SAH's gestionnaire shows nothing of the industrial pôle."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        sah = await dossier(app, other, "sah@exemple.fr", "bp-coiffure")
        await dossier(app, other, "indus@exemple.fr", "bp-electricien")
        await office_of(app, settings, mailbox, clock, office, "gestionnaire", ["sah"])
        assert listed((await office.get("/gestion/dossiers?pole=indus")).text) == [sah]
        assert listed((await office.get("/gestion/dossiers?specialite=bp-electricien")).text) == []


async def test_pages_keep_the_filters(app, settings, mailbox, clock):
    """51 dossiers: two pages, the second reached by a link that keeps the filters."""
    svc = app.state.services
    async with make_client(app, settings) as office:
        made = [await quick_dossier(app, f"c{i}@exemple.fr", "bp-coiffure") for i in range(51)]
        await office_of(app, settings, mailbox, clock, office)
        first = await office.get("/gestion/dossiers?pole=sah&etat=brouillon")
        assert "51 dossiers" in first.text and "page 1 sur 2" in first.text
        link = re.search(r'href="(\?[^"]*page=2)"', first.text)
        assert link is not None and "pole=sah" in link.group(1) and "etat=brouillon" in link.group(1)
        second = await office.get("/gestion/dossiers" + link.group(1).replace("&amp;", "&"))
        assert sorted(listed(first.text) + listed(second.text)) == sorted(made)
    assert (await svc.store.enrolments.tally("state", {})) == {"brouillon": 51}


async def test_a_bulk_reminder_mails_what_remains_and_refuses_the_pointless(app, settings, mailbox, clock):
    """« Relancer » on three dossiers: the brouillon's candidate is mailed the missing pieces and
    the button to click; a dossier déposé is refused (nothing to remind), and says why."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        draft = await dossier(app, other, "brouillon@exemple.fr", "bp-coiffure", last_name="Brouillon")
        handed_in = await dossier(app, other, "depose@exemple.fr", "bp-coiffure", deposit=True)
        await office_of(app, settings, mailbox, clock, office)
        mailbox.clear()
        page = await office.submit(
            "/gestion/dossiers/lot",
            {"action": "remind", "dossiers": [draft, handed_in]},  # type: ignore[dict-item]
            form_page="/gestion/dossiers",
        )
        assert page.status_code == 200
        assert "1 dossier traité sur 2" in page.text
        assert french_text("Rien à relancer : le dossier est déposé") in page.text
        await app.state.services.mail.drain()
        [mail] = mailbox.to("brouillon@exemple.fr")
        text = mailbox.text(mail)
        notice = app.state.services.notice()
        first_piece = notice.documents[0].name
        assert first_piece in text and "J'ai fourni toutes mes pièces" in text
        assert "/espace/justificatifs" in text
        assert mailbox.to("depose@exemple.fr") == []


async def test_an_administrateur_sees_failed_mails_and_sends_one_again(app, settings, mailbox, clock):
    """A mail the relay refused for good is listed (never its text: it may hold a link) for the
    administrateurs only; « Renvoyer » queues it again and it is delivered."""
    svc = app.state.services
    failed = svc.mail.prepare(
        "perdu@exemple.fr",
        "Activez votre compte",
        "activation",
        {"link": "http://x/secret-link", "deadline": svc.clock.now()},
    )
    failed = {**failed, "state": "failed", "attempts": 1, "last_error": "SMTPRecipientsRefused: 550"}
    await svc.store.outbox.add(failed)
    async with make_client(app, settings) as admin, make_client(app, settings) as gestion:
        await office_of(app, settings, mailbox, clock, admin)
        secret = await enrol_staff(app, gestion, mailbox, clock, "g@ac-poitiers.fr", "gestionnaire", ["sah"])
        await staff_login(gestion, clock, "g@ac-poitiers.fr", secret)
        assert (await gestion.get("/gestion/courriels")).status_code == 404
        page = await admin.get("/gestion/courriels")
        assert "perdu@exemple.fr" in page.text and "550" in page.text and "secret-link" not in page.text
        mailbox.clear()
        done = await admin.submit(
            "/gestion/courriels/action",
            {"action": "retry", "mail": failed["id"]},
            form_page="/gestion/courriels",
        )
        assert done.status_code == 303
        await svc.mail.drain()
        assert [m["Subject"] for m in mailbox.to("perdu@exemple.fr")] == ["Activez votre compte"]
        again = await admin.submit(
            "/gestion/courriels/action",
            {"action": "retry", "mail": failed["id"]},
            form_page="/gestion/courriels",
        )
        assert "info=gone" in again.headers["location"]  # delivered since: nothing to send again


async def test_the_statistics_page_counts_the_member_s_poles_only(app, settings, mailbox, clock):
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        await dossier(app, other, "a@exemple.fr", "bp-coiffure", deposit=True)
        await dossier(app, other, "b@exemple.fr", "bp-electricien")
        await office_of(app, settings, mailbox, clock, office, "gestionnaire", ["sah"])
        page = await office.get("/gestion/statistiques")
        assert page.status_code == 200
        assert "1 dossier enregistré dans vos pôles" in page.text
        assert "<svg" in page.text and 'role="img"' in page.text
        electricien = app.state.services.notice().speciality("bp-electricien")[1].name
        coiffure = app.state.services.notice().speciality("bp-coiffure")[1].name
        assert coiffure in page.text and electricien not in page.text  # another pôle's speciality


async def test_every_dossier_gets_a_readable_registration_number_found_by_search(
    app, settings, mailbox, clock
):
    """« 2026-000001 », « 2026-000002 »: one number each, in order, shown in the list and found."""
    async with make_client(app, settings) as office, make_client(app, settings) as other:
        first = await dossier(app, other, "un@exemple.fr", "bp-coiffure")
        second = await dossier(app, other, "deux@exemple.fr", "bp-coiffure")
        await office_of(app, settings, mailbox, clock, office)
        store = app.state.services.store
        numbers = [(await store.enrolments.get(d))["number"] for d in (first, second)]
        assert numbers == ["2026-000001", "2026-000002"]
        page = await office.get("/gestion/dossiers?q=2026-000002")
        assert listed(page.text) == [second] and "<td>2026-000002</td>" in page.text
