"""Staff members and their sessions as stored (defined with the store contract, which the engines share)."""

from formservice.store.records import RecoveryCode, Staff, StaffSession

__all__ = ["RecoveryCode", "Staff", "StaffSession"]
