"""Signed, timed tokens: one signer per purpose.

Each purpose has its own salt, so an activation token is worthless on the reset route and vice
versa (itsdangerous derives a different key per salt). SHA-256, URL-safe. Key rotation: the
settings hold several keys, the first signs and all verify, so changing the key does not break
the links already mailed. Time comes from the injected clock, so expiry is testable to the second.

Single use is not the signer's business: each route checks the token's payload against the stored
state (an activation token names a pending account; a reset token carries a fingerprint of the
password hash it replaces).

To add a purpose (e.g. an e-mail change link): add a member to ``Purpose`` and use
``services.tokens.signer(Purpose.X)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from formservice.clock import Clock


class Purpose(StrEnum):
    ACTIVATION = "formservice.account.activation"
    RESET = "formservice.account.password-reset"
    STAFF_INVITATION = "formservice.staff.invitation"
    STAFF_SECOND_FACTOR = "formservice.staff.second-factor"
    # A refused upload's message, carried by the redirect that follows it (POST/redirect/GET)
    UPLOAD_MESSAGE = "formservice.space.upload-message"


class TokenError(Exception):
    """Base of token problems."""


class TokenInvalid(TokenError):
    """Tampered, truncated, signed for another purpose or with an unknown key."""


class TokenExpired(TokenError):
    def __init__(self, signed_at: datetime | None, payload: Any = None):
        self.signed_at = signed_at
        self.payload = payload
        super().__init__("token expired")


class _ClockSigner(TimestampSigner):
    def __init__(self, *args: Any, clock: Clock, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


class TokenSigner:
    def __init__(self, secret_keys: Sequence[str], purpose: Purpose, clock: Clock):
        self.purpose = purpose
        # itsdangerous wants keys oldest to newest and signs with the last one.
        self._serializer = URLSafeTimedSerializer(
            list(reversed(secret_keys)),
            salt=purpose.value,
            signer=_ClockSigner,
            signer_kwargs={"clock": clock, "digest_method": hashlib.sha256, "key_derivation": "hmac"},
            fallback_signers=[],
        )

    def dumps(self, payload: dict[str, Any]) -> str:
        token = self._serializer.dumps(payload)
        return token if isinstance(token, str) else token.decode()

    def loads(self, token: str, max_age: timedelta) -> dict[str, Any]:
        try:
            payload = self._serializer.loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired as exc:
            # The signature was good: the payload is trustworthy, only late.
            try:
                late = self._serializer.load_payload(exc.payload) if exc.payload is not None else None
            except BadData:
                late = None
            raise TokenExpired(exc.date_signed, late if isinstance(late, dict) else None) from None
        except BadData:
            raise TokenInvalid() from None
        if not isinstance(payload, dict):
            raise TokenInvalid()
        return payload


class Tokens:
    """The signers of the service, by purpose."""

    def __init__(self, secret_keys: Sequence[str], clock: Clock):
        self._signers = {p: TokenSigner(secret_keys, p, clock) for p in Purpose}

    def signer(self, purpose: Purpose) -> TokenSigner:
        return self._signers[purpose]

    @property
    def activation(self) -> TokenSigner:
        return self._signers[Purpose.ACTIVATION]

    @property
    def reset(self) -> TokenSigner:
        return self._signers[Purpose.RESET]
