"""``import_lightgbm``: LightGBM without its optional scikit-learn and pandas integrations.

``import lightgbm`` imports scikit-learn and pandas when they are installed, only to offer its
scikit-learn style estimators and pandas inputs, neither of which Frisk uses (it trains with
``lightgbm.train`` on NumPy matrices). That was 0.8 s of the 1.0 s a command or a service start
spent importing LightGBM. Hiding the two packages while LightGBM imports makes it skip them;
they import normally afterwards (training still uses scikit-learn's isotonic regression).
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

__all__ = ["import_lightgbm"]

_OPTIONAL = ("sklearn", "pandas")
_LOCK = threading.Lock()


def import_lightgbm() -> ModuleType:
    """The ``lightgbm`` module, imported without its optional integrations if not yet imported.

    One thread at a time: while LightGBM imports, the two packages are hidden from every
    thread, and a second caller must wait for the import rather than see a half-made module.
    """
    with _LOCK:
        if "lightgbm" in sys.modules:
            import lightgbm  # waits for an import another thread began outside this function

            return lightgbm
        hidden = [name for name in _OPTIONAL if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # makes ``import name`` fail
        try:
            import lightgbm
        finally:
            for name in hidden:
                if sys.modules.get(name, ...) is None:
                    del sys.modules[name]
        return lightgbm
