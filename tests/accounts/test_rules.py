"""Domain rules of accounts.py: e-mail, password policy, activation delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from formservice.accounts import rules
from formservice.accounts.passwords import is_common

NOW = datetime(2025, 10, 22, 8, 0, tzinfo=UTC)
DELAY = timedelta(hours=48)


def test_email_is_normalised():
    """Spaces are trimmed and the address is lower-cased, domain and local part."""
    assert rules.normalize_email("  Jean.Dupont@Exemple.FR ") == "jean.dupont@exemple.fr"


BAD_EMAILS = ["", "jean", "jean@", "@exemple.fr", "jean dupont@exemple.fr", "a@b", "x" * 250 + "@a.fr"]


@pytest.mark.parametrize("raw", BAD_EMAILS)
def test_bad_email_is_refused_in_french(raw):
    """A malformed address raises EmailInvalid with a French sentence."""
    with pytest.raises(rules.EmailInvalid) as exc:
        rules.normalize_email(raw)
    assert "adresse" in str(exc.value)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("court", "au moins 12"),
        ("x" * 257, "dépasser"),
        ("motdepasse123", "trop courant"),
        ("AZERTYUIOP123", "trop courant"),
        ("aaaaaaaaaaaaab", "trop simple"),
        ("jean.dupont 2026 !", "adresse"),
        ("JeanDupont-2026!x", "adresse"),
    ],
)
def test_password_policy_refusals(password, expected):
    """Too short, too long, common, trivial or built on the e-mail's local part: refused."""
    problem = rules.password_problem(password, "jean.dupont@exemple.fr", is_common)
    assert problem is not None and expected in problem


def test_password_policy_accepts_a_passphrase_without_composition_rules():
    """12 lowercase letters and spaces are enough: no composition rules."""
    assert rules.password_problem("cheval agrafe batterie", "jean.dupont@exemple.fr", is_common) is None


def test_activation_boundaries_47h59_ok_48h01_expired():
    """A pending account is still activable at 47 h 59 and expired at 48 h 01 (and at 48 h)."""
    account = rules.new_account("a1", "x@exemple.fr", "h", NOW)
    assert not rules.activation_expired(account, NOW + timedelta(hours=47, minutes=59), DELAY)
    assert rules.activation_expired(account, NOW + timedelta(hours=48), DELAY)
    assert rules.activation_expired(account, NOW + timedelta(hours=48, minutes=1), DELAY)


def test_purge_predicate_never_matches_an_active_account():
    """An activated account is never purgeable, however old."""
    account = rules.new_account("a1", "x@exemple.fr", "h", NOW) | {"status": rules.ACTIVE}
    assert not rules.may_purge(NOW + timedelta(days=400), DELAY)(account)


def test_activate_mutator_refuses_twice_and_late():
    """activate() sets the status once; again: AlreadyActive; after the delay: ActivationExpired."""
    account = rules.new_account("a1", "x@exemple.fr", "h", NOW)
    active = rules.activate(NOW + timedelta(hours=1), DELAY)(account)
    assert active["status"] == rules.ACTIVE and active["activated_at"]
    with pytest.raises(rules.AlreadyActive):
        rules.activate(NOW + timedelta(hours=2), DELAY)(active)
    with pytest.raises(rules.ActivationExpired):
        rules.activate(NOW + timedelta(hours=49), DELAY)(account)


def test_set_password_with_fingerprint_works_once():
    """A reset carries the old hash's fingerprint: after one change, the same fingerprint is refused."""
    account = rules.new_account("a1", "x@exemple.fr", "old-hash", NOW)
    fingerprint = rules.password_fingerprint(account)
    changed = rules.set_password("new-hash", NOW, fingerprint)(account)
    assert changed["password_hash"] == "new-hash"
    with pytest.raises(rules.PasswordChangedMeanwhile):
        rules.set_password("other", NOW, fingerprint)(changed)
