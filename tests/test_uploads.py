"""Content inspection of supporting documents: the hostile corpus is generated here, file by file."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript, PageTrigger

from formservice.uploads import inspect as uploads
from formservice.uploads.inspect import (
    MIB,
    StoredFile,
    UploadLimits,
    UploadRejected,
    inspect_and_normalise,
    safe_display_name,
)

# ---------------------------------------------------------------------------------------
# Builders of the corpus


def pdf_bytes(pages: int = 1, build: Callable[[PdfWriter], object] | None = None) -> bytes:
    """A well-formed PDF from pypdf, optionally altered by `build` before writing."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    if build:
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def raw_pdf(objects: dict[int, bytes], compressed: frozenset[int] = frozenset()) -> bytes:
    """A PDF written by hand with a cross-reference stream; objects in `compressed` go into a
    Flate-compressed object stream, where their bytes cannot be seen without parsing. Object 1 is
    the catalog, object 2 the page tree."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for num, body in objects.items():
        if num not in compressed:
            offsets[num] = len(out)
            out += b"%d 0 obj\n%s\nendobj\n" % (num, body)
    stream_num = max(objects) + 1
    index: dict[int, int] = {}
    if compressed:
        head, data = [], b""
        for i, num in enumerate(sorted(compressed)):
            index[num] = i
            head.append(b"%d %d" % (num, len(data)))
            data += objects[num] + b"\n"
        first = b" ".join(head) + b"\n"
        payload = zlib.compress(first + data)
        offsets[stream_num] = len(out)
        out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
            stream_num,
            len(index),
            len(first),
            len(payload),
        )
        out += payload + b"\nendstream\nendobj\n"
    xref_num = stream_num + 1
    offsets[xref_num] = len(out)
    rows = b""
    for num in range(xref_num + 1):
        if num in offsets:
            rows += struct.pack(">BIH", 1, offsets[num], 0)
        elif num in index:
            rows += struct.pack(">BIH", 2, stream_num, index[num])
        else:
            rows += struct.pack(">BIH", 0, 0, 65535)
    out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % (
        xref_num,
        xref_num + 1,
        len(rows),
    )
    out += rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[xref_num]
    return bytes(out)


def one_page(
    catalog_extra: bytes = b"", page_extra: bytes = b"", more: dict[int, bytes] | None = None
) -> dict[int, bytes]:
    """The objects of a one-page document, with room for hostile additions."""
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] " + page_extra + b" >>",
        **(more or {}),
    }


def png_bytes(size: tuple[int, int] = (40, 30), mode: str = "RGB", **save: object) -> bytes:
    colour: object = {"RGB": (10, 120, 200), "RGBA": (10, 120, 200, 128), "L": 90, "P": 3}[mode]
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG", **save)  # type: ignore[arg-type]
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48), exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    if exif is None:
        image.save(out, "JPEG", quality=85)
    else:
        image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 24.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, 3.0)
    return exif


def crafted_png(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` × `height` but whose data is a few bytes: the file is
    tiny, decoding it would allocate width × height × 3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.php", "<?php system($_GET['c']); ?>")
    return out.getvalue()


# ---------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def put(tmp_path: Path) -> Callable[[bytes], Path]:
    """Write bytes where the upload stream would have left them."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    counter = iter(range(10**6))

    def write(data: bytes) -> Path:
        path = incoming / f"upload-{next(counter)}.part"
        path.write_bytes(data)
        return path

    return write


def refuse(
    put: Callable[[bytes], Path], dest: Path, data: bytes, name: str, limits: UploadLimits | None = None
) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        inspect_and_normalise(put(data), name, dest, limits)
    assert list(dest.iterdir()) == [], "a refused upload left a file behind"
    return caught.value


def accept(put: Callable[[bytes], Path], dest: Path, data: bytes, name: str) -> tuple[StoredFile, bytes]:
    stored = inspect_and_normalise(put(data), name, dest)
    assert [p.name for p in dest.iterdir()] == [stored.stored_name]
    return stored, (dest / stored.stored_name).read_bytes()


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
# Names and formats


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


def test_content_in_no_accepted_format_is_refused(put, dest):
    """A GIF (or anything else) is refused by its bytes, even without an extension to contradict."""
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    rejected = refuse(put, dest, gif.getvalue(), "image")
    assert rejected.reason == "unknown_content"
    assert "« image » n'est dans aucun des formats acceptés" in rejected.message


