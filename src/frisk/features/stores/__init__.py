"""State stores behind ``frisk.features.state.StateStore``: the in-process one (the default)."""

from __future__ import annotations

from frisk.features.stores.memory import SNAPSHOT_FORMAT, MemoryStore

__all__ = ["SNAPSHOT_FORMAT", "MemoryStore"]
