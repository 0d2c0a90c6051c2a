"""Settings: ``FRISK_*`` environment variables, an optional TOML config file, then defaults.

The config file is named by ``FRISK_CONFIG`` (or passed to ``load_settings``). Nested settings use
``__`` in environment variables, e.g. ``FRISK_SERVICE__PORT=8080``. Any setting can also come
from a file named by the same variable with ``_FILE`` appended (``FRISK_DATABASE_URL_FILE=/run/
secrets/database_url``), so that a password never sits in an environment listing; giving both is
an error. Settings are built by the CLI and the app factory, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from frisk.bounds import EventWindow
from frisk.errors import ConfigError

__all__ = [
    "ApiSettings",
    "ConsumerSettings",
    "CorsSettings",
    "FileVariablesSource",
    "MonitoringSettings",
    "PolicySettings",
    "RateLimitSettings",
    "SecuritySettings",
    "ServiceSettings",
    "Settings",
    "StateSettings",
    "StoreSettings",
    "ThresholdSettings",
    "load_settings",
]


class ThresholdSettings(BaseModel):
    """Cut points on the calibrated probability that override the model's own at serve time."""

    medium: float | None = Field(default=None, ge=0, le=1)
    review: float | None = Field(default=None, ge=0, le=1)
    block: float | None = Field(default=None, ge=0, le=1)

    def overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ServiceSettings(BaseModel):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    thresholds: ThresholdSettings = Field(default_factory=ThresholdSettings)
    # Which decisions carry reasons: TreeSHAP costs ~15x a prediction, so alerts only by default.
    explain: Literal["alerts", "all", "none"] = "alerts"
    # Feature state is snapshotted this often (and on shutdown); 0 turns periodic ones off.
    snapshot_seconds: float = Field(default=300.0, ge=0)
    # Freeze what survives each full garbage collection, so the next one skips it: keeps pauses
    # short as the feature state grows (see frisk.service.gc_pauses for the trade-off).
    gc_freeze: bool = True
    # Allocations between young-generation collections (CPython's default 700: at ~1,000
    # container allocations a decision, a collection every request). None keeps the default.
    gc_young_threshold: int | None = Field(default=20_000, ge=100)


class ApiSettings(BaseModel):
    """What the HTTP API accepts and reports."""

    # Transactions per POST /v1/score/batch.
    max_batch: int = Field(default=100, ge=1, le=10_000)
    # Share of today's decisions the fraud team can review; /v1/stats compares the alert rate to it.
    alert_budget: float = Field(default=0.005, gt=0, le=1)
    # Latency percentiles in /v1/stats are over this many most recent requests.
    latency_window: int = Field(default=10_000, ge=100)
    # POST /v1/uploads: the file is refused with 413 once it streams past this many bytes, or
    # when it holds more rows than are scored within one request (scoring is synchronous).
    upload_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Uploads are scored synchronously at roughly 1,000 rows/s: keep one request to seconds.
    upload_max_rows: int = Field(default=10_000, ge=1)
    # An upload's result file (GET /v1/uploads/{id}) is deleted this many hours after it is made.
    upload_result_hours: float = Field(default=24.0, gt=0)
    # Column mappings an upload may name (by file stem); empty means ``<home>/mappings``.
    mappings_dir: Path | None = None
    # Live events (score, batch, uploads) lie within this window around the server's clock:
    # feature state runs on event time and never goes back, so one far-future event would hold
    # every payer's clock there. Behind: the feature catalogue's default retention (30 days);
    # null lets any age through (down to 1970). History is imported (frisk import), not scored.
    event_ahead_seconds: float = Field(default=300.0, ge=0)
    event_behind_days: float | None = Field(default=30.0, gt=0)

    def event_window(self) -> EventWindow:
        behind = self.event_behind_days
        return EventWindow(
            ahead=timedelta(seconds=self.event_ahead_seconds),
            behind=None if behind is None else timedelta(days=behind),
        )


