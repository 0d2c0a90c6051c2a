"""API keys: generated once, shown once, stored as a SHA-256 hash behind a public key id.

A key reads ``frisk_<key id>_<secret>``. The id finds the stored record; the hash of the whole key
proves possession. The secret has 256 bits of entropy, so a fast hash is enough: bcrypt or argon2
exist to slow down guessing of low-entropy passwords, and would add tens of milliseconds to every
request of a service that answers in a few.

``KeyCache`` holds the records the ledger gave and the ``Principal`` each verified key stands for;
``frisk.service.auth`` turns a request's key into one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from frisk.errors import InputError
from frisk.schema import Role
from frisk.store.ledger import ApiKeyRecord, AuditEntry, Ledger

__all__ = [
    "KeyCache",
    "Principal",
    "create_key",
    "digest_matches",
    "hash_key",
    "key_id_of",
    "log_id",
    "revoke_key",
    "verify_key",
]

_PREFIX = "frisk"
_KEY = re.compile(r"^frisk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def create_key(
    ledger: Ledger, role: Role, name: str, *, actor: str, rate_limit: float | None = None
) -> tuple[str, ApiKeyRecord]:
    """Store a new key and return it in clear (the only time it exists so) with its record;
    ``rate_limit``: its requests per second (None: the default for its role)."""
    if rate_limit is not None and not (rate_limit > 0 and math.isfinite(rate_limit)):
        raise InputError(f"rate_limit={rate_limit!r}: requests per second, above 0")
    key_id = secrets.token_hex(6)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKeyRecord(
        key_id=key_id,
        key_hash=hash_key(key),
        role=role,
        name=name,
        created_at=datetime.now(UTC),
        rate_limit=rate_limit,
    )
    ledger.add_api_key(record)
    ledger.append_audit(
        AuditEntry(
            actor=actor,
            action="api_key.create",
            target=f"api_key:{key_id}",
            at=record.created_at,
            after={"role": role.value, "name": name, "rate_limit": rate_limit},
        )
    )
    return key, record


def revoke_key(ledger: Ledger, key_id: str, *, actor: str) -> ApiKeyRecord:
    """Revoke a key; ``NotFoundError`` when there is none."""
    before = ledger.get_api_key(key_id)
    record = ledger.revoke_api_key(key_id, datetime.now(UTC))
    if before is not None and before.active:
        ledger.append_audit(
            AuditEntry(
                actor=actor,
                action="api_key.revoke",
                target=f"api_key:{key_id}",
                at=record.revoked_at or datetime.now(UTC),
                before={"active": True},
                after={"active": False},
            )
        )
    return record


def key_id_of(key: str) -> str | None:
    """The key id of a well-formed key, None for anything else."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def verify_key(key: str, record: ApiKeyRecord) -> bool:
    """True when ``key`` is the one ``record`` was made from and is not revoked."""
    return digest_matches(hash_key(key), record)


def digest_matches(digest: str, record: ApiKeyRecord) -> bool:
    """``verify_key`` for a key already hashed with ``hash_key``."""
    return record.active and hmac.compare_digest(digest, record.key_hash)


def log_id(key_id: str) -> str:
    """What logs show for a key: a short hash, enough to correlate lines, useless to look up."""
    return hashlib.sha256(f"log:{key_id}".encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    role: Role
    log_id: str  # what logs show instead of the key id
    rate_limit: float | None = None  # the key's own requests per second; None: its role's


class KeyCache:
    """Key records by key id for ``ttl`` seconds, unknown ids included; bounded in size.

    Beside them, the principal each verified key stands for, by the key's SHA-256 (never the key
    itself), until its record's entry expires: a request with a known key costs a hash and a
    dict look-up instead of parsing, verifying and hashing the key again (``authenticate``
    measured ~15 -> ~10 µs).
    """

    def __init__(self, ledger: Ledger, ttl: float, *, max_entries: int = 10_000) -> None:
        self.ledger = ledger
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKeyRecord | None]] = {}
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        return (await self._entry(key_id))[1]

    async def principal(self, key: str) -> Principal | None:
        """Who presents ``key``; None for anything but an active key the ledger knows."""
        digest = hash_key(key)
        hit = self._principals.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        key_id = key_id_of(key)
        if key_id is None:
            return None
        expires, record = await self._entry(key_id)
        if record is None or not digest_matches(digest, record):
            return None
        principal = Principal(
            key_id=key_id, role=record.role, log_id=log_id(key_id), rate_limit=record.rate_limit
        )
        if self.ttl > 0:
            with self._lock:
                if len(self._principals) >= self.max_entries:
                    self._principals.clear()
                self._principals[digest] = (expires, principal)
        return principal

    async def _entry(self, key_id: str) -> tuple[float, ApiKeyRecord | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key_id)
        if hit is not None and hit[0] > now:
            return hit
        record = await run_in_threadpool(self.ledger.get_api_key, key_id)
        entry = (now + self.ttl, record)
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key_id] = entry
        return entry