@pytest.mark.parametrize("name", ["photo.JPG", "photo.jpeg", "photo.jfif", "Photo Identité.Jpg"])
def test_jpeg_extensions_in_any_case_are_accepted(put, dest, name):
    """.jpg, .jpeg, .jfif (what Windows saves), in any case, agree with JPEG content."""
    stored, _ = accept(put, dest, jpeg_bytes(), name)
    assert stored.media_type == "image/jpeg"
    assert stored.display_name == name


def test_a_name_without_extension_gets_the_one_of_its_content(put, dest):
    """Android pickers may send '1000012345': the content decides and the shown name says what it is."""
    assert inspect_and_normalise(put(jpeg_bytes()), "1000012345", dest).display_name == "1000012345.jpg"
    stored = inspect_and_normalise(put(pdf_bytes()), "scan 12.03.2024", dest)
    assert stored.display_name == "scan 12.03.2024.pdf"


def test_an_innocent_inner_dot_is_not_a_double_extension(put, dest):
    """'attestation.2024.pdf' or 'M. Dupont.pdf' are ordinary names."""
    stored, _ = accept(put, dest, pdf_bytes(), "attestation.v2.pdf")
    assert stored.display_name == "attestation.v2.pdf"


# ---------------------------------------------------------------------------------------
# Images


def test_jpeg_is_reencoded_without_exif_or_gps(put, dest):
    """A phone photo's EXIF (GPS position, maker) is gone from the stored file."""
    original = jpeg_bytes(exif=exif_with_gps())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    stored, data = accept(put, dest, original, "photo.jpg")
    assert b"Exif" not in data and b"PhoneMaker" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        assert image.size == (64, 48)
    assert stored.size == len(data)


@pytest.mark.parametrize("quality", [50, 95])
def test_jpeg_reencoding_keeps_the_senders_quality_and_size(put, dest, quality):
    """Re-encoding with the sender's own tables: a scan at 50 does not grow, a photo at 95 does not shrink."""
    original = io.BytesIO()
    Image.effect_noise((400, 300), 30).convert("RGB").save(original, "JPEG", quality=quality)
    stored, _ = accept(put, dest, original.getvalue(), "scan.jpg")
    assert 0.9 < stored.size / len(original.getvalue()) < 1.1


def test_jpeg_comment_and_icc_profile_are_dropped(put, dest):
    """Other metadata segments that Pillow would copy from the source (COM, ICC) are not written."""
    original = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(
        original, "JPEG", comment=b"<?php system($_GET[0]); ?>", icc_profile=b"fake-icc-" * 20
    )
    assert b"<?php" in original.getvalue()
    _, data = accept(put, dest, original.getvalue(), "photo.jpg")
    assert b"<?php" not in data and b"fake-icc-" not in data


def test_jpeg_orientation_is_applied_before_exif_is_dropped(put, dest):
    """A portrait photo stored sideways with an Orientation tag is kept upright."""
    _, data = accept(put, dest, jpeg_bytes((64, 48), exif=exif_with_gps(orientation=6)), "portrait.jpg")
    assert Image.open(io.BytesIO(data)).size == (48, 64)


def test_bytes_appended_to_an_image_are_not_stored(put, dest):
    """A JPEG or PNG followed by a ZIP or HTML (a polyglot) is stored as pixels only."""
    stored = inspect_and_normalise(put(jpeg_bytes() + zip_bytes()), "photo.jpg", dest)
    data = (dest / stored.stored_name).read_bytes()
    assert data.endswith(b"\xff\xd9") and b"PK\x03\x04" not in data
    stored = inspect_and_normalise(put(png_bytes() + b"<script>alert(1)</script>"), "scan.png", dest)
    data = (dest / stored.stored_name).read_bytes()
    assert b"<script>" not in data and data.endswith(b"IEND\xaeB`\x82")


def test_png_text_chunks_are_dropped_and_pixels_kept(put, dest):
    """Metadata chunks (here a tEXt with a payload) do not survive; pixels and transparency do."""
    info = PngInfo()
    info.add_text("Comment", "<?php echo 1; ?>")
    _, data = accept(put, dest, png_bytes(mode="RGBA", pnginfo=info), "scan.png")
    assert b"<?php" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0)) == (10, 120, 200, 128)


