"""Choose the engine from a URL: ``tinydb:PATH`` (the embedded default), ``postgresql://…``
(several workers and machines) or ``memory:``.

The one module that knows every engine; everything else sees the contract only.
"""

from __future__ import annotations

from pathlib import Path

from formservice.store.contract import Engine, StoreError


class UnknownEngine(StoreError):
    pass


def open_engine(url: str) -> Engine:
    """Open the engine ``url`` names. Raises StoreLocked when another process already serves
    this TinyDB directory, StoreUnavailable when the PostgreSQL database cannot be reached,
    SchemaTooNew when it was migrated by a newer release, UnknownEngine for a scheme this
    version does not know."""
    scheme, _, rest = str(url).partition(":")
    if scheme == "tinydb" and rest:
        from formservice.store.tinydb.engine import TinyDBEngine

        return TinyDBEngine(Path(rest))
    if scheme in ("postgresql", "postgres") and rest.startswith("//"):
        from formservice.store.postgres.engine import PostgresEngine

        return PostgresEngine(str(url))
    if scheme == "memory":
        from formservice.store.memory import MemoryEngine

        return MemoryEngine()
    raise UnknownEngine(f"moteur de stockage inconnu : « {url} » (attendu : tinydb:CHEMIN ou postgresql://…)")
