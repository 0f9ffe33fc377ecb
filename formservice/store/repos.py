"""Repositories in the domain's words, over any Engine.

Views and services call these; none of them knows which engine is underneath.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from formservice.store.contract import Doc, DuplicateKey, Engine, Mutator


class Accounts:
    table = "accounts"

    def __init__(self, engine: Engine):
        self.engine = engine

    async def get(self, account_id: str) -> Doc | None:
        return await self.engine.get(self.table, account_id)

    async def by_email(self, email: str) -> Doc | None:
        return await self.engine.find_one(self.table, "email", email)

    async def create_if_email_free(self, account: Doc) -> bool:
        """Insert the account unless its e-mail is taken; atomic, so two signups racing on
        one address give one account."""
        try:
            await self.engine.insert(self.table, account)
        except DuplicateKey:
            return False
        return True

    async def update(self, account_id: str, fn: Mutator) -> Doc:
        return await self.engine.update(self.table, account_id, fn)

    async def delete_if(self, account_id: str, predicate: Callable[[Doc], bool]) -> bool:
        return await self.engine.delete(self.table, account_id, predicate)

    async def with_status(self, status: str) -> list[Doc]:
        return await self.engine.find(self.table, "status", status)

    async def count(self) -> int:
        return await self.engine.count(self.table)


class Sessions:
    table = "sessions"

    def __init__(self, engine: Engine):
        self.engine = engine

    async def create(self, session: Doc) -> Doc:
        return await self.engine.insert(self.table, session)

    async def get(self, session_id: str) -> Doc | None:
        return await self.engine.get(self.table, session_id)

    async def update(self, session_id: str, fn: Mutator) -> Doc:
        return await self.engine.update(self.table, session_id, fn)

    async def delete(self, session_id: str) -> bool:
        return await self.engine.delete(self.table, session_id)

    async def delete_for_account(self, account_id: str, keep: str | None = None) -> int:
        removed = 0
        for doc in await self.engine.find(self.table, "account_id", account_id):
            if doc["id"] != keep and await self.engine.delete(self.table, doc["id"]):
                removed += 1
        return removed


class Enrolments:
    """One enrolment per account and session; uploads and requests live inside it, so that a
    save, an upload or « J'ai fourni toutes mes pièces » is one atomic, version-checked write."""

    table = "enrolments"

    def __init__(self, engine: Engine):
        self.engine = engine

    async def get(self, enrolment_id: str) -> Doc | None:
        return await self.engine.get(self.table, enrolment_id)

    async def for_account(self, account_id: str) -> list[Doc]:
        return await self.engine.find(self.table, "account_id", account_id)

    async def get_by_key(self, key: str) -> Doc | None:
        """The enrolment of one account for one session (see `enrolment_key`)."""
        return await self.engine.find_one(self.table, "key", key)

    async def create_if_absent(self, enrolment: Doc) -> bool:
        """Insert unless the account already has one for this session (unique ``key``)."""
        try:
            await self.engine.insert(self.table, enrolment)
        except DuplicateKey:
            return False
        return True

    async def update(self, enrolment_id: str, fn: Mutator) -> Doc:
        return await self.engine.update(self.table, enrolment_id, fn)

    async def with_status(self, status: str) -> list[Doc]:
        return await self.engine.find(self.table, "status", status)


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.accounts = Accounts(engine)
        self.sessions = Sessions(engine)
        self.enrolments = Enrolments(engine)

    async def close(self) -> None:
        await self.engine.close()

    def __repr__(self) -> str:
        return f"Store({type(self.engine).__name__})"


def enrolment_key(account_id: str, session_name: Any) -> str:
    return f"{account_id}:{session_name}"
