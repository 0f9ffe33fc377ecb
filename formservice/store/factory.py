"""Choose the engine for a data directory."""

from __future__ import annotations

from pathlib import Path

from formservice.store.contract import Engine


def open_engine(data_dir: Path) -> Engine:
    """The embedded default: the TinyDB engine in ``data_dir / "store"``.

    Raises StoreLocked when another process already serves this data directory.
    """
    from formservice.store.tinydb.engine import TinyDBEngine

    return TinyDBEngine(Path(data_dir) / "store")
