"""FriskClient against the real API (`frisk serve` in a subprocess): what the pages rely on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from frisk.client import (
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiUnauthenticated,
    FriskClient,
)

if TYPE_CHECKING:
    from tests.ui.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("ui")]


def test_the_client_scores_reads_and_is_refused_as_the_api_says(stack: Stack) -> None:
    body = {
        "transaction_id": "client-1",
        "timestamp": "2024-03-01T12:00:00+00:00",
        "amount": 70.0,
        "currency": "EUR",
        "payer_id": "P00001",
        "payee_id": "M00001",
    }
    with (
        FriskClient(stack.api, stack.keys["scorer"]) as scorer,
        FriskClient(stack.api, stack.keys["analyst"]) as analyst,
        FriskClient(stack.api, "frisk_000000000000_nope") as stranger,
    ):
        check(body, scorer, analyst, stranger)


def check(
    body: dict[str, object], scorer: FriskClient, analyst: FriskClient, stranger: FriskClient
) -> None:
    decided = scorer.score(body)
    assert decided["transaction_id"] == "client-1"
    assert scorer.score_batch([body]) == [decided]  # a retry answers the recorded decision
    assert analyst.decision("client-1") == decided
    assert analyst.stats()["decisions_today"] >= 1
    assert "frisk_decisions_total" in analyst.metrics()
    assert analyst.models()["serving"]["version"] == decided["model_version"]

    with pytest.raises(ApiForbidden):
        scorer.stats()
    with pytest.raises(ApiForbidden):
        analyst.score(body)
    with pytest.raises(ApiUnauthenticated):
        stranger.stats()
    with pytest.raises(ApiNotFound) as missing:
        analyst.decision("a b?c#d")
    assert not missing.value.route_missing
    assert "a b?c#d" in missing.value.message
    with pytest.raises(ApiError) as invalid:
        scorer.score({**body, "transaction_id": "client-2", "amount": -1})
    assert (invalid.value.status, invalid.value.field) == (422, "amount")
