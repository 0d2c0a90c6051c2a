"""Constrained field types the request families share."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

__all__ = [
    "Expression",
    "FreeText",
    "ListName",
    "Priority",
    "RuleActionName",
    "RuleModeName",
    "RuleName",
    "Text",
]


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# PostgreSQL text cannot hold NUL: refuse it at the edge rather than fail in the ledger.
FreeText = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]


RuleName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]


ListName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


Expression = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")]


Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


RuleActionName = Literal["block", "review", "allow", "tag"]


RuleModeName = Literal["active", "shadow"]
