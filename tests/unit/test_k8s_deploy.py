"""deploy/k8s/: the Flink Kubernetes Operator deployment, checked without a cluster.

No Kubernetes API server runs on the development machines, so the manifests are checked here:
rendered the way kustomize renders them (a small loader below, cross-checked against
`kubectl kustomize` where kubectl is installed), validated against the operator's FlinkDeployment
CRD schema (vendored in tests/fixtures/flink-operator/, see NOTICE there) with the API server's
strict field validation (an unknown field is an error, not silently pruned), linted with yamllint,
and checked for what a schema cannot see: the paths the pods use exist in the image the Dockerfile
builds, the job accepts its arguments, the rule pack the init container lays out loads, and every
Secret, ConfigMap and ServiceAccount reference resolves.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.unit.test_compose import (
    FLINK_DOCKERFILE,
    PROJECT_IN_IMAGE,
    WORKER_PYTHON,
    dockerfile_args,
    dockerfile_instructions,
    dockerignore_patterns,
    ignored,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
CRD_FILE = ROOT / "tests" / "fixtures" / "flink-operator" / "flinkdeployments.flink.apache.org-v1.yml"
YAMLLINT_CONFIG = K8S / ".yamllint.yaml"
ASSEMBLE_RULES = ROOT / "docker" / "flink" / "assemble-rules.sh"
EXAMPLE_SECRETS = {"ttpflow-kafka": BASE / "kafka-secret.example.yaml", "ttpflow-s3": BASE / "s3-secret.example.yaml"}
MAIN_CONTAINER = "flink-main-container"  # the operator merges the pod template's container of this name
Doc = dict[str, Any]


def load_yaml(path: Path) -> list[Doc]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRD is half a megabyte
    return [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader) if d is not None]


# -- a small kustomize: what deploy/k8s uses -------------------------------------------------------
#
# resources (files and directories), namespace, labels, configMapGenerator (with a content hash
# in the name), images, patches (strategic-merge files and inline JSON 6902 ops) and the
# `configurations` file that tells where a FlinkDeployment names images, ConfigMaps, Secrets and
# ServiceAccounts. Kustomize's own features beyond these are not used here; a kustomization that
# uses one fails the loader rather than rendering wrongly.

KNOWN_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "configurations",
              "images", "patches"}
BUILTIN_IMAGE_PATHS = ["spec/containers/image", "spec/initContainers/image", "spec/template/spec/containers/image",
                       "spec/template/spec/initContainers/image"]


def walk(node: Any, segments: list[str]) -> Iterator[tuple[Any, str]]:
    """(parent, key) of every field at a kustomize fieldSpec path; lists are stepped through."""
    if isinstance(node, list):
        for item in node:
            yield from walk(item, segments)
        return
    if not isinstance(node, dict) or not segments:
        return
    head, rest = segments[0], segments[1:]
    if head not in node:
        return
    if rest:
        yield from walk(node[head], rest)
    else:
        yield node, head


def deep_merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to a custom resource: maps merge, lists and scalars
    are replaced, null deletes."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = deep_merge(base.get(key), value)
    return out


def json_patch(doc: Doc, ops: list[dict[str, Any]]) -> Doc:
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) and last != "-" else last
        if op["op"] == "test":
            assert node[key] == op["value"], f"JSON patch test failed at {op['path']}: {node[key]!r}"
        elif op["op"] == "replace":
            assert (key < len(node)) if isinstance(node, list) else (key in node), f"nothing at {op['path']}"
            node[key] = op["value"]
        elif op["op"] == "add":
            if isinstance(node, list):
                node.insert(len(node) if key == "-" else key, op["value"])
            else:
                node[key] = op["value"]
        elif op["op"] == "remove":
            del node[key]
        else:
            raise AssertionError(f"JSON patch op {op['op']} not supported by this loader")
    return doc


def matches(doc: Doc, target: dict[str, str]) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return (target.get("kind", doc["kind"]) == doc["kind"] and target.get("name", doc["metadata"]["name"])
            == doc["metadata"]["name"] and target.get("group", group) == group)


def content_hash(doc: Doc) -> str:
    return hashlib.sha256(json.dumps([doc["kind"], doc.get("data")], sort_keys=True).encode()).hexdigest()[:10]


def render(directory: Path) -> tuple[list[Doc], dict[str, Any]]:
    """The documents `kubectl kustomize directory` prints, and the merged `configurations`."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kust) - KNOWN_KEYS
    assert not unknown, f"{directory}: kustomization keys this test's loader does not implement: {unknown}"
    docs: list[Doc] = []
    config: dict[str, list[Any]] = {"images": [], "nameReference": []}
    renamed: dict[tuple[str, str], str] = {}  # (kind, generator name) -> name with hash
    stale: dict[tuple[str, str], str] = {}  # a base's hashed name -> generator name, after a merge
    for entry in kust.get("resources", []):
        path = directory / entry
        if path.is_dir():
            sub_docs, sub_config = render(path)
            docs += sub_docs
            for key in config:
                config[key] += sub_config[key]
            renamed.update(sub_config["renamed"])
            stale.update(sub_config["stale"])
        else:
            docs += load_yaml(path)
    for entry in kust.get("configurations", []):
        extra = yaml.safe_load((directory / entry).read_text(encoding="utf-8"))
        for key in config:
            config[key] += extra.get(key, [])

    for gen in kust.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for item in gen.get("files", []):
            key, _, source = item.rpartition("=") if "=" in item else ("", "", item)
            data[key or Path(source).name] = (directory / source).read_text(encoding="utf-8")
        for item in gen.get("literals", []):
            key, _, value = item.partition("=")
            data[key] = value
        behavior = gen.get("behavior", "create")
        if behavior == "create":
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
            renamed[("ConfigMap", gen["name"])] = gen["name"]
        else:
            (existing,) = [d for d in docs if d["kind"] == "ConfigMap" and renamed.get(("ConfigMap", gen["name"]))
                           == d["metadata"]["name"]]
            existing["data"] = {**existing["data"], **data} if behavior == "merge" else data
            stale[("ConfigMap", existing["metadata"]["name"])] = gen["name"]
            existing["metadata"]["name"] = gen["name"]  # hashed again below, with the new content

    if "namespace" in kust:
        for doc in docs:
            doc["metadata"]["namespace"] = kust["namespace"]
            for subject in doc.get("subjects", []) if doc["kind"] == "RoleBinding" else []:
                if subject["kind"] == "ServiceAccount":
                    subject["namespace"] = kust["namespace"]
    for label in kust.get("labels", []):
        assert not label.get("includeSelectors"), "selector labels are not implemented by this loader"
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in kust.get("images", []):
        specs = [(p, None) for p in BUILTIN_IMAGE_PATHS] + [(s["path"], s.get("kind")) for s in config["images"]]
        for doc in docs:
            for path, kind in specs:
                if kind not in (None, doc["kind"]):
                    continue
                for parent, key in walk(doc, path.split("/")):
                    name = re.split(r"[:@]", parent[key], maxsplit=1)[0]
                    if name == image["name"]:
                        new_name = image.get("newName", name)
                        tag = image.get("newTag") or parent[key][len(name) + 1:]
                        parent[key] = f"{new_name}:{tag}" if tag else new_name
    for patch in kust.get("patches", []):
        if "path" in patch:
            for change in load_yaml(directory / patch["path"]):
                target = {"kind": change["kind"], "name": change["metadata"]["name"]}
                hits = [i for i, d in enumerate(docs) if matches(d, target)]
                assert hits, f"{patch['path']}: no {target} to patch"
                for i in hits:
                    docs[i] = deep_merge(docs[i], change)
        else:
            ops = yaml.safe_load(patch["patch"])
            hits = [i for i, d in enumerate(docs) if matches(d, patch["target"])]
            assert hits, f"inline patch: nothing matches {patch['target']}"
            for i in hits:
                docs[i] = json_patch(docs[i], ops)

    # Generated names get their hash last, as kustomize does, and every reference follows.
    for doc in docs:
        if doc["kind"] == "ConfigMap" and ("ConfigMap", doc["metadata"]["name"]) in renamed:
            original = doc["metadata"]["name"]
            doc["metadata"]["name"] = f"{original}-{content_hash(doc)}"
            renamed[("ConfigMap", original)] = doc["metadata"]["name"]
    for ref in config["nameReference"]:
        for spec in ref["fieldSpecs"]:
            for doc in docs:
                if spec.get("kind") in (None, doc["kind"]):
                    for parent, key in walk(doc, spec["path"].split("/")):
                        name = stale.get((ref["kind"], parent[key]), parent[key])
                        parent[key] = renamed.get((ref["kind"], name), name)
    return docs, {**config, "renamed": renamed, "stale": stale}


