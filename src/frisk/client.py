"""The dashboard's only way to Frisk: its HTTP API, with errors the pages can show.

    ApiError                 any answer that is not a success, with the API's ErrorPublic body
    ├── ApiUnavailable       no answer at all (refused, timed out, not HTTP)
    ├── ApiUnauthenticated   401: no key, or one the API does not know
    ├── ApiForbidden         403: a key whose role may not do this
    └── ApiNotFound          404: no such resource, or a route this API does not have

The dashboard never opens the database or a model file: everything it shows comes through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "API_KEY_ENV",
    "API_URL_ENV",
    "ApiError",
    "ApiForbidden",
    "ApiNotFound",
    "ApiUnauthenticated",
    "ApiUnavailable",
    "FriskClient",
]

Json = dict[str, Any]

# Where ``frisk dashboard`` passes the API to the Streamlit process (the key only when given).
API_URL_ENV = "FRISK_API_URL"
API_KEY_ENV = "FRISK_API_KEY"


class ApiError(Exception):
    """An answer that is not a success; ``field`` names the offending input when the API says."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error: str = "",
        field: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        route: str = "",
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.route = route  # "GET /v1/..." when known
        self.status = status
        self.message = message
        self.error = error
        self.field = field
        self.request_id = request_id
        self.body = body


class ApiUnavailable(ApiError):
    """The API did not answer."""


class ApiUnauthenticated(ApiError):
    """401."""


class ApiForbidden(ApiError):
    """403."""


class ApiNotFound(ApiError):
    """404."""

    @property
    def route_missing(self) -> bool:
        """The API has no such route (an older service), rather than no such resource."""
        return self.message == "Not Found"


@dataclass(frozen=True, slots=True)
class Response:
    """A success: the JSON body (or text) and the headers that matter."""

    body: Any
    replayed: bool = False


