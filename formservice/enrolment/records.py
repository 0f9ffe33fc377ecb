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

# The enrolment's own status: « Enregistrer » done, then « J'ai fourni toutes mes pièces » done.
# Defined here, below the rules, so that the dossier's states (``review.states``) read it
# without importing the rules, which ask those states whether the candidate may still edit.
STATUS_SAVED = "saved"
STATUS_COMPLETE = "complete"

__all__ = [
    "STATUS_COMPLETE",
    "STATUS_SAVED",
    "AddressChange",
    "Enrolment",
    "EnrolmentFile",
    "HistoryEntry",
    "Receipt",
    "ReceiptFile",
    "StoredFileMeta",
]
