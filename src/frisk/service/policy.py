"""The service's handle on the policy in force (``frisk.engine.policy``): ``PolicyDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from frisk.engine.policy import PolicyState, PolicyWatcher, build_policy

__all__ = ["PolicyDep", "PolicyState", "PolicyWatcher", "build_policy"]


async def _policy(request: Request) -> PolicyState:
    state: PolicyState = request.app.state.policy
    return state


PolicyDep = Annotated[PolicyState, Depends(_policy)]
