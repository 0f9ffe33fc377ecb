"""End to end in a real Chromium on a phone-sized screen: the whole enrolment of the notice, then
the closing date edited into the past in the served notice.yml, without restarting the server."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from account_helpers import Mailbox, wait_until
from enrolment_forms import birth_date_for_age, valid_enrolment_form

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Live, activate_and_log_in, fill_signup
from formservice.enrolment import rules
from formservice.frenchdates import datetime_fr

if TYPE_CHECKING:
    from playwright.sync_api import FilePayload, ViewportSize

PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "une phrase de passe pour le téléphone"
EMAIL = "candidate.mobile@exemple.fr"
SHA256_RE = re.compile(r"SHA-256 ([0-9a-f]{64})")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


# -- files a candidate would pick on their phone --------------------------------------------------


def scan_pdf(title: str) -> bytes:
    """A one-page PDF with a line of text, as a scanner app would make."""
    from pypdf import PdfWriter
    from pypdf.generic import ContentStream, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    content = ContentStream(None, writer)
    content.set_data(f"BT /F1 24 Tf 72 760 Td ({title}) Tj ET".encode("latin-1"))
    page.replace_contents(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def photo(kind: str, seed: int) -> bytes:
    """A phone photo of a document (PNG or JPEG), with EXIF as phones write it."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (900, 600), (245, 245, 240))
    draw = ImageDraw.Draw(im)
    draw.rectangle((40, 40, 860, 560), outline=(20, 20, 120), width=6)
    for i in range(8):
        draw.line((80, 120 + 50 * i, 820 - 30 * ((i + seed) % 5), 120 + 50 * i), fill=(60, 60, 60), width=5)
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Phone maker"  # Make
    im.save(out, kind, exif=exif.tobytes(), **({"quality": 85} if kind == "JPEG" else {}))
    return out.getvalue()


def attachment(index: int, doc_id: str) -> FilePayload:
    """Alternately a PDF and a photo (PNG, then JPEG), as Playwright's file payload."""
    if index % 2 == 0:
        return {"name": f"{doc_id}.pdf", "mimeType": "application/pdf", "buffer": scan_pdf(doc_id)}
    if index % 4 == 1:
        return {"name": f"photo-{doc_id}.png", "mimeType": "image/png", "buffer": photo("PNG", index)}
    return {"name": f"IMG_{index:04d}.jpg", "mimeType": "image/jpeg", "buffer": photo("JPEG", index)}


# -- mails ----------------------------------------------------------------------------------------


def mail(mailbox: Mailbox, to: str, subject: str, count: int = 1) -> EmailMessage:
    """The latest mail to `to` whose subject starts with `subject`, once `count` such mails arrived."""

    def matching() -> list[EmailMessage]:
        return [m for m in mailbox.to(to) if str(m["Subject"]).startswith(subject)]

    wait_until(lambda: len(matching()) >= count, timeout=10)
    return matching()[-1]


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# -- the journey ----------------------------------------------------------------------------------


