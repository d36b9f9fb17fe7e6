"""Console benchmark: push-to-screen latency, rendering the list over 10,000 open warnings, and
the list API's latency under 50 concurrent clients.

Set-up (one run, figures in benchmarks/results/console.json):
- a chDB store seeded with ``--warnings`` open warnings written directly through the store API;
- the console app (engine/web.py) served by uvicorn in a thread of this process, with a writer
  in the same event loop that makes ``--rate`` new warnings/s and, like the runner, writes them
  to the store first and pushes them over SSE second, in batches every ``--flush`` s (the
  runner's own batching waits up to 0.5 s; that wait is the runner's, not the console's);
- a real headless Chromium (Playwright) for the page figures: ``render_10k_ms`` is from
  navigation start to the first page of rows and the server's counts on screen;
  ``push_to_screen_ms`` from the moment a warning is made (handed to the writer, so the batch
  wait and the store write are included) to the animation frame after its row entered the
  list's DOM (both wall clock, same machine);
- ``api_p99_ms_50_clients``: a second process runs ``--clients`` concurrent httpx clients, each
  asking a list page (8 different filters) of ``/api/warning-list`` once every ``--every`` s
  (``--requests`` times) while the writer keeps writing; that endpoint answers from a 0.5 s
  single-flight cache (engine/web_cache.py).  ``api_uncached_*`` is the same load on
  ``/api/warnings`` (the bare list, full rows, no cache: every request is a store read under the
  store's one lock); ``api_saturated_*`` the clients asking again as soon as answered (closed
  loop: its latency is clients ÷ throughput, so it measures throughput).

Run: ``.venv/bin/python -m benchmarks.bench_console`` (about a minute).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from .common import save

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
LEVELS = ("red", "orange", "yellow", "blue")

LOAD = r"""
import asyncio, json, random, sys, time, httpx
base, clients, requests, path, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
QUERIES = ["", "level=red", "sort=score", "region=6299010", "offset=500", "state=new&sort=level",
           "kind=neighbour", "rule=threat_words"]
async def one(c, k, out):
    await asyncio.sleep(random.random() * every)  # paced clients start spread over one period
    nxt = time.perf_counter()
    for i in range(requests):
        q = QUERIES[(k + i) % len(QUERIES)]
        t = time.perf_counter()
        r = await c.get(base + path + "?" + q + ("&" if q else "") + "limit=50")
        out.append(((time.perf_counter() - t) * 1000, r.status_code))
        if every:
            nxt += every
            await asyncio.sleep(max(0.0, nxt - time.perf_counter()))
async def main():
    out = []
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as c:
        t = time.perf_counter()
        await asyncio.gather(*(one(c, k, out) for k in range(clients)))
        wall = time.perf_counter() - t
    print(json.dumps({"ms": [m for m, _ in out], "errors": sum(s != 200 for _, s in out), "wall": wall}))
asyncio.run(main())
"""

OBSERVE = """() => { window.__seen = {};
  new MutationObserver(ms => { const ids = [];
    for (const m of ms) for (const n of m.addedNodes) if (n.id && n.id.startsWith("w-")) ids.push(n.id.slice(2));
    if (ids.length) requestAnimationFrame(() => { const t = Date.now();
      for (const id of ids) if (!(id in window.__seen)) window.__seen[id] = t; });
  }).observe(document.getElementById("rows"), {childList: true}); }"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1) if s else float("nan")


def seed(store, n: int) -> None:
    from sinks.store import StoreBatch
    from streams.records import TZ, Warning
    now = datetime.now(TZ) - timedelta(hours=1)
    ws = [Warning(id=f"W-seed{i:06d}", version=1, case_id=f"C-seed{i:06d}", level=LEVELS[i % 4],
                  score=round(0.3 + (i % 70) / 100, 2), region_code=f"62990{i % 9 + 1:02d}{i % 97:05d}",
                  dispute_kind="neighbour" if i % 3 else "wages", title=f"预警 {i}",
                  explanation="案件综合风险评分……" * 5, state="new",
                  reasons=[{"rule_id": "threat_words" if i % 2 else "repeat_contact", "score": 0.4}],
                  first_at=now - timedelta(seconds=n - i), updated_at=now - timedelta(seconds=n - i))
          for i in range(n)]
    for k in range(0, n, 5000):
        store.write(StoreBatch(warnings=ws[k:k + 5000]))


