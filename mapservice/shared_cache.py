"""A short-lived cache for expensive public answers that are the same for every visitor.

The country-wide map asks for the clusters of a whole region: at 1,000,000 services that
reads every row of ``nearby_search`` (about 0.5-0.9 s of PostgreSQL), and every visitor of
``/map`` asks for the same box.  :func:`cached_text` keeps such an answer for a minute:

- in Redis when ``REDIS_URL`` is set, shared by every worker and every app server;
- else in this process's memory (at most ``MEMORY_ENTRIES`` answers).

A cache that fails (Redis down or slow: 200 ms timeouts) is skipped, never an error: the
answer is computed as if there were no cache.  Only answers without anything personal go
here; keys are built by the caller from public parameters.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from flask import current_app

log = logging.getLogger(__name__)

KEY_PREFIX = "mapservice:cache:"
MEMORY_ENTRIES = 256
TIMEOUT_SECONDS = 0.2
_EXTENSION = "mapservice.shared_cache"


class _MemoryCache:
    """A bounded, thread-safe TTL map for one process."""

    def __init__(self, entries: int = MEMORY_ENTRIES):
        self.entries = entries
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, value = item
            if expires <= time.monotonic():
                del self._items[key]
                return None
            return value

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)


class _RedisCache:
    """The same interface over Redis (``SET key value EX ttl``)."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )

    def get(self, key: str) -> str | None:
        value = self.client.get(KEY_PREFIX + key)
        return None if value is None else value.decode()

    def set(self, key: str, value: str, ttl: float) -> None:
        self.client.set(KEY_PREFIX + key, value.encode(), ex=max(1, int(ttl)))


def _store():
    """This app's store, made on first use (after gunicorn has forked the worker)."""
    store = current_app.extensions.get(_EXTENSION)
    if store is None:
        url = current_app.config.get("REDIS_URL")
        store = _RedisCache(url) if url else _MemoryCache()
        current_app.extensions[_EXTENSION] = store
    return store


def cache_key(*parts: object) -> str:
    """A compact key for these public parameters (their order matters)."""
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()


def cached_text(key: str, ttl: float, compute: Callable[[], str]) -> str:
    """The text cached under ``key``, else ``compute()``'s, kept for ``ttl`` seconds."""
    store = _store()
    try:
        value = store.get(key)
    except Exception as err:  # noqa: BLE001 (a cache that fails is skipped)
        log.warning("shared cache unavailable (%s): computing", type(err).__name__)
        return compute()
    if value is not None:
        return value
    value = compute()
    try:
        store.set(key, value, ttl)
    except Exception as err:  # noqa: BLE001
        log.warning("shared cache unavailable (%s): not kept", type(err).__name__)
    return value
