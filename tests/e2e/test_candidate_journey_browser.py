"""The candidate's journey as an anxious candidate on a 375 px phone sees it, in a real Chromium:
every message where the eye is (the error summary and each piece's message focused and in the
viewport), nothing irreversible by surprise (a confirmation before « Supprimer » and before « J'ai
fourni toutes mes pièces », the enrolment still editable after it), the récapitulatif one tagged
PDF page, and axe-core finding nothing on any of the new pages."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from account_helpers import Mailbox
from enrolment_forms import birth_date_for_age

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live, activate_and_log_in, fill_signup
from e2e.test_enrolment_browser import attachment
from e2e.test_service_accessibility import WCAG_A_AA
from formservice.enrolment import rules

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, ViewportSize

PHONE: ViewportSize = {"width": 375, "height": 667}
EMAIL = "candidate.inquiete@exemple.fr"
PASSWORD = "une phrase de passe pour un téléphone étroit"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils is not installed"),
]


def focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def in_viewport(page: Page, locator: Locator) -> bool:
    """Entirely inside the screen as the candidate sees it, without scrolling."""
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


class Checked:
    """axe-core (WCAG A/AA) and no sideways scrolling, page by page."""

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.problems: dict[str, list[str]] = {}

    def __call__(self, page: Page, label: str) -> None:
        results = self.axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_A_AA}})
        problems = [f"{v['id']}: {v['help']}" for v in results.response["violations"]]
        if page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth"):
            problems.append("horizontal scrolling")
        self.problems[label] = problems


def fill_enrolment(page: Page, notice: Any, birth: str) -> None:
    labels = rules.LABELS
    exam = next(e for e in notice.exams if e.id == "BP")
    page.get_by_label(labels["exam"], exact=True).select_option(exam.id)
    page.get_by_label(labels["speciality"], exact=True).select_option(exam.specialities[0].id)
    page.get_by_label(rules.STATUSES["individuel"]).check()
    page.get_by_label(labels["last_name"], exact=True).fill("Martin")
    page.get_by_label(labels["first_names"], exact=True).fill("Anaïs")
    page.get_by_label(labels["birth_date"], exact=True).fill(birth)
    page.get_by_label(labels["birth_place"], exact=True).fill("Niort (79)")
    page.get_by_label(labels["address"], exact=True).fill("5 rue Ricard")
    page.get_by_label(labels["postal_code"], exact=True).fill("79000")
    page.get_by_label(labels["city"], exact=True).fill("Niort")
    page.get_by_label(labels["phone"], exact=True).fill("06 11 22 33 44")


def test_the_candidate_journey_on_a_375_px_phone(live: Live, mailbox: Mailbox, tmp_path: Path) -> None:
    """From an empty form to the pieces validated, then changed again, on a small phone."""
    from playwright.sync_api import expect, sync_playwright

    notice = live.notice()
    check = Checked()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, locale="fr-FR", accept_downloads=True
            )
            context.set_default_timeout(10_000)
            page = context.new_page()
            csp: list[str] = []
            page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
            base = live.base_url
            page.goto(base + "/compte/creer")
            fill_signup(page, EMAIL, PASSWORD)
            activate_and_log_in(page, base, mailbox, EMAIL, PASSWORD)

            enrol_form_errors(page, base, notice, check)
            young = birth_date_for_age(notice, 20)
            fill_enrolment(page, notice, young)
            page.get_by_role("button", name="Enregistrer").click()
            expect(page.get_by_text("Étape suivante : déposez vos pièces.")).to_be_visible()
            check(page, "enrolment saved: the next step")
            page.get_by_role("link", name="Déposer mes pièces").click()
            required = rules.required_documents(
                notice, {"exam": "BP", "birth_date": young, "status": "individuel"}
            )
            uploads_on_a_phone(page, live, required, check)
            final_click_confirmed(page, required, check)
            still_editable(page, notice, required, check)

            page.get_by_role("navigation", name="Mon inscription").get_by_role(
                "link", name="Mes documents"
            ).click()
            summary = page.locator("li.card", has=page.get_by_role("heading", name=notice.downloads[0].name))
            with page.expect_download() as download:
                summary.get_by_role("link", name="Télécharger le PDF").click()
            info = pdfinfo(Path(download.value.path()))
            assert info["Tagged"] == "yes" and info["Pages"] == "1", info

            page.get_by_role("link", name="Mentions légales").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Mentions légales")
            check(page, "mentions légales")
            status = notice.legal.accessibility.status
            page.get_by_role("link", name=f"Accessibilité : {status}").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Déclaration d'accessibilité")
            check(page, "déclaration d'accessibilité")
            assert not csp, csp
        finally:
            browser.close()
    assert {label: p for label, p in check.problems.items() if p} == {}
    assert len(check.problems) == 9


def enrol_form_errors(page: Page, base: str, notice: Any, check: Checked) -> None:
    """An empty « Enregistrer »: the summary takes the focus, in sight; each link puts the focus
    in its field (the first radio for the situation); specialities follow the exam; the
    accommodation reason appears only when asked."""
    from playwright.sync_api import expect

    labels = rules.LABELS
    page.goto(base + "/espace/inscription")
    page.get_by_role("button", name="Enregistrer").click()
    summary = page.locator("#erreurs")
    expect(summary).to_be_focused()
    assert in_viewport(page, page.locator("#erreurs-titre"))
    expect(summary).to_contain_text("Indiquez votre nom de naissance.")
    check(page, "enrolment form: errors")
    summary.get_by_role("link", name=f"{labels['last_name']} :").click()
    assert focused_id(page) == "last_name"
    label = page.locator("label[for=last_name]")
    assert in_viewport(page, label), label.bounding_box()
    page.locator("#erreurs").scroll_into_view_if_needed()
    summary.get_by_role("link", name=f"{labels['status']} :").click()
    assert focused_id(page) == "status-individuel"
    radio = page.get_by_label(rules.STATUSES["individuel"])
    expect(radio).to_have_attribute("aria-invalid", "true")
    expect(radio).to_have_attribute("aria-describedby", "status-error")

    exam = next(e for e in notice.exams if e.id == "BP")
    page.get_by_label(labels["exam"], exact=True).select_option(exam.id)
    shown = page.evaluate(
        """[...document.querySelectorAll('#speciality optgroup')]
             .filter(g => !g.hidden && !g.disabled).map(g => g.dataset.exam)"""
    )
    assert shown == [exam.id], shown
    reason = page.get_by_label(labels["accommodation_reason"], exact=True)
    expect(reason).to_be_hidden()
    page.get_by_label("Je demande des aménagements d'épreuves").check()
    expect(reason).to_be_visible()
    page.get_by_label("Je demande des aménagements d'épreuves").uncheck()
    expect(page.get_by_label(labels["postal_code"], exact=True)).to_have_attribute("inputmode", "numeric")


def uploads_on_a_phone(page: Page, live: Live, required: list[Any], check: Checked) -> None:
    """A file chosen but not sent is pointed out; a refused file's message is focused inside the
    screen, and a reload sends nothing again; « Supprimer » asks first."""
    from playwright.sync_api import expect

    first, last = required[0], required[-1]
    page.locator(f"#piece-{first.id}").get_by_label("Ajouter un fichier").set_input_files(
        attachment(0, first.id)
    )
    expect(page.locator(f"#piece-{first.id} .upload-form__pending")).to_contain_text(
        "n'est pas encore envoyé"
    )
    page.reload()  # the chosen file is forgotten: the page says nothing more (nothing was sent)

    section = page.locator(f"#piece-{last.id}")
    section.get_by_label("Ajouter un fichier").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": b"ce n'est pas une image"}
    )
    section.get_by_role("button", name="Ajouter", exact=True).click()
    message = page.locator(f"#message-{last.id}")
    expect(message).to_be_focused()
    expect(message).to_contain_text("photo.png")
    assert in_viewport(page, message), message.bounding_box()
    check(page, "uploads: a refused file")
    methods: list[str] = []
    page.on("request", lambda r: methods.append(r.method) if r.resource_type == "document" else None)
    page.reload()
    expect(page.locator(f"#message-{last.id}")).to_contain_text("photo.png")
    assert methods == ["GET"], methods
    assert live.uploads() == []

    for i, doc in enumerate(required):
        piece = page.locator(f"#piece-{doc.id}")
        piece.get_by_label("Ajouter un fichier").set_input_files(attachment(i, doc.id))
        piece.get_by_role("button", name="Ajouter", exact=True).click()
        expect(page.locator(f"#message-{doc.id}")).to_be_focused()
        assert in_viewport(page, page.locator(f"#message-{doc.id}"))
    page.locator(f"#piece-{first.id}").get_by_role("link", name="Supprimer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Supprimer ce fichier ?")
    check(page, "remove: confirmation")
    page.get_by_role("link", name="Non, le garder").click()
    assert len(live.uploads()) == len(required)
    page.locator(f"#piece-{first.id}").get_by_role("link", name="Supprimer").click()
    page.get_by_role("button", name="Oui, supprimer ce fichier").click()
    expect(page.locator(f"#message-{first.id}")).to_have_text("Le fichier a été supprimé.")
    expect(page.locator(f"#message-{first.id}")).to_be_focused()
    piece = page.locator(f"#piece-{first.id}")
    piece.get_by_label("Ajouter un fichier").set_input_files(attachment(0, first.id))
    piece.get_by_role("button", name="Ajouter", exact=True).click()
    expect(page.locator(f"#message-{first.id}")).to_have_text("Le fichier a été ajouté.")


def final_click_confirmed(page: Page, required: list[Any], check: Checked) -> None:
    """« J'ai fourni toutes mes pièces » shows what is sent and what can still change, then asks."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="J'ai fourni toutes mes pièces").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer l'envoi de mes pièces")
    for doc in required:
        expect(page.locator(".confirm-files")).to_contain_text(doc.name)
    expect(page.get_by_role("heading", name="Vous pourrez encore")).to_be_visible()
    expect(page.get_by_role("heading", name="Vous ne pourrez plus")).to_be_visible()
    check(page, "« J'ai fourni toutes mes pièces »: confirmation")
    page.get_by_role("button", name="Je confirme : j'ai fourni toutes mes pièces").click()
    expect(page.get_by_role("status").filter(has_text="vous avez fourni toutes vos pièces")).to_have_count(1)
    expect(page.get_by_role("button", name="Modifier mes pièces")).to_be_visible()
    check(page, "uploads: deposited")


