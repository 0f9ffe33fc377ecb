"""Names: the display name shown and sent in headers, and the names refused whatever the content."""

from __future__ import annotations

import pytest

from formservice.uploads import names, safe_display_name

from .corpus import jpeg_bytes, pdf_bytes, png_bytes
from .helpers import accept, refuse


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("lettre.docx", "extension_not_allowed"),
        ("animation.gif", "extension_not_allowed"),
        ("photo.heic", "extension_not_allowed"),
        ("facture.html.pdf", "double_extension"),
        ("CV.EXE.pdf", "double_extension"),
        ("C:\\Users\\moi\\scan.pdf", "path_in_name"),
        ("/etc/passwd.pdf", "path_in_name"),
    ],
)
def test_names_that_are_refused(put, dest, name, reason):
    """Unaccepted extensions, dangerous inner extensions and paths are refused whatever the content."""
    assert refuse(put, dest, pdf_bytes(), name).reason == reason


@pytest.mark.parametrize("name", ["photo.JPG", "photo.jpeg", "photo.jfif", "Photo Identité.Jpg"])
def test_jpeg_extensions_in_any_case_are_accepted(put, dest, name):
    """.jpg, .jpeg, .jfif (what Windows saves), in any case, agree with JPEG content."""
    stored, _ = accept(put, dest, jpeg_bytes(), name)
    assert stored.media_type == "image/jpeg"
    assert stored.display_name == name


def test_an_innocent_inner_dot_is_not_a_double_extension(put, dest):
    """'attestation.2024.pdf' or 'M. Dupont.pdf' are ordinary names."""
    stored, _ = accept(put, dest, pdf_bytes(), "attestation.v2.pdf")
    assert stored.display_name == "attestation.v2.pdf"


# ---------------------------------------------------------------------------------------
# Display names


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\moi\\scan.pdf", "scan.pdf"),
        ("facture\u202efdp.exe", "facturefdp.exe"),  # right-to-left override: would show 'factureexe.pdf'
        ("a\u2066b\u2069c\u200e\u200f.pdf", "abc.pdf"),
        ("ligne\r\nSet-Cookie: x.pdf", "ligneSet-Cookie: x.pdf"),
        ("nul\x00byte.pdf", "nulbyte.pdf"),
        ("Releve\u0301\u00a0de   notes.pdf", "Relevé de notes.pdf"),  # NFC, spaces collapsed
        ("  .cache.pdf. ", "cache.pdf"),
        ("", "document"),
        ("..", "document"),
        ("\u202e", "document"),
    ],
)
def test_safe_display_name(raw, shown):
    """Base name only, no control/bidi/invisible characters, NFC, tidy spaces, never empty."""
    assert safe_display_name(raw) == shown


def test_safe_display_name_caps_length_and_keeps_the_extension():
    """A 300-character name is cut in its stem, so the extension still tells what the file is."""
    shown = safe_display_name("a" * 300 + ".pdf")
    assert len(shown) == names.MAX_NAME_CHARS
    assert shown.endswith("….pdf")


def test_bidi_spoofed_name_is_refused_once_neutralised(put, dest):
    """'photo\u202egnp.exe' shows as 'photoexe.png'; neutralised, it is a .exe and refused."""
    assert refuse(put, dest, png_bytes(), "photo\u202egnp.exe").reason == "extension_not_allowed"
