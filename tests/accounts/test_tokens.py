"""Signed tokens: one salt per purpose, SHA-256, expiry on the clock, key rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from formservice.accounts.tokens import TokenExpired, TokenInvalid, Tokens
from formservice.clock import FrozenClock

KEY, OLD = "k" * 40, "o" * 40
HOURS_48 = timedelta(hours=48)


@pytest.fixture
def tokens_clock():
    clock = FrozenClock(datetime(2025, 10, 22, 8, tzinfo=UTC))
    return Tokens([KEY], clock), clock


def test_round_trip_and_expiry_on_the_clock(tokens_clock):
    """A token loads at 47 h 59 and is expired at 48 h 01, with its payload still readable."""
    tokens, clock = tokens_clock
    token = tokens.activation.dumps({"a": "id1"})
    clock.advance(hours=47, minutes=59)
    assert tokens.activation.loads(token, HOURS_48) == {"a": "id1"}
    clock.advance(minutes=2)
    with pytest.raises(TokenExpired) as exc:
        tokens.activation.loads(token, HOURS_48)
    assert exc.value.payload == {"a": "id1"}


def test_tampered_token_is_invalid(tokens_clock):
    """Changing one character of the payload or the signature makes it invalid."""
    tokens, _ = tokens_clock
    token = tokens.activation.dumps({"a": "id1"})
    payload, stamp, signature = token.split(".")
    forged = tokens.activation.dumps({"a": "id2"}).split(".")[0]
    bad_tokens = (f"{forged}.{stamp}.{signature}", f"{payload}.{stamp}.{signature[:-2]}xy", token[:-1], "x.y")
    for bad in bad_tokens:
        with pytest.raises(TokenInvalid):
            tokens.activation.loads(bad, HOURS_48)


def test_purposes_do_not_mix(tokens_clock):
    """An activation token is invalid as a reset token, and vice versa."""
    tokens, _ = tokens_clock
    with pytest.raises(TokenInvalid):
        tokens.reset.loads(tokens.activation.dumps({"a": "x"}), HOURS_48)
    with pytest.raises(TokenInvalid):
        tokens.activation.loads(tokens.reset.dumps({"a": "x"}), HOURS_48)


def test_key_rotation(tokens_clock):
    """With keys (new, old), tokens signed with the old key still load; a removed key's tokens do not."""
    old_tokens, clock = Tokens([OLD], tokens_clock[1]), tokens_clock[1]
    token = old_tokens.activation.dumps({"a": "x"})
    assert Tokens([KEY, OLD], clock).activation.loads(token, HOURS_48) == {"a": "x"}
    new_token = Tokens([KEY, OLD], clock).activation.dumps({"a": "y"})
    # signed with the first key:
    assert Tokens([KEY], clock).activation.loads(new_token, HOURS_48) == {"a": "y"}
    with pytest.raises(TokenInvalid):
        Tokens([KEY], clock).activation.loads(token, HOURS_48)
