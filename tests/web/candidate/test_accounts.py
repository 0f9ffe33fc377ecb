"""The /compte pages, driven like a browser, with the mails read from a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import httpx
import pytest
from account_helpers import PASSWORD, activate_from_mail, log_in, sign_up

from formservice.accounts.rules import ACTIVE, PENDING

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "nouvelle phrase secrète du candidat"


async def accounts_of(app):
    return app.state.services.store.accounts


async def test_signup_mails_an_activation_link_that_activates(client, app, mailbox):
    """Signup says « vérifiez votre messagerie »; the mailed link shows a button; only its POST activates."""
    response = await sign_up(client, app, "jeanne@exemple.fr")
    assert response.status_code == 200 and "Vérifiez votre messagerie" in response.text
    (mail,) = mailbox.to("jeanne@exemple.fr")
    assert "activez votre compte" in mail["Subject"]
    link = mailbox.link("jeanne@exemple.fr", "/compte/activer/")
    assert link.startswith("http://testserver/compte/activer/")
    page = await client.page(httpx.URL(link).path)
    assert "Activer mon compte" in page.text and page.headers["referrer-policy"] == "no-referrer"
    assert (await (await accounts_of(app)).by_email("jeanne@exemple.fr"))["status"] == PENDING
    done = await client.post(httpx.URL(link).path, data={"csrf_token": client.csrf()})
    assert done.status_code == 200 and "Votre compte est activé" in done.text
    assert (await (await accounts_of(app)).by_email("jeanne@exemple.fr"))["status"] == ACTIVE


async def test_mail_links_use_the_base_url_not_the_host_header(client, app, mailbox):
    """A forged Host header does not leak into the activation link."""
    html = (await client.page("/compte/creer")).text
    data = {
        "email": "hote@exemple.fr",
        "email_confirm": "hote@exemple.fr",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "accept": "oui",
        "csrf_token": client.csrf(html),
    }
    await client.post("/compte/creer", data=data, headers={"Host": "evil.example"})
    await app.state.services.mail.drain()
    assert mailbox.link("hote@exemple.fr", "/compte/activer/").startswith("http://testserver/")


async def test_signup_errors_are_shown_next_to_fields_and_input_kept(client, app):
    """Every error is next to its field, the addresses and the checkbox kept, the passwords never echoed."""
    response = await client.submit(
        "/compte/creer",
        {"email": "pas-une-adresse", "email_confirm": "autre", "password": "court", "password_confirm": "x"},
    )
    assert response.status_code == 400
    html = unescape(response.text)
    assert 'id="email-error"' in html and "n'est pas valide" in html
    assert 'id="password-error"' in html and "au moins 12" in html
    assert 'id="accept-error"' in html
    assert 'value="pas-une-adresse"' in html and 'value="autre"' in html
    assert "court" not in html.split("<main")[1].replace("trop courant", "")
    response = await client.submit(
        "/compte/creer",
        {
            "email": "ok@exemple.fr",
            "email_confirm": "autre@exemple.fr",
            "password": PASSWORD,
            "password_confirm": PASSWORD + "x",
            "accept": "oui",
        },
    )
    assert "Les deux adresses ne sont pas identiques" in response.text
    assert "Les deux mots de passe ne sont pas identiques" in response.text
    assert 'value="ok@exemple.fr"' in response.text and "checked" in response.text
    assert PASSWORD not in response.text
    assert await (await accounts_of(app)).count() == 0


async def test_signup_closed_outside_the_window(client, app, clock, notice):
    """After registration.closes (and before opens) the page says so and the POST creates nothing."""
    clock.set(notice.closes_at)
    page = await client.get("/compte/creer")
    assert "closes depuis le" in page.text and "jeudi 13 novembre 2025 à 19\xa0h\xa000" in page.text
    assert 'name="password"' not in page.text
    await client.post(
        "/compte/creer", data={"csrf_token": client.csrf((await client.page("/compte/connexion")).text)}
    )
    clock.set(notice.opens_at - timedelta(seconds=1))
    assert "ouvriront le" in (await client.get("/compte/creer")).text
    assert await (await accounts_of(app)).count() == 0


async def test_activation_messages(client, app, mailbox, clock):
    """Replayed: « déjà activé »; tampered: « pas valable »; each with its own status."""
    await sign_up(client, app, "marc@exemple.fr")
    link = httpx.URL(mailbox.link("marc@exemple.fr", "/compte/activer/")).path
    await activate_from_mail(client, mailbox, "marc@exemple.fr")
    again = await client.post(link, data={"csrf_token": client.csrf()})
    assert again.status_code == 200 and "déjà activé" in again.text
    tampered = await client.get(link[:-3] + "abc")
    assert tampered.status_code == 400 and "n'est pas valable" in tampered.text


async def test_expired_activation_deletes_the_account_and_frees_the_email(client, app, mailbox, clock):
    """At 48 h 01 the link says « expiré »; the GET changes nothing, the POST deletes; signup works again."""
    await sign_up(client, app, "lent@exemple.fr")
    link = httpx.URL(mailbox.link("lent@exemple.fr", "/compte/activer/")).path
    clock.advance(hours=48, minutes=1)
    page = await client.page(link)
    assert page.status_code == 410 and "a expiré" in page.text
    assert await (await accounts_of(app)).by_email("lent@exemple.fr") is not None
    posted = await client.post(
        link, data={"csrf_token": client.csrf((await client.page("/compte/connexion")).text)}
    )
    assert posted.status_code == 410 and "Créer à nouveau mon compte" in posted.text
    assert await (await accounts_of(app)).by_email("lent@exemple.fr") is None
    mailbox.clear()
    await sign_up(client, app, "lent@exemple.fr")
    assert (await activate_from_mail(client, mailbox, "lent@exemple.fr")).status_code == 200


async def test_reset_token_on_activation_route_and_vice_versa(client, app, mailbox, candidate):
    """A reset link is invalid on /compte/activer and an activation link invalid on /compte/reinitialiser."""
    await sign_up(client, app, "autre@exemple.fr")
    activation = httpx.URL(mailbox.link("autre@exemple.fr", "/compte/activer/")).path
    await client.submit("/compte/mot-de-passe-oublie", {"email": candidate.email})
    await app.state.services.mail.drain()
    reset = httpx.URL(mailbox.link(candidate.email, "/compte/reinitialiser/")).path
    wrong = await client.get("/compte/activer/" + reset.rsplit("/", 1)[1])
    assert wrong.status_code == 400 and "n'est pas valable" in wrong.text
    wrong = await client.get("/compte/reinitialiser/" + activation.rsplit("/", 1)[1])
    assert wrong.status_code == 400 and "n'est pas valable" in wrong.text


async def test_resend_activation_mails_the_pending_account(client, app, mailbox):
    """« Renvoyer » mails a new working link to a pending account."""
    await sign_up(client, app, "oubli@exemple.fr")
    mailbox.clear()
    response = await client.submit("/compte/renvoyer-activation", {"email": "Oubli@Exemple.fr"})
    await app.state.services.mail.drain()
    assert response.status_code == 200 and "Vérifiez votre messagerie" in response.text
    assert len(mailbox.to("oubli@exemple.fr")) == 1
    assert "Votre compte est activé" in (await activate_from_mail(client, mailbox, "oubli@exemple.fr")).text


async def test_login_logout(client, app, candidate):
    """Good password: 303 to /espace; bad: one generic message; logout: back to anonymous."""
    bad = await log_in(client, candidate.email, "mauvais mot de passe !")
    assert bad.status_code == 400 and "Adresse électronique ou mot de passe incorrect" in bad.text
    unknown = await log_in(client, "inconnu@exemple.fr", "mauvais mot de passe !")
    assert unknown.status_code == 400 and unknown.text.count("incorrect") == bad.text.count("incorrect")
    ok = await log_in(client, candidate.email)
    assert ok.status_code == 303 and ok.headers["location"] == "/espace"
    assert (await client.get("/espace")).status_code == 200
    out = await client.submit("/compte/deconnexion", {}, form_page="/espace")
    assert out.status_code == 303 and "info=deconnexion" in out.headers["location"]
    assert (await client.get("/espace")).status_code == 303


async def test_login_of_a_pending_account_offers_the_resend(client, app):
    """The right password of a not-yet-activated account says so and offers a new activation link."""
    await sign_up(client, app, "attente@exemple.fr")
    response = await log_in(client, "attente@exemple.fr")
    assert response.status_code == 403
    assert "pas encore activé" in response.text and 'action="/compte/renvoyer-activation"' in response.text


async def test_login_comes_back_to_the_requested_page_only_locally(client, candidate):
    """/espace redirects to the login page and back; an off-site `suite` is ignored."""
    redirect = await client.get("/espace")
    assert redirect.headers["location"] == "/compte/connexion?suite=%2Fespace"
    html = (await client.page(redirect.headers["location"])).text
    response = await client.post(
        "/compte/connexion?suite=%2Fespace",
        data={"email": candidate.email, "password": candidate.password, "csrf_token": client.csrf(html)},
    )
    assert response.headers["location"] == "/espace"
    await client.submit("/compte/deconnexion", {}, form_page="/espace")
    for evil in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        response = await client.submit(
            f"/compte/connexion?suite={httpx.QueryParams({'x': evil})['x']}",
            {"email": candidate.email, "password": candidate.password},
            form_page="/compte/connexion",
        )
        assert response.headers["location"] == "/espace"
        await client.submit("/compte/deconnexion", {}, form_page="/espace")


async def test_password_reset_once_and_ends_sessions(client, app, mailbox, candidate, settings):
    """The reset link sets a new password once, ends every open session, then says « déjà servi »."""
    from account_helpers import make_client

    async with make_client(app, settings) as other:
        assert (await log_in(other, candidate.email)).status_code == 303
        await client.submit("/compte/mot-de-passe-oublie", {"email": candidate.email})
        await app.state.services.mail.drain()
        link = httpx.URL(mailbox.link(candidate.email, "/compte/reinitialiser/")).path
        form = await client.page(link)
        assert form.headers["referrer-policy"] == "no-referrer"
        weak = await client.post(
            link,
            data={
                "password": "motdepasse123",
                "password_confirm": "motdepasse123",
                "csrf_token": client.csrf(),
            },
        )
        assert weak.status_code == 400 and "trop courant" in weak.text
        done = await client.post(
            link,
            data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": client.csrf()},
        )
        assert done.status_code == 200 and "mot de passe est changé" in done.text
        assert (await other.get("/espace")).status_code == 303  # its session was ended
        again = await client.get(link)
        assert again.status_code == 400 and "déjà servi" in again.text
    assert (await log_in(client, candidate.email)).status_code == 400
    assert (await log_in(client, candidate.email, NEW_PASSWORD)).status_code == 303
    await app.state.services.mail.drain()
    assert "modifié" in mailbox.to(candidate.email)[-1]["Subject"]


async def test_reset_link_expires_after_one_hour(client, app, mailbox, candidate, clock):
    """At 1 h 01 the reset link answers « expiré » (410)."""
    await client.submit("/compte/mot-de-passe-oublie", {"email": candidate.email})
    await app.state.services.mail.drain()
    link = httpx.URL(mailbox.link(candidate.email, "/compte/reinitialiser/")).path
    clock.advance(hours=1, minutes=1)
    response = await client.get(link)
    assert response.status_code == 410 and "a expiré" in response.text


async def test_change_password_needs_the_current_one_and_ends_other_sessions(
    client, app, candidate, settings
):
    """A wrong current password is refused next to its field; a right one keeps this session, ends others."""
    from account_helpers import make_client

    assert (await client.get("/compte/mot-de-passe")).status_code == 303
    await log_in(client, candidate.email)
    async with make_client(app, settings) as other:
        await log_in(other, candidate.email)
        data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        wrong = await client.submit("/compte/mot-de-passe", data | {"current_password": "pas le bon du tout"})
        assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.text
        before = client.cookies.get("sid")
        ok = await client.submit("/compte/mot-de-passe", data | {"current_password": candidate.password})
        assert ok.status_code == 303 and ok.headers["location"] == "/espace?info=mot-de-passe"
        assert client.cookies.get("sid") != before
        assert "mot de passe a été modifié" in (await client.get(ok.headers["location"])).text
        assert (await other.get("/espace")).status_code == 303


async def test_head_requests_read_like_get_and_change_nothing(client, app):
    """HEAD on the account pages answers like GET (200), never as a failed form submission."""
    for path in ("/compte/creer", "/compte/connexion", "/compte/mot-de-passe-oublie"):
        response = await client.head(path)
        assert response.status_code == 200, path
    assert await app.state.services.store.accounts.count() == 0
