"""The console's push hub: bounded queues and per-jurisdiction listeners (sinks/sse.py)."""
from __future__ import annotations

import asyncio

from sinks.sse import QUEUE_SIZE, SseHub


async def _collect(hub: SseHub, prefix: str, n: int, out: list[str]) -> None:
    async for msg in hub.listen(region_prefix=prefix, heartbeat=5):
        if msg.startswith("event:"):
            out.append(msg)
            if len(out) >= n:
                return


def test_a_listener_gets_only_its_jurisdiction():
    async def main():
        hub = SseHub()
        mine, city = [], []
        tasks = [asyncio.create_task(_collect(hub, "629901001001", 2, mine)),
                 asyncio.create_task(_collect(hub, "", 3, city))]
        await asyncio.sleep(0.01)
        hub.publish("warning", {"id": "a", "region_code": "629901001001"})
        hub.publish("warning", {"id": "b", "region_code": "629901001002"})
        hub.publish("sla_breach", {"id": "c", "region_code": "629901001001"})
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return mine, city
    mine, city = asyncio.run(main())
    assert ['"a"' in mine[0], '"c"' in mine[1]] == [True, True]
    assert not any('"b"' in m for m in mine)
    assert sum('"b"' in m for m in city) == 1


def test_a_slow_listener_is_told_to_resync_instead_of_growing():
    async def main():
        hub = SseHub()
        gen = hub.listen(heartbeat=5)
        assert (await gen.__anext__()).startswith("retry:")
        for i in range(QUEUE_SIZE + 5):
            hub.publish("warning", {"id": str(i), "region_code": "629901001001"})
        first = await gen.__anext__()
        await gen.aclose()
        return first
    assert asyncio.run(main()).startswith("event: resync")
