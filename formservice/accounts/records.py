"""Accounts and sessions as stored (defined with the store contract, which the engines share)."""

from formservice.store.records import Account, Session

__all__ = ["Account", "Session"]
