"""Start a real ``yujing run`` process for end-to-end tests, and read its store afterwards."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
YUJING = [sys.executable, "-m", "engine.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def yujing_run(data_dir: Path, *args: str, startup: float = 60.0, auth: bool = False):
    """Run ``yujing run`` on a free port; yield (base_url, process). Stopped with SIGINT.

    Console login is off unless ``auth`` (tests of other concerns act as the local operator;
    tests/test_auth_e2e.py logs in)."""
    port = free_port()
    log = open(data_dir.parent / f"yujing-{port}.log", "w+")
    proc = subprocess.Popen([*YUJING, "run", "--data-dir", str(data_dir), "--port", str(port), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1",
                                 "YUJING_AUTH": "true" if auth else "false"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"yujing run exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("yujing run did not serve within the startup time")
            time.sleep(0.2)
        yield base, proc
    finally:
        terminate(proc, signal.SIGINT)
        log.close()


def terminate(proc: subprocess.Popen, sig: int, timeout: float = 30) -> None:
    """Stop a test's process politely with ``sig``; SIGKILL if it is still there after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, dict]:
    """SIGINT, wait, and return (exit code, the JSON summary it printed)."""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return proc.returncode, (json.loads(lines[-1]) if lines else {})


def read_store(data_dir: Path, expr: str):
    """Evaluate ``expr`` against ``store`` (a ChdbStore on data_dir) in a fresh process."""
    code = ("import json, sys\nfrom sinks.chdb_store import ChdbStore\n"
            f"store = ChdbStore({str(data_dir / 'chdb')!r})\n"
            f"print(json.dumps({expr}, default=str))\nstore.close()\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