def rendered(directory: Path) -> list[Doc]:
    return render(directory)[0]


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def main_container(deployment: Doc) -> Doc:
    return one_container(deployment["spec"]["podTemplate"]["spec"]["containers"], MAIN_CONTAINER)


def one_container(containers: list[Doc], name: str) -> Doc:
    (container,) = [c for c in containers if c["name"] == name]
    return container


def env_of(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def flag(args: list[str], name: str) -> str:
    assert args.count(name) == 1, f"{name} given {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


ALL_RENDERS = pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: str(p.relative_to(K8S)))


# -- the CRD schema, with the API server's strict field validation --------------------------------


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    (crd,) = load_yaml(CRD_FILE)
    assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["names"]["kind"] == "FlinkDeployment"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1" and v["served"]]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    # The API server adds these to every custom resource's schema itself.
    schema["properties"].update(apiVersion={"type": "string", "enum": ["flink.apache.org/v1beta1"]},
                                kind={"type": "string", "enum": ["FlinkDeployment"]}, metadata={"type": "object"})
    return strict(schema)


def strict(schema: Any) -> Any:
    """The structural schema with unknown fields refused, as `kubectl apply --validate=strict` and
    server-side field validation do: an object with declared properties and no
    x-kubernetes-preserve-unknown-fields accepts only those (a CRD otherwise prunes a misspelt
    field silently, and the setting is lost without a word)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    open_ended = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and not open_ended:
        out["additionalProperties"] = False
    return out


def crd_errors(doc: Doc, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)]


def operator_rules(deployment: Doc) -> list[str]:
    """What the operator's validator (and ttpflow) require beyond the schema's types."""
    problems = []
    spec = deployment.get("spec", {})
    if deployment.get("apiVersion") != "flink.apache.org/v1beta1":
        problems.append("apiVersion must be flink.apache.org/v1beta1")
    name = deployment.get("metadata", {}).get("name", "")
    # The name becomes the Flink cluster id and Service names: DNS-1035, at most 45 characters.
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,43}[a-z0-9])?", name):
        problems.append(f"metadata.name {name!r} is not a valid Flink cluster id")
    for key in ("image", "flinkVersion", "serviceAccount", "jobManager", "taskManager", "job"):
        if key not in spec:
            problems.append(f"spec.{key} is required")
    job = spec.get("job", {})
    for key in ("jarURI", "entryClass", "args", "parallelism", "upgradeMode"):
        if key not in job:
            problems.append(f"spec.job.{key} is required")
    for role in ("jobManager", "taskManager"):
        resource = spec.get(role, {}).get("resource", {})
        if not resource.get("memory") or not resource.get("cpu"):
            problems.append(f"spec.{role}.resource needs memory and cpu")
    return problems


@ALL_RENDERS
def test_flinkdeployment_matches_the_operator_crd(directory: Path, crd_schema: dict[str, Any]) -> None:
    deployment = one(rendered(directory), "FlinkDeployment")
    assert crd_errors(deployment, crd_schema) == []
    assert operator_rules(deployment) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["spec"].update(flinkVersion="v2_9"), "spec/flinkVersion: 'v2_9' is not one of"),
        (lambda d: d["spec"]["job"].update(upgradeMode="savepoints"), "spec/job/upgradeMode: 'savepoints' is not one"),
        (lambda d: d["spec"]["job"].update(upgradMode="savepoint"), "'upgradMode' was unexpected"),
        (lambda d: d["spec"]["job"].update(parallelism="2"), "spec/job/parallelism: '2' is not of type 'integer'"),
        (lambda d: d["spec"].update(mode="application"), "spec/mode: 'application' is not one of"),
        (lambda d: d["spec"]["podTemplate"]["spec"].update(volume=[]), "'volume' was unexpected"),
        (lambda d: d["spec"]["job"]["args"].insert(3, 2), "spec/job/args/3: 2 is not of type 'string'"),
    ],
    ids=["flink-version", "upgrade-mode", "misspelt-field", "parallelism-type", "mode", "pod-field", "arg-type"],
)
def test_crd_validation_catches_a_broken_flinkdeployment(
    mutate: Callable[[Doc], Any], expected: str, crd_schema: dict[str, Any]
) -> None:
    broken = copy.deepcopy(one(rendered(BASE), "FlinkDeployment"))
    mutate(broken)
    errors = crd_errors(broken, crd_schema)
    assert any(expected in error for error in errors), errors


def test_operator_rules_catch_a_missing_required_field() -> None:
    deployment = one(rendered(BASE), "FlinkDeployment")
    for path in (("spec", "image"), ("spec", "job", "jarURI"), ("spec", "taskManager", "resource", "memory")):
        broken = copy.deepcopy(deployment)
        node = broken
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
        assert operator_rules(broken), f"removing {'.'.join(path)} went unnoticed"
    broken = copy.deepcopy(deployment)
    broken["metadata"]["name"] = "TTPflow_prod"
    assert operator_rules(broken)


# -- plain Kubernetes objects ------------------------------------------------------------------------

DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
CORE_SHAPES = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "ServiceAccount": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "FlinkDeployment": "flink.apache.org/v1beta1",
}


def shape_problems(doc: Doc) -> list[str]:
    kind = doc.get("kind")
    if kind not in CORE_SHAPES:
        return [f"unexpected kind {kind!r}"]
    problems = []
    if doc.get("apiVersion") != CORE_SHAPES[kind]:
        problems.append(f"{kind}: apiVersion must be {CORE_SHAPES[kind]}")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not DNS_1123.fullmatch(name):
        problems.append(f"{kind}: metadata.name {name!r} is not a DNS-1123 name")
    if kind in ("ConfigMap", "Secret"):
        data = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
        bad = [k for k in data if not re.fullmatch(r"[-._a-zA-Z0-9]+", k)]
        if bad:
            problems.append(f"{kind} {name}: invalid keys {bad}")
        if sum(len(str(v).encode()) for v in data.values()) > 1024 * 1024:
            problems.append(f"{kind} {name}: over the 1 MiB object limit")
    return problems


@ALL_RENDERS
def test_every_object_has_a_valid_shape(directory: Path) -> None:
    docs = rendered(directory)
    assert {d["kind"] for d in docs} == {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "FlinkDeployment"}
    for doc in docs:
        assert shape_problems(doc) == []
    examples = [d for path in EXAMPLE_SECRETS.values() for d in load_yaml(path)]
    for doc in examples:
        assert shape_problems(doc) == []
        assert doc["kind"] == "Secret" and doc.get("type") == "Opaque"
    assert shape_problems({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Rules_Pack"}})
    assert shape_problems({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a/b": ""}})
    assert shape_problems({"kind": "ServiceAccount", "metadata": {"name": "x"}})


@ALL_RENDERS
def test_references_resolve(directory: Path) -> None:
    docs = rendered(directory)
    deployment = one(docs, "FlinkDeployment")
    namespace = deployment["metadata"].get("namespace")
    pod = deployment["spec"]["podTemplate"]["spec"]

    # ServiceAccount, and a Role that lets the JobManager run TaskManager pods and Kubernetes HA.
    account = one(docs, "ServiceAccount", deployment["spec"]["serviceAccount"])
    binding = one(docs, "RoleBinding")
    role = one(docs, "Role", binding["roleRef"]["name"])
    assert binding["roleRef"]["kind"] == "Role"
    subject = {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}
    assert subject in binding["subjects"]
    granted = {(res, verb) for rule in role["rules"] if "" in rule["apiGroups"] for res in rule["resources"]
               for verb in rule["verbs"]}
    for resource in ("pods", "configmaps"):
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
            assert (resource, verb) in granted, f"the Role lacks {verb} on {resource}"
    assert deployment["spec"]["flinkConfiguration"]["high-availability.type"] == "kubernetes"

    # Volumes: every mount has its volume, every ConfigMap volume a rendered ConfigMap.
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"] + pod.get("initContainers", []):
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, f"{container['name']} mounts unknown volume {mount['name']}"
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for volume in volumes.values():
        if "configMap" in volume:
            assert volume["configMap"]["name"] in config_maps, f"volume {volume['name']}: no such ConfigMap"

    # Secrets: only the documented ones, and only keys their examples define.
    secrets = {name: load_yaml(path)[0] for name, path in EXAMPLE_SECRETS.items()}
    for volume in volumes.values():
        if "secret" in volume:
            assert volume["secret"]["secretName"] in secrets
    for container in pod["containers"]:
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]]["stringData"], f"{item['name']}: no key {ref['key']}"
        for source in container.get("envFrom", []):
            assert source["secretRef"]["name"] in secrets
    assert all(n == n.upper() for n in secrets["ttpflow-s3"]["stringData"]), "envFrom keys become variables"


# -- the image the pods run ------------------------------------------------------------------------


def flink_release() -> str:
    return dockerfile_args(FLINK_DOCKERFILE)["FLINK_IMAGE"].split(":")[1].removesuffix("-java17")


def image_copies() -> list[tuple[str, str]]:
    """(source, destination in the image) of every COPY, ``--from`` stages included."""
    copies = []
    for keyword, rest in dockerfile_instructions(FLINK_DOCKERFILE):
        if keyword == "COPY":
            *sources, dest = [p for p in rest.split() if not p.startswith("--")]
            copies += [(source, dest) for source in sources]
    return copies


def in_image(path: str) -> bool:
    """Whether the Dockerfile puts ``path`` (under /opt/ttpflow) into the image."""
    assert path.startswith(PROJECT_IN_IMAGE + "/"), path
    relative = path.removeprefix(PROJECT_IN_IMAGE + "/")
    for source, dest in image_copies():
        if dest == path or (dest.endswith("/") and path.startswith(dest)):
            return True
        # `COPY . /opt/ttpflow`: the file exists in the checkout and is not dockerignored.
        if (source == "." and dest == PROJECT_IN_IMAGE and (ROOT / relative).exists()
                and not ignored(relative, dockerignore_patterns(FLINK_DOCKERFILE))):
            return True
    return False


@ALL_RENDERS
def test_deployment_runs_the_dockerfile_image(directory: Path) -> None:
    deployment = one(rendered(directory), "FlinkDeployment")
    spec = deployment["spec"]
    release = flink_release()
    major, minor, _ = release.split(".")
    assert spec["flinkVersion"] == f"v{major}_{minor}", "flinkVersion must be the image's Flink release"

    # The compose file's image (built from the one Dockerfile), for the Flink and init containers.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    compose_image = compose["services"]["jobmanager"]["image"].split(":")[0]
    image_name = spec["image"].rsplit(":", 1)[0]
    assert image_name == compose_image or directory != BASE, spec["image"]
    for init in spec["podTemplate"]["spec"].get("initContainers", []):
        assert init["image"] == spec["image"], f"init container {init['name']} runs another image"

    # PythonDriver from the flink-python jar the image has in opt/ (and copies into lib/).
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert spec["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{release}.jar"
    runs = " ".join(rest for kw, rest in dockerfile_instructions(FLINK_DOCKERFILE) if kw == "RUN")
    assert "cp /opt/flink/opt/flink-python-*.jar /opt/flink/lib/" in runs

    # The S3 plugin of the image's release, which the Dockerfile checks is in opt/.
    plugins = env_of(main_container(deployment))["ENABLE_BUILT_IN_PLUGINS"]["value"].split(";")
    assert f"flink-s3-fs-hadoop-{release}.jar" in plugins or f"flink-s3-fs-presto-{release}.jar" in plugins
    for plugin in plugins:
        assert re.search(rf"ls [^&;]*/opt/flink/opt/{plugin.split('-' + release)[0]}-\*\.jar", runs), plugin

    # Python: the interpreter the Dockerfile builds, for the client and the workers.
    conf = spec["flinkConfiguration"]
    assert conf["python.executable"] == conf["python.client.executable"] == WORKER_PYTHON


def test_image_holds_what_the_deployment_names() -> None:
    deployment = one(rendered(BASE), "FlinkDeployment")
    args = deployment["spec"]["job"]["args"]
    assert args[:2] == ["-py", f"{PROJECT_IN_IMAGE}/jobs/flink_job.py"]
    paths = [args[1]]
    for init in deployment["spec"]["podTemplate"]["spec"].get("initContainers", []):
        paths += [a for a in init["command"] if a.startswith(PROJECT_IN_IMAGE + "/")]
    # The jars jobs/flink_job.py ships with pipeline.jars, where it looks for them.
    flink_job = (ROOT / "jobs" / "flink_job.py").read_text(encoding="utf-8")
    assert '"udfs" / "jvm" / "target" / "ttpflow-udfs.jar"' in flink_job
    assert '"flink-conf" / "lib" / "connectors"' in flink_job
    paths += [f"{PROJECT_IN_IMAGE}/udfs/jvm/target/ttpflow-udfs.jar",
              f"{PROJECT_IN_IMAGE}/flink-conf/lib/connectors/flink-sql-connector-kafka-5.0.0-2.2.jar"]
    for path in paths:
        assert in_image(path), f"{path} is not in the image the Dockerfile builds"
    assert not in_image(f"{PROJECT_IN_IMAGE}/no/such/file.py")

    # The UDF jar is built in the image (its own Maven stage), never taken from a local build.
    patterns = dockerignore_patterns(FLINK_DOCKERFILE)
    assert ignored("udfs/jvm/target/ttpflow-udfs.jar", patterns)
    instructions = dockerfile_instructions(FLINK_DOCKERFILE)
    stages = [rest.split()[-1] for kw, rest in instructions if kw == "FROM" and " AS " in rest.upper()]
    assert "udf-jar" in stages
    assert any(kw == "RUN" and "mvn" in rest and "package" in rest for kw, rest in instructions)
    assert ("udfs/jvm/src", "./src") in image_copies()


# -- the job's arguments and configuration ---------------------------------------------------------


@ALL_RENDERS
def test_job_configuration_is_coherent(directory: Path) -> None:
    deployment = one(rendered(directory), "FlinkDeployment")
    spec = deployment["spec"]
    job, conf = spec["job"], spec["flinkConfiguration"]
    args = job["args"][2:]
    assert job["upgradeMode"] == "savepoint" and job["state"] == "running"

    # The job sets its parallelism on its environment, which overrides spec.job.parallelism.
    assert job["args"][2] == "--parallelism" and int(job["args"][3]) == job["parallelism"]
    assert int(flag(args, "--parallelism")) == job["parallelism"]
    # And its restart strategy, which overrides the cluster's: keep them equal.
    assert int(flag(args, "--restart-attempts")) == int(conf["restart-strategy.fixed-delay.attempts"]) > 0
    assert conf["restart-strategy.type"] == "fixed-delay"
    flink_job = (ROOT / "jobs" / "flink_job.py").read_text(encoding="utf-8")
    delay = re.search(r'"restart-strategy.fixed-delay.delay", "([^"]+)"', flink_job)
    assert delay and conf["restart-strategy.fixed-delay.delay"] == delay.group(1)

    # State: RocksDB, incremental, everything on s3:// (the plugin above), both key generations equal.
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.incremental"] == "true"
    assert conf["execution.checkpointing.dir"] == conf["state.checkpoints.dir"]
    assert conf["execution.checkpointing.savepoint-dir"] == conf["state.savepoints.dir"]
    locations = [conf[k] for k in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir",
                                   "high-availability.storageDir")]
    assert all(loc.startswith("s3://") for loc in locations) and len(set(locations)) == 3
    assert conf["high-availability.type"] == "kubernetes"
    assert int(conf["execution.checkpointing.num-retained"]) >= 2
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    if spec["jobManager"].get("replicas", 1) > 1:
        assert conf["high-availability.type"] == "kubernetes", "standby JobManagers need HA"
    assert all(isinstance(v, str) for v in conf.values()), "quote values: Flink reads strings"


# Flink's own option classes for the keys flinkConfiguration sets (Flink ignores an unknown key).
FLINK_OPTION_CLASSES = [
    "org.apache.flink.configuration.CheckpointingOptions",
    "org.apache.flink.configuration.HighAvailabilityOptions",
    "org.apache.flink.configuration.StateBackendOptions",
    "org.apache.flink.configuration.RestartStrategyOptions",
    "org.apache.flink.configuration.TaskManagerOptions",
    "org.apache.flink.configuration.JobManagerOptions",
    "org.apache.flink.python.PythonOptions",
    # Also holds the per-reporter options as bare templates ("factory.class", "interval", ...).
    "org.apache.flink.configuration.MetricOptions",
]
# Read by others: the operator (kubernetes.operator.*) and the S3 plugin (s3.* -> fs.s3a.*).
NOT_FLINK_KEYS = ("kubernetes.operator.", "s3.")
# A reporter's keys are dynamic, metrics.reporter.<name>.<option>: <name> is ours to choose, so no
# option class holds the whole key. The <option> part is checked instead: Flink's generic reporter
# options are MetricOptions' templates (factory.class, interval, ...), and a reporter's own (the
# Prometheus reporter's port) live in its plugin jar, outside Flink's classpath: listed here.
REPORTER_KEY = re.compile(r"metrics\.reporter\.[A-Za-z0-9_-]+\.(?P<option>.+)")
REPORTER_OWN_OPTIONS = {"port"}  # flink-metrics-prometheus: PrometheusReporterFactory's ARG_PORT


def known_flink_key(key: str, flink_option_keys: set[str]) -> bool:
    reporter = REPORTER_KEY.fullmatch(key)
    if reporter:
        option = reporter.group("option")
        return option in REPORTER_OWN_OPTIONS or option in flink_option_keys
    return key.startswith(NOT_FLINK_KEYS) or key in flink_option_keys


LIST_OPTION_KEYS = """
import json, sys
from pyflink.java_gateway import get_gateway
jvm = get_gateway().jvm
option_type = jvm.java.lang.Class.forName("org.apache.flink.configuration.ConfigOption")
keys = set()
for name in sys.argv[1:]:
    for field in jvm.java.lang.Class.forName(name).getFields():
        if option_type.isAssignableFrom(field.getType()):
            option = field.get(None)
            keys.add(option.key())
            keys.update(fallback.getKey() for fallback in option.fallbackKeys())
