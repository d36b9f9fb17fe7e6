"""The warning page in a real headless Chromium shows 合并记录 and leads from a merged case's
warning to the survivor's (the data: tests/test_case_merges.py)."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn

from engine.metrics import Metrics
from engine.web import make_app
from sinks.chdb_store import ChdbStore
from sinks.sse import SseHub

from .test_case_merges import CLEAR, seed_merged
from .test_console_browser import browser  # noqa: F401  (the module's Chromium fixture)


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise AssertionError("the console did not start")
        time.sleep(0.05)
    return server, t, f"http://127.0.0.1:{port}"


def test_merge_line_shows_and_leads_to_the_survivor(tmp_path, browser):  # noqa: F811
    store = ChdbStore(tmp_path / "data")
    server = None
    try:
        seed_merged(store, "")
        server, thread, base = _serve(make_app(store, SseHub(), Metrics(), lambda: {}))
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/w/W-b")
        page.wait_for_selector("#merges .merges li", timeout=20_000)
        text = page.locator("#merges").inner_text()
        assert "合并记录" in text and "案件 C-b 于 2026-05-01 09:20 并入案件 C-a" in text
        assert "本案已并入案件 C-a" in text and "依据:电话+住址" in text
        assert not any(s in text for s in CLEAR)
        page.click("#to-survivor")
        page.wait_for_url(base + "/w/W-a")
        page.wait_for_selector("#merges .merges li", timeout=20_000)
        assert "本案已并入" not in page.locator("#merges").inner_text()
        assert page.locator("#timeline li.record").count() == 3  # the merged case's record too
        page.close()
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=10)
        store.close()
