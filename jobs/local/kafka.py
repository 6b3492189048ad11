"""A real single-node Apache Kafka broker for local runs and tests.

The broker is the released Apache Kafka server (KRaft mode, one process acting as broker and
controller) run straight from the jars that Maven resolves into ``flink-conf/lib/kafka/``:

    java -cp 'flink-conf/lib/kafka/*' kafka.Kafka <data-dir>/server.properties

It listens on 127.0.0.1 only (it has no authentication), keeps its state under a data folder
(default ``.ttpflow/kafka/`` in the project, which git ignores) and is managed through a pid file,
so ``start`` / ``stop`` / ``status`` work across separate ``ttpflow`` invocations.

Data folder layout::

    server.properties   rendered from flink-conf/kafka/server.properties
    broker.pid          pid of the running broker
    broker.json         ports and start time of the running broker
    broker.lock         serialises concurrent start/stop on the same folder
    data/               log.dirs: topic partitions and the KRaft metadata log
    logs/server.log     the broker's log (log4j2), logs/console.log its stdout/stderr
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from udfs.errors import TtpflowError

HOST = "127.0.0.1"
DEFAULT_PORT = 9092
DEFAULT_HEAP = "512m"
DEFAULT_START_TIMEOUT_S = 90.0
DEFAULT_STOP_TIMEOUT_S = 30.0

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / ".ttpflow" / "kafka"
DEFAULT_LIB_DIR = PROJECT_ROOT / "flink-conf" / "lib" / "kafka"
DEFAULT_CONF_DIR = PROJECT_ROOT / "flink-conf" / "kafka"

# The command that resolves the broker jars (run from flink-conf/); quoted in error messages verbatim.
MVN_BROKER_ARGS = (
    "-q",
    "-B",
    "-P",
    "broker",
    "dependency:copy-dependencies",
    "-DoutputDirectory=lib/kafka",
    "-DincludeScope=runtime",
)
MVN_BROKER_COMMAND = "cd flink-conf && mvn " + " ".join(MVN_BROKER_ARGS)

# Jars without which the broker cannot start; a partial download is treated as missing.
_REQUIRED_JAR_PREFIXES = ("kafka_2.13-", "kafka-clients-", "kafka-server-", "log4j-slf4j-impl-")


class KafkaBrokerError(TtpflowError):
    """The local broker could not be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class BrokerStatus:
    """What is known about the broker of one data folder."""

    running: bool
    ready: bool
    pid: int | None
    port: int
    controller_port: int
    data_dir: Path
    log_file: Path
    already_running: bool = False

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"