def test_palette_png_keeps_its_transparency(put, dest):
    """A palette image with a transparent colour is still a palette image, still transparent."""
    image = Image.new("P", (40, 30), 0)
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.paste(2, (0, 0, 20, 30))
    original = io.BytesIO()
    image.save(original, "PNG", transparency=2)
    _, data = accept(put, dest, original.getvalue(), "logo.png")
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode == "P"
        rgba = stored.convert("RGBA")
    assert rgba.getpixel((0, 0)) == (0, 0, 255, 0)
    assert rgba.getpixel((39, 0)) == (255, 0, 0, 255)


def test_huge_png_is_refused_before_any_pixel_is_allocated(put, dest):
    """30,000 × 30,000 pixels in a 100-byte file: refused in milliseconds, nothing decoded."""
    data = crafted_png(30_000, 30_000)
    assert len(data) < 200
    start = time.perf_counter()
    rejected = refuse(put, dest, data, "scan.png")
    assert time.perf_counter() - start < 0.5
    assert rejected.reason == "image_too_big"
    assert "40 millions de pixels" in rejected.message


def test_pixel_bound_is_checked_from_the_header_before_decoding(put, dest):
    """A 7,000 × 7,000 header (under Pillow's own bomb threshold) hits our bound, with its sizes in the
    message: decoding its few bytes would have said 'damaged' instead."""
    rejected = refuse(put, dest, crafted_png(7_000, 7_000), "scan.png")
    assert rejected.reason == "image_too_big"
    assert "7\u202f000 × 7\u202f000 pixels" in rejected.message


def test_pixel_bound_holds_when_pillow_only_warns(put, dest):
    """Between Pillow's warning and error thresholds, with warnings not raised (production), our
    bound still refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        rejected = refuse(put, dest, crafted_png(10_000, 10_000), "scan.png")
    assert rejected.reason == "image_too_big"
    assert "10\u202f000 × 10\u202f000" in rejected.message


def test_default_pixel_bound_is_below_pillows_own():
    """Our bound fires first, with a French message, rather than Pillow's warning."""
    assert Image.MAX_IMAGE_PIXELS is not None
    assert UploadLimits().max_pixels < Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("photo.jpg", lambda: jpeg_bytes((400, 300))[:600]),
        ("scan.png", lambda: png_bytes((400, 300))[:60]),
        ("scan.png", lambda: b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"),
    ],
    ids=["truncated-jpeg", "truncated-png", "png-magic-then-html"],
)
def test_damaged_images_are_refused(put, dest, name, make):
    """Right magic bytes, but the full decode fails: refused as damaged."""
    rejected = refuse(put, dest, make(), name)
    assert rejected.reason == "image_invalid"
    assert "endommagée ou incomplète" in rejected.message


# ---------------------------------------------------------------------------------------
# PDF


def test_valid_pdf_is_stored_as_sent(put, dest):
    """A clean PDF is kept byte for byte (re-writing it would break signatures)."""
    original = pdf_bytes(pages=3)
    stored, data = accept(put, dest, original, "Relevé de notes.pdf")
    assert data == original
    assert stored.media_type == "application/pdf"
    assert stored.display_name == "Relevé de notes.pdf"
    assert len(PdfReader(io.BytesIO(data)).pages) == 3


def test_hand_written_pdf_with_object_stream_is_accepted(put, dest):
    """The hand-made builder below writes valid PDFs, so the refusals that use it are about content."""
    data = raw_pdf(one_page(), compressed=frozenset({2, 3}))
    accept(put, dest, data, "ok.pdf")


def test_links_and_an_open_view_are_not_refused(put, dest):
    """Ordinary interactivity (a web link, 'open at page 1, fit') is not a script."""
    link = (
        b"/Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://ac.fr) >> >>]"
    )
    accept(put, dest, raw_pdf(one_page(b"/OpenAction [3 0 R /Fit]", link)), "liens.pdf")


JS_ACTION = b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"

