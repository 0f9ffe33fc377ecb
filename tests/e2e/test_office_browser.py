"""The office's side and the correction loop in a real Chromium: an administrateur (invited from
the command line's use case) enrols TOTP and logs in, invites a gestionnaire from « Équipe », who
enrols, logs in, finds a candidate's dossier, refuses a piece and asks for corrections; the
candidate gets the mail, replaces the piece after the closing date and confirms; the
gestionnaire accepts it, the dossier is complet, and the candidate downloads the attestation.
Every page met on the way passes axe-core (WCAG 2.x A/AA)."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pyotp
import pytest
from account_helpers import Mailbox, wait_until
from enrolment_forms import valid_enrolment_form
from upload_helpers import chunks, minimal_pdf, multipart

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live
from formservice.enrolment import rules
from formservice.review.states import State, state_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PASSWORD = "un mot de passe du bureau des examens"
CANDIDATE = "candidate.bureau@exemple.fr"


async def deposited_dossier(svc, email: str) -> str:
    """A candidate of the SAH pôle who saved, added every piece and clicked « J'ai fourni »."""
    from formservice.accounts.rules import activate, new_account

    now = svc.clock.now()
    account = new_account("c" * 32, email, await svc.hasher.hash(PASSWORD), now)
    await svc.store.accounts.create_if_email_free(account)
    account = await svc.store.accounts.update(account["id"], activate(now, svc.notice().activation_delay))
    notice = svc.notice()
    data = rules.read_form(valid_enrolment_form(notice, exam="BP", speciality="bp-coiffure"), notice).data
    current = (await svc.enrolment.save(account, None, data, 0, notice, now)).enrolment
    for document in rules.required_documents(notice, data):
        headers, parts = multipart("file", "t", minimal_pdf())
        await svc.enrolment.upload(
            account, current, document.id, headers, chunks(parts), lambda t: None, notice
        )
        current = await svc.enrolment.current(account["id"], notice)
    await svc.enrolment.complete(account, current, notice, svc.clock.now())
    return str(current["id"])


