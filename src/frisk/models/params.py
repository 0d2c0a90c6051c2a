"""LightGBM parameters: defaults that hold from 50k to 50M rows, overrides, a small search.

Defaults, and why:
- ``learning_rate`` 0.1 with early stopping (patience 30, ceiling 1000 trees): on 165k simulated
  events 0.05 needed 500 trees for the same validation AP (0.935 vs 0.934) that 0.1 reached with
  260; trees cost training time and, above all, scoring time.
- ``num_leaves`` 31 (63 from 1M fit rows on): more data supports deeper interactions.
- ``min_child_samples`` grows with the data (rows / 10,000, within 20..1,000): a leaf of 20 rows
  in 50M is noise; ``min_sum_hessian_in_leaf`` stays small so rare fraud leaves can still form.
- ``feature_fraction`` 0.8 and ``bagging`` 0.8 every iteration, both 0.5 from 500k fit rows on:
  decorrelated trees, and histogram time falls with the bagged share. On 1M simulated events
  (610k fit rows) feature_fraction 0.5 kept validation AP (0.845 vs 0.843) with 92 trees instead
  of 101: fewer trees is faster scoring. Balanced bagging (every fraud, a quarter of the legit
  rows per tree) needed 164 trees for the same AP, and ``max_bin`` 63 lost a little AP (0.842)
  for no clear time gain, so neither is a default.
- Legit rows are sampled (with weights) only above ``TrainConfig.max_fit_rows`` (5M): below it
  bagging already bounds the cost of a tree, and every legit row still serves some trees.
- ``max_bin`` 255: LightGBM's default; amounts and counts are skewed, quantile bins handle that.
- ``lambda_l2`` 1 and categorical smoothing: stability with rare fraud.
- ``deterministic`` with ``force_row_wise`` and a fixed ``num_threads``: the same seed and data give
  the same booster (also across thread counts: 1 and 2 threads gave the same 164 trees).
- ``num_threads`` 1 by default (``TrainConfig``): on this 2-core machine shared with other work
  (load 2-3), 2 threads took 84 s against 66 s for 1 on the same 1M-event fit; OpenMP threads
  spin-wait on a busy core. ``frisk train --threads 2`` is right on an idle machine or CI.
Fraud is weighted by ``sqrt(legit / fraud)`` rather than the full ratio: it lifts the rare class
enough for ranking without the full ratio's over-confident, badly calibrated raw margins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np

from frisk.errors import ModelError

__all__ = [
    "ROUND_ALIASES",
    "SEARCH_SPACE",
    "default_params",
    "merge_params",
    "pos_weight_of",
    "sample_params",
]

# Parameters that name the number of boosting rounds; ``train`` owns that number.
ROUND_ALIASES: Final = frozenset(
    {
        "num_iterations",
        "num_iteration",
        "n_iter",
        "num_tree",
        "num_trees",
        "num_round",
        "num_rounds",
        "nrounds",
        "num_boost_round",
        "n_estimators",
        "max_iter",
    }
)
# Parameters Frisk sets itself: changing them would break scoring or calibration.
_FIXED: Final = frozenset({"objective", "application", "app", "boosting", "boosting_type"})

SEARCH_SPACE: Final[dict[str, tuple[Any, ...]]] = {
    "num_leaves": (15, 31, 63, 127),
    "learning_rate": (0.03, 0.05, 0.1),
    "min_child_samples": (20, 50, 100, 200, 500),
    "feature_fraction": (0.6, 0.8, 1.0),
    "lambda_l2": (0.0, 1.0, 10.0),
}


def default_params(fit_rows: int, seed: int, num_threads: int) -> dict[str, Any]:
    """Parameters for a binary fraud booster fitted on ``fit_rows`` rows."""
    return {
        "objective": "binary",
        "learning_rate": 0.1,
        "num_leaves": 63 if fit_rows >= 1_000_000 else 31,
        "min_child_samples": int(min(1000, max(20, fit_rows // 10_000))),
        "min_sum_hessian_in_leaf": 1e-3,
        "feature_fraction": 0.5 if fit_rows >= 500_000 else 0.8,
        "bagging_fraction": 0.5 if fit_rows >= 500_000 else 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_bin": 255,
        "cat_smooth": 10.0,
        "min_data_per_group": 50,
        "max_cat_threshold": 32,
        "metric": ["average_precision", "binary_logloss"],
        "first_metric_only": True,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": num_threads,
        "verbose": -1,
    }


def merge_params(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with user ``overrides``; refuses the ones that would break the model."""
    fixed = sorted(set(overrides) & _FIXED)
    if fixed:
        raise ModelError(f"parameter(s) {fixed} cannot be overridden: Frisk trains a binary model")
    rounds = sorted(set(overrides) & ROUND_ALIASES)
    if rounds:
        raise ModelError(
            f"parameter(s) {rounds}: the number of trees is set by early stopping "
            "(use the trainer's num_boost_round for the ceiling)"
        )
    return {**base, **overrides}


def sample_params(trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` distinct parameter sets drawn from ``SEARCH_SPACE``, the same for a seed."""
    if trials < 1:
        raise ModelError(f"search trials {trials}: expected at least 1")
    rng = np.random.default_rng(seed)
    size = math.prod(len(v) for v in SEARCH_SPACE.values())
    picks = rng.choice(size, size=min(trials, size), replace=False)
    return [_nth(int(i)) for i in picks]


def pos_weight_of(frauds: float, legit: float, rule: str | float | None = None) -> float:
    """The fraud weight: ``sqrt(legit / fraud)`` by default, ``"ratio"`` for the full ratio."""
    if frauds <= 0:
        raise ModelError("the training period has no fraud; nothing to learn from")
    rules: dict[str, Callable[[float], float]] = {"sqrt": math.sqrt, "ratio": lambda r: r}
    if rule is None:
        rule = "sqrt"
    if isinstance(rule, str):
        if rule not in rules:
            raise ModelError(f"fraud weight {rule!r}: expected 'sqrt', 'ratio' or a number")
        return max(1.0, rules[rule](legit / frauds))
    if rule <= 0:
        raise ModelError(f"fraud weight {rule!r}: expected a positive number")
    return float(rule)


def _nth(index: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, values in SEARCH_SPACE.items():
        index, pick = divmod(index, len(values))
        params[name] = values[pick]
    return params