class Server:
    """The console app and a warning writer in one event loop, on a thread."""

    def __init__(self, store, rate: float, flush_every: float = 0.1):
        self.store, self.rate, self.flush_every = store, rate, flush_every
        self.written: dict[str, float] = {}   # warning id -> wall ms just before its store write
        self.write_ms: list[float] = []       # each store write, as the writer waited for it
        self.writing = threading.Event()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> str:
        self._thread.start()
        self._ready.wait(30)
        return f"http://127.0.0.1:{self.port}"

    async def _main(self) -> None:
        import socket

        import uvicorn

        from engine.metrics import Metrics
        from engine.runner import warning_view
        from engine.web import make_app
        from sinks.sse import SseHub
        from sinks.store import StoreBatch
        from streams.records import TZ, Warning
        hub = SseHub()
        self.loop = asyncio.get_running_loop()
        self.stop = stop = asyncio.Event()
        status = {"records": 0, "rejects": 0, "warnings": 0, "event_time": "", "done": False}
        app = make_app(self.store, hub, Metrics(), lambda: status, stop)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                               log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        self._ready.set()
        n, every, made = 0, 1.0 / self.rate, []

        async def flush() -> None:
            batch = made[:]
            made.clear()
            t = time.perf_counter()
            await asyncio.to_thread(self.store.write, StoreBatch(warnings=batch))
            self.write_ms.append((time.perf_counter() - t) * 1000)
            for x in batch:  # store first, push second, as the runner does
                hub.publish("warning", warning_view(x))

        nxt = flushed = time.monotonic()
        while not stop.is_set():
            if not self.writing.is_set():
                if made:
                    await flush()
                await asyncio.sleep(0.05)
                nxt = flushed = time.monotonic()
                continue
            now = datetime.now(TZ)
            w = Warning(id=f"W-live{n:06d}", version=1, case_id=f"C-live{n:06d}", level=LEVELS[n % 4],
                        score=0.7, region_code="629901001002", title=f"实时预警 {n}", explanation="……",
                        state="new", first_at=now, updated_at=now,
                        reasons=[{"rule_id": "threat_words", "score": 0.5}])
            self.written[w.id] = time.time() * 1000
            made.append(w)
            n += 1
            if time.monotonic() - flushed >= self.flush_every:
                await flush()
                flushed = time.monotonic()
            nxt += every
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
        server.should_exit = True
        await task

    def close(self) -> None:
        self.writing.clear()
        self.loop.call_soon_threadsafe(self.stop.set)
        self._thread.join(10)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warnings", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=50.0, help="new warnings per second during the push run")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the push run")
    ap.add_argument("--flush", type=float, default=0.1, help="seconds between the writer's store writes")
    ap.add_argument("--renders", type=int, default=5)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20, help="requests per client")
    ap.add_argument("--every", type=float, default=1.0,
                    help="seconds between one client's requests (0: as fast as answers come back)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from sinks.chdb_store import ChdbStore
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    store = ChdbStore(tmp / "chdb")
    t = time.perf_counter()
    seed(store, args.warnings)
    seed_s = time.perf_counter() - t
    srv = Server(store, args.rate, args.flush)
    base = srv.start()
    out: dict = {"input": {"open_warnings": args.warnings, "rate_per_s": args.rate,
                           "push_seconds": args.seconds, "flush_every_s": args.flush, "clients": args.clients,
                           "requests_per_client": args.requests, "seed_seconds": round(seed_s, 2),
                           "store": "chDB (embedded)", "browser": "headless Chromium (Playwright)"}}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            renders = []
            for _ in range(args.renders):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(base + "/")
                page.wait_for_function("document.body.dataset.loaded", timeout=30_000)
                renders.append(page.evaluate("Number(document.body.dataset.loaded) - performance.timeOrigin"))
                shown = page.locator("tr.row").count()
                counted = sum(int(page.locator(f"#n-{k}").inner_text()) for k in LEVELS)
                page.close()
            assert shown == 50 and counted == args.warnings, (shown, counted)
            out["render_10k_ms"] = round(statistics.median(renders), 1)
            out["render_10k_ms_runs"] = [round(r, 1) for r in renders]

            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.wait_for_selector("text=实时推送", timeout=30_000)
            page.evaluate(OBSERVE)
            srv.writing.set()
            time.sleep(args.seconds)
            srv.writing.clear()
            time.sleep(1.5)
            seen = page.evaluate("window.__seen")
            lat = [seen[i] - t0 for i, t0 in list(srv.written.items()) if i in seen]
            out["push_to_screen_ms"] = {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "max": pct(lat, 1.0),
                                        "written": len(srv.written), "seen": len(lat),
                                        "store_write_ms_p50": pct(srv.write_ms, 0.5)}
            page.close()
            browser.close()
        runs = (("/api/warning-list", args.every, "api"), ("/api/warnings", args.every, "api_uncached"),
                ("/api/warning-list", 0.0, "api_saturated"))
        for path, every, key in runs:
            srv.writing.set()  # the API figures are taken while warnings keep arriving
            res = subprocess.run([sys.executable, "-c", LOAD, base, str(args.clients), str(args.requests),
                                  path, str(every)], capture_output=True, text=True, timeout=900)
            srv.writing.clear()
            assert res.returncode == 0, res.stderr[-2000:]
            load = json.loads(res.stdout.strip().splitlines()[-1])
            out[f"{key}_p99_ms_50_clients"] = pct(load["ms"], 0.99)
            out[f"{key}_ms_50_clients"] = {"path": path, "each_client_every_s": every or "no pause",
                                           "p50": pct(load["ms"], 0.5), "p95": pct(load["ms"], 0.95),
                                           "requests": len(load["ms"]), "errors": load["errors"],
                                           "requests_per_s": round(len(load["ms"]) / load["wall"], 1)}
    finally:
        srv.close()
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out["aims"] = {"push_to_screen_p95_ms": 1000, "render_10k_ms": 2000, "api_p99_ms_50_clients": 200}
    save("console", out)


if __name__ == "__main__":
    main()