print(json.dumps(sorted(keys)))
"""


@pytest.fixture(scope="module")
def flink_option_keys() -> set[str]:
    """Every key (and deprecated name) of those classes, from the Flink 2.2 jars PyFlink ships; in a
    process of its own, so this test session keeps no JVM."""
    done = subprocess.run([sys.executable, "-c", LIST_OPTION_KEYS, *FLINK_OPTION_CLASSES],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@ALL_RENDERS
def test_flink_configuration_keys_exist(directory: Path, flink_option_keys: set[str]) -> None:
    conf = one(rendered(directory), "FlinkDeployment")["spec"]["flinkConfiguration"]
    unknown = [k for k in conf if not known_flink_key(k, flink_option_keys)]
    assert unknown == []
    assert "execution.checkpointing.increment" not in flink_option_keys  # a typo would be caught
    assert not known_flink_key("metrics.reporter.prom.factory.klass", flink_option_keys)


@ALL_RENDERS
def test_prometheus_reporter_is_where_a_scraper_looks(directory: Path) -> None:
    deployment = one(rendered(directory), "FlinkDeployment")
    conf = deployment["spec"]["flinkConfiguration"]
    assert conf["metrics.reporter.prom.factory.class"] == (
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
    port = int(conf["metrics.reporter.prom.port"])  # one port: one Flink process per pod
    annotations = deployment["spec"]["podTemplate"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == port
    ports = {p["name"]: p["containerPort"] for p in main_container(deployment)["ports"]}
    assert ports["metrics"] == port


@pytest.fixture
def materialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], tuple[list[str], Path]]:
    """The job's arguments with the pod's paths made real on this machine, as the pods see them:
    the rule pack laid out by the init container's script from the rendered ConfigMaps (mounted the
    way the kubelet mounts ConfigMaps), the Kafka Secret's files, and its environment variables."""

    def build(directory: Path) -> tuple[list[str], Path]:
        docs = rendered(directory)
        deployment = one(docs, "FlinkDeployment")
        pod = deployment["spec"]["podTemplate"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        root = tmp_path / directory.name
        secret = load_yaml(EXAMPLE_SECRETS["ttpflow-kafka"])[0]["stringData"]

        def local(path_in_pod: str) -> Path:
            return root / path_in_pod.lstrip("/")

        def mount(volume: Doc, target: Path) -> None:
            if "configMap" in volume:
                data = one(docs, "ConfigMap", volume["configMap"]["name"])["data"]
            elif "secret" in volume:
                data = secret
            else:
                target.mkdir(parents=True, exist_ok=True)  # emptyDir
                return
            # The kubelet's layout: the files in a hidden timestamped folder, ..data linking to
            # it, and each key a link through ..data.
            stamp = target / "..2026_11_30_06_00_00.000000001"
            stamp.mkdir(parents=True)
            for key, value in data.items():
                (stamp / key).write_text(value, encoding="utf-8")
                (target / key).symlink_to(Path("..data") / key)
            (target / "..data").symlink_to(stamp.name)

        init = one_container(pod["initContainers"], "assemble-rules")
        for m in init["volumeMounts"]:
            mount(volumes[m["name"]], local(m["mountPath"]))
        command = [a if not a.startswith("/") else str(local(a)) for a in init["command"]]
        # The image's bundled pack is the project's rules/ (COPY . /opt/ttpflow).
        command = [str(ROOT / "rules") if a == str(local(f"{PROJECT_IN_IMAGE}/rules")) else a for a in command]
        command[1] = str(ASSEMBLE_RULES) if command[1].endswith("docker/flink/assemble-rules.sh") else command[1]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        for m in main_container(deployment)["volumeMounts"]:
            if not local(m["mountPath"]).exists():
                mount(volumes[m["name"]], local(m["mountPath"]))
        for name, item in env_of(main_container(deployment)).items():
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] == "ttpflow-kafka":
                monkeypatch.setenv(name, secret[ref["key"]])
        args = [str(local(a)) if a.startswith("/etc/") else a for a in deployment["spec"]["job"]["args"][2:]]
        return args, root

    return build


