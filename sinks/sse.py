"""Server-Sent Events hub: the console's live push channel.

Each listener has a bounded queue; a listener too slow to keep up loses its
oldest messages and is told to reload (``event: resync``) rather than letting
memory grow.  A listener with a ``region_prefix`` (the viewer's jurisdiction) gets only
messages about regions under it.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

QUEUE_SIZE = 1000


class SseHub:
    def __init__(self) -> None:
        self._queues: dict[asyncio.Queue, str] = {}  # queue -> region prefix it listens to
        self.published = 0

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def publish(self, event: str, data: Any) -> None:
        """Queue one message for every listener (call from the event loop's thread)."""
        msg = f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
        region = data.get("region_code") if isinstance(data, dict) else None
        self.published += 1
        for q, prefix in self._queues.items():
            if prefix and not (region or "").startswith(prefix):
                continue
            if q.full():
                while not q.empty():
                    q.get_nowait()
                q.put_nowait("event: resync\ndata: {}\n\n")
            q.put_nowait(msg)

    async def listen(self, stop: asyncio.Event | None = None, heartbeat: float = 15.0,
                     region_prefix: str = "") -> AsyncIterator[str]:
        q: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._queues[q] = region_prefix
        try:
            yield "retry: 2000\n\n"
            while stop is None or not stop.is_set():
                try:
                    yield await asyncio.wait_for(q.get(), heartbeat)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._queues.pop(q, None)