def test_the_office_enrols_logs_in_and_asks_for_a_correction(live: Live, mailbox: Mailbox) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Page, expect, sync_playwright

    axe = Axe()
    problems: dict[str, list[str]] = {}
    svc = live.app.state.services

    def check(page: Page, label: str) -> None:
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_A_AA}})
        problems[label] = [f"{v['id']}: {v['help']}" for v in results.response["violations"]]

    def enrol(page: Page, email: str, label: str) -> str:
        wait_until(lambda: bool(mailbox.to(email)), timeout=10)
        page.goto(mailbox.link(email, "/gestion/invitation/"))
        check(page, f"invitation ({label})")
        secret = page.locator("code.secret").inner_text().replace(" ", "")
        page.get_by_label("Mot de passe (12 caractères au moins)").fill(PASSWORD)
        page.get_by_label("Le même mot de passe, une seconde fois").fill(PASSWORD)
        page.get_by_label("Code à 6 chiffres affiché par l'application").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Activer mon accès").click()
        expect(page.locator("ol.recovery-codes li")).to_have_count(10)
        check(page, f"recovery codes ({label})")
        return secret

    def log_in(page: Page, email: str, secret: str, label: str) -> None:
        page.goto(live.base_url + "/gestion/connexion")
        page.get_by_label("Adresse électronique professionnelle").fill(email)
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Continuer").click()
        code = page.get_by_label("Code")
        expect(code).to_have_attribute("autocomplete", "one-time-code")
        check(page, f"code step ({label})")
        code.fill(pyotp.TOTP(secret).at(time.time() + 30))  # the next step: the enrolment used this one
        page.get_by_role("button", name="Me connecter").click()
        page.wait_for_url(live.base_url + "/gestion/")

    def mail_with(text: str) -> list:
        return [m for m in mailbox.to(CANDIDATE) if text in Mailbox.text(m)]

    dossier_id = live.call(deposited_dossier(svc, CANDIDATE))
    live.call(svc.staff.invite("chef@ac-poitiers.fr", "administrateur", []))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR").new_page()
            secret = enrol(admin, "chef@ac-poitiers.fr", "administrateur")
            log_in(admin, "chef@ac-poitiers.fr", secret, "administrateur")
            check(admin, "dashboard")
            admin.get_by_role("link", name="Statistiques").click()
            check(admin, "statistics")
            admin.get_by_role("link", name="Courriels").click()
            check(admin, "failed mails")
            admin.get_by_role("link", name="Équipe").click()
            check(admin, "team")
            admin.get_by_label("Adresse électronique professionnelle").fill("gestion.sah@ac-poitiers.fr")
            admin.get_by_label("Gestionnaire d'un ou plusieurs pôles").check()
            admin.get_by_label(svc.notice().pole("sah").name).check()
            admin.get_by_role("button", name="Envoyer l'invitation").click()
            expect(admin.get_by_role("status")).to_contain_text("L'invitation est envoyée")
            admin.get_by_role("link", name="Exports").click()
            check(admin, "exports")
            admin.get_by_label("Classeur Excel (XLSX)").check()
            with admin.expect_download() as download:
                admin.get_by_role("button", name="Télécharger").click()
            assert download.value.suggested_filename.endswith(".xlsx")
            sheet = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).active
            number = live.call(svc.review.get(dossier_id))["number"]
            assert sheet.max_row == 2 and sheet["A2"].value == number  # the header, the dossier

            office = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR").new_page()
            other = enrol(office, "gestion.sah@ac-poitiers.fr", "gestionnaire")
            log_in(office, "gestion.sah@ac-poitiers.fr", other, "gestionnaire")
            office.get_by_role("link", name="Dossiers", exact=True).click()
            office.get_by_label("Nom, e-mail ou numéro d'inscription").fill("durand")
            office.get_by_role("button", name="Filtrer").click()
            check(office, "dossier list")
            office.get_by_role("link", name=re.compile("DURAND")).click()
            office.get_by_role("button", name="Commencer la vérification").click()
            check(office, "dossier")
            notice = svc.notice()
            first = rules.required_documents(notice, live.call(svc.review.get(dossier_id))["data"])[0]
            piece = office.locator(f"#piece-{first.id}")
            piece.get_by_label("Non conforme", exact=True).check()
            piece.get_by_label("Motif (si non conforme)").select_option(notice.review.refusal_reasons[0].id)
            piece.get_by_label("Message au candidat (facultatif)").fill("Le verso manque.")
            piece.get_by_role("button", name="Enregistrer la décision").click()
            office.get_by_role("button", name="Demander les corrections au candidat").click()
            expect(office.get_by_role("status")).to_contain_text("corrections est envoyée")
            office.locator(f"#piece-{first.id} a").first.click()
            check(office, "piece view")

            # The candidate's half, after the closing date: only the correction deadline holds.
            wait_until(lambda: bool(mail_with("Le verso manque.")), timeout=10)
            live.close_registration(datetime.now(ZoneInfo("Europe/Paris")) - timedelta(hours=1))
            candidate = browser.new_context(viewport={"width": 375, "height": 740}, locale="fr-FR").new_page()
            candidate.goto(live.base_url + "/compte/connexion")
            candidate.get_by_label("Adresse électronique").fill(CANDIDATE)
            candidate.get_by_label("Mot de passe").fill(PASSWORD)
            candidate.get_by_role("button", name="Se connecter").click()
            candidate.wait_for_url(live.base_url + "/espace")
            candidate.goto(mailbox.links(mail_with("Le verso manque.")[0])[0])  # the mail's link
            refused = candidate.locator(f"#piece-{first.id}")
            expect(refused).to_contain_text("Le verso manque.")
            check(candidate, "candidate: pieces to correct")
            refused.locator("input[type=file]").set_input_files(
                files=[{"name": "verso.pdf", "mimeType": "application/pdf", "buffer": minimal_pdf()}]
            )
            refused.get_by_role("button", name="Ajouter", exact=True).click()
            expect(candidate.locator(f"#piece-{first.id}")).to_contain_text("verso.pdf")
            candidate.get_by_role("button", name="J'ai effectué les corrections demandées").click()
            wait_until(lambda: state_of(live.call(svc.review.get(dossier_id))) is State.EN_VERIFICATION)

            office.goto(f"{live.base_url}/gestion/dossiers/{dossier_id}")
            expect(office.locator(f"#piece-{first.id}")).to_contain_text("verso.pdf")
            for document in rules.required_documents(notice, live.call(svc.review.get(dossier_id))["data"]):
                each = office.locator(f"#piece-{document.id}")  # the replaced one, and those not decided
                each.get_by_label("Conforme", exact=True).check()
                each.get_by_role("button", name="Enregistrer la décision").click()
                expect(office.get_by_role("status")).to_contain_text("décision sur la pièce est enregistrée")
            office.get_by_role("button", name="Valider le dossier (inscription définitive)").click()
            expect(office.get_by_role("status")).to_contain_text("Le dossier est complet")
            assert state_of(live.call(svc.review.get(dossier_id))) is State.COMPLET

            candidate.goto(live.base_url + "/espace/documents")
            check(candidate, "candidate: documents with the attestation")
            with candidate.expect_download() as download:
                candidate.locator("a[href$='/attestation/pdf']").click()
            attestation = download.value.path().read_bytes()
            assert attestation.startswith(b"%PDF")
            assert download.value.suggested_filename.endswith(".pdf")
        finally:
            browser.close()
    wait_until(lambda: bool(mail_with("est définitive")))  # the candidate is told, by mail too
    assert {label: found for label, found in problems.items() if found} == {}
    # invitation, codes and code step twice; dashboard, statistics, failed mails, team, exports, list,
    # dossier, piece; the candidate's pieces to correct and documents
    assert len(problems) == 16
