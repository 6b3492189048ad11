"""A standalone Flink session cluster on loopback, driven through the scripts apache-flink ships.

Also the client side of the cluster path: submit the job, stop it with a savepoint, resume it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyflink

from jobs.local.flink_errors import explain
from schemas.config import PROJECT_ROOT, PYTHON_EXECUTION_MODE
from udfs.errors import TtpflowError

PYFLINK_HOME = Path(pyflink.__file__).resolve().parent
FLINK_BIN = PYFLINK_HOME / "bin"
CONFIG_TEMPLATE = PROJECT_ROOT / "flink-conf" / "cluster" / "config.yaml"
JOB_SCRIPT = PROJECT_ROOT / "jobs" / "flink_job.py"
SAVEPOINT_META = "ttpflow-savepoint.json"
CHECKPOINT_NAME = re.compile(r"chk-(\d+)")  # a checkpoint's folder, under its job's folder
JOB_ID = re.compile(r"[0-9a-f]{32}")
DEFAULT_STATE_DIR = PROJECT_ROOT / ".ttpflow" / "flink"
# Bump when a state layout changes. 1: the Python keyed operators (up to the SQL job); 2: the SQL job
# (linking, patterns and aggregates in the JVM; uids per rule). 1 -> 2 is `ttpflow upgrade`: no state
# crosses, the longest rule window is read again from Kafka (docs/upgrade.md).
TTPFLOW_STATE_FORMAT = 2


class ClusterError(TtpflowError, RuntimeError):
    pass


@dataclass(frozen=True)
class FlinkCluster:
    state_dir: Path = DEFAULT_STATE_DIR
    rest_port: int = 8081
    rpc_port: int = 6123

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "conf"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FLINK_CONF_DIR"] = str(self.conf_dir)
        env["FLINK_LOG_DIR"] = str(self.state_dir / "log")
        env["FLINK_HOME"] = str(PYFLINK_HOME)
        env["FLINK_LIB_DIR"] = str(self.state_dir / "lib")
        # The CLI's own Python (for -py) must be the venv's, which has pyflink and ttpflow.
        env["PYFLINK_CLIENT_EXECUTABLE"] = sys.executable
        return env

    def render_config(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("pid", "log", "checkpoints", "savepoints"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        text = (
            CONFIG_TEMPLATE.read_text()
            .replace("@STATE_DIR@", str(self.state_dir.resolve()))
            .replace("@REST_PORT@", str(self.rest_port))
            .replace("@RPC_PORT@", str(self.rpc_port))
        )
        (self.conf_dir / "config.yaml").write_text(text)
        for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties"):
            shutil.copy(PYFLINK_HOME / "conf" / name, self.conf_dir / name)
        self._link_lib()

    def _link_lib(self) -> None:
        """The cluster's lib/: the package's jars plus flink-python, which the package keeps in opt/.

        Without flink-python on the cluster classpath the JobManager cannot deserialize Python
        operators. The Kafka connector is not added here: each job ships it in pipeline.jars.
        """
        lib = self.state_dir / "lib"
        if lib.exists():
            shutil.rmtree(lib)
        lib.mkdir(parents=True)
        for jar in [*(PYFLINK_HOME / "lib").glob("*.jar"), *(PYFLINK_HOME / "opt").glob("flink-python-*.jar")]:
            (lib / jar.name).symlink_to(jar)

    def _overview(self) -> dict[str, Any] | None:
        """The JobManager's /overview, or None when no JobManager answers."""
        try:
            with urllib.request.urlopen(f"{self.rest_url}/overview", timeout=2) as resp:
                answer = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return answer if isinstance(answer, dict) else None

    def running(self) -> bool:
        """A JobManager answers and at least one TaskManager is registered: jobs can run."""
        overview = self._overview()
        return overview is not None and overview.get("taskmanagers", 0) >= 1

    def task_manager_count(self) -> int | None:
        """Registered TaskManagers; None when no JobManager answers."""
        overview = self._overview()
        return None if overview is None else int(overview.get("taskmanagers", 0))

    def start(self, timeout_s: float = 120) -> list[str]:
        """Start what is missing: both daemons, or a TaskManager beside a JobManager that runs alone
        (e.g. after its TaskManager died). Returns what was started."""
        count = self.task_manager_count()
        if count is not None and count >= 1:
            return []
        if count is not None:  # a JobManager without TaskManager: it must be this cluster's
            self._require_own_jobmanager()
            self._daemon("taskmanager.sh", "start")
            self._wait_task_managers(timeout_s, new_besides=set())
            return ["taskmanager"]
        if _port_taken(self.rest_port):
            raise ClusterError(f"port {self.rest_port} is taken by something that is not a Flink cluster")
        self.render_config()
        for script in ("jobmanager.sh", "taskmanager.sh"):
            self._daemon(script, "start")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.running():
                return ["jobmanager", "taskmanager"]
            time.sleep(1)
        raise ClusterError(f"cluster not up after {timeout_s:.0f}s; logs in {self.state_dir / 'log'}")

    def add_task_manager(self, replace: bool = False, timeout_s: float = 120) -> int | None:
        """Start one more TaskManager and wait until it registers. With ``replace``, then stop the
        oldest TaskManager this cluster started (its slots' tasks fail over to the new one, given
        restarts). Returns the pid stopped, if any."""
        count = self.task_manager_count()
        if count is None:
            raise ClusterError(f"no Flink JobManager at {self.rest_url}; start one with `ttpflow cluster start`")
        self._require_own_jobmanager()
        old = [pid for pid in self._task_manager_pids() if _alive(pid)]
        # Wait for a TaskManager id not seen before: a killed one stays listed until its heartbeat
        # times out, so a count could be reached, or missed, for the wrong reason.
        before = {tm.id for tm in self.task_managers()}
        self._daemon("taskmanager.sh", "start")
        self._wait_task_managers(timeout_s, new_besides=before)
        if not (replace and old):
            return None
        victim = old[0]
        os.kill(victim, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(victim) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _alive(victim):
            os.kill(victim, signal.SIGKILL)
        pid_file = self._task_manager_pid_file()
        if pid_file is not None:  # what flink-daemon.sh stop would do, for this pid rather than the newest
            kept = [line for line in pid_file.read_text().splitlines() if line.strip() != str(victim)]
            pid_file.write_text("".join(f"{line}\n" for line in kept))
        return victim

    def task_managers(self) -> list[Any]:
        from jobs.local.rest import http_fetch, task_managers

        return task_managers(http_fetch(self.rest_url))

    def _daemon(self, script: str, action: str) -> None:
        proc = subprocess.run(["bash", str(FLINK_BIN / script), action], env=self._env(),
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise ClusterError(f"{script} {action} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")

    def _require_own_jobmanager(self) -> None:
        if not (self.conf_dir / "config.yaml").is_file():
            raise ClusterError(
                f"a JobManager answers at {self.rest_url} but {self.state_dir} holds no cluster config: it was not "
                "started by `ttpflow cluster start` with this --cluster-dir"
            )

    def _wait_task_managers(self, timeout_s: float, new_besides: set[str]) -> None:
        """Wait until a TaskManager whose id is not in ``new_besides`` has registered."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if {tm.id for tm in self.task_managers()} - new_besides:
                    return
            except TtpflowError:
                pass  # the JobManager busy or restarting: ask again
            time.sleep(1)
        raise ClusterError(f"no new TaskManager registered after {timeout_s:.0f}s; logs in {self.state_dir / 'log'}")

    def _task_manager_pid_file(self) -> Path | None:
        files = sorted((self.state_dir / "pid").glob("flink-*-taskexecutor.pid"))
        return files[0] if files else None

    def _task_manager_pids(self) -> list[int]:
        pid_file = self._task_manager_pid_file()
        if pid_file is None:
            return []
        return [int(line) for line in pid_file.read_text().split() if line.isdigit()]

    def stop(self) -> None:
        if not self.conf_dir.exists():
            return
        if not (self.state_dir / "lib").is_dir():
            self._link_lib()
        for script in ("taskmanager.sh", "jobmanager.sh"):
            subprocess.run(["bash", str(FLINK_BIN / script), "stop-all"], env=self._env(),
                           capture_output=True, timeout=120)

    def _flink(self, *args: str, timeout_s: float = 300) -> str:
        cmd = ["bash", str(FLINK_BIN / "flink"), *args]
        proc = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            # The client exits 31 whatever went wrong, under pages of traces: say Flink's reason, keep
            # the whole output in a file.
            output = proc.stdout + proc.stderr
            log = self.state_dir / "log" / f"ttpflow-flink-{args[0]}-{time.strftime('%Y%m%dT%H%M%S')}.out"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(output)
            reason = explain(output)
            if reason is None:
                reason = "\n".join(output.strip().splitlines()[-25:])
            raise ClusterError(f"flink {args[0]} failed: {reason}\n(the client's whole output: {log})")
        return proc.stdout

    def submit(self, job_args: list[str], savepoint: str | None = None, allow_non_restored_state: bool = False) -> str:
        """Submit jobs/flink_job.py detached; return the job id. ``savepoint``: a savepoint taken by
        `ttpflow stop`, or a checkpoint retained from a job ttpflow submitted here (see check_savepoint)."""
        from jobs.rule_state import rule_operators

        mode = _execution_mode(job_args)
        rules = rule_operators(job_args)
        args = ["run", "-m", f"127.0.0.1:{self.rest_port}", "-d"]
        if savepoint:
            args += ["-s", str(check_savepoint(savepoint, mode, job_records=self.state_dir / "jobs"))]
            check_rule_state(savepoint, rules, allow_non_restored_state, job_records=self.state_dir / "jobs")
            if allow_non_restored_state:
                args.append("--allowNonRestoredState")
        args += ["-py", str(JOB_SCRIPT), "-pyexec", sys.executable, "-pyclientexec", sys.executable, *job_args]
        out = self._flink(*args)
        match = re.search(r"JobID ([0-9a-f]{32})", out)
        if not match:
            raise ClusterError(f"could not find the job id in flink's output:\n{out[-2000:]}")
        job_id = match.group(1)
        self._job_record(job_id).parent.mkdir(parents=True, exist_ok=True)
        self._job_record(job_id).write_text(
            json.dumps({"python_execution_mode": mode, "state_format": TTPFLOW_STATE_FORMAT, "rules": rules}) + "\n")
        return job_id

    def _job_record(self, job_id: str) -> Path:
        """What ttpflow knows of a job it submitted: the savepoint metadata it must carry."""
        return self.state_dir / "jobs" / f"{job_id}.json"

    def job_state(self, job_id: str) -> str:
        with urllib.request.urlopen(f"{self.rest_url}/jobs/{job_id}", timeout=5) as resp:
            return json.load(resp)["state"]

    def wait_running(self, job_id: str, timeout_s: float = 120) -> None:
        """Wait until every task of the job runs (sources are then consuming)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.rest_url}/jobs/{job_id}", timeout=5) as resp:
                job = json.load(resp)
            if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
                raise ClusterError(f"job {job_id} is {job['state']}; see {self.state_dir / 'log'}")
            vertices = job.get("vertices", [])
            if job["state"] == "RUNNING" and vertices and all(v["status"] == "RUNNING" for v in vertices):
                return
            time.sleep(1)
        raise ClusterError(f"job {job_id} not running after {timeout_s:.0f}s")

    def stop_with_savepoint(self, job_id: str, savepoint_dir: Path) -> Path:
        savepoint_dir.mkdir(parents=True, exist_ok=True)
        out = self._flink("stop", "-m", f"127.0.0.1:{self.rest_port}",
                          "--savepointPath", savepoint_dir.resolve().as_uri(), job_id)
        match = re.search(r"Savepoint completed\. Path: (\S+)", out)
        if not match:
            raise ClusterError(f"no savepoint path in flink's output:\n{out[-2000:]}")
        path = Path(match.group(1).removeprefix("file:"))
        record = self._job_record(job_id)
        known = json.loads(record.read_text()) if record.is_file() else {}
        write_savepoint_meta(path, known.get("python_execution_mode") or PYTHON_EXECUTION_MODE, known.get("rules"))
        return path


def _execution_mode(job_args: list[str]) -> str:
    import argparse

    from jobs.options import add_kafka_job_args

    parser = argparse.ArgumentParser(add_help=False)
    add_kafka_job_args(parser)
    known, _ = parser.parse_known_args(job_args)
    return known.python_execution_mode


def write_savepoint_meta(savepoint: Path, python_execution_mode: str, rules: dict[str, str] | None = None) -> None:
    meta: dict[str, Any] = {
        "python_execution_mode": python_execution_mode,
        "state_format": TTPFLOW_STATE_FORMAT,
        "taken_at_ms": int(time.time() * 1000),
        "written_by": "ttpflow",
    }
    if rules is not None:  # each stateful rule and its operators' uid prefix (jobs.rule_state)
        meta["rules"] = rules
    (savepoint / SAVEPOINT_META).write_text(json.dumps(meta, indent=2) + "\n")


def _savepoint(savepoint: str) -> tuple[Path, dict[str, Any] | None]:
    """The savepoint's folder and what `ttpflow stop` wrote beside it (None: nothing)."""
    path = Path(savepoint.removeprefix("file://").removeprefix("file:"))
    if not (path / "_metadata").is_file():
        latest = latest_checkpoint(path)
        if latest is None:
            raise ClusterError(f"{savepoint}: not a Flink savepoint or checkpoint (no _metadata file)")
        path = latest
    meta_file = path / SAVEPOINT_META
    return path, json.loads(meta_file.read_text()) if meta_file.is_file() else None


def latest_checkpoint(job_dir: Path) -> Path | None:
    """In a job's checkpoint folder (``<checkpoints>/<job id>``), its newest complete ``chk-N``."""
    if not job_dir.is_dir() or not JOB_ID.fullmatch(job_dir.name):
        return None
    done = [(int(m.group(1)), d) for d in job_dir.iterdir()
            if (m := CHECKPOINT_NAME.fullmatch(d.name)) and (d / "_metadata").is_file()]
    return max(done)[1] if done else None


def _retained_checkpoint_meta(path: Path, job_records: Path | None) -> dict[str, Any] | None:
    """A retained checkpoint carries no ttpflow-savepoint.json, and Flink writes it, not ttpflow. It is
    accepted when it is ``<job id>/chk-N`` of a job ttpflow submitted to this cluster: what ttpflow
    recorded at submission (``<cluster-dir>/jobs/<job id>.json``) stands in for the savepoint's record."""
    if job_records is None or not CHECKPOINT_NAME.fullmatch(path.name) or not JOB_ID.fullmatch(path.parent.name):
        return None
    record = job_records / f"{path.parent.name}.json"
    return json.loads(record.read_text()) if record.is_file() else None


def check_savepoint(savepoint: str, python_execution_mode: str = PYTHON_EXECUTION_MODE,
                    job_records: Path | None = None) -> Path:
    """Refuse a savepoint this build would restore wrongly (thread-mode state reads back empty); return
    the folder to restore from (a job's checkpoint folder resolves to its newest retained checkpoint)."""
    path, meta = _savepoint(savepoint)
    if meta is None:
        meta = _retained_checkpoint_meta(path, job_records)
    if meta is None:
        if CHECKPOINT_NAME.fullmatch(path.name):
            raise ClusterError(
                f"{path}: a checkpoint of job {path.parent.name}, which ttpflow did not submit to this cluster "
                f"(no {job_records or 'job record'}/{path.parent.name}.json): its Python execution mode and state "
                "format are unknown"
            )
        raise ClusterError(
            f"{savepoint}: no {SAVEPOINT_META}; take savepoints with `ttpflow stop --savepoint DIR` so the "
            "Python execution mode is recorded"
        )
    if meta.get("python_execution_mode") != python_execution_mode:
        raise ClusterError(
            f"{savepoint} was taken in python.execution-mode={meta.get('python_execution_mode')}; this job "
            f"runs in {python_execution_mode}. Restoring across modes comes up with empty state: refused. "
            f"Resume with --python-execution-mode {meta.get('python_execution_mode')}."
        )
    if meta.get("state_format", 0) > TTPFLOW_STATE_FORMAT:
        raise ClusterError(f"{savepoint} was written by a newer ttpflow (state format {meta['state_format']})")
    if meta.get("state_format", 0) < TTPFLOW_STATE_FORMAT:
        raise ClusterError(
            f"{savepoint} holds state format {meta.get('state_format')} (the Python keyed operators); this build "
            f"runs format {TTPFLOW_STATE_FORMAT} (the SQL job). Use `ttpflow upgrade {savepoint} ...`: it starts the "
            "new job reading Kafka again from the longest rule window before the savepoint (docs/upgrade.md)."
        )
    return path


def check_rule_state(savepoint: str, running: dict[str, str], allow: bool, job_records: Path | None = None) -> None:
    """Refuse a savepoint holding state of JVM rules the new job does not run (removed, or their SQL
    changed), naming them, unless ``allow`` (--allow-non-restored-state): then name and count each
    rule whose state is dropped. A savepoint recorded without its rules (older ttpflow) is left to
    Flink, whose refusal ``_flink`` explains."""
    import logging
    import sys

    from jobs.rule_state import dropped_rules, needs_allow
    from udfs.jsonlog import log

    path, meta = _savepoint(savepoint)
    recorded = (meta or _retained_checkpoint_meta(path, job_records) or {}).get("rules")
    if recorded is None:
        return
    dropped = dropped_rules(recorded, running)
    blocking = needs_allow(dropped, recorded)
    if blocking and not allow:
        raise ClusterError(
            f"{savepoint} holds state of {len(blocking)} rule(s) this job does not run: "
            + "; ".join(str(d) for d in blocking)
            + ". Resume with --allow-non-restored-state to drop that state (partial matches of those rules are lost), "
            "or with the rule packs the savepoint was taken with."
        )
    for rule in dropped:
        log("rule state dropped on restore", level=logging.WARNING, rule=rule.rule_id, reason=REASON_KEYS[rule.why])
    if dropped:
        print(f"dropping the savepoint's state of {len(dropped)} rule(s): " + "; ".join(str(d) for d in dropped),
              file=sys.stderr)


REASON_KEYS = {"removed": "rule_removed", "changed": "rule_logic_changed", "moved": "rule_moved_path"}


def upgrade_start_ms(savepoint: str, replay_ms: int) -> int:
    """Where an upgraded job starts reading: the savepoint's time (recorded by `ttpflow stop`, else its
    _metadata file's) less what the rules can still correlate (the longest window, the watermark
    bound and the allowed lateness)."""
    path, meta = check_upgradable(savepoint)
    if "taken_at_ms" in meta:
        return int(meta["taken_at_ms"]) - replay_ms
    return int((path / "_metadata").stat().st_mtime * 1000) - replay_ms


def check_upgradable(savepoint: str) -> tuple[Path, dict[str, Any]]:
    path, meta = _savepoint(savepoint)
    meta = meta or {}
    if meta.get("state_format", 1) >= TTPFLOW_STATE_FORMAT:
        raise ClusterError(f"{savepoint} is already state format {TTPFLOW_STATE_FORMAT}: use `ttpflow resume`")
    return path, meta


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
