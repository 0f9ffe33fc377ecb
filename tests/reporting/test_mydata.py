"""The candidates' data rights: « Mes données » hands a candidate everything held about them (and
only them), and the page « Données personnelles » says what notice.yml says."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import httpx
import pytest
from account_helpers import log_in, make_client
from s3_helpers import FILE_STORES, SeaweedFS, stored_bytes
from staff_helpers import dossier

from formservice.typography import french_text

pytestmark = pytest.mark.anyio


async def activate(client, mailbox, email: str) -> None:
    """Through the link of the first mail (the later ones are the enrolment's)."""
    link = next(x for x in mailbox.links(mailbox.to(email)[0]) if "/compte/activer/" in x)
    path = httpx.URL(link).path
    await client.page(path)
    assert (await client.post(path, data={"csrf_token": client.csrf()})).status_code == 200


async def my_data_of(app, settings, mailbox, *, frozen: SeaweedFS | None = None):
    """« moi »'s download of « Mes données » (with « autre » also enrolled); the file store
    frozen (SIGSTOP) during the download if ``frozen``. Returns the answer and « moi »'s dossier."""
    async with make_client(app, settings) as me, make_client(app, settings) as other:
        mine = await dossier(app, me, "moi@exemple.fr", "bp-coiffure", deposit=True, last_name="Lefèvre")
        await dossier(app, other, "autre@exemple.fr", "bp-coiffure", deposit=True, last_name="Autre")
        await activate(me, mailbox, "moi@exemple.fr")
        assert (await log_in(me, "moi@exemple.fr")).status_code == 303
        page = await me.page("/espace/mes-donnees")
        assert page.status_code == 200 and "Télécharger mes données" in page.text
        if frozen:
            frozen.freeze()
        try:
            response = await me.post("/espace/mes-donnees", data={"csrf_token": me.csrf()})
        finally:
            if frozen:
                frozen.thaw()
    return response, mine


@pytest.mark.parametrize("settings", FILE_STORES, indirect=True)
async def test_my_data_is_everything_held_about_me(app, settings, mailbox):
    """The ZIP holds the account, the enrolment with its versions and pieces, and each file
    deposited (same bytes as stored, on the disk or in the bucket); no password hash; another
    candidate's data never."""
    response, mine = await my_data_of(app, settings, mailbox)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    body = json.loads(archive.read("mes-donnees.json"))
    assert body["compte"]["adresse électronique"] == "moi@exemple.fr"
    (enrolment,) = body["inscriptions"]
    assert enrolment["numéro d'inscription"] == mine
    assert enrolment["inscription"]["Nom de naissance"] == "Lefèvre" and enrolment["état"] == "Déposé"
    assert enrolment["versions"] and enrolment["pièces et décisions"]
    doc = await app.state.services.review.get(mine)
    assert len(enrolment["fichiers"]) == len(doc["files"]) > 0
    for listed, meta in zip(enrolment["fichiers"], doc["files"], strict=True):
        content = archive.read(listed["fichier"])
        assert hashlib.sha256(content).hexdigest() == listed["sha256"] == meta["sha256"]
        assert content == stored_bytes(settings, doc["account_id"], meta["stored_name"])
    text = json.dumps(body, ensure_ascii=False)
    assert "argon2" not in text and "Autre" not in text and "autre@exemple.fr" not in text
    events = [json.loads(line) for line in settings.audit_path.read_text().splitlines()]
    assert any(e["event"] == "account.data_exported" for e in events)


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["s3"], indirect=True)
async def test_my_data_while_the_store_is_frozen_is_a_french_503(app, settings, mailbox, seaweedfs):
    """SeaweedFS stopped (SIGSTOP): the candidate reads that their documents are momentarily out
    of reach, on a page, instead of getting half an archive."""
    response, _mine = await my_data_of(app, settings, mailbox, frozen=seaweedfs)
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    assert "momentanément inaccessibles" in response.text


async def test_my_data_needs_a_login(client):
    assert (await client.get("/espace/mes-donnees")).status_code in (302, 303)


async def test_the_privacy_page_says_what_notice_yml_says(client, notice_path, notice):
    """Categories (the health-related one marked), legal bases, retention with its date, the
    pôles, the DPO and the complaint authority: all read from notice.yml, an edit shows."""
    page = (await client.get("/compte/donnees-personnelles")).text
    privacy = notice.privacy
    for category in privacy.categories:
        assert category.name.replace("'", "&#39;") in page
    assert "(donnée de santé)" in page
    assert privacy.dpo.email in page and privacy.complaint_url in page
    assert french_text(f"{notice.retention.months} mois") in page and "31 juillet 2027" in page
    assert all(p.name in page for p in notice.poles)
    edited = notice_path.read_text().replace(privacy.dpo.email, "protection.donnees@ac-poitiers.fr")
    notice_path.write_text(edited)
    assert "protection.donnees@ac-poitiers.fr" in (await client.get("/compte/donnees-personnelles")).text
