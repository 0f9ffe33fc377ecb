"""Account rules, as plain functions over plain data (no Starlette, no store, no Jinja).

An account is a dict as stored::

    {"id", "email", "status": "pending" | "active", "password_hash",
     "created_at", "activated_at", "password_changed_at"}   # instants in ISO 8601 UTC

The notice says: a valid and unique e-mail, a password kept for the whole session, and an
« Activer mon compte » link to click within ``activation_hours`` or the account is deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email

from formservice.accounts.records import Account
from formservice.clock import from_iso, to_iso
from formservice.errors import BadRequest

PENDING = "pending"
ACTIVE = "active"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254


class EmailInvalid(BadRequest):
    """The message is French and names the problem."""


class ActivationRefused(Exception):
    """Why ``activate`` refused; raised inside the store's atomic update so nothing is written."""


class AlreadyActive(ActivationRefused):
    pass


class ActivationExpired(ActivationRefused):
    pass


def normalize_email(raw: str) -> str:
    """Check the syntax and return the one form stored and compared: NFC, lower-cased.

    The local part is lower-cased too: no mail provider a candidate uses treats
    ``Jean.Dupont`` and ``jean.dupont`` as two people, and two accounts for one person would be worse.
    No DNS check: a candidate may sign up while the network hiccups, and the activation mail
    proves the address anyway.
    """
    text = (raw or "").strip()
    if not text:
        raise EmailInvalid("Indiquez votre adresse électronique.")
    if len(text) > MAX_EMAIL_LENGTH:
        raise EmailInvalid("Cette adresse électronique est trop longue.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise EmailInvalid(
            "Cette adresse électronique n'est pas valide : vérifiez-la (par exemple prenom.nom@exemple.fr)."
        ) from None
    return result.normalized.lower()


def local_part(email: str) -> str:
    return email.rsplit("@", 1)[0]


def password_problem(password: str, email: str | None, is_common: Callable[[str], bool]) -> str | None:
    """The French reason to refuse this password, or None. No composition rules (NIST 800-63B):
    length, not a common password, not built on the e-mail's local part."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit comporter au moins {MIN_PASSWORD_LENGTH} caractères."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Le mot de passe ne doit pas dépasser {MAX_PASSWORD_LENGTH} caractères."
    lowered = password.lower()
    if is_common(password) or len(set(lowered)) <= 3:
        return (
            "Ce mot de passe est trop courant ou trop simple : choisissez-en un autre, "
            "une phrase par exemple."
        )
    if email:
        local = local_part(email).lower()
        compact = re.sub(r"[^0-9a-z]", "", local)
        pieces = {local} | ({compact} if len(compact) >= 4 else set())
        if len(local) >= 3 and any(p and p in lowered for p in pieces):
            return "Le mot de passe ne doit pas contenir votre adresse électronique."
    return None


def new_account(account_id: str, email: str, password_hash: str, now: datetime) -> Account:
    return {
        "id": account_id,
        "email": email,
        "status": PENDING,
        "password_hash": password_hash,
        "created_at": to_iso(now),
        "activated_at": None,
        "password_changed_at": to_iso(now),
    }


def activation_deadline(account: Account, delay: timedelta) -> datetime:
    return from_iso(account["created_at"]) + delay


def activation_expired(account: Account, now: datetime, delay: timedelta) -> bool:
    """A pending account whose delay has run out (at the deadline itself, it is over)."""
    return account.get("status") == PENDING and now >= activation_deadline(account, delay)


def may_purge(now: datetime, delay: timedelta) -> Callable[[Account], bool]:
    """The predicate the purge deletes with, evaluated under the store's lock: never an active
    account, so an activation that wins the race is kept."""
    return lambda account: activation_expired(account, now, delay)


def activate(now: datetime, delay: timedelta) -> Callable[[Account], Account]:
    """The atomic mutator for activation; raises AlreadyActive or ActivationExpired."""

    def mutate(account: Account) -> Account:
        if account.get("status") == ACTIVE:
            raise AlreadyActive()
        if activation_expired(account, now, delay):
            raise ActivationExpired()
        return account | {"status": ACTIVE, "activated_at": to_iso(now)}

    return mutate


def set_password(
    password_hash: str, now: datetime, expected_fingerprint: str | None = None
) -> Callable[[Account], Account]:
    """The atomic mutator for a new password. With ``expected_fingerprint`` (reset links), it
    refuses if the password changed since the link was made: a reset link works once."""

    def mutate(account: Account) -> Account:
        if expected_fingerprint is not None and password_fingerprint(account) != expected_fingerprint:
            raise PasswordChangedMeanwhile()
        return account | {"password_hash": password_hash, "password_changed_at": to_iso(now)}

    return mutate


class PasswordChangedMeanwhile(Exception):
    pass


def password_fingerprint(account: Account) -> str:
    """A short digest of the stored hash, put in reset links so that they die with the password."""
    return hashlib.sha256(account["password_hash"].encode()).hexdigest()[:16]


def is_active(account: Account | None) -> bool:
    return account is not None and account.get("status") == ACTIVE


def session_outlived(account: Account, session_created_at: str) -> bool:
    """A session opened before the account's last password change is over: a stolen session
    dies with the password, even if deleting it failed."""
    return from_iso(session_created_at) < from_iso(account["password_changed_at"])
