"""Choose the engine from a URL: ``tinydb:PATH`` (the embedded default) or ``memory:``.

The one module that knows every engine; everything else sees the contract only.
"""

from __future__ import annotations

from pathlib import Path

from formservice.store.contract import Engine, StoreError


class UnknownEngine(StoreError):
    pass


def open_engine(url: str) -> Engine:
    """Open the engine ``url`` names. Raises StoreLocked when another process already serves
    this TinyDB directory, UnknownEngine for a scheme this version does not know."""
    scheme, _, rest = str(url).partition(":")
    if scheme == "tinydb" and rest:
        from formservice.store.tinydb.engine import TinyDBEngine

        return TinyDBEngine(Path(rest))
    if scheme == "memory":
        from formservice.store.memory import MemoryEngine

        return MemoryEngine()
    raise UnknownEngine(f"moteur de stockage inconnu : « {url} » (attendu : tinydb:CHEMIN)")