@ALL_RENDERS
def test_job_accepts_its_arguments(directory: Path, materialized: Callable[[Path], tuple[list[str], Path]]) -> None:
    import argparse

    from jobs.options import add_kafka_job_args, config_from_args

    args, _ = materialized(directory)
    parser = argparse.ArgumentParser()
    add_kafka_job_args(parser)
    known = set(parser._option_string_actions)
    if "--kafka-config" not in known:  # the option lands with issue 11's Kafka security work
        i = args.index("--kafka-config")
        args = args[:i] + args[i + 2:]
    # Parsed and checked as the JobManager does before it builds the graph: the rule pack folder,
    # the Kafka client file and its ${env:...} references.
    config = config_from_args(parser.parse_args(args))
    assert config.parallelism == int(flag(args, "--parallelism"))
    assert config.bootstrap_servers and config.restart_attempts > 0
    assert Path(config.rules_dir).is_dir()
    assert config.topics.alerts == "ttpflow.alerts"


@ALL_RENDERS
def test_kafka_client_file_uses_only_what_the_pod_provides(directory: Path, tmp_path: Path) -> None:
    deployment = one(rendered(directory), "FlinkDeployment")
    container = main_container(deployment)
    secret = load_yaml(EXAMPLE_SECRETS["ttpflow-kafka"])[0]["stringData"]
    config_path = flag(deployment["spec"]["job"]["args"], "--kafka-config")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    folder, _, key = config_path.rpartition("/")
    assert folder in mounts and key in secret, "--kafka-config must name a key of the mounted Secret"
    text = secret[key]
    assert "CHANGE-ME" not in text, "secrets belong in username/password, referenced, not in the file"
    env = env_of(container)
    for kind, name in re.findall(r"\$\{(env|file):([^}]*)\}", text):
        if kind == "env":
            assert name in env, f"client.properties reads ${{env:{name}}}, which the container does not set"
        else:
            assert name.rpartition("/")[0] == folder and name.rpartition("/")[2] in secret
    for line in text.splitlines():
        if line.startswith("ssl.truststore.location="):
            location = line.partition("=")[2]
            assert location.rpartition("/")[0] == folder and location.rpartition("/")[2] in secret
    try:
        from jobs.kafka_props import read_properties_file
    except ImportError:
        return  # the parser lands with issue 11's Kafka security work
    (tmp_path / key).write_text(text, encoding="utf-8")
    props = dict(read_properties_file(tmp_path / key))
    assert props["security.protocol"] in ("SASL_SSL", "SSL")
    assert "${env:KAFKA_PASSWORD}" in props["sasl.jaas.config"]


