"""TOTP (RFC 6238, as FreeOTP and Google Authenticator compute it) and recovery codes, at chosen
instants of a frozen clock: accepted in the window, refused outside it, never twice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from formservice.clock import FrozenClock
from formservice.staff import totp

START = datetime(2025, 10, 22, 8, 0, 0, tzinfo=UTC)  # a step boundary (the timestamp is a multiple of 30)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def secret() -> str:
    return totp.new_secret()


def test_a_secret_is_160_random_bits_in_base32():
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert totp.normalize_secret(totp.grouped(secret).lower()) == secret
    assert totp.grouped("ABCDEFGHIJKL") == "ABCD EFGH IJKL"
    assert totp.normalize_secret("ABCD") is None and totp.normalize_secret("1" * 32) is None


def test_the_code_of_now_is_accepted_and_says_its_step(clock, secret):
    now = clock.now()
    step = int(now.timestamp()) // 30
    assert totp.accept(secret, pyotp.TOTP(secret).at(now), 0, now) == step
    assert totp.step_at(now) == step
    clock.advance(seconds=29)  # same step until 30 s
    assert totp.accept(secret, pyotp.TOTP(secret).at(START), 0, clock.now()) == step


def test_one_step_either_side_is_accepted_two_are_not(clock, secret):
    """A phone whose clock is 30 s off, or a code typed as it changes, still works; older is refused."""
    now = clock.now()
    step = totp.step_at(now)
    app = pyotp.TOTP(secret)
    assert totp.accept(secret, app.at(now - timedelta(seconds=30)), 0, now) == step - 1
    assert totp.accept(secret, app.at(now + timedelta(seconds=30)), 0, now) == step + 1
    assert totp.accept(secret, app.at(now - timedelta(seconds=60)), 0, now) is None
    assert totp.accept(secret, app.at(now + timedelta(seconds=60)), 0, now) is None
    assert totp.accept(secret, app.at(now - timedelta(hours=1)), 0, now) is None


def test_a_code_is_not_accepted_twice_within_its_window(clock, secret):
    """Once step N was accepted, the codes of N and before are refused, even 30 s later when N
    is still in the window; the next step's code passes."""
    app = pyotp.TOTP(secret)
    code = app.at(clock.now())
    step = totp.accept(secret, code, 0, clock.now())
    assert step is not None
    assert totp.accept(secret, code, step, clock.now()) is None
    clock.advance(seconds=30)
    assert totp.accept(secret, code, step, clock.now()) is None  # still in the window: refused
    assert totp.accept(secret, app.at(START - timedelta(seconds=30)), step, clock.now()) is None
    assert totp.accept(secret, app.at(clock.now()), step, clock.now()) == step + 1


def test_what_is_not_the_code_is_refused(clock, secret):
    now = clock.now()
    code = pyotp.TOTP(secret).at(now)
    window = {pyotp.TOTP(secret).at(now, counter_offset=n) for n in (-1, 0, 1)}
    wrong = next(c for n in range(1, 10) if (c := f"{(int(code) + n) % 1_000_000:06d}") not in window)
    assert totp.accept(secret, wrong, 0, now) is None
    assert totp.accept(totp.new_secret(), code, 0, now) is None
    for typed in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", code + " 1"]:
        assert totp.accept(secret, typed, 0, now) is None
    assert totp.accept(secret, f" {code[:3]} {code[3:]} ", 0, now) == totp.step_at(
        now
    )  # as some apps show it


def test_the_provisioning_uri_is_what_the_applications_read(secret):
    uri = totp.provisioning_uri(secret, "agent@ac-poitiers.fr", totp.issuer_name("Académie de Poitiers"))
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Académie de Poitiers — examens"]
    assert unquote(parts.path) == "/Académie de Poitiers — examens:agent@ac-poitiers.fr"
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.digits, parsed.interval, parsed.digest().name) == (6, 30, "sha1")
    assert parsed.at(START) == pyotp.TOTP(secret).at(START)


def test_the_qr_code_is_inline_svg_with_a_title():
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "agent@ac-poitiers.fr", "Académie — examens"))
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert 'role="img"' in svg
    assert re.search(
        r"<title>QR code à scanner avec votre application d(&#x27;|&#39;|')authentification</title>", svg
    )
    assert "<path" in svg


# -- recovery codes --------------------------------------------------------------------------------
def test_ten_recovery_codes_of_ten_unambiguous_characters():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", code)
        assert not set(code) & set("01OIL")
        assert set(code.replace("-", "")) <= set(totp.RECOVERY_ALPHABET)


def test_recovery_codes_are_stored_as_hmac_and_typed_any_way():
    keys = totp.RecoveryKeys(["server-key-0123456789"])
    code = totp.new_recovery_codes(1)[0]
    digest = keys.digest(code)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert code not in digest and code.replace("-", "") not in digest
    for typed in [
        code,
        code.lower(),
        code.replace("-", ""),
        f" {code.replace('-', ' ')} ",
        code.replace("-", "–"),
    ]:
        assert keys.digests(typed) == [digest]
    assert totp.RecoveryKeys(["another-key-0123456789"]).digest(code) != digest  # keyed
    assert keys.digests("ABCDE-FGHI") == [] and keys.digests("00000-00000") == []


def test_recovery_codes_survive_a_key_rotation():
    code = totp.new_recovery_codes(1)[0]
    stored = totp.RecoveryKeys(["old-key-0123456789"]).digest(code)
    rotated = totp.RecoveryKeys(["new-key-0123456789", "old-key-0123456789"])
    assert stored in rotated.digests(code) and rotated.digest(code) != stored
