"""Fixtures: a real ClickHouse server (Debian's clickhouse-server) and the store on both back ends.

The server is started once per session by ``scripts/clickhouse.sh`` under a temporary folder
(its own config, ports picked free, data and logs inside) and stopped at the end. A missing
binary or a server that does not come up FAILS the tests that need it, with the reason: the
store must be tested against a real server, never skipped.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

# the real Kafka broker's session fixtures (tests/kafka_fixtures.py)
pytest_plugins = ["tests.kafka_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "clickhouse.sh"


class ClickHouseServer:
    """One private clickhouse-server process under ``folder``; restartable on the same ports."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.tcp_port = self.http_port = self.pid = 0

    def _script(self, *args: str) -> str:
        proc = subprocess.run(["bash", str(SCRIPT), args[0], str(self.folder), *args[1:]],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            pytest.fail(f"scripts/clickhouse.sh {args[0]} failed (exit {proc.returncode}):\n"
                        f"{proc.stderr.strip()}", pytrace=False)
        return proc.stdout.strip()

    def start(self) -> "ClickHouseServer":
        if shutil.which("clickhouse-server", path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
            pytest.fail("clickhouse-server is not installed: run `make test` (scripts/test-deps.sh "
                        "installs it) or `apt-get install -y clickhouse-server clickhouse-client`",
                        pytrace=False)
        tcp, http, pid = self._script("start").split()[-3:]
        self.tcp_port, self.http_port, self.pid = int(tcp), int(http), int(pid)
        return self

    def stop(self) -> None:
        self._script("stop")

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work."""
        self._script("kill")

    def url(self, database: str = "yujing") -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}/{database}"


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """The session's ClickHouse server; tests keep apart by database name or id prefix."""
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse")).start()
    yield server
    server.kill()  # throwaway data: no need to wait for a clean shutdown


@pytest.fixture
def own_clickhouse_server(tmp_path_factory):
    """A server of this test's own, for tests that kill and restart it."""
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-own")).start()
    yield server
    server.kill()  # throwaway data: no need to wait for a clean shutdown


@pytest.fixture
def fresh_db() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", params=["chdb", "server"])
def store(request, tmp_path_factory):
    """The store suite runs on both back ends: chDB (current engine, in-process) and a real
    ClickHouse server (Debian's 18.16: the portable schema), each in a database of its own.
    chDB allows one folder per process at a time: the module's chDB store is closed before
    the server one opens (pytest groups a module's tests by parameter)."""
    if request.param == "chdb":
        from sinks.chdb_store import ChdbStore
        s = ChdbStore(tmp_path_factory.mktemp("chdb") / "data")
    else:
        from sinks.clickhouse_server import ServerStore
        server = request.getfixturevalue("clickhouse_server")
        s = ServerStore(server.url(f"store_{uuid.uuid4().hex[:8]}"))
    yield s
    s.close()