def port_in_use(port: int, host: str = HOST) -> bool:
    """True if ``host:port`` cannot be bound, i.e. something else listens there.

    SO_REUSEADDR mirrors what the broker itself does, so sockets lingering in TIME_WAIT after a
    previous broker do not count as "in use" while a live listener (also on 0.0.0.0 or ::) does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return True
            raise KafkaBrokerError(f"cannot use port {port} on {host}: {err.strerror}") from err
    return False


def free_port(host: str = HOST) -> int:
    """A port the OS considers free right now (for tests that must not collide with anything)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding. Kafka's own
    # generator avoids ids starting with '-' because they read like command-line options.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the process that started it exits."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: no dlopen in the child
    pr_set_pdeathsig = 1  # from <linux/prctl.h>

    def set_signal() -> None:
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return set_signal


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _short(path: Path) -> str:
    """A path relative to the current directory when it is below it (shorter messages)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class LocalKafka:
    """Start, stop and inspect a single-node KRaft broker on 127.0.0.1.

    ``start`` is idempotent: if the broker of this data folder already runs, it waits until it
    answers and returns its status with ``already_running=True``.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        data_dir: Path | str | None = None,
        *,
        heap: str = DEFAULT_HEAP,
        lib_dir: Path | str | None = None,
        conf_dir: Path | str | None = None,
        extra_properties: Mapping[str, str] | None = None,
        client_properties: Mapping[str, str] | None = None,
        format_args: Sequence[str] = (),
        fetch_jars: bool = True,
        stop_with_parent: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.port = int(port)
        # Default controller port is the next one (9092 -> 9093, the convention in Kafka's docs).
        self.controller_port = int(controller_port) if controller_port is not None else self.port + 1
        if self.controller_port == self.port:
            raise KafkaBrokerError(f"the controller port must differ from the broker port ({self.port})")
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else DEFAULT_DATA_DIR
        self.heap = heap
        self.lib_dir = Path(lib_dir).resolve() if lib_dir is not None else DEFAULT_LIB_DIR
        self.conf_dir = Path(conf_dir).resolve() if conf_dir is not None else DEFAULT_CONF_DIR
        self.extra_properties = dict(extra_properties or {})
        # A secured listener (extra_properties may replace `listeners` with SASL_SSL ones): the Java
        # client properties the readiness probe connects with (jobs.kafka_props), and arguments
        # for `kafka-storage format` such as --add-scram, which creates SCRAM users in KRaft.
        self.client_properties = dict(client_properties or {})
        self.format_args = tuple(format_args)
        self.fetch_jars = fetch_jars
        # For test sessions: the broker must not outlive a test run that was killed before its
        # teardown ran. The CLI's broker, in contrast, is meant to outlive the command.
        self.stop_with_parent = stop_with_parent
        self._progress = progress or (lambda _message: None)
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths ---------------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def server_properties(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def console_file(self) -> Path:
        return self.log_dir / "console.log"

    @property
    def kafka_data_dir(self) -> Path:
        return self.data_dir / "data"

    # -- public API ----------------------------------------------------------------------------

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> BrokerStatus:
        """Start the broker (or find it running) and wait until it answers Kafka requests."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            running = self._running_pid()
            if running is not None:
                state = self._read_state()
                port = int(state.get("port", self.port))
                if port != self.port:
                    raise KafkaBrokerError(
                        f"the broker of {_short(self.data_dir)} already runs on port {port} (pid {running}), "
                        f"not {self.port}; stop it first (ttpflow kafka stop --data-dir {_short(self.data_dir)}) "
                        "or use another --data-dir"
                    )
                self._wait_ready(running, timeout_s, started_here=False)
                return self._status(running, ready=True, already_running=True)

            self._forget_stale_pid()
            java = self._java()
            self._ensure_jars()
            for port, role in ((self.port, "broker"), (self.controller_port, "controller")):
                if port_in_use(port):
                    raise KafkaBrokerError(
                        f"port {port} on {HOST} ({role} listener) is already in use by another process, "
                        f"not by the ttpflow broker of {_short(self.data_dir)}. Stop that process "
                        f"(see `ss -ltnp 'sport = :{port}'`) or choose other ports (--port, --controller-port)"
                    )
            self._render_config()
            self._format_storage(java)
            pid = self._launch(java)
            try:
                self._wait_ready(pid, timeout_s, started_here=True)
            except BaseException:
                # Never leave a half-started broker behind (it would hold the ports and the pid file).
                self._terminate(pid, DEFAULT_STOP_TIMEOUT_S)
                self._forget_stale_pid(force=True)
                raise
            return self._status(pid, ready=True)

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
        """Stop the broker gracefully (SIGTERM: controlled shutdown), killing it after ``timeout_s``.

        Returns the pid that was stopped, or None if no broker of this data folder was running.
        """
        if not self.data_dir.exists():
            return None
        with self._lock():
            pid = self._running_pid()
            if pid is None:
                self._forget_stale_pid()
                return None
            self._terminate(pid, timeout_s)
            self._forget_stale_pid(force=True)
            return pid

    def status(self, probe_timeout_s: float = 5.0) -> BrokerStatus:
        """Whether the broker of this data folder runs, and whether it answers Kafka requests."""
        pid = self._running_pid() if self.data_dir.exists() else None
        if pid is None:
            return self._status(None, ready=False)
        state = self._read_state()
        port = int(state.get("port", self.port))
        return self._status(pid, ready=self._answers(f"{HOST}:{port}", probe_timeout_s))

    # -- start helpers -------------------------------------------------------------------------

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        candidates = [Path(java_home) / "bin" / "java"] if java_home else []
        for candidate in candidates:
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        found = shutil.which("java")
        if found is None:
            raise KafkaBrokerError(
                "no `java` found on PATH (or in $JAVA_HOME/bin): the Kafka broker needs Java 17 or newer"
            )
        return found

    def _jars_present(self) -> bool:
        if not self.lib_dir.is_dir():
            return False
        names = [p.name for p in self.lib_dir.glob("*.jar")]
        return all(any(n.startswith(prefix) for n in names) for prefix in _REQUIRED_JAR_PREFIXES)

    def _ensure_jars(self) -> None:
        if self._jars_present():
            return
        mvn = shutil.which("mvn")
        pom_dir = DEFAULT_CONF_DIR.parent  # flink-conf/, where pom.xml lives
        if not self.fetch_jars or mvn is None or not (pom_dir / "pom.xml").is_file():
            why = "Maven (`mvn`) is not on PATH" if mvn is None else "fetching is disabled"
            raise KafkaBrokerError(
                f"the Kafka broker jars are missing from {_short(self.lib_dir)} and {why}; "
                f"fetch them with:\n  {MVN_BROKER_COMMAND}"
            )
        self._progress(f"Fetching the Kafka broker jars with Maven into {_short(self.lib_dir)} (first run only)")
        args = [mvn, *MVN_BROKER_ARGS]
        if self.lib_dir != DEFAULT_LIB_DIR:
            args = [a if not a.startswith("-DoutputDirectory=") else f"-DoutputDirectory={self.lib_dir}" for a in args]
        result = subprocess.run(args, cwd=pom_dir, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not self._jars_present():
            output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            raise KafkaBrokerError(
                f"Maven could not fetch the Kafka broker jars (exit {result.returncode}); "
                f"run it yourself to see why:\n  {MVN_BROKER_COMMAND}\n{output}"
            )

    def _render_config(self) -> None:
        template_path = self.conf_dir / "server.properties"
        try:
            template = Template(template_path.read_text(encoding="utf-8"))
        except OSError as err:
            raise KafkaBrokerError(f"cannot read the broker config template {template_path}: {err}") from err
        try:
            text = template.substitute(
                host=HOST,
                port=self.port,
                controller_port=self.controller_port,
                log_dirs=self.kafka_data_dir,
            )
        except (KeyError, ValueError) as err:
            raise KafkaBrokerError(f"the broker config template {template_path} is broken: {err!r}") from err
        if self.extra_properties:
            text += "\n# Overrides given to LocalKafka(extra_properties=...)\n"
            text += "".join(f"{key}={value}\n" for key, value in self.extra_properties.items())
        self.kafka_data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.server_properties.write_text(text, encoding="utf-8")

    def _jvm_common(self) -> list[str]:
        return [
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            f"{self.lib_dir}/*",
        ]

    def _format_storage(self, java: str) -> None:
        if (self.kafka_data_dir / "meta.properties").exists():
            return  # formatted by an earlier start: keep the topics and the cluster id
        # --standalone: this node is the single voter of a dynamic KRaft quorum (the Kafka 4.x way;
        # it pairs with controller.quorum.bootstrap.servers in server.properties).
        args = [
            java,
            "-Xmx256m",
            *self._jvm_common(),
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            _new_cluster_id(),
            "--config",
            str(self.server_properties),
            # Safety net: a folder formatted earlier is kept as it is, never re-formatted.
            "--ignore-formatted",
            *self.format_args,
        ]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            # Java stack frames say nothing a user can act on; the exception line above them does.
            lines = [ln for ln in (result.stdout + result.stderr).splitlines() if not ln.startswith("\tat ")]
            hint = ""
            if "formatted" in result.stdout + result.stderr:
                hint = f"\nIf {_short(self.kafka_data_dir)} holds data of another cluster or version, remove it"
            raise KafkaBrokerError(
                f"formatting the broker storage in {_short(self.kafka_data_dir)} failed "
                f"(exit {result.returncode}):\n" + "\n".join(lines[-15:]) + hint
            )

    def _launch(self, java: str) -> int:
        args = [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            *self._jvm_common(),
            "kafka.Kafka",
            str(self.server_properties),
        ]
        with open(self.console_file, "ab") as console:
            console.write(f"\n==== ttpflow: starting broker {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            console.flush()
            # A new session: Ctrl-C in the terminal that ran `ttpflow kafka start` must not kill
            # the broker, which outlives that command by design.
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir,
                preexec_fn=_parent_death_signal() if self.stop_with_parent else None,
            )
        pid = self._proc.pid
        self.pid_file.write_text(f"{pid}\n", encoding="utf-8")
        state = {
            "pid": pid,
            "host": HOST,
            "port": self.port,
            "controller_port": self.controller_port,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return pid

    def _wait_ready(self, pid: int, timeout_s: float, *, started_here: bool) -> None:
        deadline = time.monotonic() + timeout_s
        bootstrap = f"{HOST}:{int(self._read_state().get('port', self.port))}"
        while True:
            if not self._pid_alive(pid):
                code = self._proc.returncode if self._proc is not None and self._proc.pid == pid else None
                raise KafkaBrokerError(
                    f"the Kafka broker (pid {pid}) exited"
                    + (f" with code {code}" if code is not None else "")
                    + f" before it was ready. Last lines of {_short(self.log_file)}:\n"
                    + (_tail(self.log_file) or "(empty)")
                    + f"\nand of {_short(self.console_file)}:\n"
                    + (_tail(self.console_file) or "(empty)")
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = "started" if started_here else "running"
                raise KafkaBrokerError(
                    f"the Kafka broker (pid {pid}) {what} but did not answer on {bootstrap} within "
                    f"{timeout_s:.0f}s; see {_short(self.log_file)}. Last lines:\n"
                    + (_tail(self.log_file) or "(empty)")
                )
            if self._answers(bootstrap, min(5.0, max(remaining, 0.5))):
                return
            time.sleep(0.25)

    # -- probing -------------------------------------------------------------------------------

    def _answers(self, bootstrap: str, timeout_s: float) -> bool:
        """True once the broker accepts connections and serves cluster metadata with itself in it."""
        host, _, port = bootstrap.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=min(timeout_s, 2.0)):
                pass
        except OSError:
            return False  # cheap check first: no Kafka client noise while the JVM is still booting
        # Imported here so that `import jobs.local.kafka` stays cheap for the CLI.
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        from jobs.kafka_props import kafka_python_args

        timeout_ms = max(int(timeout_s * 1000), 500)
        admin = None
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id="ttpflow-local-kafka-probe",
                bootstrap_timeout_ms=timeout_ms,
                request_timeout_ms=timeout_ms,
                **kafka_python_args(self.client_properties),
            )
            cluster = admin.describe_cluster()
        except (KafkaError, OSError, ValueError):
            return False
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    admin.close()
        return bool(cluster.get("brokers"))

    def _pid_alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, owned by another user
        try:
            # A zombie (exited, not yet reaped by its parent) still answers kill(pid, 0).
            stat = Path(f"/proc/{pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    def _is_our_broker(self, pid: int) -> bool:
        """The pid is a live Kafka broker started with this folder's server.properties.

        Guards against pid reuse: a stale pid file must never make `stop` signal an unrelated
        process. Where /proc is missing (macOS), a live pid is trusted.
        """
        if not self._pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return not Path("/proc/self").exists()
        except OSError:
            return False
        return b"kafka.Kafka" in cmdline and str(self.server_properties).encode() in cmdline

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_our_broker(pid) else None

    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _forget_stale_pid(self, *, force: bool = False) -> None:
        if force or self._running_pid() is None:
            for path in (self.pid_file, self.state_file):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _status(self, pid: int | None, *, ready: bool, already_running: bool = False) -> BrokerStatus:
        state = self._read_state() if pid is not None else {}
        return BrokerStatus(
            running=pid is not None,
            ready=ready,
            pid=pid,
            port=int(state.get("port", self.port)),
            controller_port=int(state.get("controller_port", self.controller_port)),
            data_dir=self.data_dir,
            log_file=self.log_file,
            already_running=already_running,
        )

    # -- stopping ------------------------------------------------------------------------------

    def _terminate(self, pid: int, timeout_s: float) -> None:
        # SIGTERM runs Kafka's shutdown hook: a controlled shutdown that flushes and closes the
        # logs, so the next start needs no recovery. SIGKILL only if that hangs.
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if not self._pid_alive(pid):
                    self._reap(pid)
                    return
                time.sleep(0.1)
        raise KafkaBrokerError(f"the Kafka broker (pid {pid}) did not exit even after SIGKILL")

    def _reap(self, pid: int) -> None:
        if self._proc is not None and self._proc.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1.0)
            self._proc = None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `ttpflow kafka start` at once on one folder would both find no broker and both launch.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "broker.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
