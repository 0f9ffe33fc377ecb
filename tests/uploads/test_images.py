"""Images: re-encoded without their metadata, bounded in pixels, refused when damaged."""

from __future__ import annotations

import io
import time
import warnings

import pytest
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

from formservice.uploads import UploadLimits, inspect_and_normalise

from .corpus import crafted_png, exif_with_gps, jpeg_bytes, png_bytes, zip_bytes
from .helpers import accept, refuse


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


def test_truncated_image_refused_even_after_a_pdf_was_rendered(put, dest):
    """Rendering a PDF summary (WeasyPrint) must not make the upload checks accept damaged images."""
    from formservice.web.pdf import html_to_pdf

    html_to_pdf("<p>récapitulatif</p>")
    rejected = refuse(put, dest, png_bytes((400, 300))[:60], "scan.png")
    assert rejected.reason == "image_invalid"