def still_editable(page: Page, notice: Any, required: list[Any], check: Checked) -> None:
    """After the final click « M'inscrire » still saves; an older birth date, which no longer asks
    for the age-dependent piece, reopens the deposit and shows its file apart."""
    from playwright.sync_api import expect

    tabs = page.get_by_role("navigation", name="Mon inscription")
    tabs.get_by_role("link", name="M'inscrire").click()
    page.get_by_label(rules.LABELS["phone"], exact=True).fill("06 99 88 77 66")
    page.get_by_role("button", name="Enregistrer").click()
    expect(
        page.get_by_text("Vos pièces restent déposées : vous n'avez rien d'autre à faire.")
    ).to_be_visible()
    older = date.fromisoformat(birth_date_for_age(notice, 40)).isoformat()
    page.get_by_label(rules.LABELS["birth_date"], exact=True).fill(older)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("le dépôt de vos pièces est rouvert")).to_be_visible()
    expect(page.get_by_text("Étape suivante : validez l'envoi de vos pièces.")).to_be_visible()
    page.get_by_role("link", name="Valider mes pièces").click()
    expect(page.locator("#pieces-plus-demandees")).to_be_visible()
    check(page, "uploads: a piece no longer asked")
    assert len(required) == len(rules.required_documents(notice, {"exam": "BP", "birth_date": older})) + 1
