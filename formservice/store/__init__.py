"""Storage: a small engine contract (base.py), its implementations, domain-named repositories."""

from formservice.store.contract import (
    TABLES,
    Doc,
    DuplicateKey,
    Engine,
    RecordMissing,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from formservice.store.repos import Store

__all__ = [
    "TABLES",
    "Doc",
    "DuplicateKey",
    "Engine",
    "RecordMissing",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
]
