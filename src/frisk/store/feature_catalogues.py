"""The names of decisions' packed feature vectors, held once per catalogue.

A decision row keeps ``catalogue_id`` and ``feature_values`` (``frisk.store.feature_codec``);
this module turns a features mapping into that pair and back. A catalogue is its ordered list of
names; its row is found by the names' digest, so every process and node writing to one ledger
agrees on the id without talking to the others, and a row is never changed or removed.

Rows recorded before packed vectors (migration 0003) keep their JSON ``features``: ``features``
reads either.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from frisk.errors import StoreError
from frisk.store._driver_errors import translate_errors
from frisk.store.feature_codec import pack, unpack
from frisk.store.tables import decisions, feature_catalogues

__all__ = [
    "FeatureCatalogues",
    "RecordedFeatures",
    "catalogues_of",
    "feature_columns",
    "recent_features",
    "unpack_to_json",
]

Features = dict[str, Any]


class FeatureCatalogues:
    """The ledger's feature catalogues, cached: a catalogue is read or written once per process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids: dict[tuple[str, ...], int] = {}
        self._names: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def pack(self, features: Mapping[str, Any]) -> tuple[int, bytes]:
        """``(catalogue_id, feature_values)`` of a decision's features."""
        names = tuple(features)
        catalogue = self._ids.get(names)
        if catalogue is None:
            catalogue = self.id_for(names)
        return catalogue, pack(list(features.values()))

    def features(
        self, catalogue_id: int | None, values: bytes | None, legacy: Mapping[str, Any] | None
    ) -> Features:
        """A row's features as the names and values recorded, packed or (before 0003) JSON."""
        if values is None:
            if legacy is None:
                raise StoreError("a decision row holds neither packed nor JSON features")
            return dict(legacy)
        if catalogue_id is None:
            raise StoreError("a decision row holds packed features without a catalogue")
        names = self._names.get(catalogue_id) or self.names_of(catalogue_id)
        return dict(zip(names, unpack(values, len(names)), strict=True))

    def id_for(self, names: tuple[str, ...]) -> int:
        """The id of the catalogue of ``names`` (in this order), stored first if it is new."""
        with self._lock:
            found = self._ids.get(names)
            if found is not None:
                return found
            digest = hashlib.sha256(orjson.dumps(list(names))).hexdigest()
            row = {"digest": digest, "names": list(names), "created_at": datetime.now(UTC)}
            insert: Any = (
                postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
            )
            statement = insert(feature_catalogues).values(row).on_conflict_do_nothing()
            query = sa.select(feature_catalogues.c.id).where(feature_catalogues.c.digest == digest)
            with translate_errors("storing a feature catalogue"), self._engine.begin() as conn:
                conn.execute(statement)
                catalogue = int(conn.execute(query).scalar_one())
            self._ids[names] = catalogue
            self._names[catalogue] = names
            return catalogue

    def names_of(self, catalogue_id: int) -> tuple[str, ...]:
        """The names of catalogue ``catalogue_id``; ``StoreError`` if the ledger has none such."""
        with self._lock:
            found = self._names.get(catalogue_id)
            if found is not None:
                return found
            query = sa.select(feature_catalogues.c.id, feature_catalogues.c.names)
            with translate_errors("reading feature catalogues"), self._engine.connect() as conn:
                for row in conn.execute(query):
                    names = tuple(str(n) for n in row.names)
                    self._names[int(row.id)] = names
                    self._ids[names] = int(row.id)
            if catalogue_id not in self._names:
                raise StoreError(f"the ledger has no feature catalogue {catalogue_id}")
            return self._names[catalogue_id]


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, FeatureCatalogues] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def catalogues_of(engine: Engine) -> FeatureCatalogues:
    """The one ``FeatureCatalogues`` of ``engine`` (its cache shared by every reader)."""
    with _BY_ENGINE_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = FeatureCatalogues(engine)
        return found


def feature_columns() -> Iterable[sa.ColumnElement[Any]]:
    """The columns ``FeatureCatalogues.features`` reads, for a query's select list."""
    return (decisions.c.catalogue_id, decisions.c.feature_values, decisions.c.features)


@dataclass(frozen=True, slots=True)
class RecordedFeatures:
    """What drift monitoring reads of one decision."""

    score: float
    event_time: datetime
    features: Features


def recent_features(
    engine: Engine, model_version: str, *, last: int, since: datetime | None = None
) -> list[RecordedFeatures]:
    """The newest ``last`` decisions of ``model_version`` (created at or after ``since``)."""
    query = (
        sa.select(decisions.c.score, decisions.c.event_time, *feature_columns())
        .where(decisions.c.model_version == model_version)
        .order_by(decisions.c.created_at.desc())
        .limit(last)
    )
    if since is not None:
        query = query.where(decisions.c.created_at >= since)
    catalogues = catalogues_of(engine)
    with translate_errors("reading the drift window"), engine.connect() as conn:
        rows = conn.execute(query).all()
    return [RecordedFeatures(r[0], r[1], catalogues.features(*r[2:])) for r in rows]


def unpack_to_json(conn: Connection, *, batch: int = 1000) -> int:
    """Write the JSON ``features`` of every packed row (migration 0003's downgrade); the count."""
    names = {
        int(r.id): tuple(r.names)
        for r in conn.execute(sa.select(feature_catalogues.c.id, feature_catalogues.c.names))
    }
    table = sa.table(
        "decisions",
        sa.column("transaction_id", sa.String()),
        sa.column("features", decisions.c.features.type),
        sa.column("catalogue_id", sa.Integer()),
        sa.column("feature_values", sa.LargeBinary()),
    )
    done = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.transaction_id, table.c.catalogue_id, table.c.feature_values)
            .where(table.c.features.is_(None))
            .limit(batch)
        ).all()
        for row in rows:
            keys = names[int(row.catalogue_id)]
            values = dict(zip(keys, unpack(row.feature_values, len(keys)), strict=True))
            conn.execute(
                table.update()
                .where(table.c.transaction_id == row.transaction_id)
                .values(features=values)
            )
        done += len(rows)
        if len(rows) < batch:
            return done
