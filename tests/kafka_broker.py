"""A real single-node Apache Kafka broker (KRaft, 3.9.1) for tests and development.

The jars come from Maven Central through ``infra/kafka/pom.xml`` into a cache folder outside
the repository (``~/.cache/yujing/kafka-3.9.1``, or ``$YUJING_KAFKA_JARS``), reused when
present. The broker listens on 127.0.0.1 on free ports with ``-Xmx512m`` and a WARN log.

    python -m tests.kafka_broker            # start one, print its bootstrap address, Ctrl-C stops it

Every failure raises ``BrokerError`` with the broker's log tail: tests that need Kafka fail
loudly, they never skip.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KAFKA_VERSION = "3.9.1"
ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "infra" / "kafka" / "pom.xml"
JARS = Path(os.environ.get("YUJING_KAFKA_JARS")
            or Path.home() / ".cache" / "yujing" / f"kafka-{KAFKA_VERSION}")

LOG4J = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_jars(jars: Path = JARS) -> Path:
    """Resolve the broker's jars once (about 7 s cold, 46 MB); later calls reuse the folder."""
    if (jars / ".complete").exists():
        return jars
    if not shutil.which("mvn"):
        raise BrokerError("Maven (mvn) is not installed; it fetches the Kafka broker jars")
    tmp = jars.with_name(jars.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
           f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode != 0 or not list(tmp.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"mvn failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    (tmp / ".complete").write_text(KAFKA_VERSION)
    # rename is atomic: a concurrent run sees either no folder or a complete one
    try:
        tmp.rename(jars)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
    return jars


def _properties(port: int, cport: int, logs: Path) -> str:
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={logs}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=4
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
"""


class KafkaBroker:
    """One broker process in its own temporary folder. ``start()``/``stop()`` or ``with``."""

    def __init__(self, workdir: str | Path | None = None, jars: Path = JARS):
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="yujing-kafka-"))
        self.jars = jars
        self.port = self.cport = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str, heap: str = "256m") -> list[str]:
        return ["java", f"-Xmx{heap}", f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}",
                "-cp", f"{self.jars}/*", *args]

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no broker log)"

    def start(self, timeout: float = 90.0) -> "KafkaBroker":
        t0 = time.monotonic()
        ensure_jars(self.jars)
        if not shutil.which("java"):
            raise BrokerError("java is not installed (the Kafka broker needs Java 17)")
        self.port, self.cport = free_port(), free_port()
        (self.dir / "log4j.properties").write_text(LOG4J)
        props = self.dir / "server.properties"
        props.write_text(_properties(self.port, self.cport, self.dir / "logs"))
        cid = subprocess.run(self._java("kafka.tools.StorageTool", "random-uuid"),
                             capture_output=True, text=True, timeout=120)
        if cid.returncode != 0:
            raise BrokerError(f"StorageTool random-uuid failed:\n{cid.stderr[-3000:]}")
        fmt = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t",
                                        cid.stdout.strip().splitlines()[-1], "-c", str(props)),
                             capture_output=True, text=True, timeout=120)
        if fmt.returncode != 0:
            raise BrokerError(f"StorageTool format failed:\n{fmt.stdout}\n{fmt.stderr[-3000:]}")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._java("kafka.Kafka", str(props), heap="512m"),
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)  # Ctrl-C in a shell hits us, not it
        log.close()
        try:
            self._wait_ready(t0 + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, deadline: float) -> None:
        """Ready = the port accepts and a metadata request answers (the controller is up)."""
        from kafka import KafkaAdminClient  # imported late: the module is usable without it
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"broker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000,
                                         client_id="yujing-broker-probe")
                try:
                    admin.describe_cluster()
                    admin.list_topics()
                    return
                finally:
                    admin.close()
            except Exception as exc:  # not yet: connection refused, no controller, ...
                last = exc
                time.sleep(0.2)
        raise BrokerError(f"broker not ready on {self.bootstrap} ({last!r}):\n{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (a clean controlled shutdown), SIGKILL if it takes longer than ``grace``."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "KafkaBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    t = time.monotonic()
    with KafkaBroker() as b:
        print(f"kafka {KAFKA_VERSION} on {b.bootstrap} (ready in {time.monotonic() - t:.1f}s); "
              f"Ctrl-C stops it", file=sys.stderr)
        print(b.bootstrap, flush=True)
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