def test_enrolment_on_a_phone_then_the_deadline_moved_into_the_past(live: Live, mailbox: Mailbox) -> None:
    """Every step of the notice on a phone; a closing date edited into the past then refuses writes."""
    from PIL import Image
    from playwright.sync_api import Page, expect, sync_playwright
    from pypdf import PdfReader

    notice = live.notice()
    exam = next(e for e in notice.exams if e.id == "BP")
    speciality = exam.specialities[0]
    pole = notice.pole(speciality.pole)
    assert pole is not None
    # Young enough for the JDC certificate: the list of pieces is computed, never asked.
    birth = date.fromisoformat(birth_date_for_age(notice, 20))
    data = valid_enrolment_form(notice, exam=exam.id, birth_date=birth.isoformat())
    required = rules.required_documents(notice, data)
    assert len(required) >= 3
    labels = rules.LABELS

    def said(page: Page, text: str) -> None:
        """A message in a status region (pages may have several: info, still missing...)."""
        expect(page.get_by_role("status").filter(has_text=text)).to_have_count(1)

    def fits_the_phone(page: Page) -> None:
        """No sideways scrolling, and every tab of the space in sight (none scrolled off the edge)."""
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (
            f"{page.url}: the page is {width}px wide on a {PHONE['width']}px phone"
        )
        for link in page.get_by_role("navigation", name="Mon inscription").get_by_role("link").all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
                f"{page.url}: the tab « {link.inner_text()} » is cut off at {box}"
            )

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, locale="fr-FR", accept_downloads=True
            )
            context.set_default_timeout(10_000)
            page = context.new_page()
            csp_errors: list[str] = []
            page.on(
                "console",
                lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
            )
            base = live.base_url

            # -- account: sign up, activate from the mail text, log in
            page.goto(base + "/compte/creer")
            fill_signup(page, EMAIL, PASSWORD)
            activate_and_log_in(page, base, mailbox, EMAIL, PASSWORD)

            # -- « M'inscrire »: fill, « Enregistrer »
            tabs = page.get_by_role("navigation", name="Mon inscription")
            tabs.get_by_role("link", name="M'inscrire").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("M'inscrire")
            page.get_by_label(labels["exam"], exact=True).select_option(exam.id)
            page.get_by_label(labels["speciality"], exact=True).select_option(speciality.id)
            page.get_by_label(rules.STATUSES["individuel"]).check()
            page.get_by_label(labels["last_name"], exact=True).fill("Lefèvre")
            page.get_by_label(labels["first_names"], exact=True).fill("Zoé Marie")
            page.get_by_label(labels["birth_date"], exact=True).fill(birth.isoformat())
            page.get_by_label(labels["birth_place"], exact=True).fill("Poitiers (86)")
            page.get_by_label(labels["address"], exact=True).fill("12 rue de la Cathédrale")
            page.get_by_label(labels["postal_code"], exact=True).fill("86000")
            page.get_by_label(labels["city"], exact=True).fill("Poitiers")
            page.get_by_label(labels["phone"], exact=True).fill("06 12 34 56 78")
            fits_the_phone(page)
            page.screenshot(path=live.shots / "1-enrol-form.png", full_page=True)
            page.get_by_role("button", name="Enregistrer").click()
            said(page, "Votre pré-inscription est enregistrée")
            expect(page.get_by_text("version 1")).to_be_visible()
            saved = mail(mailbox, EMAIL, "Votre pré-inscription est enregistrée")
            assert notice.session.name in str(saved["Subject"])

            # -- change a field and save again: the mail lists the change
            page.get_by_label(labels["city"], exact=True).fill("Chasseneuil-du-Poitou")
            page.get_by_label(labels["postal_code"], exact=True).fill("86360")
            page.get_by_role("button", name="Enregistrer").click()
            said(page, "Vos modifications sont enregistrées")
            expect(page.get_by_text("version 2")).to_be_visible()
            changed = Mailbox.text(mail(mailbox, EMAIL, "Modification de votre pré-inscription"))
            assert f"{labels['city']}\u00a0: Poitiers -> Chasseneuil-du-Poitou" in changed, changed
            assert f"{labels['postal_code']}\u00a0: 86000 -> 86360" in changed, changed
            assert labels["last_name"] not in changed  # only what changed is listed

            # -- « Mes documents »: the PDF summary, version 2
            tabs.get_by_role("link", name="Mes documents").click()
            summary = page.locator("li.card", has=page.get_by_role("heading", name=notice.downloads[0].name))
            expect(summary).to_contain_text("Version 2")
            with page.expect_download() as download_info:
                summary.get_by_role("link", name="Télécharger le PDF").click()
            download = download_info.value
            assert download.suggested_filename.endswith("-v2.pdf"), download.suggested_filename
            pdf_text = one_line(" ".join(p.extract_text() for p in PdfReader(download.path()).pages))
            for expected in ("Lefèvre", "Zoé Marie", "version 2", speciality.name, "Chasseneuil-du-Poitou"):
                assert expected in pdf_text, (expected, pdf_text)
            fits_the_phone(page)

            # -- « Mes justificatifs »: « Ajouter » a PDF or a photo for each required document
            tabs.get_by_role("link", name="Mes justificatifs").click()
            said(page, f"Il vous manque encore {len(required)} pièces")
            expect(page.get_by_role("button", name="J'ai fourni toutes mes pièces")).to_be_disabled()
            sent: dict[str, FilePayload] = {}
            for i, doc in enumerate(required):
                section = page.locator(f"#piece-{doc.id}")
                expect(section.get_by_role("heading")).to_have_text(doc.name)
                sent[doc.id] = attachment(i, doc.id)
                section.get_by_label("Ajouter un fichier").set_input_files(sent[doc.id])
                section.get_by_role("button", name="Ajouter", exact=True).click()
                said(page, "Le fichier a été ajouté")
                expect(page.locator(f"#piece-{doc.id} .files")).to_contain_text(sent[doc.id]["name"])
            assert len(live.uploads()) == len(required)
            for kept_photo in (p for p in live.uploads() if p.suffix in (".png", ".jpg")):
                with Image.open(kept_photo) as im:
                    assert not im.getexif(), f"{kept_photo.name} kept the phone's EXIF"
            expect(page.get_by_text("Il vous manque encore")).to_have_count(0)
            fits_the_phone(page)
            page.screenshot(path=live.shots / "2-uploads.png", full_page=True)

            # Pages a candidate left open in other tabs, submitted after the deadline below.
            stale: dict[str, Page] = {}
            for name in ("save", "upload", "remove", "complete"):
                stale[name] = context.new_page()
                stale[name].goto(
                    base + ("/espace/inscription" if name == "save" else "/espace/justificatifs")
                )

            # -- « J'ai fourni toutes mes pièces »: receipt on the page and by mail, with each SHA-256
            page.get_by_role("button", name="J'ai fourni toutes mes pièces").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer l'envoi de mes pièces")
            page.get_by_role("button", name="Je confirme : j'ai fourni toutes mes pièces").click()
            said(page, "vous avez fourni toutes vos pièces")
            expect(page.get_by_role("button", name="Ajouter", exact=True)).to_have_count(0)
            page.screenshot(path=live.shots / "3-complete.png", full_page=True)
            receipt = Mailbox.text(mail(mailbox, EMAIL, "Accusé de réception de vos pièces justificatives"))
            listed = SHA256_RE.findall(receipt)
            stored = live.stored_files()
            assert len(listed) == len(required)
            assert set(listed) == set(stored), (listed, stored)
            # PDFs are kept as sent; photos are re-encoded (their hash is that of the stored file).
            for doc in required:
                assert doc.name in receipt
                if sent[doc.id]["mimeType"] == "application/pdf":
                    assert hashlib.sha256(sent[doc.id]["buffer"]).hexdigest() in listed

            # -- the closing date is edited into the past, the server keeps running
            closes = datetime.combine(date.today() - timedelta(days=1), datetime.min.time()).replace(hour=19)
            live.close_registration(closes)
            closed = f"Les inscriptions sont closes depuis le {datetime_fr(closes)}"
            files_before = live.stored_files()

            # every write is refused, with the date and the pôle to contact
            save = stale["save"]
            save.get_by_label(labels["phone"], exact=True).fill("07 00 00 00 00")
            save.get_by_role("button", name="Enregistrer").click()
            expect(save.get_by_role("alert")).to_contain_text(closed)
            expect(save.get_by_role("alert")).to_contain_text(pole.email)
            expect(save.get_by_role("button", name="Enregistrer")).to_have_count(0)
            expect(save.get_by_label(labels["phone"], exact=True)).to_be_disabled()

            upload = stale["upload"]
            section = upload.locator(f"#piece-{required[0].id}")
            section.get_by_label("Ajouter un fichier").set_input_files(attachment(0, "trop-tard"))
            section.get_by_role("button", name="Ajouter", exact=True).click()
            expect(upload.locator(f"#message-{required[0].id}")).to_contain_text(closed)
            expect(upload.get_by_role("button", name="Ajouter", exact=True)).to_have_count(0)

            remove = stale["remove"]
            remove.locator(f"#piece-{required[1].id}").get_by_role("link", name="Supprimer").click()
            remove.get_by_role("button", name="Oui, supprimer ce fichier").click()
            expect(remove.locator(f"#message-{required[1].id}")).to_contain_text(closed)
            expect(remove.get_by_role("link", name="Supprimer")).to_have_count(0)

            complete = stale["complete"]
            complete.get_by_role("button", name="J'ai fourni toutes mes pièces").click()
            expect(complete.get_by_role("alert")).to_contain_text(closed)

            assert live.stored_files() == files_before
            assert not [p for p in (live.data_dir / "tmp").iterdir()], "an upload left a temporary file"
            for other in stale.values():
                other.close()

            # -- the space stays readable: summary, receipt, files
            tabs.get_by_role("link", name="M'inscrire").click()
            expect(page.locator("main").get_by_text(f"{closed} (heure de Paris)")).to_be_visible()
            expect(page.get_by_role("button", name="Enregistrer")).to_have_count(0)
            expect(page.get_by_label(labels["city"], exact=True)).to_have_value("Chasseneuil-du-Poitou")
            tabs.get_by_role("link", name="Mes justificatifs").click()
            expect(page.get_by_role("link", name="Supprimer")).to_have_count(0)
            first = required[0]
            with page.expect_download() as download_info:
                page.locator(f"#piece-{first.id} .files").get_by_role(
                    "link", name=sent[first.id]["name"]
                ).click()
            kept = Path(download_info.value.path()).read_bytes()
            assert hashlib.sha256(kept).hexdigest() in listed
            tabs.get_by_role("link", name="Mes documents").click()
            expect(page.locator(".card--status")).to_contain_text("Les inscriptions sont closes depuis le")
            expect(summary).to_contain_text("Version 2")
            receipt_card = page.locator(
                "li.card", has=page.get_by_role("heading", name="Accusé de réception")
            )
            receipt_card.get_by_role("link", name="Visualiser / imprimer").click()
            for sha in listed:
                expect(page.get_by_text(sha)).to_be_visible()
            page.go_back()

            # -- « Signaler un changement d'adresse »: to the pôle's address, from notice.yml
            page.get_by_role("link", name="Signaler un changement d'adresse").click()
            page.get_by_label(labels["address"], exact=True).fill("3 place du Marché")
            page.get_by_label(labels["postal_code"], exact=True).fill("79000")
            page.get_by_label(labels["city"], exact=True).fill("Niort")
            fits_the_phone(page)
            page.get_by_role("button", name="Envoyer ma nouvelle adresse").click()
            said(page, "Votre nouvelle adresse a été transmise")
            expect(page.get_by_text("3 place du Marché")).to_be_visible()
            to_pole = Mailbox.text(mail(mailbox, pole.email, "Changement d'adresse d'un candidat"))
            for expected in (
                "Lefèvre",
                EMAIL,
                "3 place du Marché",
                "79000 Niort",
                "86360 Chasseneuil-du-Poitou",
            ):
                assert expected in to_pole, (expected, to_pole)
            ack = Mailbox.text(mail(mailbox, EMAIL, "Votre changement d'adresse a été transmis"))
            assert "3 place du Marché" in ack and "79000 Niort" in ack and pole.name in ack
            other_poles = {p.email for p in notice.poles} - {pole.email}
            assert not [m for m in mailbox.messages if m["To"] in other_poles]
            assert not csp_errors, csp_errors
        finally:
            browser.close()
