"""The entry point, inspect_and_normalise: the hostile corpus of the issue, statuses, and the
agreement between a file's name and its content."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from pypdf.actions import JavaScript

from formservice.uploads import MIB, UploadLimits, inspect_and_normalise

from .corpus import crafted_png, jpeg_bytes, pdf_bytes, png_bytes, zip_bytes
from .helpers import refuse

# ---------------------------------------------------------------------------------------
# The hostile corpus of the issue: each refused with its message, nothing stored

HOSTILE: list[tuple[str, str, Callable[[], bytes], str, str]] = [
    # id, name sent, content, reason, words of the French message
    ("pdf-named-with-png-content", "releve.pdf", png_bytes, "type_mismatch", "renommez-le « releve.png »"),
    ("jpeg-named-png", "photo.png", jpeg_bytes, "type_mismatch", "contient une image JPEG"),
    ("double-extension", "x.php.png", png_bytes, "double_extension", "double extension (.php)"),
    (
        "html-in-png",
        "image.png",
        lambda: b"<html><body><script>alert(document.cookie)</script></body></html>",
        "unknown_content",
        "n'est pas une image PNG valide",
    ),
    (
        "pdf-with-javascript",
        "attestation.pdf",
        lambda: pdf_bytes(build=lambda w: w.add_open_action(JavaScript("app.alert('x');"))),
        "pdf_javascript",
        "contient des scripts",
    ),
    (
        "encrypted-pdf",
        "releve.pdf",
        lambda: pdf_bytes(build=lambda w: w.encrypt(user_password="secret", algorithm="RC4-128")),
        "pdf_encrypted",
        "est protégé",
    ),
    (
        "pdf-with-zip-appended",
        "diplome.pdf",
        lambda: pdf_bytes() + zip_bytes(),
        "pdf_trailing_data",
        "données ajoutées après sa fin",
    ),
    ("png-30000x30000", "scan.png", lambda: crafted_png(30_000, 30_000), "image_too_big", "trop grande"),
    (
        "oversized",
        "scan.pdf",
        lambda: b"%PDF-1.7\n" + b"\0" * (5 * MIB),
        "too_large",
        "dépasse la taille maximale de 5 Mo",
    ),
    ("zero-bytes", "vide.pdf", lambda: b"", "empty", "est vide (0 octet)"),
    ("path-traversal-name", "../../etc/passwd.pdf", pdf_bytes, "path_in_name", "chemin de dossiers"),
]


@pytest.mark.parametrize(
    ("name", "content", "reason", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in HOSTILE],
)
def test_hostile_corpus_is_refused_with_its_message(put, dest, name, content, reason, words):
    """Every file of the issue's hostile corpus is refused with its French message and leaves nothing."""
    rejected = refuse(put, dest, content(), name)
    assert rejected.reason == reason
    assert words in rejected.message
    assert str(rejected) == rejected.message


def test_refusals_carry_an_http_status(put, dest):
    """Too large answers 413, a format problem 415, a content problem 422."""
    assert refuse(put, dest, b"%PDF-" + b"\0" * 100, "a.pdf", UploadLimits(max_file_bytes=50)).status == 413
    assert refuse(put, dest, png_bytes(), "a.docx").status == 415
    assert refuse(put, dest, pdf_bytes()[:200], "a.pdf").status == 422


# ---------------------------------------------------------------------------------------
# Name and content agree


def test_content_in_no_accepted_format_is_refused(put, dest):
    """A GIF (or anything else) is refused by its bytes, even without an extension to contradict."""
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    rejected = refuse(put, dest, gif.getvalue(), "image")
    assert rejected.reason == "unknown_content"
    assert "« image » n'est dans aucun des formats acceptés" in rejected.message


def test_a_name_without_extension_gets_the_one_of_its_content(put, dest):
    """Android pickers may send '1000012345': the content decides and the shown name says what it is."""
    assert inspect_and_normalise(put(jpeg_bytes()), "1000012345", dest).display_name == "1000012345.jpg"
    stored = inspect_and_normalise(put(pdf_bytes()), "scan 12.03.2024", dest)
    assert stored.display_name == "scan 12.03.2024.pdf"
