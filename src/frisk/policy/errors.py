"""Errors of the rule language, rules and lists.

Both derive from the ``FriskError`` tree (``frisk.errors``):

    InputError
    └── RuleError          a rule or list definition that cannot be used
        └── RuleSyntaxError  an expression that does not parse or check (line, column)
"""

from __future__ import annotations

from frisk.errors import InputError

__all__ = ["RuleError", "RuleSyntaxError"]


class RuleError(InputError):
    """A rule, rule set or list that cannot be used; the message names it."""


class RuleSyntaxError(RuleError):
    """An expression that does not parse, names an unknown variable or mixes types.

    ``line`` and ``column`` count from 1 and point into ``expression``.
    """

    def __init__(self, expression: str, line: int, column: int, reason: str) -> None:
        self.expression = expression
        self.line = line
        self.column = column
        self.reason = reason
        source = expression.splitlines()[line - 1] if expression.strip() else expression
        pointer = " " * max(column - 1, 0) + "^"
        super().__init__(f"{line}:{column}: {reason}\n    {source}\n    {pointer}")
