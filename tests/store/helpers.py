"""Documents and small tools shared by the store tests."""

from __future__ import annotations

from typing import Any


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


def enrolment(n: int | str, account_id: str = "acc-1", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"enr-{n}",
        "key": f"{account_id}:session-{n}",
        "account_id": account_id,
        "status": "draft",
        "version": 1,
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
