"""Container health checks (``python deploy/healthcheck.py worker|console``), stdlib only.

worker: DATA_DIR/worker.alive (rewritten every 5 s by the worker's heartbeat timer) is fresh.
console: the console's /metrics answers 200.
"""
import os
import sys
import time
import urllib.request
from pathlib import Path


def worker(max_age: float = 30.0) -> bool:
    alive = Path(os.environ.get("YUJING_DATA_DIR", "/data")) / "worker.alive"
    return alive.exists() and time.time() - alive.stat().st_mtime < max_age


def console() -> bool:
    port = os.environ.get("YUJING_PORT", "8000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
        return r.status == 200


if __name__ == "__main__":
    try:
        ok = {"worker": worker, "console": console}[sys.argv[1]]()
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(exc, file=sys.stderr)
        ok = False
    sys.exit(0 if ok else 1)
