"""Builders of the test corpus: well-formed and hostile PDFs, JPEGs, PNGs and ZIPs, file by file.

Plain functions (not fixtures), imported by the test modules of this folder.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

from PIL import ExifTags, Image
from pypdf import PdfWriter


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
