"""The short-lived cache of public answers: in memory, in Redis, and skipped when Redis fails."""
from __future__ import annotations

import subprocess
import time

import pytest

from mapservice.shared_cache import KEY_PREFIX, _MemoryCache, cache_key, cached_text
from tests.factories import listing, make_services

REGION = "-118,5,-77,33"  # the country-wide map's box: cached
TAPACHULA_BOX = "-92.4,14.8,-92.1,15.0"  # a street-level box: never cached


@pytest.fixture
def fresh_cache(app, monkeypatch):
    """The app's cache store made anew for this test (and dropped after it)."""
    app.extensions.pop("mapservice.shared_cache", None)
    yield
    app.extensions.pop("mapservice.shared_cache", None)


class Counter:
    """A compute function that says how often it ran."""

    def __init__(self, value: str = "answer"):
        self.calls = 0
        self.value = value

    def __call__(self) -> str:
        self.calls += 1
        return f"{self.value} {self.calls}"


def test_an_answer_is_computed_once_while_it_lasts(app, fresh_cache):
    compute = Counter()
    with app.app_context():
        assert cached_text("k", 0.3, compute) == "answer 1"
        assert cached_text("k", 0.3, compute) == "answer 1"
        assert cached_text("other", 0.3, compute) == "answer 2"
        time.sleep(0.35)
        assert cached_text("k", 0.3, compute) == "answer 3"


def test_memory_keeps_a_bounded_number_of_answers():
    memory = _MemoryCache(entries=2)
    for key in ("a", "b", "c"):
        memory.set(key, key.upper(), 60)
    assert memory.get("a") is None and memory.get("b") == "B" and memory.get("c") == "C"


def test_keys_depend_on_every_part_in_order():
    assert cache_key("clusters", (1, 2), 4) == cache_key("clusters", (1, 2), 4)
    assert cache_key("clusters", (1, 2), 4) != cache_key("clusters", (2, 1), 4)
    assert cache_key("a", "bc") != cache_key("ab", "c")


def test_redis_is_shared_and_a_failing_redis_is_skipped(app, fresh_cache, monkeypatch, redis_server):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{redis_server.port}/0")
    compute = Counter()
    with app.app_context():
        assert cached_text("shared", 30, compute) == "answer 1"
        app.extensions.pop("mapservice.shared_cache")  # another worker: a store of its own
        assert cached_text("shared", 30, compute) == "answer 1" and compute.calls == 1
        ttl = subprocess.run(["redis-cli", "-p", str(redis_server.port), "ttl", KEY_PREFIX + "shared"],
                             capture_output=True, text=True).stdout  # fmt: skip
        assert 0 < int(ttl) <= 30
        redis_server.stop()
        try:
            started = time.monotonic()
            assert cached_text("shared", 30, compute) == "answer 2"  # computed, no error
            assert time.monotonic() - started < 2  # short timeouts: a dead Redis does not hold a request
        finally:
            redis_server.start()


def test_country_wide_clusters_are_kept_street_level_ones_are_not(client, session, app, fresh_cache, monkeypatch):
    monkeypatch.setitem(app.config, "CLUSTERS_CACHE_SECONDS", 60)
    make_services(session, listing(name="Uno", lat=14.9056, lon=-92.2633))

    def total(box: str) -> int:
        return client.get(f"/api/v1/services/clusters?bbox={box}&zoom=4").get_json()["total"]

    assert total(REGION) == 1 and total(TAPACHULA_BOX) == 1
    make_services(session, listing(name="Dos", lat=14.91, lon=-92.27))
    assert total(TAPACHULA_BOX) == 2
    assert total(REGION) == 1  # kept for a minute
    monkeypatch.setitem(app.config, "CLUSTERS_CACHE_SECONDS", 0)
    assert total(REGION) == 2