@ALL_RENDERS
def test_rule_pack_from_configmaps_loads_once_each(
    directory: Path, materialized: Callable[[Path], tuple[list[str], Path]]
) -> None:
    from udfs.correlate.rules import load_ruleset
    from udfs.detect.sigma.loader import load_rules

    args, _ = materialized(directory)
    pack = Path(flag(args, "--rules-dir"))
    assert not [p for p in pack.rglob(".*")], "hidden ConfigMap entries leaked into the pack"
    assert not [p for p in pack.rglob("*") if p.is_symlink()], "the pack must hold files, not links"

    bundled = load_rules([ROOT / "rules" / "sigma"], cache_dir=False)
    sigma = load_rules([pack / "sigma"], cache_dir=False)
    assert sigma.problems == []
    ids = [r.rule_id for r in sigma.rules]
    assert len(ids) == len(set(ids)) == len(bundled.rules) + 1
    assert "6f3c2a1e-8b4d-4c55-9a7e-2d1f0b9c8e71" in ids

    sequences = [r.id for r in load_ruleset(pack).sequences]
    assert "site-seq-discovery-then-archive" in sequences
    assert set(r.id for r in load_ruleset(ROOT / "rules").sequences) < set(sequences)


def test_assemble_rules_replaces_a_bundled_file_and_refuses_bad_usage(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    (bundled / "sequences").mkdir(parents=True)
    (bundled / "sequences" / "a.yaml").write_text("bundled a\n")
    (bundled / "sequences" / "b.yaml").write_text("bundled b\n")
    site = tmp_path / "site"
    (site / "sequences").mkdir(parents=True)
    (site / "sequences" / "a.yaml").write_text("site a\n")
    (site / "sequences" / ".hidden.yaml").write_text("never\n")
    dest = tmp_path / "dest"
    done = subprocess.run(["bash", str(ASSEMBLE_RULES), "--bundled", str(bundled), str(site), str(dest)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert (dest / "sequences" / "a.yaml").read_text() == "site a\n"
    assert (dest / "sequences" / "b.yaml").read_text() == "bundled b\n"
    assert not (dest / "sequences" / ".hidden.yaml").exists()
    assert "1 site rule file" in done.stdout
    # Without --bundled only the site's files; with a missing bundled pack, an error.
    only = tmp_path / "only"
    assert subprocess.run(["bash", str(ASSEMBLE_RULES), str(site), str(only)], timeout=30).returncode == 0
    assert sorted(p.name for p in (only / "sequences").iterdir()) == ["a.yaml"]
    missing = subprocess.run(["bash", str(ASSEMBLE_RULES), "--bundled", str(tmp_path / "nope"), str(site),
                              str(tmp_path / "x")], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "no bundled rule pack" in missing.stderr
    assert subprocess.run(["bash", str(ASSEMBLE_RULES)], capture_output=True, timeout=30).returncode == 2


# -- kustomize wiring ------------------------------------------------------------------------------


def test_generated_configmaps_are_referenced_by_their_hashed_names() -> None:
    docs = rendered(BASE)
    names = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap")
    assert names and all(re.fullmatch(r"ttpflow-rules-[a-z]+-[0-9a-f]{10}", n) for n in names), names
    # Without the configurations file the FlinkDeployment would keep the unhashed names.
    deployment = one(docs, "FlinkDeployment")
    referenced = sorted(v["configMap"]["name"] for v in deployment["spec"]["podTemplate"]["spec"]["volumes"]
                        if "configMap" in v)
    assert referenced == names
    # Every generated ConfigMap is mounted for the init container, as <site>/<pack folder>.
    init = one_container(deployment["spec"]["podTemplate"]["spec"]["initContainers"], "assemble-rules")
    site = init["command"][-2]
    volumes = {v["name"]: v for v in deployment["spec"]["podTemplate"]["spec"]["volumes"]}
    mounted = {}
    for m in init["volumeMounts"]:
        if "configMap" in volumes[m["name"]]:
            assert m["mountPath"].startswith(site + "/") and m.get("readOnly")
            mounted[volumes[m["name"]]["configMap"]["name"]] = m["mountPath"].rpartition("/")[2]
    assert sorted(mounted) == names
    for cm_name, folder in mounted.items():
        assert cm_name.startswith(f"ttpflow-rules-{folder.replace('_', '-')}-")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not installed")
@ALL_RENDERS
def test_loader_renders_what_kubectl_kustomize_renders(directory: Path) -> None:
    done = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    def normalized(docs: list[Doc]) -> list[str]:
        # Kustomize's hash differs from the loader's; the structure must not.
        text = json.dumps(sorted(docs, key=lambda d: (d["kind"], d["metadata"]["name"])), sort_keys=True)
        return re.sub(r"(ttpflow-rules-[a-z-]+?)-[a-z0-9]{10}\b", r"\1-HASH", text).splitlines()

    assert normalized(list(yaml.safe_load_all(done.stdout))) == normalized(rendered(directory))


# -- yamllint --------------------------------------------------------------------------------------


def lint(text: str, path: Path) -> list[str]:
    config = YamlLintConfig(file=str(YAMLLINT_CONFIG))
    return [f"{path.name}:{p.line}:{p.column}: {p.desc} ({p.rule})" for p in linter.run(text, config, str(path))]


def test_manifests_pass_yamllint() -> None:
    files = sorted([*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")])
    assert BASE / "flinkdeployment.yaml" in files and len(files) >= 8
    problems = [p for path in files for p in lint(path.read_text(encoding="utf-8"), path)]
    assert problems == []


def test_yamllint_catches_a_broken_manifest() -> None:
    path = BASE / "flinkdeployment.yaml"
    text = path.read_text(encoding="utf-8")
    broken = text.replace("  mode: native\n", "  mode: native\n  mode: standalone\n", 1)
    assert any("duplication of key" in p for p in lint(broken, path))
    assert any("trailing spaces" in p for p in lint(text.replace("mode: native", "mode: native  ", 1), path))
