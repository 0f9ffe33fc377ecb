"""The second factor: TOTP (RFC 6238) and single-use recovery codes.

TOTP is what FreeOTP, Google Authenticator and their kin do by default: 6 digits, 30 s, SHA-1,
a base32 secret of 160 bits (RFC 4226's recommended length), enrolled by scanning an
``otpauth://`` URI as a QR code or typing the secret. A code is accepted in the current time
step or one step either side (a phone's clock a little off, a code typed as it changes), and
``accept`` says *which* step matched, so that the caller stores it and refuses that step and
the older ones afterwards: a code serves once, even within its window.

Recovery codes are ten codes of ten characters from an alphabet without look-alikes (no 0/O,
1/I/L, U/V), shown once as ``XXXXX-XXXXX`` and stored only as an HMAC-SHA256 under a key
derived from the server's secret key: a copy of the store does not give them away, and they
cannot be tried offline without the key. They are accepted with or without the dash, in any
case. With several secret keys (rotation), a code is checked under each.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

import pyotp
import segno

DIGITS = 6
PERIOD = 30  # seconds
WINDOW = 1  # time steps accepted either side of the current one
SECRET_LENGTH = 32  # base32 characters: 160 bits
QR_TITLE = "QR code à scanner avec votre application d'authentification"

RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
RECOVERY_COUNT = 10
RECOVERY_LENGTH = 10

_CODE_RE = re.compile(r"[0-9]{6}")
_BASE32_RE = re.compile(rf"[A-Z2-7]{{{SECRET_LENGTH}}}")
_SEPARATORS = re.compile(r"[\s\-‐‑–—]+")


# -- TOTP ------------------------------------------------------------------------------------------
def new_secret() -> str:
    """A fresh base32 secret (160 random bits)."""
    return pyotp.random_base32(SECRET_LENGTH)


def normalize_secret(text: str) -> str | None:
    """The secret as a form sends it back (spaces, any case) in its stored form, or None if it is
    not a secret this service makes."""
    secret = _SEPARATORS.sub("", text or "").upper()
    return secret if _BASE32_RE.fullmatch(secret) else None


def grouped(secret: str, size: int = 4) -> str:
    """``ABCD EFGH IJKL ...``: the secret as text, easier to type into an application."""
    return " ".join(secret[i : i + size] for i in range(0, len(secret), size))


def issuer_name(academie_name: str) -> str:
    """What the application shows above the code: « Académie de Poitiers — examens »."""
    return f"{academie_name} — examens"


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD, digest=hashlib.sha1)


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI of the QR code (issuer and account name, 6 digits, 30 s)."""
    return _totp(secret).provisioning_uri(name=email, issuer_name=issuer)


def step_at(now: datetime) -> int:
    """The TOTP time step (counter) of an instant."""
    return int(now.timestamp()) // PERIOD


def normalize_code(text: str) -> str | None:
    """Six digits, spaces allowed (« 123 456 »), or None."""
    code = _SEPARATORS.sub("", text or "")
    return code if _CODE_RE.fullmatch(code) else None


def accept(secret: str, code: str, last_step: int, now: datetime) -> int | None:
    """The time step whose code ``code`` is, within one step of ``now`` and after ``last_step``
    (the last one accepted), or None. Every candidate is compared, in constant time."""
    typed = normalize_code(code)
    if typed is None:
        return None
    totp, current = _totp(secret), step_at(now)
    matched: int | None = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), typed) and step > last_step:
            matched = step  # the latest one, should two steps give the same code
    return matched


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as inline SVG (no XML declaration), with a ``<title>`` that screen
    readers announce."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=4, title=QR_TITLE, svgclass="qr-code")
    return str(svg).replace("<svg ", '<svg role="img" ', 1)


# -- recovery codes --------------------------------------------------------------------------------
def new_recovery_codes(count: int = RECOVERY_COUNT) -> list[str]:
    """``count`` fresh codes, ``XXXXX-XXXXX``, to show once and store only as ``RecoveryKeys`` digests."""
    half = RECOVERY_LENGTH // 2
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append(f"{raw[:half]}-{raw[half:]}")
    return codes


def normalize_recovery_code(text: str) -> str | None:
    """A typed recovery code without its dash or spaces, upper-cased, or None if it cannot be one."""
    code = _SEPARATORS.sub("", text or "").upper()
    if len(code) != RECOVERY_LENGTH or any(c not in RECOVERY_ALPHABET for c in code):
        return None
    return code


def looks_like_recovery_code(text: str) -> bool:
    return normalize_recovery_code(text) is not None


class RecoveryKeys:
    """The HMAC keys of recovery codes, derived from the server's secret keys (newest first)."""

    def __init__(self, secret_keys: Sequence[str]):
        if not secret_keys:
            raise ValueError("RecoveryKeys needs at least one secret key")
        self._keys = [
            hmac.new(k.encode(), b"formservice.staff.recovery-code", hashlib.sha256).digest()
            for k in secret_keys
        ]

    def digest(self, code: str) -> str:
        """What is stored for a code just made (under the newest key)."""
        return self.digests(code)[0]

    def digests(self, code: str) -> list[str]:
        """The code's digest under every key, newest first; [] for what cannot be a code."""
        normal = normalize_recovery_code(code)
        if normal is None:
            return []
        return [hmac.new(key, normal.encode(), hashlib.sha256).hexdigest() for key in self._keys]
