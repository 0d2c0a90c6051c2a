"""/v1/rules: read (analyst), change (admin), validate and backtest rules; every change audited.

A change is compiled against the running rules and lists before anything is stored: a bad rule
is a 422 naming ``expression`` with its line and column, and nothing changes. A good one is stored
with its audit entry in one transaction and decides from the next transaction on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from frisk.errors import ConflictError, InputError, NotFoundError
from frisk.policy import Policy, Rule, RuleSyntaxError, parse_rule
from frisk.policy.backtest import backtest_summary
from frisk.policy.history import recorded_frame
from frisk.service.auth import AdminKey, AnalystKey, Principal
from frisk.service.errors import error_response, request_id_of
from frisk.service.metrics import multiprocess_dir
from frisk.service.policy import PolicyDep, PolicyState
from frisk.service.schemas import (
    BacktestPublic,
    BacktestRequest,
    ErrorPublic,
    RuleChangePublic,
    RuleCreate,
    RuleErrorPublic,
    RulePublic,
    RuleSetPublic,
    RuleSetReplace,
    RulesPublic,
    RuleUpdate,
    RuleValidate,
    RuleValidationPublic,
)
from frisk.service.stats import LiveStats
from frisk.service.worker_stats import group_hits

router = APIRouter(prefix="/v1", tags=["rules"])

RuleName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]

_READ: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 429, 503)
}
_WRITE: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 422, 429, 503)
}


@router.get("/rules", response_model=RulesPublic, responses=_READ)
async def list_rules(policy: PolicyDep, _key: AnalystKey) -> RulesPublic:
    """Every rule by priority, with who changed it last and its hits since the service started."""
    version, infos = await run_in_threadpool(policy.rules.describe)
    return RulesPublic(version=version, rules=[_public(policy, i, version) for i in infos])


@router.put("/rules", response_model=RuleSetPublic, responses=_WRITE)
async def replace_rules(
    request: Request, body: RuleSetReplace, policy: PolicyDep, key: AdminKey
) -> RuleSetPublic | JSONResponse:
    """Rules-as-code: make the rule set exactly these rules; all compile and apply, or none."""
    rules = [
        Rule(r.name, r.expression, r.action, r.priority, r.mode, r.description) for r in body.rules
    ]

    def replace() -> RuleSetPublic:
        records = policy.live.replace_rules(rules, actor=key.log_id, at=datetime.now(UTC))
        version, infos = policy.rules.describe()
        return RuleSetPublic(
            version=version,
            rules=[_public(policy, i, version) for i in infos],
            changes=[
                RuleChangePublic(action=r.action, rule=r.target.removeprefix("rule:"))
                for r in records
            ],
        )

    try:
        return await run_in_threadpool(replace)
    except RuleSyntaxError as exc:
        return _bad_expression(request, exc, "rules.expression")


@router.post("/rules/validate", response_model=RuleValidationPublic, responses=_READ)
async def validate(body: RuleValidate, policy: PolicyDep, _key: AnalystKey) -> RuleValidationPublic:
    """Does an expression compile against what decisions carry (fields, features, lists)?"""
    live = policy.live
    try:
        parse_rule(body.expression, live.variables, live.policy.lists.kinds)
    except RuleSyntaxError as exc:
        error = RuleErrorPublic(message=exc.reason, line=exc.line, column=exc.column)
        return RuleValidationPublic(valid=False, error=error)
    return RuleValidationPublic(valid=True)


@router.post("/rules/backtest", response_model=BacktestPublic, responses=_WRITE)
async def backtest(
    request: Request, body: BacktestRequest, policy: PolicyDep, _key: AnalystKey
) -> BacktestPublic | JSONResponse:
    """What the rules would have hit over the ledger's decisions (their recorded features).

    Per UTC day of the transaction: hits (the expression is true, whatever the action), frauds
    among them by the labels recorded, amounts, and what they add over the rules and lists in
    force now and the model's recorded actions.
    """
    given = ([body.rule] if body.rule is not None else []) + list(body.rules or [])
    if not given:
        raise InputError("give a rule or rules to backtest")
    candidates = []
    for i, item in enumerate(given):
        name = item.name or f"candidate_{i + 1}"
        candidates.append(Rule(name, item.expression, item.action, item.priority))
    if len({r.name for r in candidates}) != len(candidates):
        raise InputError("two candidate rules have the same name")
    live = policy.live
    running = live.policy
    try:
        trial = Policy(candidates, live.variables, running.lists)
    except RuleSyntaxError as exc:
        where = "rule.expression" if body.rule is not None else "rules.expression"
        return _bad_expression(request, exc, where)
    names = {r.name for r in candidates}
    kept = [c.rule for c in running.rules if c.rule.name not in names]
    current = Policy(kept, live.variables, running.lists, version=running.version)
    start, end = _instant(body.start), _instant(body.end)

    def run() -> dict[str, Any]:
        archive = request.app.state.frisk.settings.archive_dir
        rows = policy.ledger.decisions_with_labels(start=start, end=end, archive=archive)
        frame = recorded_frame(rows, live.variables)
        return backtest_summary(frame, trial, now=datetime.now(UTC), current=current)

    return BacktestPublic.model_validate(await run_in_threadpool(run))


@router.get("/rules/{name}", response_model=RulePublic, responses=_READ)
async def get_rule(name: RuleName, policy: PolicyDep, _key: AnalystKey) -> RulePublic:
    return await run_in_threadpool(_described, policy, name)


@router.post("/rules", status_code=201, response_model=RulePublic, responses=_WRITE)
async def create_rule(
    request: Request, body: RuleCreate, policy: PolicyDep, key: AdminKey
) -> RulePublic | JSONResponse:
    """Create a rule; 409 when one of that name exists (PUT replaces)."""
    rule = Rule(body.name, body.expression, body.action, body.priority, body.mode, body.description)

    def create() -> RulePublic:
        try:
            policy.rules.get(rule.name)
        except NotFoundError:
            return _put(policy, rule, key)
        raise ConflictError(f"rule {rule.name!r} exists; PUT /v1/rules/{rule.name} replaces it")

    try:
        return await run_in_threadpool(create)
    except RuleSyntaxError as exc:
        return _bad_expression(request, exc, "expression")


@router.put("/rules/{name}", response_model=RulePublic, responses=_WRITE)
async def put_rule(
    request: Request, name: RuleName, body: RuleUpdate, policy: PolicyDep, key: AdminKey
) -> RulePublic | JSONResponse:
    """Create or replace a rule."""
    rule = Rule(name, body.expression, body.action, body.priority, body.mode, body.description)
    try:
        return await run_in_threadpool(_put, policy, rule, key)
    except RuleSyntaxError as exc:
        return _bad_expression(request, exc, "expression")


@router.delete("/rules/{name}", status_code=204, responses=_WRITE)
async def delete_rule(name: RuleName, policy: PolicyDep, key: AdminKey) -> Response:
    await run_in_threadpool(
        lambda: policy.live.remove_rule(name, actor=key.log_id, at=datetime.now(UTC))
    )
    return Response(status_code=204)


def _put(policy: PolicyState, rule: Rule, key: Principal) -> RulePublic:
    policy.live.put_rule(rule, actor=key.log_id, at=datetime.now(UTC))
    return _described(policy, rule.name)


def _described(policy: PolicyState, name: str) -> RulePublic:
    version, infos = policy.rules.describe()
    for info in infos:
        if info.rule.name == name:
            return _public(policy, info, version)
    raise NotFoundError(f"no rule named {name!r}")


def _hits(policy: PolicyState) -> Mapping[str, int]:
    """Hits per rule: this process's, or, under several workers, summed over the live ones
    (each writes its own to the supervisor's directory, ``service.worker_stats``)."""
    directory = multiprocess_dir()
    if directory is None:
        return policy.live.hits
    return group_hits(FilePath(directory), _NO_STATS, lambda: policy.live.hits)


_NO_STATS = LiveStats(100)  # group_hits reads only the hits of this worker's figures


def _public(policy: PolicyState, info: Any, version: int) -> RulePublic:
    return RulePublic(
        **info.rule.to_json(),
        updated_by=info.updated_by,
        updated_at=info.updated_at,
        hits=_hits(policy).get(info.rule.name, 0),
        version=version,
    )


def _bad_expression(request: Request, exc: RuleSyntaxError, field: str) -> JSONResponse:
    return error_response(
        request_id_of(request),
        422,
        "invalid_input",
        f"{field}: {exc}",
        field=field,
        reason=f"line {exc.line}, column {exc.column}: {exc.reason}",
    )


def _instant(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)
