"""A local model registry: versioned artifacts and which one serves production.

    <root>/versions/<version>/     an artifact directory (see ``artifact``), never changed
    <root>/production.json         {"version": ..., "history": [{"version", "at", "action"}, ...]}
    <root>/reports/<version>.html  the evaluation report of a version (e.g. from ``frisk retrain``)

A version id is ``m-YYYYmmdd-HHMMSS-<hash6>``: registration time (UTC) and the first six hex
digits of the artifact id, so ids sort by age and name their content. ``production.json`` is
replaced atomically (write a temporary file, ``os.replace``) under an exclusive lock, so a reader
sees the old pointer or the new one, never half of either, and two promotions never interleave.
``rollback`` returns to the version that was in production before the current one. A version's
stage is ``production`` (the pointer), ``archived`` (was in production once) or ``candidate``
(never promoted).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from frisk.errors import ArtifactError, ConflictError, NotFoundError
from frisk.models.artifact import load_model, save_model
from frisk.models.scoring import FraudModel

__all__ = ["STAGES", "ModelEntry", "Registry"]

POINTER = "production.json"
REPORTS = "reports"
STAGES = ("production", "archived", "candidate")


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One registered version, as ``frisk models list`` shows it."""

    version: str
    created_at: str
    training_start: str | None
    training_end: str | None
    rows: int | None
    frauds: int | None
    average_precision: float | None
    in_production: bool


class Registry:
    """Registered model versions under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def register(self, model: FraudModel, *, now: datetime | None = None) -> str:
        """Store ``model`` as a new version and return its id; the model itself is not changed."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        content = str(model.metadata.get("artifact_id") or "")[:6] or "000000"
        version = f"m-{moment:%Y%m%d-%H%M%S}-{content}"
        if (self.versions_dir / version).exists():
            raise ConflictError(f"model version {version} is already registered")
        registered = FraudModel(
            model.booster,
            model.spec,
            model.encoder,
            model.calibrator,
            model.thresholds,
            catalogue=model.catalogue,
            metadata={**model.metadata, "version": version, "registered_at": moment.isoformat()},
            num_threads=model.num_threads,
        )
        save_model(registered, self.versions_dir / version)
        return version

    def versions(self) -> list[str]:
        """Registered version ids, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if not p.name.startswith("."))

    def entries(self) -> list[ModelEntry]:
        production = self.production()
        return [self._entry(v, v == production) for v in self.versions()]

    def path(self, version: str) -> Path:
        """The artifact directory of ``version``; ``NotFoundError`` when it is not registered."""
        path = self.versions_dir / version
        if "/" in version or version.startswith(".") or not path.is_dir():
            raise NotFoundError(
                f"model version {version!r} is not registered in {str(self.root)!r}"
            )
        return path

    def load(self, version: str | None = None, *, num_threads: int = 0) -> FraudModel:
        """Load ``version``, or the production version when ``None``."""
        chosen = version or self.production()
        if chosen is None:
            raise NotFoundError(f"no model is in production in registry {str(self.root)!r}")
        return load_model(self.path(chosen), num_threads=num_threads)

    def metadata(self, version: str) -> dict[str, Any]:
        path = self.path(version) / "metadata.json"
        try:
            value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(
                f"model version {version}: unreadable metadata.json ({exc})"
            ) from exc
        return value

    def production(self) -> str | None:
        """The version in production, or ``None`` before the first promotion."""
        version = self._pointer().get("version")
        return None if version is None else str(version)

    def history(self) -> list[dict[str, str]]:
        """Every promotion and rollback, oldest first."""
        return list(self._pointer().get("history", []))

    def promote(self, version: str) -> None:
        """Put ``version`` in production; the model is loaded first, so a broken one never is."""
        load_model(self.path(version))
        with self._locked():
            pointer = self._pointer()
            if pointer.get("version") == version:
                return
            self._write(pointer, version, "promote")

    def rollback(self) -> str:
        """Return production to the version promoted before the current one; return that version."""
        with self._locked():
            pointer = self._pointer()
            current = pointer.get("version")
            if current is None:
                raise NotFoundError("no model is in production; nothing to roll back")
            previous = _previous(pointer.get("history", []), str(current))
            if previous is None:
                raise NotFoundError(f"{current} is the first production model; nothing before it")
            self._write(pointer, previous, "rollback")
            return previous

    def stages(self) -> dict[str, str]:
        """Every registered version's stage, oldest first (see the module docstring)."""
        production = self.production()
        served = {str(step.get("version")) for step in self.history()}
        return {
            v: "production" if v == production else "archived" if v in served else "candidate"
            for v in self.versions()
        }

    def save_report(self, version: str, html: str) -> Path:
        """Store ``version``'s evaluation report (replacing an older one); returns its path."""
        self.path(version)  # refuse a report for a version that does not exist
        folder = self.root / REPORTS
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{version}.", dir=folder)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(html)
            os.replace(temporary, folder / f"{version}.html")
        except OSError as exc:
            raise ArtifactError(f"cannot store the report of {version}: {exc}") from exc
        return folder / f"{version}.html"

    def report_path(self, version: str) -> Path | None:
        """The stored report of ``version``, or None when it has none."""
        path = self.root / REPORTS / f"{version}.html"
        return path if self.path(version) and path.is_file() else None

    def remove(self, version: str) -> None:
        """Delete a version that is not in production."""
        if version == self.production():
            raise ConflictError(f"model version {version} is in production; promote another first")
        shutil.rmtree(self.path(version))
        (self.root / REPORTS / f"{version}.html").unlink(missing_ok=True)

    def _entry(self, version: str, in_production: bool) -> ModelEntry:
        try:
            metadata = self.metadata(version)
        except ArtifactError:
            metadata = {}
        training = metadata.get("training") or {}
        validation = (metadata.get("metrics") or {}).get("validation") or {}
        return ModelEntry(
            version=version,
            created_at=str(metadata.get("registered_at") or metadata.get("created_at") or ""),
            training_start=training.get("start"),
            training_end=training.get("end"),
            rows=training.get("rows"),
            frauds=training.get("frauds"),
            average_precision=validation.get("average_precision"),
            in_production=in_production,
        )

    def _pointer(self) -> dict[str, Any]:
        path = self.root / POINTER
        if not path.is_file():
            return {"version": None, "history": []}
        try:
            value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"registry pointer {str(path)!r} is unreadable ({exc})") from exc
        return value

    def _write(self, pointer: dict[str, Any], version: str, action: str) -> None:
        history = [
            *pointer.get("history", []),
            {"version": version, "at": datetime.now(UTC).isoformat(), "action": action},
        ]
        text = json.dumps({"version": version, "history": history}, indent=2) + "\n"
        handle, temporary = tempfile.mkstemp(prefix=".production.", dir=self.root)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.root / POINTER)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise ArtifactError(
                f"cannot update registry pointer in {str(self.root)!r}: {exc}"
            ) from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _previous(history: list[dict[str, Any]], current: str) -> str | None:
    """The production version before ``current``, replaying promotions and rollbacks as a stack."""
    stack: list[str] = []
    for step in history:
        version = str(step["version"])
        if step.get("action") == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
            if not stack:
                stack.append(version)
        elif not stack or stack[-1] != version:
            stack.append(version)
    if not stack or stack[-1] != current:
        return None
    return stack[-2] if len(stack) > 1 else None