class StoreSettings(BaseModel):
    """How long the service waits on its ledger database (PostgreSQL; SQLite is a local file).

    A store that does not answer within these becomes a 503 with ``Retry-After``: scoring waits
    at most ``statement_timeout + 1`` seconds for the ledger (see docs/OPERATIONS.md).
    """

    # Opening a connection (libpq counts whole seconds, at least 2).
    connect_timeout: float = Field(default=2.0, gt=0)
    # One statement; the server cancels it past this, and the client gives up a second later.
    statement_timeout: float = Field(default=5.0, gt=0)
    # Waiting for a free pooled connection.
    pool_timeout: float = Field(default=2.0, gt=0)
    # After a failure the database is not asked again for this long (calls answer 503 at once).
    cool_down: float = Field(default=1.0, gt=0)

    @property
    def answer_seconds(self) -> float:
        """The longest scoring waits for the ledger before answering 503."""
        return self.statement_timeout + 1.0


class PolicySettings(BaseModel):
    """Analysts' rules and lists, kept in the ledger and changed through the API."""

    # Rules-as-code: at start the ledger's rules become exactly this YAML file's (each change
    # audited as the file's). Changes through the API still apply until the next start.
    rules_file: Path | None = None
    # The service reads the ledger's policy versions this often and rebuilds its policy when
    # another process (the CLI, another instance) changed rules or lists; 0 turns polling off.
    poll_seconds: float = Field(default=2.0, ge=0)


class RateLimitSettings(BaseModel):
    """A token bucket per API key; a batch costs one token per transaction. In Redis, shared by
    every process, when feature state is there (``state.url``); else in each process.

    A key created with its own limit (``frisk keys create --rate-limit N``) gets N per second and
    a bucket of ``N x burst_seconds``; other keys get their role's default below.
    """

    enabled: bool = True
    # Analyst and admin keys: the dashboard, the CLI, scripts.
    per_second: float = Field(default=200.0, gt=0)
    burst: int = Field(default=400, ge=1)
    # Scorer keys carry payment traffic: a switch refused with 429 by its fraud engine is an
    # outage, so the default sits above what one 2-core node decides (~1,500/s measured).
    scorer_per_second: float = Field(default=2000.0, gt=0)
    # A bucket holds this many seconds of its rate (scorer keys and keys with their own limit).
    burst_seconds: float = Field(default=2.0, gt=0)


class CorsSettings(BaseModel):
    """Closed unless origins are listed (browsers on other origins cannot call the API)."""

    allow_origins: list[str] = Field(default_factory=list)
    allow_methods: list[str] = Field(default_factory=lambda: ["GET", "POST"])
    allow_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"]
    )


class SecuritySettings(BaseModel):
    """API keys, request limits and CORS."""

    # Requests with a larger body are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # A key looked up in the ledger is trusted this long; revocation takes effect within it.
    key_cache_seconds: float = Field(default=5.0, ge=0)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    cors: CorsSettings = Field(default_factory=CorsSettings)


class MonitoringSettings(BaseModel):
    """Live performance, drift, retraining and shadow scoring (the feedback loop)."""

    # A PSI at or above this marks the score or a feature as drifted (0.1 watch, 0.25 act).
    psi_alert: float = Field(default=0.2, gt=0)
    # The live window drift compares with the training reference: the last N decisions of the
    # serving model, or, when set, those recorded in the last ``drift_hours``.
    drift_window: int = Field(default=5000, ge=10, le=1_000_000)
    drift_hours: float | None = Field(default=None, gt=0)
    # Below this many decisions in the window PSI is noise: it is reported as null.
    drift_min_decisions: int = Field(default=100, ge=1)
    # /v1/stats "live" and the Prometheus gauges cover this many most recent days.
    live_days: int = Field(default=7, ge=1, le=366)
    # /metrics recomputes live performance and drift at most this often (SQL over the ledger).
    refresh_seconds: float = Field(default=30.0, ge=0)
    # The service checks the registry's production pointer this often and swaps in a promotion
    # or rollback without a restart; 0 turns polling off (POST /v1/models/* still swaps).
    registry_poll_seconds: float = Field(default=5.0, ge=0)
    # A registered version scored in shadow from start-up (POST /v1/models/shadow changes it).
    shadow_version: str | None = None
    # frisk retrain: the challenger is promoted (--promote auto) only when its metric on the
    # most recent labelled period beats the champion's by more than this margin.
    retrain_metric: Literal["average_precision", "recall", "amount_recall"] = "average_precision"
    retrain_margin: float = Field(default=0.01, ge=0)
    # frisk retrain evaluates on the last this-many days before the cut-off.
    retrain_eval_days: float = Field(default=7.0, gt=0)


