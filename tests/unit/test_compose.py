"""docker-compose.yml: valid against the Compose Specification, and a complete, coherent deployment.

There is no Docker engine or compose plugin on the development machines, so this is how the file
is checked: the vendored Compose Specification schema (tests/fixtures/compose/, see NOTICE there)
for structure, and the checks below for what a schema cannot see: KRaft settings that fit
together, services that reference files which exist, the connector jar and flink-python in the
image, the Python interpreter the workers use, ports, health checks and start-up order.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import http.server
import importlib.util
import json
import re
import shlex
import subprocess
import threading
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
FLINK_DOCKERFILE = ROOT / "docker" / "flink" / "Dockerfile"
PROJECT_IN_IMAGE = "/opt/ttpflow"  # where the Dockerfile puts the project
WORKER_PYTHON = "/usr/local/bin/python3"  # the interpreter the Dockerfile builds and links
FLINK_SERVICES = ("jobmanager", "taskmanager", "job-submitter")
JOB_TOPIC_FLAGS = ("--raw-topic", "--alerts-topic", "--signals-topic", "--dead-letter-topic", "--late-topic",
                   "--suppressed-topic")


# -- loading ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the YAML anchors and `<<` merge keys the file uses, as Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def schema_errors(document: Any, schema: dict[str, Any]) -> list[str]:
    # The schema declares draft-07 (its "$schema" URL lacks the "#" jsonschema keys drafts by).
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(document)]


def env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings (Compose accepts a mapping or a KEY=VALUE list)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def flink_properties(service: dict[str, Any]) -> dict[str, str]:
    """FLINK_PROPERTIES parsed the way the Flink image's entrypoint does: one "key: value" a line."""
    props = {}
    for line in env(service).get("FLINK_PROPERTIES", "").splitlines():
        if line.strip():
            key, _, value = line.partition(":")
            props[key.strip()] = value.strip()
    return props


def command_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def flag_value(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} missing from {args}"
    return args[args.index(flag) + 1]


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """'NAME://host:port,...' -> {NAME: (host, port)}."""
    result = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        result[name] = (host, int(port))
    return result


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            keyword, _, rest = pending.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            pending = ""
    return instructions


def dockerfile_args(path: Path) -> dict[str, str]:
    return dict(rest.split("=", 1) for kw, rest in dockerfile_instructions(path) if kw == "ARG" and "=" in rest)


def dockerignore_patterns(dockerfile: Path) -> list[str]:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``relative`` out (the pattern or a parent folder matches)."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for candidate in candidates:
            if fnmatch.fnmatch(candidate, pattern) or fnmatch.fnmatch(candidate.split("/")[-1], bare):
                return True
    return False


def in_project(path_in_image: str) -> Path:
    assert path_in_image.startswith(PROJECT_IN_IMAGE + "/"), path_in_image
    return ROOT / path_in_image.removeprefix(PROJECT_IN_IMAGE + "/")


# -- the Compose Specification ------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    assert schema.get("title") == "Compose Specification"
    assert schema_errors(compose, schema) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["services"]["kafka"].update(imagee="apache/kafka"), "imagee"),
        (lambda c: c["services"]["taskmanager"]["depends_on"]["jobmanager"].update(condition="ready"), "ready"),
        (lambda c: c["services"]["kafka"]["healthcheck"].update(intervall="10s"), "intervall"),
        (lambda c: c["services"]["kafka"].update(restart=5), "restart"),
        (lambda c: c["services"]["jobmanager"].update(ports=[{"target": 8081, "protocoll": "tcp"}]), "protocoll"),
        (lambda c: c["services"]["kafka"].update(environment={"A": {"nested": 1}}), "nested"),
        (lambda c: c.update(servics={}), "servics"),
    ],
    ids=["unknown-key", "bad-condition", "healthcheck-key", "restart-type", "port-key", "env-type", "top-level"],
)
def test_schema_check_is_not_vacuous(
    compose: dict[str, Any], schema: dict[str, Any], mutate: Any, expected: str
) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    errors = schema_errors(broken, schema)
    assert any(expected in error for error in errors), errors


