"""JPEG and PNG uploads: decoded fully, then re-encoded, so that what we keep holds pixels and
nothing else (no EXIF position, no comment or ICC profile, nothing appended after the image).

Decoding is bounded by `UploadLimits.max_pixels`, checked from the header before any pixel is
allocated, so that a 100-byte "bomb" costs nothing and gets our French message, not Pillow's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFile, ImageOps

from formservice.uploads.names import JPEG, PNG, Kind
from formservice.uploads.types import UploadLimits, UploadRejected, int_fr

__all__ = ["reencode_image"]


@dataclass(frozen=True)
class _Decoded:
    """A decoded image stripped of its metadata, with what its re-encoding must keep."""

    image: Image.Image
    quantization: object  # the JPEG's own tables, when it had some
    transparency: object  # the PNG's transparent colour or alpha table, when it had one


def reencode_image(src: Path, kind: Kind, display: str, limits: UploadLimits) -> Callable[[BinaryIO], None]:
    """Decode fully (bounded by `max_pixels`, checked from the header before any pixel is
    allocated) and return the function that writes the clean re-encoded image.

    Decoding here and writing later lets the caller refuse before creating any file, then write
    straight into the temporary file it will fsync and rename."""
    decoded = _decode(src, kind, display, limits)
    return functools.partial(_write, decoded, kind)


def _decode(src: Path, kind: Kind, display: str, limits: UploadLimits) -> _Decoded:
    """Open `src` as `kind` only, check its size from the header, decode every pixel and strip it.

    Any failure of Pillow on hostile input becomes one refusal the candidate can act on."""
    # A process-wide Pillow switch that some libraries turn on at import (WeasyPrint does): with
    # it, a truncated image decodes "successfully" with grey padding. Never for an upload.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(src, formats=[kind.key.upper()]) as im:
            _check_pixels(im.size, display, limits)
            im.load()
            return _strip(im, kind)
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(
            "image_too_big",
            f"L'image « {display} » est trop grande (plus de {_max_mpx(limits)} millions de pixels) : "
            "réduisez sa définition et déposez-la de nouveau.",
        ) from None
    except Exception as exc:  # Pillow raises many types on hostile input; all mean "unreadable"
        raise UploadRejected(
            "image_invalid",
            f"L'image « {display} » est endommagée ou incomplète et ne peut pas être lue : "
            "enregistrez-la de nouveau depuis votre téléphone ou votre ordinateur, puis déposez-la.",
        ) from exc


def _check_pixels(size: tuple[int, int], display: str, limits: UploadLimits) -> None:
    """Refuse an image whose header announces more than `max_pixels`, before it is decoded."""
    width, height = size
    if width * height > limits.max_pixels:
        raise UploadRejected(
            "image_too_big",
            f"L'image « {display} » est trop grande ({int_fr(width)} × {int_fr(height)} "
            f"pixels ; maximum {_max_mpx(limits)} millions de pixels) : réduisez sa définition et "
            "déposez-la de nouveau.",
        )


def _max_mpx(limits: UploadLimits) -> str:
    """The pixel bound in millions, as the candidate reads it ('40')."""
    return int_fr(limits.max_pixels // 1_000_000)


def _strip(im: Image.Image, kind: Kind) -> _Decoded:
    """The loaded image upright, in a mode its format stores, without any of its metadata."""
    quantization = getattr(im, "quantization", None)
    ImageOps.exif_transpose(im, in_place=True)  # EXIF is dropped below: keep the photo upright
    clean = _normalise_mode(im, kind)
    transparency = clean.info.get("transparency") if kind is PNG else None
    clean.info = {}  # EXIF, ICC, comments, text chunks: none of it is written back
    return _Decoded(clean, quantization, transparency)


def _write(decoded: _Decoded, kind: Kind, f: BinaryIO) -> None:
    """Encode the clean image into `f`: a JPEG with the sender's tables when a baseline encoder
    can reuse them (about the quality and size that were sent), a PNG with its transparency."""
    clean = decoded.image
    if kind is JPEG:
        if _baseline_tables(decoded.quantization):
            clean.save(f, "JPEG", qtables=decoded.quantization)
        else:
            clean.save(f, "JPEG", quality=90)
    elif decoded.transparency is not None:
        clean.save(f, "PNG", transparency=decoded.transparency)
    else:
        clean.save(f, "PNG")


def _baseline_tables(quantization: object) -> bool:
    """Tables a baseline encoder can reuse as is: one or two, 8-bit values (12-bit JPEGs have more)."""
    if not isinstance(quantization, dict) or not 1 <= len(quantization) <= 2:
        return False
    return all(1 <= value <= 255 for table in quantization.values() for value in table)


def _normalise_mode(im: Image.Image, kind: Kind) -> Image.Image:
    """Modes each format stores as is; anything else (CMYK, 32-bit...) becomes RGB(A)."""
    keep = ("L", "RGB") if kind is JPEG else ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
    if im.mode in keep:
        return im
    has_alpha = kind is PNG and (im.mode.endswith("A") or "transparency" in im.info)
    return im.convert("RGBA" if has_alpha else "RGB")
