"""Signed webhooks to the centres' own systems.

Each push is a JSON POST with two headers:

* ``X-Yujing-Timestamp``: unix seconds when it was signed;
* ``X-Yujing-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body).

A receiver checks both with ``verify(body, headers, secret, window)``: the signature must match
and the timestamp be within ``window`` seconds of its own clock, so a captured request cannot be
replayed later (within the window, receivers dedupe on the payload's ``delivery`` id).

Sending never blocks the pipeline: ``WebhookSender.offer`` puts on a bounded queue and returns;
background workers POST with exponential backoff on 5xx, timeouts and connection errors, and
after ``max_attempts`` (or at once on a 4xx, which a retry will not fix) the push is written to a
JSON-lines dead-letter file. A full queue is counted and dead-lettered, never grown.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Mapping

import httpx
from prometheus_client import CollectorRegistry, Counter

from streams.privacy import mask_id, mask_phone

from .routing import Webhook

log = logging.getLogger("yujing.webhook")
TS_HEADER, SIG_HEADER = "X-Yujing-Timestamp", "X-Yujing-Signature"
_ID = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")
_PHONE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def scrub(text: str) -> str:
    """Mask anything shaped like an ID number or a mobile number (free text from operators)."""
    return _PHONE.sub(lambda m: mask_phone(m.group()), _ID.sub(lambda m: mask_id(m.group()), text))


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(body: bytes, secret: str | bytes, timestamp: int) -> str:
    mac = hmac.new(_key(secret), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(body: bytes, headers: Mapping[str, str], secret: str | bytes, window: float = 300,
           now: float | None = None) -> bool:
    """True if ``body`` was signed with ``secret`` no more than ``window`` seconds from ``now``."""
    low = {k.lower(): v for k, v in headers.items()}
    ts, sig = low.get(TS_HEADER.lower(), ""), low.get(SIG_HEADER.lower(), "")
    if not ts.isdigit() or not sig:
        return False
    if abs((time.time() if now is None else now) - int(ts)) > window:
        return False  # too old (a replay) or from a clock far off
    return hmac.compare_digest(sign(body, secret, int(ts)), sig)


class WebhookSender:
    """Background delivery of signed pushes; ``start()`` in the event loop, ``close()`` at exit."""

    def __init__(self, dead_letter: str | Path, *, registry: CollectorRegistry | None = None,
                 queue_size: int = 1000, max_attempts: int = 5, base_delay: float = 0.5,
                 max_delay: float = 30.0, timeout: float = 5.0, workers: int = 4):
        self.dead_letter = Path(dead_letter)
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.timeout, self.workers = timeout, workers
        self._queue: asyncio.Queue = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None
        self._seq = 0
        self.delivered = self.dead = 0
        reg = registry or CollectorRegistry()
        self.failures = Counter("yujing_push_failures", "Failed push attempts, by channel and "
                                "target (retried until dead-lettered)", ["channel", "target"],
                                registry=reg)
        self.dead_total = Counter("yujing_push_dead_letters", "Pushes given up (dead-lettered), "
                                  "by channel and why", ["channel", "why"], registry=reg)

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout)
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    def offer(self, hook: Webhook, event: str, data: dict[str, Any]) -> bool:
        """Queue one push; False (counted, dead-lettered) if the queue is full."""
        self._seq += 1
        payload = {"event": event, "delivery": f"{int(time.time() * 1000)}-{self._seq}", **data}
        try:
            self._queue.put_nowait((hook, payload))
            return True
        except asyncio.QueueFull:
            self.failures.labels("webhook", hook.name).inc()
            self._dead(hook, payload, "queue_full", 0, "")
            return False

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued was delivered or dead-lettered (tests, shutdown)."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except asyncio.TimeoutError:
            pass

    async def close(self, timeout: float = 5.0) -> None:
        await self.drain(timeout)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():  # what shutdown cut off is kept, not lost
            hook, payload = self._queue.get_nowait()
            self._dead(hook, payload, "shutdown", 0, "")
        if self._client is not None:
            await self._client.aclose()

    async def _work(self) -> None:
        while True:
            hook, payload = await self._queue.get()
            try:
                await self._deliver(hook, payload)
            except Exception:  # a bug here must not kill the worker: keep the push
                log.exception("webhook %s: delivery failed unexpectedly", hook.name)
                self._dead(hook, payload, "error", 0, "")
            finally:
                self._queue.task_done()

    async def _deliver(self, hook: Webhook, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        delay, last = self.base_delay, ""
        for attempt in range(1, self.max_attempts + 1):
            ts = int(time.time())  # signed afresh each try: a retry must pass the replay window
            headers = {"Content-Type": "application/json; charset=utf-8", TS_HEADER: str(ts),
                       SIG_HEADER: sign(body, hook.secret, ts)}
            try:
                resp = await self._client.post(hook.url, content=body, headers=headers)
                if resp.status_code < 300:
                    self.delivered += 1
                    return
                last = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code not in (408, 429):
                    self.failures.labels("webhook", hook.name).inc()
                    self._dead(hook, payload, "rejected", attempt, last)  # retrying will not help
                    return
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            self.failures.labels("webhook", hook.name).inc()
            if attempt < self.max_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        log.warning("webhook %s: giving up after %d attempts (%s)", hook.name, self.max_attempts, last)
        self._dead(hook, payload, "attempts", self.max_attempts, last)

    def _dead(self, hook: Webhook, payload: dict, why: str, attempts: int, error: str) -> None:
        self.dead += 1
        self.dead_total.labels("webhook", why).inc()
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": time.time(), "webhook": hook.name, "url": hook.url, "why": why,
                           "attempts": attempts, "error": error, "payload": payload},
                          ensure_ascii=False, default=str)
        with open(self.dead_letter, "a", encoding="utf-8") as fh:  # small appends, rare
            fh.write(line + "\n")
