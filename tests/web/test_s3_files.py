"""The candidates' files in S3 (a real SeaweedFS), through the pages: a candidate uploads, the
office looks at the piece (a PDF drawn as pictures, the original downloaded), the candidate
downloads then removes it; and an upload while the object store is frozen is refused in French,
with nothing recorded and nothing left in the bucket."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from account_helpers import Candidate, Client, activate_from_mail, log_in, make_client, sign_up
from s3_helpers import SeaweedFS
from staff_helpers import enrol_staff, staff_login
from starlette.applications import Starlette
from upload_helpers import minimal_pdf

from formservice.clock import FrozenClock
from formservice.enrolment.rules import required_documents
from formservice.settings import Settings
from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app

from .candidate.test_enrolment import enrol_form, save, upload

pytestmark = pytest.mark.anyio


@pytest.fixture
def s3_settings(settings: Settings, seaweedfs: SeaweedFS, s3_prefix: str) -> Settings:
    return settings.with_(files=seaweedfs.files_config(s3_prefix, timeout=1.0, attempts=1))


@pytest.fixture
async def s3_app(s3_settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    application = create_app(s3_settings, engine=MemoryEngine(), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def candidate_with_enrolment(app: Starlette, client: Client, mailbox, email: str) -> Candidate:
    await sign_up(client, app, email)
    await activate_from_mail(client, mailbox, email)
    account = await app.state.services.store.accounts.by_email(email)
    assert (await log_in(client, email)).status_code == 303
    await save(client, app.state.services.notice())
    return Candidate(email=email, password="", account_id=account["id"])


async def test_upload_look_download_remove_with_s3(
    s3_app: Starlette, s3_settings: Settings, mailbox, clock, seaweedfs: SeaweedFS, s3_prefix: str
) -> None:
    """The whole life of a piece in the bucket: stored at the upload (one object, nothing in the
    local uploads folder), drawn and downloaded by the office, downloaded by its owner, gone
    from the bucket once removed."""
    app, settings = s3_app, s3_settings
    notice = app.state.services.notice()
    pdf = minimal_pdf()
    async with make_client(app, settings) as client, make_client(app, settings) as office:
        candidate = await candidate_with_enrolment(app, client, mailbox, "s3@exemple.fr")
        document = required_documents(notice, enrol_form(notice))[0]
        assert (await upload(client, document.id, "scan.pdf", pdf)).status_code == 303
        (enrolment,) = await app.state.services.store.enrolments.for_account(candidate.account_id)
        meta = enrolment["files"][0]
        assert seaweedfs.keys(s3_prefix) == [f"{s3_prefix}/{candidate.account_id}/{meta['stored_name']}"]
        assert meta["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.rglob("*.pdf"))

        secret = await enrol_staff(app, office, mailbox, clock, "s3@ac-poitiers.fr", "administrateur", [])
        await staff_login(office, clock, "s3@ac-poitiers.fr", secret)
        base = f"/gestion/dossiers/{enrolment['id']}/fichiers/{meta['id']}"
        shown = await office.get(f"{base}/voir")
        assert shown.status_code == 200 and f"{base}/pages/0" in shown.text
        picture = await office.get(f"{base}/pages/0")
        assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
        original = await office.get(base)
        assert original.status_code == 200 and original.content == pdf
        assert original.headers["cache-control"] == "private, no-store"

        mine = await client.get(f"/espace/justificatifs/fichier/{meta['id']}")
        assert mine.status_code == 200 and mine.content == pdf
        assert mine.headers["content-disposition"] == 'attachment; filename="scan.pdf"'
        assert (await office.get(f"/espace/justificatifs/fichier/{meta['id']}")).status_code in (303, 404)

        page = await client.page("/espace/justificatifs")
        removed = await client.post(
            f"/espace/justificatifs/fichier/{meta['id']}/supprimer",
            data={"csrf_token": client.csrf(page.text)},
        )
        assert removed.status_code == 303
        assert seaweedfs.keys(s3_prefix) == []
        assert (await client.get(f"/espace/justificatifs/fichier/{meta['id']}")).status_code == 404
    assert list(settings.tmp_dir.iterdir()) == []  # nothing left on its way to or from S3


@pytest.mark.slow
async def test_an_upload_while_the_store_is_frozen_is_refused_and_nothing_recorded(
    s3_app: Starlette, s3_settings: Settings, mailbox, seaweedfs: SeaweedFS, s3_prefix: str
) -> None:
    """SeaweedFS stopped (SIGSTOP) during the upload: the candidate reads that the file was not
    recorded and to try again, the dossier has no file, nothing is left on the local disk nor as
    an upload in progress (a PUT the server finishes late is an orphan: tests/files/test_s3.py)."""
    app, settings = s3_app, s3_settings
    notice = app.state.services.notice()
    async with make_client(app, settings) as client:
        candidate = await candidate_with_enrolment(app, client, mailbox, "gel@exemple.fr")
        document = required_documents(notice, enrol_form(notice))[0]
        seaweedfs.freeze()
        try:
            refused = await upload(client, document.id, "scan.pdf", minimal_pdf())
        finally:
            seaweedfs.thaw()
        assert refused.status_code == 503
        assert "Votre fichier n&#39;a pas été enregistré" in refused.text
        assert "déposez-le de nouveau" in refused.text
        (enrolment,) = await app.state.services.store.enrolments.for_account(candidate.account_id)
        assert enrolment.get("files", []) == []
        page = await client.page("/espace/justificatifs")
        assert page.status_code == 200
    assert list(settings.tmp_dir.iterdir()) == []
    assert seaweedfs.uploads_in_progress(s3_prefix) == []


@pytest.mark.slow
async def test_a_download_while_the_store_is_down_is_a_french_503(
    s3_app: Starlette, s3_settings: Settings, mailbox, seaweedfs: SeaweedFS
) -> None:
    """The file is recorded but the store does not answer: « momentanément inaccessibles », 503."""
    app, settings = s3_app, s3_settings
    notice = app.state.services.notice()
    async with make_client(app, settings) as client:
        candidate = await candidate_with_enrolment(app, client, mailbox, "panne@exemple.fr")
        document = required_documents(notice, enrol_form(notice))[0]
        assert (await upload(client, document.id, "scan.pdf", minimal_pdf())).status_code == 303
        (enrolment,) = await app.state.services.store.enrolments.for_account(candidate.account_id)
        seaweedfs.freeze()
        try:
            answer = await client.get(f"/espace/justificatifs/fichier/{enrolment['files'][0]['id']}")
        finally:
            seaweedfs.thaw()
        assert answer.status_code == 503 and "momentanément inaccessibles" in answer.text
