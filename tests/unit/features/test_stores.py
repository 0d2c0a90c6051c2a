"""Choosing a state store from settings, and what is refused before any connection."""

from __future__ import annotations

import pytest

from frisk.config import load_settings
from frisk.errors import ConfigError
from frisk.features import MemoryStore
from frisk.features.stores import open_store


def test_no_url_is_the_in_process_store() -> None:
    assert isinstance(open_store(load_settings().state), MemoryStore)


def test_state_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRISK_STATE__URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("FRISK_STATE__KEY_PREFIX", "fraud-eu")
    monkeypatch.setenv("FRISK_STATE__TIMEOUT", "0.25")
    monkeypatch.setenv("FRISK_STATE__CACHE_SIZE", "0")
    state = load_settings().state
    assert (state.url, state.key_prefix, state.timeout, state.cache_size) == (
        "redis://127.0.0.1:6379/3",
        "fraud-eu",
        0.25,
        0,
    )


@pytest.mark.parametrize("prefix", ["a{b", "a b", ""])
def test_a_prefix_that_would_break_hash_tags_is_refused(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv("FRISK_STATE__KEY_PREFIX", prefix)
    with pytest.raises(ConfigError, match=r"state\.key_prefix"):
        load_settings()


def test_a_url_of_another_kind_is_refused() -> None:
    state = load_settings().state.model_copy(update={"url": "http://127.0.0.1:6379"})
    with pytest.raises(ConfigError, match="redis://"):
        open_store(state)
