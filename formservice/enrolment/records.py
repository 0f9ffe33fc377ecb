"""The enrolment as stored: one document per account and session, holding its files, its history,
its receipt and the address changes reported, so that each change is one atomic, version-checked
write (defined with the store contract, which the engines share)."""

from formservice.store.records import (
    AddressChange,
    Enrolment,
    EnrolmentFile,
    HistoryEntry,
    Receipt,
    ReceiptFile,
    StoredFileMeta,
)

__all__ = [
    "AddressChange",
    "Enrolment",
    "EnrolmentFile",
    "HistoryEntry",
    "Receipt",
    "ReceiptFile",
    "StoredFileMeta",
]
