"""The online evaluator, the vectorised one and cel-python's own evaluator agree row by row."""

from __future__ import annotations

import math
from typing import Any

import celpy
import polars as pl
from celpy import celtypes
from hypothesis import given, settings
from hypothesis import strategies as st

from frisk.policy import parse_rule
from frisk.policy.online import compile_online
from frisk.policy.vectorised import to_polars

NUMBERS = ("a", "b", "c")
STRINGS = ("s", "t")
VARS: dict[str, Any] = {**dict.fromkeys(NUMBERS, "number"), **dict.fromkeys(STRINGS, "string")}
WORDS = ("", "x", "xy", "y", "mule")
LISTS = {"blk": "block", "alw": "allow"}
MEMBERS = {"blk": frozenset({"x", "mule"}), "alw": frozenset({"y"})}


class Lists:
    def contains(self, name: str, value: str) -> bool:
        return value in MEMBERS.get(name, frozenset())


def number_literal(draw: st.DrawFn, finite_small: bool) -> str:
    bound = 1e3 if finite_small else 1e300
    value = draw(
        st.one_of(
            st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 10.0]),
            st.floats(-bound, bound, allow_nan=False, allow_infinity=False),
        )
    )
    return repr(float(value))


@st.composite
def num_expr(draw: st.DrawFn, depth: int, reference: bool) -> str:
    choice = draw(st.integers(0, 4 if depth > 0 else 1))
    if choice == 0:
        return draw(st.sampled_from(NUMBERS))
    if choice == 1:
        return number_literal(draw, reference)
    if choice == 2:
        return f"-({draw(num_expr(depth - 1, reference))})"
    ops = ["+", "-", "*"] if reference else ["+", "-", "*", "/"]
    op = draw(st.sampled_from(ops))
    left, right = draw(num_expr(depth - 1, reference)), draw(num_expr(depth - 1, reference))
    return f"({left} {op} {right})"


@st.composite
def str_expr(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(STRINGS))
    return f'"{draw(st.sampled_from(WORDS))}"'


@st.composite
def bool_expr(draw: st.DrawFn, depth: int, reference: bool = False) -> str:
    top = 10 if depth > 0 else 6
    choice = draw(st.integers(0, top))
    if choice <= 1:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        return f"{draw(num_expr(2, reference))} {op} {draw(num_expr(2, reference))}"
    if choice == 2:
        op = draw(st.sampled_from(["==", "!="]))
        return f"{draw(str_expr())} {op} {draw(str_expr())}"
    if choice == 3:
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
        return f"{draw(st.sampled_from(STRINGS))} in [{', '.join(repr(w) for w in words)}]"
    if choice == 4:
        items = [number_literal(draw, reference) for _ in range(draw(st.integers(1, 3)))]
        return f"{draw(num_expr(1, reference))} in [{', '.join(items)}]"
    if choice == 5:
        method = draw(st.sampled_from(["startsWith", "endsWith", "contains"]))
        return f'{draw(st.sampled_from(STRINGS))}.{method}("{draw(st.sampled_from(WORDS))}")'
    if choice == 6:
        if reference:
            return draw(st.sampled_from(["true", "false"]))
        kind = draw(st.sampled_from(['blocklist("blk")', 'allowlist("alw")', "missing"]))
        if kind == "missing":
            return f"missing({draw(st.sampled_from(NUMBERS + STRINGS))})"
        return f"{draw(st.sampled_from(STRINGS))} in {kind}"
    if choice == 7:
        return f"!({draw(bool_expr(depth - 1, reference))})"
    op = "&&" if choice in (8, 9) else "||"
    left, right = draw(bool_expr(depth - 1, reference)), draw(bool_expr(depth - 1, reference))
    return f"({left} {op} {right})"


NUMBER_VALUES = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, 2.5, -3.0, 10.0]),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
)
STRING_VALUES = st.one_of(st.none(), st.sampled_from(WORDS), st.text(max_size=3))


@st.composite
def rows(draw: st.DrawFn, numbers: Any = NUMBER_VALUES, strings: Any = STRING_VALUES) -> list:
    n = draw(st.integers(1, 12))
    return [
        {**{k: draw(numbers) for k in NUMBERS}, **{k: draw(strings) for k in STRINGS}}
        for _ in range(n)
    ]


def frame_of(records: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            **{
                k: pl.Series(
                    [None if r[k] is None else float(r[k]) for r in records], dtype=pl.Float64
                )
                for k in NUMBERS
            },
            **{k: pl.Series([r[k] for r in records], dtype=pl.String) for k in STRINGS},
        }
    )


@settings(max_examples=400)
@given(bool_expr(3), rows())
def test_online_equals_vectorised_row_by_row(
    expression: str, records: list[dict[str, Any]]
) -> None:
    node = parse_rule(expression, VARS, LISTS)
    online = [compile_online(node)(r, Lists()) for r in records]
    vectorised = frame_of(records).select(to_polars(node, MEMBERS).alias("r"))["r"].to_list()
    assert online == vectorised, (expression, records)
    assert all(isinstance(v, bool) for v in online)


# Made once, outside any example: creating one raises the recursion limit, which Hypothesis
# reports when it happens inside a test.
CEL = celpy.Environment()
FINITE = st.one_of(st.integers(-5, 5), st.floats(-1e3, 1e3, allow_nan=False))


@settings(max_examples=200)
@given(bool_expr(2, reference=True), rows(FINITE, st.sampled_from(WORDS)))
def test_online_equals_cel_python_on_present_values(
    expression: str, records: list[dict[str, Any]]
) -> None:
    """Where CEL itself is defined (no missing values, no division), the result is CEL's."""
    program = CEL.program(CEL.compile(expression))
    test = compile_online(parse_rule(expression, VARS, LISTS))
    for record in records:
        activation = {
            **{k: celtypes.DoubleType(float(record[k])) for k in NUMBERS},
            **{k: celtypes.StringType(record[k]) for k in STRINGS},
        }
        expected = program.evaluate(activation)
        assert isinstance(expected, celtypes.BoolType), (expression, record, expected)
        assert test(record, Lists()) is bool(expected), (expression, record)
