"""The checked rule tree both evaluators read: typed nodes, built by ``frisk.policy.language``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Arith",
    "Compare",
    "Const",
    "InList",
    "InLiteral",
    "IsMissing",
    "Logic",
    "Neg",
    "Node",
    "Not",
    "StrTest",
    "Type",
    "Var",
    "variables_of",
]

Type = Literal["number", "string", "bool"]


@dataclass(frozen=True, slots=True)
class Const:
    value: float | str | bool
    type: Type


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class Arith:
    op: str
    left: Node
    right: Node
    type: Type = "number"


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node
    type: Type = "number"


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Node
    right: Node
    type: Type = "bool"


@dataclass(frozen=True, slots=True)
class Logic:
    op: Literal["&&", "||"]
    left: Node
    right: Node
    type: Type = "bool"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    type: Type = "bool"


@dataclass(frozen=True, slots=True)
class InLiteral:
    operand: Node
    values: tuple[float | str, ...]
    type: Type = "bool"


@dataclass(frozen=True, slots=True)
class InList:
    operand: Node
    list_name: str
    kind: Literal["allow", "block"]
    type: Type = "bool"


@dataclass(frozen=True, slots=True)
class StrTest:
    method: str
    operand: Node
    arg: str
    type: Type = "bool"


@dataclass(frozen=True, slots=True)
class IsMissing:
    operand: Node
    type: Type = "bool"


Node = Const | Var | Arith | Neg | Compare | Logic | Not | InLiteral | InList | StrTest | IsMissing


def variables_of(node: Node) -> tuple[str, ...]:
    """The variable names ``node`` reads, in first-read order."""
    names: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Var):
            names[n.name] = None
        for child in _children(n):
            walk(child)

    walk(node)
    return tuple(names)


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, Arith | Compare | Logic):
        return (n.left, n.right)
    if isinstance(n, Neg | Not | InLiteral | InList | StrTest | IsMissing):
        return (n.operand,)
    return ()
