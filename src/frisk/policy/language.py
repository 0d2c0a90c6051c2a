"""The rule language: a checked subset of CEL, parsed by cel-python into a small typed tree.

cel-python's parser (the CEL grammar, LALR, with positions) reads the text; this module keeps only
what a fraud rule needs and what both evaluators (``frisk.policy.online`` per decision and
``frisk.policy.vectorised`` for backtests) implement identically:

- numbers (every numeric literal is a double, so ``amount > 5000`` needs no ``5000.0``), strings
  and booleans; ``+ - * /`` and unary ``-`` on numbers;
- ``< <= > >= == !=`` on numbers, ``== !=`` on strings and booleans; ``&& || !`` on booleans;
- ``x in [literals]``, ``x in blocklist("name")``, ``x in allowlist("name")``;
- ``s.startsWith("lit")``, ``s.endsWith("lit")``, ``s.contains("lit")``; ``missing(x)``.

Everything else CEL has is refused with its position: member access and indexing (no attribute
access), macros (``all``/``exists``/``map``/``filter``: no iteration at all), the ternary, map and
message literals, ``null``, bytes, ``%`` and any other function. CEL has no statements, imports or
loops, so a checked expression runs in time proportional to its size.

Missing values: a variable that is absent, None or NaN is missing; arithmetic with a missing
operand, or giving NaN (``0/0``, ``inf - inf``), is missing; a comparison, membership or string test
with a missing operand is false (also ``!=``). ``missing(x)`` tests for it. Booleans are never
missing, so ``&&``, ``||`` and ``!`` are the plain two-valued ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Final, Literal

from frisk.policy.errors import RuleSyntaxError
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
    Type,
    Var,
)

__all__ = ["MAX_EXPRESSION_CHARS", "parse_rule"]

MAX_EXPRESSION_CHARS: Final = 4000
MAX_NODES: Final = 400
MAX_LITERAL_LIST: Final = 10_000
_COMPARE: Final = {
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
}
_ARITH: Final = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
}
_STRING_TESTS: Final = frozenset({"startsWith", "endsWith", "contains"})
_MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter", "has"})


def parse_rule(
    expression: str,
    variables: Mapping[str, Type],
    lists: Mapping[str, str] | None = None,
) -> Node:
    """Parse and check ``expression``; the result is a boolean-typed tree.

    ``variables`` maps every name a rule may read to its type; ``lists`` maps list names to their
    kind (``allow``/``block``) and, when given, list names are checked too. Raises
    ``RuleSyntaxError`` with the line and column of the first problem.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise RuleSyntaxError(
            expression[:80], 1, 1, f"expression longer than {MAX_EXPRESSION_CHARS} characters"
        )
    if not expression.strip():
        raise RuleSyntaxError(expression, 1, 1, "empty expression")
    tree = _parse(expression)
    node = _Checker(expression, variables, lists).expr(tree)
    if node.type != "bool":
        raise _error(expression, tree, f"a rule must be true or false, not a {node.type}")
    return node


# -- parsing -----------------------------------------------------------------------------------

_PARSER: Any = None


def _parse(expression: str) -> Any:
    # cel-python builds its LALR tables once per process; import lazily so importing
    # frisk.policy stays cheap for commands that never read a rule.
    global _PARSER
    from celpy.celparser import CELParseError, CELParser

    if _PARSER is None:
        _PARSER = CELParser()
    try:
        return _PARSER.parse(expression)
    except CELParseError as exc:
        line, column, reason = _syntax_problem(expression, exc)
        raise RuleSyntaxError(expression, line, column, f"syntax error: {reason}") from None
    except Exception as exc:  # lark's other errors (e.g. an unexpected end of input)
        raise RuleSyntaxError(expression, 1, 1, f"syntax error: {exc}") from None


def _syntax_problem(expression: str, exc: Any) -> tuple[int, int, str]:
    """Line, column and a short reason from cel-python's error (lark's is its context)."""
    line, column = exc.line or 1, exc.column or 1
    cause = exc.__context__
    token = getattr(cause, "token", None)
    if token is not None and token.type == "$END":
        # Lark points at the last token; the problem is what is missing after it.
        body = expression.rstrip()
        line = body.count("\n") + 1
        column = len(body) - (body.rfind("\n") + 1) + 1
        return line, column, "unexpected end of expression"
    if token is not None:
        return line, column, f"unexpected {str(token)!r}"
    lines = expression.splitlines() or [""]
    text = lines[line - 1] if line <= len(lines) else ""
    char = text[column - 1] if 0 < column <= len(text) else ""
    return line, column, f"unexpected character {char!r}" if char else "cannot read this"


def _position(item: Any) -> tuple[int, int]:
    meta = getattr(item, "meta", None)
    if meta is not None and getattr(meta, "line", None) is not None:
        return int(meta.line), int(meta.column)
    line = getattr(item, "line", None)
    column = getattr(item, "column", None)
    if line is not None and column is not None:
        return int(line), int(column)
    for child in getattr(item, "children", ()):
        return _position(child)
    return 1, 1


