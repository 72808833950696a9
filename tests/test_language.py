"""Language detection, and the cache that keeps its model's unpacking off every ingest's start."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from ragindex import language
from ragindex.preload import loaded, preload

SAMPLES = {
    "de": "Der Fluss fließt ruhig durch das Tal, und die Kinder spielen am Ufer.",
    "es": "El río corre tranquilo por el valle y los niños juegan en la orilla.",
    "ja": "川は谷を静かに流れ、子供たちは岸辺で遊んでいる。",
    "ru": "Река спокойно течёт по долине, а дети играют на берегу.",
    "en": "The river flows quietly through the valley while children play on the bank.",
}


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def detected(identifier: object) -> dict[str, str]:
    return {code: identifier.classify(text)[0] for code, text in SAMPLES.items()}  # type: ignore[attr-defined]


def test_the_cached_model_identifies_as_the_packaged_one(cache_home: Path) -> None:
    first = language.language_identifier()  # unpacks the packaged model, fills the cache
    folder = language._cache_folder()
    assert folder.is_relative_to(cache_home) and (folder / "nb_ptc.npy").exists()
    cached = language._from_cache(folder)
    assert detected(first) == detected(cached) == {code: code for code in SAMPLES}
    for text in SAMPLES.values():
        assert cached.classify(text) == first.classify(text)  # the same scores, not only labels


def test_a_damaged_cache_is_rebuilt(cache_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    language.language_identifier()
    folder = language._cache_folder()
    (folder / "tk_nextmove.npy").write_bytes(b"\x93NUMPY truncated")
    with caplog.at_level(logging.WARNING, logger="ragindex.language"):
        identifier = language.language_identifier()
    assert "unreadable" in caplog.text
    assert detected(identifier) == {code: code for code in SAMPLES}
    assert detected(language._from_cache(folder)) == {code: code for code in SAMPLES}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_only_costs_time(cache_home: Path) -> None:
    cache_home.mkdir()
    cache_home.chmod(0o500)
    try:
        assert detected(language.language_identifier()) == {code: code for code in SAMPLES}
    finally:
        cache_home.chmod(0o700)
    assert not language._cache_folder().exists()


def test_an_unwritable_cache_folder_path_only_costs_time(cache_home: Path) -> None:
    cache_home.parent.mkdir(parents=True, exist_ok=True)
    cache_home.write_text("a file where the cache folder should be")
    assert detected(language.language_identifier()) == {code: code for code in SAMPLES}


def test_detect_language_ignores_text_without_letters() -> None:
    assert language.detect_language("1234 + 5678 = 6912\n---\n") == ""
    assert language.detect_language(SAMPLES["es"]) == "es"


def test_a_preloaded_resource_is_loaded_once_and_shared() -> None:
    calls: list[int] = []
    release = threading.Event()

    def slow_factory() -> object:
        calls.append(1)
        release.wait(10)
        return object()

    future = preload(slow_factory)
    assert not future.done()
    waiters = [threading.Thread(target=loaded, args=(slow_factory,)) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    release.set()
    for waiter in waiters:
        waiter.join(10)
    assert loaded(slow_factory) is future.result()
    assert calls == [1]


def test_a_failed_preload_is_raised_where_it_is_used() -> None:
    def broken_factory() -> object:
        raise RuntimeError("model file missing")

    preload(broken_factory)
    with pytest.raises(RuntimeError, match="model file missing"):
        loaded(broken_factory)
