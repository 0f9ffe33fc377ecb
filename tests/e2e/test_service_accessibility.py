"""The service's own pages pass axe-core (WCAG 2.x A/AA) and fit a phone, errors shown included."""

from __future__ import annotations

from pathlib import Path

import pytest
from account_helpers import Mailbox, wait_until

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live, activate_and_log_in, fill_signup
from formservice.enrolment.form import STATUSES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]

WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PASSWORD = "un mot de passe pour axe-core"
EMAIL = "accessible@exemple.fr"


def test_service_pages_have_no_wcag_violation_on_a_phone(live: Live, mailbox: Mailbox) -> None:
    """Every page a candidate meets, with and without errors, and the office's login pages, have no
    axe violation nor sideways scroll."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Page, sync_playwright

    axe = Axe()
    checked: dict[str, list[str]] = {}

    def check(page: Page, label: str) -> None:
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_A_AA}})
        problems = [f"{v['id']}: {v['help']}" for v in results.response["violations"]]
        fits = page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        checked[label] = problems + ([] if fits else ["horizontal scrolling"])

    base = live.base_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 360, "height": 780}, locale="fr-FR")
            page = context.new_page()
            page.goto(base + "/compte/creer")
            check(page, "signup")
            page.get_by_role("button", name="Créer mon compte").click()
            check(page, "signup with errors")
            page.goto(base + "/compte/connexion")
            check(page, "login")
            page.goto(base + "/compte/mot-de-passe-oublie")
            check(page, "forgotten password")
            page.goto(base + "/gestion/connexion")
            check(page, "staff login")
            page.get_by_role("button", name="Continuer").click()
            check(page, "staff login with errors")
            page.goto(base + "/gestion/invitation/lien-invalide")
            check(page, "staff invitation unusable")

            page.goto(base + "/compte/creer")
            fill_signup(page, EMAIL, PASSWORD)
            wait_until(lambda: bool(mailbox.to(EMAIL)), timeout=10)
            page.goto(mailbox.link(EMAIL, "/compte/activer/"))
            check(page, "activation")
            activate_and_log_in(page, base, mailbox, EMAIL, PASSWORD)
            check(page, "space")

            page.goto(base + "/espace/inscription")
            check(page, "enrolment form")
            page.get_by_role("button", name="Enregistrer").click()
            check(page, "enrolment form with errors")
            notice = live.notice()
            exam = notice.exams[0]
            page.get_by_label("Examen").select_option(exam.id)
            page.get_by_label("Spécialité").select_option(exam.specialities[0].id)
            page.get_by_label(STATUSES["individuel"]).check()
            page.get_by_label("Nom de naissance").fill("Bernard")
            page.get_by_label("Prénoms").fill("Inès")
            page.get_by_label("Date de naissance").fill("1985-04-12")
            page.get_by_label("Lieu de naissance").fill("Angoulême (16)")
            page.get_by_label("Adresse", exact=True).fill("1 rue Neuve")
            page.get_by_label("Code postal").fill("16000")
            page.get_by_label("Commune").fill("Angoulême")
            page.get_by_label("Téléphone").fill("0545000000")
            page.get_by_role("button", name="Enregistrer").click()
            page.wait_for_url("**/espace/inscription?info=*")
            check(page, "enrolment saved")
            for label, path in (
                ("documents", "/espace/documents"),
                ("uploads", "/espace/justificatifs"),
                ("address change", "/espace/changement-adresse"),
                ("printable summary", "/espace/documents/recapitulatif"),
                ("my data", "/espace/mes-donnees"),
                ("privacy", "/compte/donnees-personnelles"),
            ):
                page.goto(base + path)
                check(page, label)
        finally:
            browser.close()
    assert {label: problems for label, problems in checked.items() if problems} == {}
    assert len(checked) == 18
