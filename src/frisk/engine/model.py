"""``ModelEngine``: online features, a trained model, thresholds and reasons behind ``decide``.

One decision is: the transaction as a canonical event -> ``OnlineFeatures.update`` (features
before the event, then learn it) -> the model's single-row fast path (one LightGBM thread) ->
calibrated probability -> risk score, tier and action from the thresholds -> the policy's final
action (hard lists, rules by priority, else the model's; ``use_policy``) -> reasons.

Reasons are TreeSHAP contributions, which cost far more than the prediction. Measured on a
129-tree model trained on simulated data (2 shared cores, load ~3): prediction p50 0.07 ms,
contributions + sentences p50 1.1 ms (p99 5 ms); bigger models scale both with the tree count.
So reasons are computed only for ``review`` and ``block`` decisions (``explain="alerts"``, the
default): those are the ones a person reads, and they are a budgeted ~0.5 % of traffic, which
puts the average cost near zero. ``explain="all"`` explains every decision, ``"none"`` none.

Hot reload loads and checks the new model completely, then swaps one reference: a model that
fails to load raises and the old one keeps serving. A model whose feature catalogue differs from
the running one is refused (``ConflictError``): its online state would have to be rebuilt from
the ledger while decisions keep changing it. Restarting the service with the new model does that
rebuild (``warmup``).

Feature state sees each transaction once. The service never calls ``decide`` for an id the ledger
holds; if recording a decision fails after ``decide`` counted it, a retry of that id would count
it again, so the engine remembers recent verdicts by id and answers such a retry from memory
without touching state (a different body under that id is decided with ``peek``, not learnt).
Lost on restart: a retry after a crash between ``decide`` and the ledger write counts twice if
the periodic snapshot caught the first attempt, a window of a few milliseconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from frisk.engine.shadow import ShadowHook
from frisk.engine.warmup import (
    AHEAD,
    MARGIN,
    SnapshotMeta,
    event_of,
    restore,
    warm_from_ledger,
    write_state,
)
from frisk.errors import ConflictError, InvalidEventError, ModelError, StateUnavailable
from frisk.features import Catalogue, OnlineFeatures, StateStore
from frisk.models.explain import explain_one
from frisk.models.pipeline import model_catalogue
from frisk.models.registry import Registry
from frisk.models.scoring import FraudModel
from frisk.models.thresholds import Thresholds
from frisk.monitoring.poller import Poller
from frisk.schema import Action, Reason, Transaction, Verdict
from frisk.store.ledger import Ledger

if TYPE_CHECKING:
    from frisk.policy import LivePolicy, PolicyDecision

__all__ = ["Explain", "ModelEngine", "ModelInfo", "ModelSource"]

log = logging.getLogger("frisk.engine")
# The policy rules with action names; a dict finds the enum member ~10x faster than Action().
_ACTION_OF = {a.value: a for a in Action}

Explain = Literal["alerts", "all", "none"]
# Verdicts kept by id for retries after a failed ledger write; a retry comes within seconds.
_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where models come from: one artifact directory, or a registry's production pointer."""

    directory: Path | None = None
    registry: Path | None = None

    def __post_init__(self) -> None:
        if (self.directory is None) == (self.registry is None):
            raise ModelError("a model source is one model directory or one registry")

    def load(self) -> FraudModel:
        if self.directory is not None:
            from frisk.models import load_model

            return load_model(self.directory, num_threads=1)
        assert self.registry is not None
        return Registry(self.registry).load(num_threads=1)

    def describe(self) -> str:
        return (
            f"model directory {self.directory}" if self.directory else f"registry {self.registry}"
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The model serving now, for ``GET /v1/models``."""

    version: str
    catalogue_version: str
    thresholds: Mapping[str, float]
    loaded_at: datetime
    source: str
    features: int


@dataclass(frozen=True, slots=True)
class _Active:
    model: FraudModel
    version: str
    catalogue: Catalogue
    names: tuple[str, ...]
    numeric_extras: tuple[str, ...]  # extra attributes the model reads as numbers
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ModelEngine:
    """A ``DecisionEngine`` over a trained model; ``start`` loads it and warms feature state."""

    def __init__(
        self,
        source: ModelSource,
        *,
        ledger: Ledger | None = None,
        state_dir: Path | None = None,
        thresholds: Mapping[str, float] | None = None,
        explain: Explain = "alerts",
        top_reasons: int = 3,
        snapshot_seconds: float = 300.0,
        history: Path | None = None,
        store: StateStore | None = None,
        max_lateness: int | None = None,
        event_ahead: timedelta = AHEAD,
        on_unavailable: Literal["refuse", "score", "review"] = "refuse",
    ) -> None:
        self.source = source
        self.ledger = ledger
        self.state_dir = state_dir
        self.thresholds = dict(thresholds or {})
        self.explain = explain
        self.top_reasons = top_reasons
        self.snapshot_seconds = snapshot_seconds
        # Payments before this service's first decision (a canonical events file), learnt at
        # start when no snapshot holds them already; then the ledger's decisions follow.
        self.history = history
        self.history_events = 0
        # How far past the server's clock an event may lie (api.event_ahead_seconds): warm-up
        # learns nothing later, so a far-future event recorded once cannot stop the clock again.
        self.event_ahead = event_ahead
        # A store that keeps its own state (shared by several processes): the engine neither
        # restores nor snapshots it, and warms it from the ledger only when it is empty. None: an
        # in-process store the engine restores, warms and snapshots itself.
        self.store = store
        # µs a transaction may be behind the feature clock before it is refused (None: no bound)
        self.max_lateness = max_lateness
        # What a decision does when the shared store does not answer (``state.on_unavailable``).
        self.on_unavailable = on_unavailable
        self._blank: tuple[str, OnlineFeatures] | None = None  # no state: every entity new
        self._unavailable_logged = 0.0
        self._active: _Active | None = None
        self._features: OnlineFeatures | None = None
        # Guards feature state: decide, snapshots and the reload swap. Uncontended in service,
        # which already decides one transaction at a time.
        self._lock = threading.Lock()
        self._remembered: OrderedDict[str, tuple[Transaction, Verdict]] = OrderedDict()
        self._recent: deque[tuple[float, str]] = deque()  # (monotonic, id), for snapshots
        self._labels_until: datetime | None = None
        self._snapshotter: _Snapshots | None = None
        self.warmed_events = 0
        # Rules and lists after the model (``use_policy``); None decides by thresholds alone.
        self.policy: LivePolicy | None = None
        # A challenger scoring the same vectors off the request path (``shadow``); set by the
        # service, None when no model is in shadow.
        self.shadow: ShadowHook | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ModelEngine:
        """Load the model, restore feature state and catch up from the ledger; returns self."""
        active = self._load()
        if self.store is not None:
            shared = OnlineFeatures(active.catalogue, self.store)
            if self.store.clock is None and self.ledger is not None:
                # Empty shared state: learn the ledger once. (Two processes starting on the same
                # empty state at once may meet a write conflict: StateUnavailable, restart one.)
                self.warmed_events, self._labels_until = warm_from_ledger(
                    shared, self.ledger, None, ahead=self.event_ahead
                )
            shared.max_lateness = self.max_lateness
            self._active, self._features = active, shared
            return self
        features: OnlineFeatures | None = None
        meta: SnapshotMeta | None = None
        if self.state_dir is not None:
            restored = restore(self.state_dir, active.catalogue, ahead=self.event_ahead)
            if restored is not None:
                features, meta = restored
        if features is None:
            features = OnlineFeatures(active.catalogue)
        if meta is None and self.history is not None:
            self.history_events = _warm_from_history(features, self.history)
        if self.ledger is not None:
            began = time.perf_counter()
            self.warmed_events, self._labels_until = warm_from_ledger(
                features, self.ledger, meta, ahead=self.event_ahead
            )
            log.info(
                "feature state warm: %s, %d decisions replayed from the ledger in %.2f s",
                "from a snapshot" if meta is not None else "no snapshot",
                self.warmed_events,
                time.perf_counter() - began,
            )
        features.max_lateness = self.max_lateness
        self._active, self._features = active, features
        if self.state_dir is not None:
            self._snapshotter = _Snapshots(self, self.snapshot_seconds).start()
        return self

    def feature_lateness(self) -> tuple[int, int]:
        """Transactions learnt late (at the feature clock's time) and refused as too late."""
        features = self._features
        return (0, 0) if features is None else (features.late_events, features.refused_late)

    @property
    def takes_event_claims(self) -> bool:
        """Whether the feature store takes the decider's claim with the event (one Redis)."""
        return bool(getattr(self.store, "takes_event_claims", False))

    def feature_changes_applied(self) -> int:
        """Changes of other processes applied to this one's copies of shared state."""
        features = self._features
        return 0 if features is None else features.changes_applied

    def close(self) -> None:
        """Stop periodic snapshots and take a last one (graceful shutdown)."""
        if self._snapshotter is not None:
            self._snapshotter.close(timeout=30)
        if self.state_dir is not None and self._features is not None:
            self.snapshot()

    def snapshot(self) -> None:
        """Write feature state to ``state_dir`` (under the lock: decisions wait meanwhile)."""
        if (
            self.state_dir is None
            or self.store is not None
            or self._features is None
            or self._active is None
        ):
            return
        with self._lock:
            now = datetime.now(UTC)
            horizon = time.monotonic() - 2 * MARGIN.total_seconds()
            recent = tuple(i for at, i in self._recent if at >= horizon)
            meta = SnapshotMeta(
                file=f"features-{now:%Y%m%dT%H%M%S%f}.snap",
                catalogue_version=self._active.catalogue.version,
                taken_at=now,
                recent_ids=recent,
                labels_until=self._labels_until,
                model_version=self._active.version,
            )
            write_state(self.state_dir, self._features, meta)

    # -- DecisionEngine --------------------------------------------------------------------

    @property
    def model_version(self) -> str:
        return self._active.version if self._active is not None else "none"

    def ready(self) -> bool:
        return self._active is not None and self._features is not None

    @property
    def catalogue(self) -> Catalogue:
        """The feature catalogue of the serving model: what rules may read."""
        return self._require().catalogue

    def use_policy(self, policy: LivePolicy | None) -> None:
        """Decide with ``policy`` after the model from the next decision on."""
        self.policy = policy

    @property
    def model(self) -> FraudModel:
        """The model deciding now (monitoring reads its drift reference)."""
        return self._require().model

    def info(self) -> ModelInfo:
        active = self._require()
        return ModelInfo(
            version=active.version,
            catalogue_version=active.catalogue.version,
            thresholds=active.model.thresholds.to_dict(),
            loaded_at=active.loaded_at,
            source=self.source.describe(),
            features=len(active.names),
        )

    def decide(self, txn: Transaction) -> Verdict:
        active = self._require()
        features = self._features
        assert features is not None
        for name in active.numeric_extras:
            # The API's contract is stricter than the feature executor's (which reads "12" as
            # 12.0): a string is refused, named as the request field it came in.
            if isinstance(txn.extra.get(name), str):
                raise InvalidEventError(
                    f"extra.{name}", txn.extra[name], "must be a number: the model reads it as one"
                )
        with self._lock:
            seen = self._remembered.get(txn.transaction_id)
            if seen is not None and seen[0] == txn:
                return seen[1]
            began = time.perf_counter()
            event = event_of(txn)
            missing: StateUnavailable | None = None
            try:
                # The same id with another body after a failed write is decided, not learnt.
                vector = features.update(event) if seen is None else features.peek(event)
            except StateUnavailable as exc:
                if self.store is None or self.on_unavailable == "refuse":
                    raise
                missing = exc
                vector = self._stateless(active).peek(event)
            self._recent.append((time.monotonic(), txn.transaction_id))
        featured = time.perf_counter()
        verdict = self._verdict(active, vector, began, featured, event)
        if missing is not None:  # not remembered: a retry once Redis is back is decided whole
            return self._degraded(txn, verdict, missing)
        shadow = self.shadow
        if shadow is not None and seen is None:
            shadow.offer(txn.transaction_id, vector)
        self._remember(txn, verdict)
        return verdict

    def reload(self) -> None:
        """Load the source's current model, check it, then swap it in; raise if it cannot be."""
        candidate = self._load()
        current = self._require()
        if candidate.catalogue.version != current.catalogue.version:
            raise ConflictError(
                f"model {candidate.version} reads feature catalogue "
                f"{candidate.catalogue.name}@{candidate.catalogue.version}, the running model "
                f"{current.catalogue.name}@{current.catalogue.version}; its online state cannot "
                f"be swapped in place. Restart the service with it: state is rebuilt from the "
                f"ledger on start. Still serving {current.version}."
            )
        with self._lock:
            self._active = candidate
        log.info("model %s now serving (was %s)", candidate.version, current.version)

    def apply_label(
        self,
        transaction_id: str,
        fraud: bool,
        label_timestamp: datetime,
        *,
        recorded_at: datetime | None = None,
    ) -> None:
        """Queue a label for feature state (label features see it after its timestamp).

        ``recorded_at`` (the ledger row's ``updated_at``) advances the label watermark that
        snapshots keep, so a restart does not queue a label the snapshot already holds again.

        The label reaches the entities of the transaction as the ledger recorded it, whichever
        process decided it (feature state may be shared); without a ledger, or for a transaction
        it does not hold, through the state store's claim on the transaction.
        """
        event = None
        if self.ledger is not None:
            record = self.ledger.get_decision(transaction_id)
            if record is not None:
                event = event_of(Transaction.model_validate(record.transaction))
        with self._lock:
            assert self._features is not None
            self._features.apply_label(
                transaction_id, 1 if fraud else 0, label_timestamp, event=event
            )
            if recorded_at is not None and (
                self._labels_until is None or recorded_at > self._labels_until
            ):
                self._labels_until = recorded_at

    # -- internals -------------------------------------------------------------------------

    def _require(self) -> _Active:
        if self._active is None:
            raise ModelError("the engine has no model; call start() first")
        return self._active

    def _load(self) -> _Active:
        model = self.source.load()
        if self.thresholds:
            model = model.with_thresholds(model.thresholds.replace(**self.thresholds))
        catalogue = model_catalogue(model)
        if list(catalogue.names) != model.feature_names:
            raise ModelError(
                f"the model reads {len(model.feature_names)} features, its catalogue "
                f"{catalogue.name} computes {len(catalogue.names)} in another order"
            )
        version = model.version or "unversioned"
        numeric = tuple(s.of for s in catalogue.specs if s.kind == "extra" and not s.categorical)
        return _Active(model, version, catalogue, tuple(catalogue.names), numeric)

    def _verdict(
        self,
        active: _Active,
        vector: list[Any],
        began: float,
        featured: float,
        event: Mapping[str, Any],
    ) -> Verdict:
        model = active.model
        probability = model.score_one(vector)
        t: Thresholds = model.thresholds
        action = t.action(probability)
        risk_score, tier = t.risk_score(probability), t.tier(probability).value
        # NaN (a missing feature) as None: JSON, and PostgreSQL's jsonb, have no NaN. Only
        # NaN is unequal to itself; this is ~3x cheaper than isinstance + isnan per value.
        features = {n: None if v != v else v for n, v in zip(active.names, vector, strict=True)}
        scored = time.perf_counter()
        # The policy decides the final action (hard lists, rules, then the model's thresholds);
        # reasons are then for that action, so a rule's alert is explained like the model's.
        ruling: PolicyDecision | None = None
        if self.policy is not None:
            ruling = self.policy.decide(
                event, features, probability, tier, action.value, datetime.now(UTC),
                risk_score=risk_score,
            )  # fmt: skip
            action = _ACTION_OF[ruling.action]
        ruled = time.perf_counter()
        reasons: tuple[Reason, ...] = ()
        if self.explain == "all" or (self.explain == "alerts" and action is not Action.ALLOW):
            reasons = tuple(
                Reason(r.feature, _clean(r.value), r.contribution, r.text)
                for r in explain_one(model, vector, self.top_reasons)
            )
        if ruling is not None and ruling.decided_by != "model":
            reasons = (Reason(ruling.decided_by_name, None, 0.0, ruling.sentence()), *reasons)
        explained = time.perf_counter()
        timings = {
            "features": round((featured - began) * 1000, 3),
            "model": round((scored - featured) * 1000, 3),
            "reasons": round((explained - ruled) * 1000, 3),
        }
        if ruling is not None:
            timings["policy"] = round((ruled - scored) * 1000, 3)
        return Verdict(
            score=probability,
            risk_score=risk_score,
            risk_tier=tier,
            action=action,
            reasons=reasons,
            features=features,
            model_version=active.version,
            timings=timings,
            policy=None if ruling is None else ruling.to_json(),
        )

    def _stateless(self, active: _Active) -> OnlineFeatures:
        """Features over an empty in-process state: what needs no history is exact."""
        blank = self._blank
        if blank is None or blank[0] != active.catalogue.version:
            blank = self._blank = (active.catalogue.version, OnlineFeatures(active.catalogue))
        return blank[1]

    def _degraded(self, txn: Transaction, verdict: Verdict, cause: StateUnavailable) -> Verdict:
        """``verdict`` decided without the shared state: marked, named, sent to review if set."""
        now = time.monotonic()
        if now - self._unavailable_logged > 10:  # a line per 10 s; the counter has every one
            self._unavailable_logged = now
            log.warning(
                "feature state unavailable, deciding %s without it (state.on_unavailable=%s): %s",
                txn.transaction_id,
                self.on_unavailable,
                cause,
            )
        action = verdict.action
        if self.on_unavailable == "review" and action is Action.ALLOW:
            action = Action.REVIEW
        named = Reason(
            "feature_state",
            None,
            0.0,
            "Feature state (Redis) could not be read: the payer's, payee's and device's history "
            "was not seen; this decision treated them as new.",
        )
        return replace(verdict, action=action, reasons=(named, *verdict.reasons), degraded=True)

    def _remember(self, txn: Transaction, verdict: Verdict) -> None:
        with self._lock:
            self._remembered[txn.transaction_id] = (txn, verdict)
            if len(self._remembered) > _REMEMBERED:
                self._remembered.popitem(last=False)
            horizon = time.monotonic() - 2 * MARGIN.total_seconds()
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()


def _warm_from_history(features: OnlineFeatures, path: Path) -> int:
    """Learn a canonical events file's payments (and labels at their arrival) in event order."""
    from frisk.data import read_table

    began = time.perf_counter()
    table = read_table(path)
    features.warm(table)
    log.info(
        "feature state warm: %d payments learnt from %s in %.2f s",
        table.height,
        path,
        time.perf_counter() - began,
    )
    return table.height


def _clean(value: Any) -> Any:
    """NaN (a missing feature) as None: JSON, and PostgreSQL's jsonb, have no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class _Snapshots(Poller):
    """Snapshots feature state every ``interval`` s; one that fails is logged and the next is
    tried (the ledger covers what a missed snapshot would have held)."""

    what = "periodic feature snapshot"

    def __init__(self, engine: ModelEngine, interval: float) -> None:
        super().__init__(interval, name="frisk-snapshots")
        self._snapshot = engine.snapshot

    def check(self) -> bool:
        self._snapshot()
        return True
