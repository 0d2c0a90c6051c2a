"""Per-decision evaluation: a checked rule tree compiled once into nested Python closures.

No ``eval`` and no attribute access: a closure reads names from the decision's variables mapping
and asks the list snapshot about membership, nothing else. The semantics are the module docstring
of ``frisk.policy.language``; ``frisk.policy.vectorised`` implements the same ones over columns,
and the tests check both against each other and against cel-python's own evaluator.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

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
)

__all__ = ["Evaluator", "Membership", "compile_online"]


class Membership(Protocol):
    """Which values are in which named list at the decision's instant."""

    def contains(self, name: str, value: str) -> bool: ...


Env = Mapping[str, Any]
Evaluator = Callable[[Env, Membership], Any]


def compile_online(node: Node) -> Callable[[Env, Membership], bool]:
    """A function of (variables, lists) giving the rule's truth value."""
    fn: Callable[[Env, Membership], bool] = _compile(node)
    return fn


def _compile(node: Node) -> Evaluator:
    if isinstance(node, Const):
        value = node.value
        return lambda env, lists: value
    if isinstance(node, Var):
        return _number_var(node.name) if node.type == "number" else _string_var(node.name)
    if isinstance(node, Arith):
        return _arith(node.op, _compile(node.left), _compile(node.right))
    if isinstance(node, Neg):
        inner = _compile(node.operand)

        def neg(env: Env, lists: Membership) -> Any:
            v = inner(env, lists)
            return None if v is None else -v

        return neg
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, Logic):
        left, right = _compile(node.left), _compile(node.right)
        if node.op == "&&":
            return lambda env, lists: left(env, lists) and right(env, lists)
        return lambda env, lists: left(env, lists) or right(env, lists)
    if isinstance(node, Not):
        inner = _compile(node.operand)
        return lambda env, lists: not inner(env, lists)
    if isinstance(node, InLiteral):
        inner = _compile(node.operand)
        members = frozenset(node.values)
        # None is never a member, so a missing operand is simply not in the set.
        return lambda env, lists: inner(env, lists) in members
    if isinstance(node, InList):
        inner = _compile(node.operand)
        name = node.list_name

        def in_list(env: Env, lists: Membership) -> bool:
            v = inner(env, lists)
            return v is not None and lists.contains(name, v)

        return in_list
    if isinstance(node, StrTest):
        return _string_test(node.method, _compile(node.operand), node.arg)
    if isinstance(node, IsMissing):
        inner = _compile(node.operand)
        return lambda env, lists: inner(env, lists) is None
    raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover


def _number_var(name: str) -> Evaluator:
    def read(env: Env, lists: Membership) -> float | None:
        v = env.get(name)
        if v.__class__ is float:
            return None if v != v else v  # only NaN is unequal to itself
        if v is None or isinstance(v, str):
            # A string where a number is expected (an untyped extra) reads as missing.
            return None
        return float(v)

    return read


def _string_var(name: str) -> Evaluator:
    def read(env: Env, lists: Membership) -> str | None:
        v = env.get(name)
        return v if v.__class__ is str else None

    return read


def _arith(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    def run(env: Env, lists: Membership) -> float | None:
        a = left(env, lists)
        if a is None:
            return None
        b = right(env, lists)
        if b is None:
            return None
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        else:
            r = _divide(a, b)
        return None if r != r else r

    return run


def _divide(a: float, b: float) -> float:
    # IEEE division as NumPy and Polars do it: x/0 is +-inf and 0/0 NaN, never an exception.
    if b != 0.0:
        return a / b
    if a == 0.0 or a != a:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _compare(node: Compare) -> Evaluator:
    cmp = _OPS[node.op]
    left_node, right_node = node.left, node.right
    if isinstance(right_node, Const):
        const = right_node.value
        if isinstance(left_node, Var) and left_node.type == "number":
            # The commonest rule atom, ``feature > 10``, in one closure instead of three.
            name = left_node.name

            def var_const(env: Env, lists: Membership) -> bool:
                v = env.get(name)
                if v.__class__ is not float:
                    if v is None or isinstance(v, str):
                        return False
                    v = float(v)
                return v == v and cmp(v, const)

            return var_const
        left = _compile(left_node)

        def any_const(env: Env, lists: Membership) -> bool:
            a = left(env, lists)
            return a is not None and cmp(a, const)

        return any_const
    left, right = _compile(left_node), _compile(right_node)

    def run(env: Env, lists: Membership) -> bool:
        a = left(env, lists)
        if a is None:
            return False
        b = right(env, lists)
        return b is not None and cmp(a, b)

    return run


def _string_test(method: str, operand: Evaluator, arg: str) -> Evaluator:
    def run(env: Env, lists: Membership) -> bool:
        v = operand(env, lists)
        if v is None:
            return False
        if method == "startsWith":
            return bool(v.startswith(arg))
        if method == "endsWith":
            return bool(v.endswith(arg))
        return arg in v

    return run
