"""Documents and small tools shared by the store tests."""

from __future__ import annotations

from functools import cache
from typing import Any

from enrolment_forms import valid_enrolment_form
from notice_factory import NOTICE_YML

from formservice.enrolment import rules
from formservice.notice import load_notice


def account(n: int | str, **fields: Any) -> dict[str, Any]:
    """A realistic account document (about 500 bytes, like the service's)."""
    return {
        "id": f"acc-{n}",
        "email": f"candidat{n}@exemple.fr",
        "status": "pending",
        "version": 1,
        "password": "$argon2id$v=19$m=65536,t=3,p=4$" + "x" * 70,
        "last_name": "Martin",
        "first_names": "Léa Anne",
        "address": "3 rue des Écoles, 86000 Poitiers",
        "created_at": "2025-10-21T09:00:00+02:00",
        **fields,
    }


@cache
def enrolment_data() -> dict[str, Any]:
    """What the service stores of a valid « M'inscrire » form (the tests' one builder of it)."""
    notice = load_notice(NOTICE_YML)
    result = rules.read_form(valid_enrolment_form(notice), notice)
    assert result.ok, result.errors
    return result.data


def enrolment(n: int | str, account_id: str = "acc-1", **fields: Any) -> dict[str, Any]:
    """An enrolment document holding a valid form's data, as the service writes it."""
    return {
        "id": f"enr-{n}",
        "key": f"{account_id}:session-{n}",
        "account_id": account_id,
        "status": "draft",
        "version": 1,
        "data": dict(enrolment_data()),
        "uploads": [],
        **fields,
    }


def bump(expected: int, **changes: Any) -> Any:
    """An update function doing the service's optimistic version check."""

    def fn(doc: dict[str, Any]) -> dict[str, Any]:
        if doc["version"] != expected:
            raise VersionConflict(doc["version"])
        return doc | changes | {"version": expected + 1}

    return fn


class VersionConflict(Exception):
    pass
