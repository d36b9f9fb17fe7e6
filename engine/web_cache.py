"""A short-lived answer cache with single flight, for the console's list endpoint.

Fifty duty officers looking at the same list ask the same few queries; each costs a store read
under the store's one lock (about 15-20 ms over 10,000 warnings in chDB).  Answers are kept for
``ttl`` seconds (0.5 s by default), and concurrent identical requests share one read.  Live
changes do not wait for it: they reach the pages over SSE at once.

>>> import asyncio
>>> calls = []
>>> async def read():
...     calls.append(1)
...     await asyncio.sleep(0.01)
...     return len(calls)
>>> async def demo():
...     c = TtlCache(ttl=60)
...     got = await asyncio.gather(*(c.get("q", read) for _ in range(5)))
...     return got, await c.get("q", read), await c.get("other", read)
>>> asyncio.run(demo())
([1, 1, 1, 1, 1], 1, 2)
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Hashable


class TtlCache:
    def __init__(self, ttl: float = 0.5, size: int = 512):
        self.ttl, self.size = ttl, size
        self._done: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._flying: dict[Hashable, asyncio.Future] = {}
        self.hits = self.misses = 0

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._done.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            self.hits += 1
            return hit[1]
        flying = self._flying.get(key)
        if flying is not None:
            self.hits += 1
            return await asyncio.shield(flying)
        self.misses += 1
        fut = asyncio.get_running_loop().create_future()
        self._flying[key] = fut
        try:
            value = await compute()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: a lone request must not log "never retrieved"
            raise
        finally:
            self._flying.pop(key, None)
        self._done[key] = (time.monotonic(), value)
        self._done.move_to_end(key)
        while len(self._done) > self.size:
            self._done.popitem(last=False)
        fut.set_result(value)
        return value