ACTIVE_PDFS = {
    "names-tree-javascript": (
        lambda: pdf_bytes(build=lambda w: w.add_open_action(JavaScript("x"))),
        "pdf_javascript",
    ),
    "open-action-javascript": (
        lambda: raw_pdf(one_page(b"/OpenAction 4 0 R", more={4: JS_ACTION})),
        "pdf_javascript",
    ),
    "page-additional-action": (
        lambda: pdf_bytes(build=lambda w: w.pages[0].add_action(PageTrigger.OPEN, JavaScript("x"))),
        "pdf_javascript",
    ),
    "javascript-in-object-stream": (
        lambda: raw_pdf(one_page(b"/OpenAction 4 0 R", more={4: JS_ACTION}), compressed=frozenset({4})),
        "pdf_javascript",
    ),
    "javascript-with-escaped-names": (
        lambda: raw_pdf(one_page(b"/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>")),
        "pdf_javascript",
    ),
    "xfa-form": (
        lambda: raw_pdf(one_page(b"/AcroForm << /Fields [] /XFA 4 0 R >>", more={4: b"[]"})),
        "pdf_javascript",
    ),
    "launch-action": (
        lambda: raw_pdf(one_page(b"/OpenAction << /S /Launch /F (calc.exe) >>")),
        "pdf_launch",
    ),
    "embedded-files": (
        lambda: pdf_bytes(build=lambda w: w.add_attachment("a.exe", b"MZ")),
        "pdf_embedded_file",
    ),
    "file-attachment-annotation": (
        lambda: raw_pdf(
            one_page(
                page_extra=b"/Annots [<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] "
                b"/FS << /Type /Filespec /F (a.exe) >> >>]"
            )
        ),
        "pdf_embedded_file",
    ),
}


@pytest.mark.parametrize(("make", "reason"), list(ACTIVE_PDFS.values()), ids=list(ACTIVE_PDFS))
def test_active_pdfs_are_refused(put, dest, make, reason):
    """JavaScript wherever it hides (name tree, OpenAction, page /AA, compressed object, #-escaped
    names, XFA), launch actions and embedded files are refused."""
    rejected = refuse(put, dest, make(), "document.pdf")
    assert rejected.reason == reason
    assert "« document.pdf »" in rejected.message


def test_hidden_javascript_cases_are_invisible_to_a_byte_search():
    """The compressed and #-escaped cases above, refused, would pass a search in the raw bytes."""
    hidden = ACTIVE_PDFS["javascript-in-object-stream"][0]()
    escaped = ACTIVE_PDFS["javascript-with-escaped-names"][0]()
    for data in (hidden, escaped):
        assert b"/JavaScript" not in data and b"/JS" not in data


def test_pdf_encrypted_with_an_empty_user_password_is_refused(put, dest):
    """'Protected' PDFs that open without a password (permissions only) are still encrypted."""
    data = pdf_bytes(build=lambda w: w.encrypt(user_password="", owner_password="owner", algorithm="RC4-128"))
    assert refuse(put, dest, data, "releve.pdf").reason == "pdf_encrypted"


def test_zip_hidden_in_a_fake_pdf_ending_is_refused(put, dest):
    """A ZIP whose comment ends with '%%EOF' passes the 'nothing after %%EOF' test; the ZIP
    directory near the end gives it away."""
    archive = bytearray(zip_bytes())
    comment = b"\n%%EOF\n"
    archive[-2:] = struct.pack("<H", len(comment))
    data = pdf_bytes() + bytes(archive) + comment
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["payload.php"]
    assert refuse(put, dest, data, "diplome.pdf").reason == "pdf_trailing_data"


def test_trailing_whitespace_after_eof_is_accepted(put, dest):
    """Some generators end with blank lines or NUL padding: that is not appended data."""
    accept(put, dest, pdf_bytes() + b"\r\n\n  \x00\x00", "scan.pdf")


