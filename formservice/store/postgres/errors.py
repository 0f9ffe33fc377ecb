"""The database's troubles, as the store contract names them: StoreUnavailable, never a 500."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.errors
import psycopg_pool

from formservice.store.contract import StoreUnavailable

# Errors meaning "the database cannot take this now": nothing was acknowledged.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # unreachable, restarting (57P01), disk full (53100), too many clients
    psycopg.InterfaceError,  # the connection was closed under us
    psycopg.errors.ReadOnlySqlTransaction,  # a standby, or default_transaction_read_only
    psycopg_pool.PoolTimeout,
    psycopg_pool.PoolClosed,
)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreUnavailable(f"base PostgreSQL {redacted(url)} indisponible : {detail}")
