"""Single-row prediction through LightGBM's "fast" C entry points.

``Booster.predict`` on one row costs ~30 µs, nearly all of it Python-side set-up (checks, a
predictor object, output allocation). ``LGBM_BoosterPredictForMatSingleRowFast`` reuses a prepared
configuration and costs ~5 µs. The lightgbm Python package does not wrap it, so this module does,
and nothing else in Frisk touches ctypes. A configuration is not safe to share between threads,
so each thread lazily gets its own.

A ctypes call through ``CDLL`` releases the GIL and takes it back afterwards. For a call of a few
microseconds that is a loss: under load another thread (the ledger's writer) takes the GIL in
between, and the scoring thread waits to get it back (the service's median "model" stage was
94 µs for ~20 µs of work). Margins are therefore called through a ``PyDLL`` view of the same
library, which keeps the GIL; contributions (TreeSHAP, milliseconds) still release it.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from frisk.errors import ModelError

__all__ = ["SingleRowPredictor"]

RAW_SCORE: Final = 1
CONTRIB: Final = 3
_FLOAT64: Final = 1


class SingleRowPredictor:
    """Raw margin (or contributions) of one float64 row, via a reused fast configuration."""

    def __init__(self, booster: Any, num_features: int, predict_type: int = RAW_SCORE) -> None:
        self._booster = booster  # keeps the booster handle alive as long as the configurations
        self._num_features = num_features
        self._predict_type = predict_type
        self._outputs = num_features + 1 if predict_type == CONTRIB else 1
        self._call = _predict_function(holding_gil=predict_type != CONTRIB)
        self._local = threading.local()

    def predict(self, row: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The output for ``row`` (a C-contiguous float64 vector); a fresh array each call."""
        return self._run(row).copy()

    def margin(self, row: npt.NDArray[np.float64]) -> float:
        """The first output for ``row`` as a float: the raw margin of a ``RAW_SCORE`` predictor."""
        return float(self._run(row)[0])

    def _run(self, row: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Into the thread's own output buffer, whose pointers were made once: building ctypes
        # pointers per call cost more than the prediction.
        state = self._state()
        if row.shape != (self._num_features,) or row.dtype != np.float64:
            raise ModelError(
                f"expected {self._num_features} float64 feature values, got shape {row.shape}"
            )
        if not row.flags.c_contiguous:
            row = np.ascontiguousarray(row)
        status = self._call(state.config, row.ctypes.data, state.length_ref, state.out_ref)
        if status != 0:
            raise ModelError(f"lightgbm single-row predict failed: {_last_error()}")
        return state.out

    def _state(self) -> _Config:
        state: _Config | None = getattr(self._local, "state", None)
        if state is None:
            state = _Config(self._booster, self._num_features, self._predict_type, self._outputs)
            self._local.state = state
        return state


class _Config:
    """One thread's fast configuration, freed with it."""

    def __init__(self, booster: Any, num_features: int, predict_type: int, outputs: int) -> None:
        self._lib = _lib()
        self.config = ctypes.c_void_p()
        self.out = np.empty(outputs, dtype=np.float64)
        self.out_ref = self.out.ctypes.data
        self.length = ctypes.c_int64()
        self.length_ref = ctypes.byref(self.length)
        status = self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(predict_type),
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(-1),  # every iteration the saved booster kept
            ctypes.c_int(_FLOAT64),
            ctypes.c_int32(num_features),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self.config),
        )
        if status != 0:
            raise ModelError(f"lightgbm single-row predictor set-up failed: {_last_error()}")

    def __del__(self) -> None:
        if self.config:
            self._lib.LGBM_FastConfigFree(self.config)
            self.config = ctypes.c_void_p()


def _lib() -> Any:
    """LightGBM's loaded shared library (private to its package, hence the lookup)."""
    from frisk.models.lightgbm_import import import_lightgbm

    return vars(import_lightgbm().basic)["_LIB"]


@functools.cache
def _predict_function(*, holding_gil: bool) -> Any:
    """``LGBM_BoosterPredictForMatSingleRowFast`` from our own view of the loaded library.

    Through ``PyDLL`` it keeps the GIL (see the module docstring). Our own view, so that declaring
    the argument types (pointers passed as plain integers) leaves LightGBM's ``_LIB`` untouched.
    """
    lib = _lib()
    view = (ctypes.PyDLL if holding_gil else ctypes.CDLL)(lib._name, handle=lib._handle)
    function = view.LGBM_BoosterPredictForMatSingleRowFast
    pointer = ctypes.c_void_p
    function.argtypes = [pointer, pointer, ctypes.POINTER(ctypes.c_int64), pointer]
    function.restype = ctypes.c_int
    return function


def _last_error() -> str:
    message: bytes = _lib().LGBM_GetLastError()
    return message.decode("utf-8", "replace")
