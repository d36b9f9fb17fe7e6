"""Signed webhooks against a real HTTP receiver on 127.0.0.1: signature, retries, dead letters."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry

from sinks.routing import Webhook
from sinks.webhook import SIG_HEADER, TS_HEADER, WebhookSender, scrub, sign, verify

SECRET = "centre-secret-0123456789"


class Receiver:
    """A real HTTP server that answers with the scripted statuses, then 200."""

    def __init__(self, statuses=()):
        self.statuses, self.got = list(statuses), []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body, time.monotonic()))
                code = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        r = Receiver(statuses)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def _send(hook, dead, n=1, **kw):
    async def go():
        s = WebhookSender(dead, registry=CollectorRegistry(), base_delay=0.05, **kw)
        s.start()
        for i in range(n):
            s.offer(hook, "warning", {"warning": {"id": f"W-{i}", "level": "red"}})
        await s.drain(20)
        await s.close()
        return s
    return asyncio.run(go())


def test_delivered_and_signed_so_that_verify_accepts_it(receiver, tmp_path):
    r = receiver()
    s = _send(Webhook("区中心", r.url, SECRET, "629901000000"), tmp_path / "dead.jsonl", n=3)
    assert len(r.got) == 3 and s.delivered == 3 and s.dead == 0
    headers, body, _ = next(g for g in r.got if b'"W-0"' in g[1])  # workers run side by side
    assert verify(body, headers, SECRET, window=60)
    assert not verify(body, headers, "another-secret-0123456", window=60)
    assert not verify(body.replace(b"W-0", b"W-9"), headers, SECRET, window=60)  # tampered
    assert not verify(body, headers, SECRET, window=60, now=time.time() + 3600)  # replayed later
    assert not verify(body, {TS_HEADER: headers[TS_HEADER]}, SECRET)  # no signature
    payload = json.loads(body)
    assert payload["event"] == "warning" and payload["warning"]["id"] == "W-0"
    assert len({json.loads(b)["delivery"] for _, b, _ in r.got}) == 3  # receivers dedupe on it
    assert not (tmp_path / "dead.jsonl").exists()


def test_retries_on_500_with_growing_delays_then_delivers(receiver, tmp_path):
    r = receiver([500, 503, 502])
    s = _send(Webhook("h", r.url, SECRET, "629901000000"), tmp_path / "dead.jsonl", max_attempts=5)
    assert len(r.got) == 4 and s.delivered == 1 and s.dead == 0
    gaps = [b[2] - a[2] for a, b in zip(r.got, r.got[1:])]
    assert gaps[0] >= 0.04 and gaps[2] > gaps[0] * 2.5  # 0.05, 0.1, 0.2 s: exponential
    assert all(verify(b, h, SECRET, 60) for h, b, _ in r.got)  # each try signed afresh
    assert s.failures.labels("webhook", "h")._value.get() == 3


def test_dead_letter_after_the_limit_and_at_once_on_4xx(receiver, tmp_path):
    r = receiver([500] * 10)
    dead = tmp_path / "dl" / "webhooks.jsonl"
    s = _send(Webhook("h", r.url, SECRET, "629901000000"), dead, max_attempts=3)
    assert len(r.got) == 3 and s.delivered == 0 and s.dead == 1
    row = json.loads(dead.read_text(encoding="utf-8"))
    assert row["why"] == "attempts" and row["attempts"] == 3 and row["error"] == "HTTP 500"
    assert row["payload"]["warning"]["id"] == "W-0"
    r4 = receiver([401])
    s = _send(Webhook("h4", r4.url, SECRET, "629901000000"), dead, max_attempts=3)
    assert len(r4.got) == 1 and s.dead == 1
    assert json.loads(dead.read_text().splitlines()[-1])["why"] == "rejected"


def test_unreachable_receiver_is_retried_then_dead_lettered(tmp_path):
    hook = Webhook("gone", "http://127.0.0.1:9/nothing", SECRET, "629901000000")
    s = _send(hook, tmp_path / "d.jsonl", max_attempts=2, timeout=1)
    assert s.dead == 1 and s.failures.labels("webhook", "gone")._value.get() == 2


def test_full_queue_is_counted_and_dead_lettered_not_grown(tmp_path):
    hook = Webhook("h", "http://127.0.0.1:9/x", SECRET, "629901000000")

    async def go():
        s = WebhookSender(tmp_path / "d.jsonl", registry=CollectorRegistry(), queue_size=2)
        # not started: nothing drains, so the third offer finds the queue full
        res = [s.offer(hook, "warning", {"n": i}) for i in range(3)]
        return s, res
    s, res = asyncio.run(go())
    assert res == [True, True, False]
    assert s.dead_total.labels("webhook", "queue_full")._value.get() == 1
    assert json.loads((tmp_path / "d.jsonl").read_text())["payload"]["n"] == 2


def test_sign_is_hmac_over_timestamp_and_body_and_scrub_masks_personal_data():
    import hashlib
    import hmac
    want = hmac.new(b"k" * 16, b"1700000000." + b"{}", hashlib.sha256).hexdigest()
    assert sign(b"{}", "k" * 16, 1700000000) == "sha256=" + want
    assert verify(b"{}", {TS_HEADER.lower(): "1700000000", SIG_HEADER: "sha256=" + want}, "k" * 16,
                  window=300, now=1700000299)
    assert not verify(b"{}", {TS_HEADER: "1700000000", SIG_HEADER: "sha256=" + want}, "k" * 16,
                      window=300, now=1700000301)
    assert scrub("电话13812345678 身份证62990119800101001X 编号20260501") == \
        "电话138****5678 身份证629901********001X 编号20260501"
