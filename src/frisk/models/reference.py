"""The training reference drift monitoring compares live traffic with.

Built on the validation period (held-out time, calibrated scores):

    {"bins": 10,
     "score": {"quantiles": [101 values, q0..q100], "edges": [...], "shares": [...]},
     "features": {name: {"kind": "numeric", "edges": [...], "shares": [...], "missing": share}
                  | {"kind": "categorical", "shares": {code: share}, "missing": share}}}

``edges`` are the inner quantile cut points; a value falls in bin ``searchsorted(edges, value,
side="right")`` so ``len(shares) == len(edges) + 1``; PSI against live traffic binned the same way
needs nothing but numpy. ``features`` covers the most important features by total gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from frisk.models.dataset import FeatureSpec

__all__ = ["quantile_bins", "training_reference"]

Floats = npt.NDArray[np.float64]


def training_reference(
    scores: Floats,
    matrix: Floats,
    spec: FeatureSpec,
    importance: Sequence[float],
    *,
    top: int = 10,
    bins: int = 10,
) -> dict[str, Any]:
    """Score quantiles and per-feature bins of the ``top`` features by ``importance``."""
    order = np.argsort(-np.asarray(importance, dtype=np.float64), kind="stable")[:top]
    categorical = set(spec.categorical)
    features: dict[str, Any] = {}
    for index in order:
        name = spec.names[int(index)]
        column = matrix[:, int(index)]
        if name in categorical:
            features[name] = _categorical(column)
        else:
            features[name] = {"kind": "numeric", **quantile_bins(column, bins)}
    return {
        "bins": bins,
        "rows": int(scores.size),
        "score": {
            "quantiles": np.quantile(scores, np.linspace(0, 1, 101)).tolist()
            if scores.size
            else [],
            **quantile_bins(scores, bins),
        },
        "features": features,
    }


def quantile_bins(values: Floats, bins: int = 10) -> dict[str, Any]:
    """Inner quantile edges of the defined values, each bin's share, and the missing share."""
    defined = values[np.isfinite(values)]
    missing = 1.0 - defined.size / values.size if values.size else 0.0
    if defined.size == 0:
        return {"edges": [], "shares": [], "missing": missing}
    edges = np.unique(np.quantile(defined, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, defined, side="right"), minlength=edges.size + 1)
    return {
        "edges": edges.tolist(),
        "shares": (counts / defined.size).tolist(),
        "missing": missing,
    }


def _categorical(codes: Floats) -> dict[str, Any]:
    defined = codes[np.isfinite(codes)]
    missing = 1.0 - defined.size / codes.size if codes.size else 0.0
    values, counts = np.unique(defined.astype(np.int64), return_counts=True)
    shares = {
        str(int(v)): float(c) / max(defined.size, 1) for v, c in zip(values, counts, strict=True)
    }
    return {"kind": "categorical", "shares": shares, "missing": missing}