class FriskClient:
    """A thin synchronous client; one method per route the dashboard uses."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"X-API-Key": api_key} if api_key else {},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FriskClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- operations ------------------------------------------------------------------------

    def health(self) -> bool:
        return bool(self._get("/health").get("status") == "ok")

    def stats(self) -> Json:
        return self._get("/v1/stats")

    def metrics(self) -> str:
        return str(self._request("GET", "/metrics", text=True).body)

    # -- scoring and decisions -------------------------------------------------------------

    def score(self, transaction: Json) -> Json:
        return self._post("/v1/score", transaction)

    def score_batch(self, transactions: list[Json]) -> list[Json]:
        got = self._request("POST", "/v1/score/batch", json=transactions).body
        if not isinstance(got, list):
            raise ApiError(200, "expected a JSON list from POST /v1/score/batch")
        return got

    def decision(self, transaction_id: str, *, features: bool = False) -> Json:
        """The recorded decision; ``features``: with the feature values it read."""
        include = "features" if features else None
        return self._get(f"/v1/decisions/{_segment(transaction_id)}", include=include)

    # -- models ----------------------------------------------------------------------------

    def models(self) -> Json:
        return self._get("/v1/models")

    def model_report(self, version: str) -> str:
        path = f"/v1/models/{_segment(version)}/report"
        return str(self._request("GET", path, text=True).body)

    def reload_model(self) -> Json:
        return self._post("/v1/models/reload", {})

    def promote(self, version: str) -> Json:
        return self._post("/v1/models/promote", {"version": version})

    def rollback(self) -> Json:
        return self._post("/v1/models/rollback", {})

    def set_shadow(self, version: str | None) -> Json:
        return self._post("/v1/models/shadow", {"version": version})

    # -- monitoring ------------------------------------------------------------------------

    def performance(self, days: int = 30) -> Json:
        return self._get("/v1/monitoring/performance", days=days)

    def drift(self) -> Json:
        return self._get("/v1/monitoring/drift")

    # -- labels and reviews ----------------------------------------------------------------

    def post_labels(self, labels: list[Json]) -> Json:
        return self._post("/v1/labels", {"labels": labels})

    def label(self, transaction_id: str) -> Json:
        return self._get(f"/v1/labels/{_segment(transaction_id)}")

    def reviews(self, **filters: Any) -> Json:
        return self._get("/v1/reviews", **filters)

    def review(self, transaction_id: str) -> Json:
        return self._get(f"/v1/reviews/{_segment(transaction_id)}")

    def act_on_review(self, transaction_id: str, action: str, **fields: Any) -> Json:
        body = {"action": action, **{k: v for k, v in fields.items() if v is not None}}
        return self._post(f"/v1/reviews/{_segment(transaction_id)}", body)

    # -- rules, lists, audit ---------------------------------------------------------------

    def rules(self) -> Json:
        return self._get("/v1/rules")

    def rule(self, name: str) -> Json:
        return self._get(f"/v1/rules/{_segment(name)}")

    def replace_rules(self, rules: list[Json]) -> Json:
        return self._send("PUT", "/v1/rules", {"rules": rules})

    def validate_rule(self, expression: str) -> Json:
        return self._post("/v1/rules/validate", {"expression": expression})

    def put_rule(self, name: str, rule: Json) -> Json:
        return self._send("PUT", f"/v1/rules/{_segment(name)}", rule)

    def delete_rule(self, name: str) -> None:
        self._request("DELETE", f"/v1/rules/{_segment(name)}")

    def backtest(self, rule: Json, start: str | None, end: str | None) -> Json:
        return self._post("/v1/rules/backtest", {"rule": rule, "start": start, "end": end})

    def lists(self) -> Json:
        return self._get("/v1/lists")

    def list_entries(self, name: str, **params: Any) -> Json:
        return self._get(f"/v1/lists/{_segment(name)}", **params)

    def create_list(self, body: Json) -> Json:
        return self._post("/v1/lists", body)

    def put_list(self, name: str, body: Json) -> Json:
        return self._send("PUT", f"/v1/lists/{_segment(name)}", body)

    def delete_list(self, name: str) -> None:
        self._request("DELETE", f"/v1/lists/{_segment(name)}")

    def add_list_entries(self, name: str, entries: list[Json]) -> Json:
        return self._post(f"/v1/lists/{_segment(name)}/entries", {"entries": entries})

    def delete_list_entry(self, name: str, value: str) -> None:
        self._request("DELETE", f"/v1/lists/{_segment(name)}/entries/{_segment(value)}")

    def audit(self, target: str | None = None, limit: int = 50) -> Json:
        return self._get("/v1/audit", target=target, limit=limit)

    # -- transport -------------------------------------------------------------------------

    def _get(self, path: str, **params: Any) -> Json:
        query = {k: v for k, v in params.items() if v is not None}
        return _as_object(self._request("GET", path, params=query).body)

    def _post(self, path: str, body: Any) -> Json:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: Any) -> Json:
        return _as_object(self._request(method, path, json=body).body)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        text: bool = False,
    ) -> Response:
        try:
            got = self._http.request(method, path, params=params, json=json)
        except httpx.HTTPError as exc:  # refused, reset, timed out, not HTTP
            raise ApiUnavailable(
                0, f"the Frisk API at {self.base_url} does not answer ({exc.__class__.__name__})"
            ) from exc
        if got.is_success:
            replayed = got.headers.get("Idempotent-Replayed") == "true"
            if got.status_code == 204 or not got.content:
                return Response(None, replayed)
            return Response(got.text if text else _json(got), replayed)
        error = _error(got)
        error.route = f"{method} {path}"
        raise error


def _error(got: httpx.Response) -> ApiError:
    try:
        body = got.json()
    except ValueError:
        body = None
    detail = body if isinstance(body, dict) else {}
    message = str(detail.get("message") or detail.get("detail") or got.reason_phrase)
    kind: type[ApiError] = {
        401: ApiUnauthenticated,
        403: ApiForbidden,
        404: ApiNotFound,
    }.get(got.status_code, ApiError)
    if got.status_code in (502, 503, 504) and not detail:  # a proxy in front of a dead API
        kind = ApiUnavailable
    return kind(
        got.status_code,
        message,
        error=str(detail.get("error", "")),
        field=detail.get("field"),
        request_id=detail.get("request_id") or got.headers.get("X-Request-ID"),
        body=body,
        retry_after=_seconds(got.headers.get("Retry-After")),
    )


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _json(got: httpx.Response) -> Any:
    try:
        return got.json()
    except ValueError as exc:
        raise ApiError(got.status_code, "the API answered with something that is not JSON") from exc


def _as_object(body: Any) -> Json:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(200, f"expected a JSON object from the API, got {type(body).__name__}")
    return body


def _segment(value: str) -> str:
    """One path segment, escaped: an id may hold a slash or a question mark."""
    return quote(value, safe="")