@pytest.mark.parametrize(
    "make",
    [
        lambda: pdf_bytes()[:-40],  # cut before %%EOF
        lambda: pdf_bytes().replace(b"startxref\n", b"startxref\n9"),  # points nowhere
        lambda: b"%PDF-1.7\n" + b"garbage " * 50 + b"\n%%EOF\n",
        lambda: raw_pdf(
            {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [] /Count 0 >>"}
        ),
    ],
    ids=["truncated", "bad-startxref", "garbage", "no-pages"],
)
def test_malformed_pdfs_are_refused(put, dest, make):
    """A PDF that pypdf cannot parse strictly, or without pages, is refused as damaged."""
    rejected = refuse(put, dest, make(), "scan.pdf")
    assert rejected.reason == "pdf_invalid"
    assert "endommagé ou mal formé" in rejected.message


def test_too_many_pages_is_refused(put, dest):
    """The page bound protects the inspection's time; the message gives both numbers."""
    rejected = refuse(put, dest, pdf_bytes(pages=4), "livre.pdf", UploadLimits(max_pdf_pages=3))
    assert rejected.reason == "pdf_too_many_pages"
    assert "compte 4 pages ; le maximum est 3" in rejected.message


# ---------------------------------------------------------------------------------------
# Storage


@pytest.mark.parametrize(
    ("name", "make", "media_type", "suffix"),
    [
        ("scan.pdf", pdf_bytes, "application/pdf", ".pdf"),
        ("photo.jpg", jpeg_bytes, "image/jpeg", ".jpg"),
        ("scan.png", png_bytes, "image/png", ".png"),
    ],
)
def test_stored_file_is_private_random_and_hashed(put, dest, name, make, media_type, suffix):
    """Mode 0600, a random name with no trace of the original, size and SHA-256 of what is stored."""
    stored, data = accept(put, dest, make(), name)
    path = dest / stored.stored_name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored.stored_name.endswith(suffix) and name.split(".")[0] not in stored.stored_name
    assert len(stored.stored_name) >= 32
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data) == path.stat().st_size
    assert stored.media_type == media_type


def test_two_uploads_of_the_same_file_get_different_names(put, dest):
    """Names are random, never derived from the content or the original name."""
    first = inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest)
    second = inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest)
    assert first.stored_name != second.stored_name
    assert first.sha256 == second.sha256


def test_mode_is_0600_whatever_the_umask(put, dest):
    """A permissive umask does not widen the stored file's mode."""
    old = os.umask(0)
    try:
        stored, _ = accept(put, dest, pdf_bytes(), "a.pdf")
    finally:
        os.umask(old)
    assert stat.S_IMODE((dest / stored.stored_name).stat().st_mode) == 0o600


def test_file_and_directory_are_fsynced_before_returning(put, dest, monkeypatch):
    """The file's data and its directory entry are on disk before a record may point to it."""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(uploads.os, "fsync", spy)
    accept(put, dest, png_bytes(), "scan.png")
    assert synced == ["file", "dir"]


def test_a_failure_while_storing_leaves_nothing(put, dest, monkeypatch):
    """A disk error at the rename (or anywhere in the write) removes the temporary file."""

    def broken_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(uploads.os, "rename", broken_rename)
    with pytest.raises(OSError):
        inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest)
    assert list(dest.iterdir()) == []


def test_a_failure_after_the_rename_leaves_nothing(put, dest, monkeypatch):
    """If the directory cannot be synced, the renamed file is removed too: no orphan without a record."""

    def broken_dir_sync(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(uploads, "_fsync_dir", broken_dir_sync)
    with pytest.raises(OSError):
        inspect_and_normalise(put(png_bytes()), "a.png", dest)
    assert list(dest.iterdir()) == []


def test_remove_stored_only_accepts_stored_names(dest):
    """Removal cannot be steered outside the store by a crafted name."""
    (dest / "abc_DEF-123.pdf").write_bytes(b"x")
    uploads.remove_stored(dest, "abc_DEF-123.pdf")
    assert list(dest.iterdir()) == []
    with pytest.raises(ValueError):
        uploads.remove_stored(dest, "../secret.pdf")


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
    assert len(shown) == uploads.MAX_NAME_CHARS
    assert shown.endswith("….pdf")


def test_bidi_spoofed_name_is_refused_once_neutralised(put, dest):
    """'photo\u202egnp.exe' shows as 'photoexe.png'; neutralised, it is a .exe and refused."""
    assert refuse(put, dest, png_bytes(), "photo\u202egnp.exe").reason == "extension_not_allowed"


def test_truncated_image_refused_even_after_a_pdf_was_rendered(put, dest):
    """Rendering a PDF summary (WeasyPrint) must not make the upload checks accept damaged images."""
    from formservice.web.pdf import html_to_pdf

    html_to_pdf("<p>récapitulatif</p>")
    rejected = refuse(put, dest, png_bytes((400, 300))[:60], "scan.png")
    assert rejected.reason == "image_invalid"