def _error(expression: str, item: Any, reason: str) -> RuleSyntaxError:
    line, column = _position(item)
    return RuleSyntaxError(expression, line, column, reason)


class _Checker:
    """Turn cel-python's parse tree into checked ``Node``s, refusing what is not allowed."""

    def __init__(
        self, text: str, variables: Mapping[str, Type], lists: Mapping[str, str] | None
    ) -> None:
        self.text = text
        self.variables = variables
        self.lists = lists
        self.nodes = 0

    def fail(self, item: Any, reason: str) -> RuleSyntaxError:
        return _error(self.text, item, reason)

    def expr(self, tree: Any) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(tree, f"expression has more than {MAX_NODES} parts")
        kind = tree.data
        children = tree.children
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            result: Node = handler(tree, children)
            return result
        if len(children) == 1 and kind in _PASS_THROUGH:
            return self.expr(children[0])
        raise self.fail(tree, _REFUSED.get(kind, f"{kind.replace('_', ' ')} is not allowed"))

    def _expr(self, tree: Any, children: list[Any]) -> Node:
        if len(children) != 1:
            raise self.fail(tree, "the conditional ?: is not allowed in rules; use && and ||")
        return self.expr(children[0])

    def _conditionalor(self, tree: Any, children: list[Any]) -> Node:
        return self._logic(tree, children, "||")

    def _conditionaland(self, tree: Any, children: list[Any]) -> Node:
        return self._logic(tree, children, "&&")

    def _logic(self, tree: Any, children: list[Any], op: Literal["&&", "||"]) -> Node:
        if len(children) == 1:
            return self.expr(children[0])
        left, right = self.expr(children[0]), self.expr(children[1])
        for side, item in ((left, children[0]), (right, children[1])):
            if side.type != "bool":
                raise self.fail(item, f"{op} needs true/false on both sides, got a {side.type}")
        return Logic(op, left, right)

    def _relation(self, tree: Any, children: list[Any]) -> Node:
        if len(children) == 1:
            return self.expr(children[0])
        op_tree, right_tree = children
        left_tree = op_tree.children[0]
        if op_tree.data == "relation_in":
            return self._membership(left_tree, right_tree)
        op = _COMPARE[op_tree.data]
        left, right = self.expr(left_tree), self.expr(right_tree)
        if left.type != right.type:
            raise self.fail(
                right_tree, f"cannot compare a {left.type} with a {right.type} using {op}"
            )
        if left.type != "number" and op not in ("==", "!="):
            raise self.fail(right_tree, f"{op} compares numbers only, not {left.type}s")
        return Compare(op, left, right)

    def _membership(self, left_tree: Any, right_tree: Any) -> Node:
        operand = self.expr(left_tree)
        call = _unwrap(right_tree)
        if call is not None and call.data == "ident_arg":
            name = str(call.children[0])
            if name in ("blocklist", "allowlist"):
                return self._named_list(operand, left_tree, call, name)
        if call is not None and call.data == "list_lit":
            return self._literal_list(operand, left_tree, call)
        raise self.fail(
            right_tree, 'in needs a literal list [..] or blocklist("name") / allowlist("name")'
        )

    def _named_list(self, operand: Node, left_tree: Any, call: Any, function: str) -> Node:
        if operand.type != "string":
            raise self.fail(left_tree, f"list members are strings; this is a {operand.type}")
        args = _args(call)
        literal = _string_literal(args[0]) if len(args) == 1 else None
        if literal is None:
            raise self.fail(call, f'{function} takes one list name in quotes: {function}("name")')
        from celpy.evaluation import celstr

        name = str(celstr(literal))
        kind: Literal["allow", "block"] = "block" if function == "blocklist" else "allow"
        if self.lists is not None:
            if name not in self.lists:
                raise self.fail(call, f"no list named {name!r}{_suggest(name, self.lists)}")
            if self.lists[name] != kind:
                raise self.fail(call, f"list {name!r} is an {self.lists[name]} list, not {kind}")
        return InList(operand, name, kind)

    def _literal_list(self, operand: Node, left_tree: Any, lit: Any) -> Node:
        items = [self.expr(item) for item in _args(lit)]
        if len(items) > MAX_LITERAL_LIST:
            raise self.fail(lit, f"a literal list holds at most {MAX_LITERAL_LIST} items")
        values: list[float | str] = []
        for item, tree in zip(items, _args(lit), strict=True):
            if not isinstance(item, Const) or item.type != operand.type or item.type == "bool":
                wanted = f"{operand.type} literals" if operand.type != "bool" else "no booleans"
                raise self.fail(tree, f"the list after in must hold {wanted}")
            assert not isinstance(item.value, bool)
            values.append(item.value)
        return InLiteral(operand, tuple(values))

    def _addition(self, tree: Any, children: list[Any]) -> Node:
        return self._arith(tree, children)

    def _multiplication(self, tree: Any, children: list[Any]) -> Node:
        return self._arith(tree, children)

    def _arith(self, tree: Any, children: list[Any]) -> Node:
        if len(children) == 1:
            return self.expr(children[0])
        op_tree, right_tree = children
        if op_tree.data not in _ARITH:
            raise self.fail(right_tree, "% is not allowed in rules")
        op = _ARITH[op_tree.data]
        left, right = self.expr(op_tree.children[0]), self.expr(right_tree)
        for side, item in ((left, op_tree.children[0]), (right, right_tree)):
            if side.type != "number":
                raise self.fail(item, f"{op} needs numbers, got a {side.type}")
        return Arith(op, left, right)

    def _unary(self, tree: Any, children: list[Any]) -> Node:
        if len(children) == 1:
            return self.expr(children[0])
        op_tree, operand_tree = children
        operand = self.expr(operand_tree)
        if op_tree.data == "unary_not":
            if operand.type != "bool":
                raise self.fail(operand_tree, f"! needs true/false, got a {operand.type}")
            return Not(operand)
        if operand.type != "number":
            raise self.fail(operand_tree, f"- needs a number, got a {operand.type}")
        if isinstance(operand, Const) and isinstance(operand.value, float):
            return Const(-operand.value, "number")
        return Neg(operand)

    def _member_dot_arg(self, tree: Any, children: list[Any]) -> Node:
        target_tree, method = children[0], str(children[1])
        if method in _MACROS:
            raise self.fail(
                children[1], f"the macro {method}() is not allowed in rules (no iteration)"
            )
        if method not in _STRING_TESTS:
            raise self.fail(
                children[1], f"unknown method {method}(); allowed: startsWith, endsWith, contains"
            )
        target = self.expr(target_tree)
        args = children[2].children if len(children) > 2 else []
        literal = _string_literal(args[0]) if len(args) == 1 else None
        if target.type != "string" or literal is None:
            raise self.fail(tree, f'{method} is used as text.{method}("literal")')
        from celpy.evaluation import celstr

        return StrTest(method, target, str(celstr(literal)))

    def _ident_arg(self, tree: Any, children: list[Any]) -> Node:
        name = str(children[0])
        args = _args(tree)
        if name in _MACROS:
            raise self.fail(tree, f"the macro {name}() is not allowed in rules")
        if name in ("blocklist", "allowlist"):
            raise self.fail(tree, f'{name}("name") is used after in: payee_id in {name}("name")')
        if name != "missing":
            raise self.fail(
                tree, f"unknown function {name}(); allowed: missing, in blocklist/allowlist"
            )
        if len(args) != 1:
            raise self.fail(tree, "missing takes one value: missing(device_id)")
        return IsMissing(self.expr(args[0]))

    def _ident(self, tree: Any, children: list[Any]) -> Node:
        name = str(children[0])
        if name not in self.variables:
            raise self.fail(tree, f"unknown name {name!r}{_suggest(name, self.variables)}")
        return Var(name, self.variables[name])

    def _literal(self, tree: Any, children: list[Any]) -> Node:
        token = children[0]
        kind, text = token.type, str(token)
        if kind in ("INT_LIT", "UINT_LIT", "FLOAT_LIT"):
            digits = text.rstrip("uU")
            value = float(int(digits, 16)) if "x" in digits.lower() else float(digits)
            return Const(value, "number")
        if kind in ("STRING_LIT", "MLSTRING_LIT"):
            from celpy.evaluation import celstr

            return Const(str(celstr(token)), "string")
        if kind == "BOOL_LIT":
            return Const(text == "true", "bool")
        if kind == "NULL_LIT":
            raise self.fail(token, "null is not allowed; test missing(x) instead")
        raise self.fail(token, "bytes literals are not allowed in rules")


_PASS_THROUGH: Final = frozenset({"member", "primary", "paren_expr"})
_REFUSED: Final = {
    "member_dot": "field access (a.b) is not allowed in rules",
    "member_index": "indexing (a[b]) is not allowed in rules",
    "member_object": "message literals are not allowed in rules",
    "map_lit": "map literals are not allowed in rules",
    "list_lit": "a list is only allowed after in",
    "dot_ident": "qualified names are not allowed in rules",
    "dot_ident_arg": "qualified names are not allowed in rules",
}


def _unwrap(tree: Any) -> Any:
    """The single meaningful subtree under pass-through wrappers, or None."""
    while hasattr(tree, "data") and len(tree.children) == 1 and tree.data in _WRAPPERS:
        tree = tree.children[0]
    return tree if hasattr(tree, "data") else None


_WRAPPERS: Final = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
    }
)


def _args(call: Any) -> list[Any]:
    for child in call.children:
        if getattr(child, "data", None) == "exprlist":
            return list(child.children)
    return []


def _string_literal(tree: Any) -> Any:
    node = _unwrap(tree)
    if node is not None and node.data == "literal":
        token = node.children[0]
        if token.type in ("STRING_LIT", "MLSTRING_LIT"):
            return token
    return None


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