class StateSettings(BaseModel):
    """Where online feature state lives: in the process (default), or a shared Redis."""

    # Empty: the in-process store (snapshots under ``home``). ``redis://host:6379/0`` or
    # ``rediss://...``: a Redis (or Valkey) server shared by every process of the service.
    url: str = ""
    # A Redis Cluster behind ``url`` (one of its nodes); keys carry hash tags per entity.
    cluster: bool = False
    # Every key of this deployment starts with it (several deployments can share one Redis).
    key_prefix: str = Field(default="frisk", min_length=1, max_length=64, pattern=r"^[^{}\s]+$")
    # Seconds to connect and to wait for one reply; past them the store raises StateUnavailable.
    connect_timeout: float = Field(default=1.0, gt=0)
    timeout: float = Field(default=0.5, gt=0)
    # Connections in the client's pool (per process).
    pool_size: int = Field(default=16, ge=1, le=10_000)
    # A transaction id is claimed in Redis by the process deciding it (frisk.engine.claims);
    # the claim expires after this long, so a process killed while deciding delays a retry of
    # that id by at most this. Keep it above the longest decision (store.answer_seconds).
    claim_seconds: float = Field(default=10.0, gt=0, le=3600)
    # When Redis does not answer (within ``timeout``): ``refuse`` answers 503 with Retry-After;
    # ``score`` decides with what needs no state (every payer, payee and device as if new) and
    # ``review`` also sends the payment to review; both mark the decision degraded, name what it
    # could not read in its first reason, count it and log it. Such a payment is recorded but
    # not learnt by feature state (``frisk state rebuild --from-ledger`` would learn it).
    on_unavailable: Literal["refuse", "score", "review"] = "refuse"
    # Records each process caches (with their versions) so that an event costs one round trip;
    # a stale one is found out by Redis and read again. 0: read every record first (two).
    cache_size: int = Field(default=50_000, ge=0, le=100_000_000)
    # Seconds an event may be behind the feature clock (the latest event time learnt, by any
    # process): a late event is learnt at the clock's time; one later than this is refused
    # (422, LateEventError). None: no bound.
    max_lateness: float | None = Field(default=None, gt=0)


class ConsumerSettings(BaseModel):
    """``frisk consume``: deciding payments read from a stream (NATS JetStream, Redis Streams).

    The command's options override these (``FRISK_CONSUMER__*``).
    """

    # ``redis://host:6379/0`` or ``nats://host:4222``.
    broker: str = ""
    input: str = ""  # the payments' stream (Redis) or subject (NATS)
    output: str = ""  # where each decision is published
    labels: str = ""  # a label feed (chargebacks, verdicts); empty: none
    # Undecodable or invalid messages, with the reason; empty: ``<input>.dead``.
    dead_letters: str = ""
    group: str = "frisk"  # the consumer group (Redis) or durable consumer (NATS)
    # This process's name in the group; empty: ``<hostname>-<pid>``.
    name: str = ""
    # Messages decided together, one ledger commit for all of them: the bound on work in flight.
    batch: int = Field(default=256, ge=1, le=10_000)
    # Seconds a fetch waits for the first message before the loop looks around (drain, claims).
    wait_seconds: float = Field(default=1.0, gt=0)
    # A message delivered and not acknowledged for this long belongs to a dead consumer: NATS
    # redelivers it (``ack_wait``), Redis Streams lets another consumer claim it (XAUTOCLAIM).
    redeliver_seconds: float = Field(default=30.0, gt=0)
    # How long a published decision's id is remembered to drop a second publish of it (NATS
    # ``duplicate_window`` of the streams the consumer creates; Redis, a key per decision).
    dedupe_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Seconds between retries of a batch the ledger or the state store refused (not acknowledged).
    retry_seconds: float = Field(default=1.0, gt=0)
    # Prometheus metrics on 127.0.0.1:<port>; 0: none.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # The import's TOML column mapping applied to every payment message; none: canonical bodies.
    mapping: Path | None = None