# -- Kafka --------------------------------------------------------------------------------------


def test_kafka_is_a_complete_single_node_kraft_broker(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    pom = ET.parse(ROOT / "flink-conf" / "pom.xml").getroot()
    kafka_version = pom.find("{http://maven.apache.org/POM/4.0.0}properties/{*}kafka.version")
    assert kafka_version is not None
    # The same Kafka release as the broker of local runs and tests (flink-conf/pom.xml).
    assert kafka["image"] == f"apache/kafka:{kafka_version.text}"

    e = env(kafka)
    assert set(e["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", e["CLUSTER_ID"]), "CLUSTER_ID must be a Kafka base64 UUID"
    declared = listeners(e["KAFKA_LISTENERS"])
    advertised = listeners(e["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(item.split(":") for item in e["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = e["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(declared) <= set(protocols), "every listener needs a security protocol"
    assert controller in declared and controller not in advertised
    assert e["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised

    voter_id, _, voter = e["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == str(e["KAFKA_NODE_ID"])
    assert voter == f"{kafka.get('hostname', 'kafka')}:{declared[controller][1]}"

    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert e[key] == "1", f"{key} must be 1 on a single node"
    assert int(e["KAFKA_TRANSACTION_MAX_TIMEOUT_MS"]) >= 15 * 60 * 1000

    # Data on a named volume at the broker's log.dirs, so topics survive `docker compose down`.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    assert mounts.get(e["KAFKA_LOG_DIRS"]) == "kafka-data"


def test_kafka_is_reachable_from_containers_and_from_the_host(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    advertised = listeners(env(kafka)["KAFKA_ADVERTISED_LISTENERS"])
    internal = f"{kafka['hostname']}:{advertised['INTERNAL'][1]}"
    assert advertised["EXTERNAL"] == ("localhost", 9092)
    assert "9092:9092" in kafka["ports"]
    # Everyone inside the network uses the internal listener.
    assert internal in kafka["healthcheck"]["test"][-1]
    assert f"--bootstrap-server {internal}" in services["kafka-init"]["command"][0]
    assert flag_value(command_args(services["job-submitter"]), "--bootstrap-servers") == internal


def test_topics_created_are_the_topics_the_job_uses(services: dict[str, dict[str, Any]]) -> None:
    script = services["kafka-init"]["command"][0]
    match = re.search(r"for topic in ([^;]+);", script)
    assert match, script
    created = set(match.group(1).split())
    job_args = command_args(services["job-submitter"])
    used = {flag_value(job_args, flag) for flag in JOB_TOPIC_FLAGS}
    assert created == used
    assert {t.rsplit(".", 1)[-1] for t in created} == {"raw", "alerts", "signals", "dead-letter", "late", "suppressed"}
    assert "--if-not-exists" in script  # re-running `docker compose up` must not fail


# -- Flink --------------------------------------------------------------------------------------


def test_flink_services_build_the_project_image(services: dict[str, dict[str, Any]]) -> None:
    images = set()
    for name in FLINK_SERVICES:
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == FLINK_DOCKERFILE
        images.add(services[name]["image"])
    assert len(images) == 1, "JobManager, TaskManager and submitter must run the same image"
    assert services["jobmanager"]["command"] == "jobmanager"
    assert services["taskmanager"]["command"] == "taskmanager"


def test_flink_image_matches_the_project_pins() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = {}
    for requirement in pyproject["project"]["dependencies"]:
        name, sep, version = requirement.partition("==")
        if sep:
            pins[name.strip()] = version.strip()
    args = dockerfile_args(FLINK_DOCKERFILE)
    flink_image = args["FLINK_IMAGE"]
    assert re.fullmatch(r"flink:\d+\.\d+\.\d+-java17", flink_image), flink_image
    # Client (apache-flink wheel) and cluster must be the same Flink release.
    assert flink_image.split(":")[1].removesuffix("-java17") == pins["apache-flink"]
    python_minor = ".".join(args["PYTHON_VERSION"].split(".")[:2])
    assert f">={python_minor}" in pyproject["project"]["requires-python"]


def test_flink_image_has_the_connector_flink_python_and_the_project() -> None:
    instructions = dockerfile_instructions(FLINK_DOCKERFILE)
    copies = [rest for kw, rest in instructions if kw == "COPY"]
    runs = " ".join(rest for kw, rest in instructions if kw == "RUN")

    # The Kafka connector jar where jobs/flink_job.py looks for it (it ships it via pipeline.jars).
    connector = [c for c in copies if "flink-sql-connector-kafka" in c]
    assert connector and connector[0].split()[-1] == f"{PROJECT_IN_IMAGE}/flink-conf/lib/connectors/"
    assert "-P connectors" in runs and "dependency:copy-dependencies" in runs
    flink_job = (ROOT / "jobs" / "flink_job.py").read_text(encoding="utf-8")
    assert '"flink-conf" / "lib" / "connectors"' in flink_job or "flink-conf/lib/connectors" in flink_job
    # flink-python must be on the cluster classpath or Python operators cannot be deserialized.
    assert re.search(r"cp /opt/flink/opt/flink-python-\S*\.jar /opt/flink/lib/", runs)
    assert f"pip install --no-deps -e {PROJECT_IN_IMAGE}" in runs
    assert f"ln -sf /usr/local/bin/python3.11 {WORKER_PYTHON}" in runs


def test_flink_image_build_inputs_exist_in_the_build_context() -> None:
    patterns = dockerignore_patterns(FLINK_DOCKERFILE)
    assert ".venv" in patterns and ".git" in patterns, "keep the venv and git history out of the context"
    for kw, rest in dockerfile_instructions(FLINK_DOCKERFILE):
        if kw != "COPY" or rest.startswith("--from"):
            continue
        *sources, _dest = rest.split()
        for source in sources:
            if source == ".":
                continue
            assert (ROOT / source).exists(), f"COPY source {source} missing"
            assert not ignored(source, patterns), f"COPY source {source} is dockerignored"
    # What `pip install -e .` and the containers need from the project.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = ["pyproject.toml", "jobs/flink_job.py", "docker/flink/probe.py", "docker/flink/submit-job.sh", "rules"]
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        needed.append(readme)
    for relative in needed:
        assert (ROOT / relative).exists(), f"{relative} is missing (the image build needs it)"
        assert not ignored(relative, patterns), f"{relative} is dockerignored"
    assert ignored("flink-conf/lib/kafka/kafka-clients-4.1.1.jar", patterns)
    assert ignored("udfs/__pycache__/x.pyc", patterns)


def test_flink_configuration(services: dict[str, dict[str, Any]]) -> None:
    jobmanager_port = int(services["jobmanager"]["ports"][0].split(":")[-1])
    for name in FLINK_SERVICES:
        props = flink_properties(services[name])
        assert props["python.executable"] == WORKER_PYTHON
        assert props["python.client.executable"] == WORKER_PYTHON
        assert props["jobmanager.rpc.address"] == services["jobmanager"]["hostname"] == "jobmanager"
        assert env(services[name])["JOB_MANAGER_RPC_ADDRESS"] == "jobmanager"
        assert props["rest.address"] == "jobmanager" and int(props["rest.port"]) == jobmanager_port
        # Checkpoints and savepoints on the volume all Flink containers share.
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
            path = props[key].removeprefix("file://")
            assert any(path.startswith(m + "/") for m in mounts), f"{name}: {key}={path} not on a volume"
    assert "8081:8081" in services["jobmanager"]["ports"]


def test_job_submitter_runs_the_job_with_arguments_it_understands(services: dict[str, dict[str, Any]]) -> None:
    submitter = services["job-submitter"]
    args = command_args(submitter)
    script = in_project(args[1])
    assert args[0] == "bash" and script.exists()
    text = script.read_text(encoding="utf-8")
    assert "flink run" in text
    assert "--python /opt/ttpflow/jobs/flink_job.py" in text
    assert "--pyExecutable" in text and "--pyClientExecutable" in text
    assert f"TTPFLOW_PYTHON:-{WORKER_PYTHON}" in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    # The job's own option parser accepts what the submitter passes.
    from jobs.options import add_kafka_job_args, config_from_args

    parser = argparse.ArgumentParser()
    add_kafka_job_args(parser)
    config = config_from_args(parser.parse_args(args[2:]))
    assert config.bootstrap_servers
    flink_job = (ROOT / "jobs" / "flink_job.py").read_text(encoding="utf-8")
    assert env(submitter)["TTPFLOW_JOB_NAME"] == "ttpflow"
    assert 'execute("ttpflow")' in flink_job, "the submitter's duplicate check looks for this job name"
    assert submitter["restart"] == "no"


# -- health and start-up order ------------------------------------------------------------------


def test_long_running_services_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("kafka", "jobmanager", "taskmanager"):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable", False)
        for script in (a for a in check["test"] if str(a).startswith(PROJECT_IN_IMAGE)):
            assert in_project(script).exists(), f"{name} healthcheck runs missing {script}"


def test_start_up_order(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "kafka-init": {"kafka": "service_healthy"},
        "taskmanager": {"jobmanager": "service_healthy"},
        "job-submitter": {
            "kafka-init": "service_completed_successfully",
            "jobmanager": "service_healthy",
            "taskmanager": "service_healthy",
        },
    }
    for name, deps in expected.items():
        actual = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert actual == deps, name
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is one-shot; it must not restart"

    # No cycles: a topological order exists.
    remaining = {n: set(s.get("depends_on") or {}) for n, s in services.items()}
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps & remaining.keys()]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for n in ready:
            del remaining[n]


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))}
    assert used and used <= set(compose.get("volumes") or {})


# -- the health probe the Flink containers run ----------------------------------------------------


@pytest.fixture
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ttpflow_flink_probe", ROOT / "docker" / "flink" / "probe.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_jobmanager() -> Iterator[tuple[str, dict[str, Any]]]:
    """A loopback HTTP server answering like Flink's REST API, from a dict the test fills in."""
    answers: dict[str, Any] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in answers:
                self.send_error(404)
                return
            body = json.dumps(answers[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def test_probe_answers_like_the_healthchecks_need(
    probe: ModuleType, fake_jobmanager: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, answers = fake_jobmanager
    monkeypatch.setattr(probe, "REST_URL", url)
    monkeypatch.setattr(probe, "_own_addresses", lambda: {"172.18.0.5"})

    assert probe.main(["jobmanager"]) == 1  # not answering yet
    answers["/overview"] = {"flink-version": "2.2.1", "taskmanagers": 1}
    assert probe.main(["jobmanager"]) == 0

    answers["/taskmanagers"] = {
        "taskmanagers": [
            {"id": "172.18.0.50:40123-aa", "path": "pekko.tcp://flink@172.18.0.50:40123/user/rpc/taskmanager_0"}
        ]
    }
    assert probe.main(["taskmanager"]) == 1  # another TaskManager (.50), not this one (.5)
    answers["/taskmanagers"]["taskmanagers"].append(
        {"id": "172.18.0.5:41089-bb", "path": "pekko.tcp://flink@172.18.0.5:41089/user/rpc/taskmanager_0"}
    )
    assert probe.main(["taskmanager"]) == 0

    answers["/jobs/overview"] = {
        "jobs": [{"name": "ttpflow", "state": "FINISHED"}, {"name": "other", "state": "RUNNING"}]
    }
    assert probe.main(["job-running", "ttpflow"]) == 1
    answers["/jobs/overview"]["jobs"].append({"name": "ttpflow", "state": "RUNNING"})
    assert probe.main(["job-running", "ttpflow"]) == 0
    assert probe.main(["bogus"]) == 2
