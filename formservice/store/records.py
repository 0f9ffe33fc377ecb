"""The records as stored, typed: what every engine keeps and every migration reads.

They belong to the store contract because the repositories return them and the migrations
rewrite them; the features re-export the ones they work with (``accounts.records``,
``enrolment.records``). Instants are ``clock.to_iso`` strings (UTC, to the second).
"""

from __future__ import annotations

from typing import Any, TypedDict


# -- accounts ----------------------------------------------------------------------------------
class Account(TypedDict):
    id: str
    email: str  # normalised (rules.normalize_email), unique
    status: str  # rules.PENDING | rules.ACTIVE
    password_hash: str  # argon2id
    created_at: str
    activated_at: str | None
    password_changed_at: str


class Session(TypedDict):
    id: str  # SHA-256 of the cookie's value: the cookie itself is never stored
    account_id: str
    created_at: str
    last_seen: str


# -- enrolments --------------------------------------------------------------------------------
class StoredFileMeta(TypedDict):
    """A file as ``upload`` records it (``document_id`` and ``uploaded_at`` are added by the rules)."""

    id: str
    stored_name: str  # under files_dir/<account id>/: generated, never the candidate's name
    display_name: str  # the candidate's name, made safe (uploads.safe_display_name)
    size: int
    sha256: str
    media_type: str


class EnrolmentFile(StoredFileMeta):
    document_id: str
    uploaded_at: str


class HistoryEntry(TypedDict):
    version: int
    at: str
    changes: list[str]  # labels of the fields that changed


class ReceiptFile(TypedDict):
    document_id: str
    display_name: str
    size: int
    sha256: str


class Receipt(TypedDict):
    """« J'ai fourni toutes mes pièces »: what was handed in, frozen."""

    at: str
    version: int
    files: list[ReceiptFile]


class AddressChange(TypedDict):
    at: str
    address: dict[str, str]


class _EnrolmentBase(TypedDict):
    id: str
    key: str  # "<account id>:<session name>", unique
    account_id: str
    session: str
    status: str  # rules.STATUS_SAVED | rules.STATUS_COMPLETE
    version: int  # 0 before the first « Enregistrer »
    data: dict[str, Any]  # the form's fields, see rules.LABELS
    created_at: str
    updated_at: str
    history: list[HistoryEntry]
    files: list[EnrolmentFile]
    address_changes: list[AddressChange]


class Enrolment(_EnrolmentBase, total=False):
    completed_at: str
    receipt: Receipt


# -- the mail outbox ----------------------------------------------------------------------------
class OutboxMail(TypedDict):
    """A mail to deliver, recorded in the same atomic step as the change that causes it. Deleted
    once the relay accepted it; ``failed`` ones stay for the operator (``formservice mail status``)."""

    id: str
    state: str  # "pending" | "failed"
    to: str
    reply_to: str | None
    subject: str
    text: str
    html: str | None
    message_id: str  # stable: a mail sent again after a crash is the same mail for its reader
    created_at: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