class LedgerSettings(BaseModel):
    """Retention: decisions whose transaction is older than ``retention_days`` move, with their
    labels and reviews, to Parquet under ``archive_dir`` (``frisk ledger archive``)."""

    # None keeps everything. Keep more than the longest feature window (30 days by default):
    # state snapshots and the ledger's recent decisions rebuild feature state on a restart.
    retention_days: float | None = Field(default=None, gt=0)
    archive_dir: Path | None = None  # default: home/archive
    # How often the service runs the retention itself; 0 leaves it to a CLI job (cron).
    archive_every_hours: float = Field(default=24.0, ge=0)
    archive_batch: int = Field(default=500, ge=1, le=10_000)  # rows per deleting transaction
    archive_pause_ms: float = Field(default=0.0, ge=0)  # between those, for busy SQLite files
    # PostgreSQL: how often the service creates the coming days' partitions of ``decisions``
    # (``frisk.store.partitions``), and once as it starts; 0 leaves it to restarts and archive runs.
    partition_check_seconds: float = Field(default=3600.0, ge=0)


class FileVariablesSource(PydanticBaseSettingsSource):
    """``FRISK_<NAME>_FILE=path``: the setting ``FRISK_<NAME>`` names, read from that file.

    Docker and Kubernetes secrets are files; the file's content less its trailing line break is
    the value. A file that cannot be read, or a variable also given directly, is a ConfigError.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is done in __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for variable, path in sorted(self.environ.items()):
            if not (variable.startswith(_PREFIX) and variable.endswith(_FILE_SUFFIX)):
                continue
            direct = variable[: -len(_FILE_SUFFIX)]
            if direct in self.environ:
                raise ConfigError(f"{direct} and {variable} are both set; give one of them")
            try:
                value = Path(path).read_text(encoding="utf-8").removesuffix("\n")
            except OSError as exc:
                raise ConfigError(f"{variable}={path!r}: {exc.strerror or exc}") from exc
            keys = direct[len(_PREFIX) :].lower().split(_NESTING)
            target = values
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = value
        return values


_PREFIX = "FRISK_"
_NESTING = "__"
_FILE_SUFFIX = "_FILE"


class Settings(BaseSettings):
    """Everything Frisk can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix=_PREFIX,
        env_nested_delimiter=_NESTING,
        extra="forbid",
    )

    # Where generated data, models, state snapshots and the embedded ledger live.
    home: Path = Field(default=Path(".frisk"))
    # Ledger location; empty means an SQLite file under ``home``.
    database_url: str = ""
    seed: int = 7
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)

    @property
    def archive_dir(self) -> Path:
        return self.ledger.archive_dir or self.home / "archive"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def registry_dir(self) -> Path:
        return self.home / "models"

    @property
    def mapping_dir(self) -> Path:
        return self.api.mappings_dir or self.home / "mappings"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            FileVariablesSource(settings_cls, os.environ),
        ]
        config_file = os.environ.get("FRISK_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; a config file given here wins over ``FRISK_CONFIG``."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {str(config_file)!r} does not exist")
    env_file = os.environ.get("FRISK_CONFIG")
    if config_file is None and env_file and not Path(env_file).is_file():
        raise ConfigError(f"FRISK_CONFIG={env_file!r}: no such file")
    try:
        if config_file is not None:
            previous = os.environ.get("FRISK_CONFIG")
            os.environ["FRISK_CONFIG"] = str(config_file)
            try:
                return Settings(**overrides)
            finally:
                if previous is None:
                    del os.environ["FRISK_CONFIG"]
                else:
                    os.environ["FRISK_CONFIG"] = previous
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']}") from exc
