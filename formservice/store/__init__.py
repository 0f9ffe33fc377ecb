"""Storage: a small engine contract (base.py), its implementations, domain-named repositories."""

from formservice.store.contract import (
    TABLES,
    Doc,
    DuplicateKey,
    Engine,
    RecordMissing,
    Selection,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    Where,
)
from formservice.store.repos import Store

__all__ = [
    "TABLES",
    "Doc",
    "DuplicateKey",
    "Engine",
    "RecordMissing",
    "Selection",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "Where",
]
