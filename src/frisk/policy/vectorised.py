"""Backtest evaluation: a checked rule tree translated to one Polars expression over a whole frame.

The semantics are those of ``frisk.policy.language`` and give the same truth value as
``frisk.policy.online`` row by row. Two Polars habits are undone on purpose: NaN compares greater
than every number in Polars (IEEE says false), so NaN becomes null before any comparison; and a
comparison with null is null there (three-valued), so every comparison fills null with false.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from frisk.policy.nodes import (
    Arith,
    Compare,
    Const,
    InList,
    InLiteral,
    IsMissing,
    Logic,
    Neg,
    Node,
    Not,
    StrTest,
    Var,
    variables_of,
)

__all__ = ["to_polars"]


def to_polars(node: Node, members: Mapping[str, frozenset[str]]) -> pl.Expr:
    """A Boolean expression with no nulls: the rule's truth value on every row.

    ``members`` holds each named list's values active at the backtest's instant.
    """
    expr = _expr(node, members)
    if not variables_of(node):
        # A rule that reads no column (``1 > 0``) is one value in Polars, not one per row:
        # work it out once and repeat it.
        value = bool(pl.select(expr.alias("v")).get_column("v")[0])
        expr = pl.repeat(value, pl.len(), dtype=pl.Boolean)
    return expr


def _expr(node: Node, members: Mapping[str, frozenset[str]]) -> pl.Expr:
    if isinstance(node, Const):
        dtype: Any = {"number": pl.Float64, "string": pl.String, "bool": pl.Boolean}[node.type]
        return pl.lit(node.value, dtype=dtype)
    if isinstance(node, Var):
        if node.type == "number":
            return _nan_to_null(pl.col(node.name).cast(pl.Float64))
        return pl.col(node.name).cast(pl.String)
    if isinstance(node, Arith):
        left, right = _expr(node.left, members), _expr(node.right, members)
        ops = {"+": left + right, "-": left - right, "*": left * right, "/": left / right}
        return _nan_to_null(ops[node.op])
    if isinstance(node, Neg):
        return -_expr(node.operand, members)
    if isinstance(node, Compare):
        left, right = _expr(node.left, members), _expr(node.right, members)
        compared = {
            ">": left > right,
            ">=": left >= right,
            "<": left < right,
            "<=": left <= right,
            "==": left == right,
            "!=": left != right,
        }[node.op]
        return compared.fill_null(False)
    if isinstance(node, Logic):
        left, right = _expr(node.left, members), _expr(node.right, members)
        return (left & right) if node.op == "&&" else (left | right)
    if isinstance(node, Not):
        return ~_expr(node.operand, members)
    if isinstance(node, InLiteral):
        operand = _expr(node.operand, members)
        if node.operand.type == "number":
            # Adding +0.0 turns -0.0 into 0.0: Python's sets hold them equal, hashing may not.
            values = pl.Series([float(v) + 0.0 for v in node.values], dtype=pl.Float64)
            return (operand + 0.0).is_in(values.implode()).fill_null(False)
        strings = pl.Series([str(v) for v in node.values], dtype=pl.String)
        return operand.is_in(strings.implode()).fill_null(False)
    if isinstance(node, InList):
        operand = _expr(node.operand, members)
        listed = pl.Series(sorted(members.get(node.list_name, frozenset())), dtype=pl.String)
        return operand.is_in(listed.implode()).fill_null(False)
    if isinstance(node, StrTest):
        text = _expr(node.operand, members)
        if node.method == "startsWith":
            tested = text.str.starts_with(node.arg)
        elif node.method == "endsWith":
            tested = text.str.ends_with(node.arg)
        else:
            tested = text.str.contains(node.arg, literal=True)
        return tested.fill_null(False)
    if isinstance(node, IsMissing):
        return _expr(node.operand, members).is_null()
    raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover


def _nan_to_null(value: pl.Expr) -> pl.Expr:
    """NaN as null (what the online evaluator reads it as), by ``replace``. Neither
    ``fill_nan(None)`` nor ``when(is_not_nan).then`` survive Polars 2.1's optimiser: a comparison
    over them came out one row long instead of one per row when every value was NaN or null
    (``0.0 < (a - a)`` with ``a`` infinite, ``0.0 < -(a)`` with ``a`` null; both found by the
    parity property test, both pinned in tests/unit/policy/test_vectorised.py)."""
    return value.replace(math.nan, None)
