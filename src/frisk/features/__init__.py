"""Features: one set of definitions, an online and an offline executor that agree exactly.

``resolve_catalogue`` loads a catalogue (``"default"`` or a TOML file), ``compute_offline``
computes every feature of a table at once, ``OnlineFeatures`` computes them event by event.
The semantics both follow are described in ``frisk.features.online`` and docs/FEATURES.md.
"""

from __future__ import annotations

from frisk.features.catalogue import Catalogue, load_catalogue, resolve_catalogue
from frisk.features.offline import compute_offline
from frisk.features.online import OnlineFeatures
from frisk.features.spec import FeatureSpec, Window
from frisk.features.state import StateStore
from frisk.features.stores.memory import MemoryStore

__all__ = [
    "Catalogue",
    "FeatureSpec",
    "MemoryStore",
    "OnlineFeatures",
    "StateStore",
    "Window",
    "compute_offline",
    "load_catalogue",
    "resolve_catalogue",
]
