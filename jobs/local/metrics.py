"""Flink's Prometheus reporter for local runs (``ttpflow run --metrics-port``) and the cluster.

The reporter is Flink's own ``flink-metrics-prometheus``, the jar the apache-flink package ships
in ``pyflink/plugins/metrics-prometheus/`` (same version as Flink: one artifact, nothing to fetch).
A standalone cluster started from the package's scripts loads it from that plugins folder
(``flink-conf/cluster/config.yaml`` configures it). The embedded MiniCluster has no plugin manager:
it finds reporter factories on its JVM's classpath only, so ``ttpflow run`` starts PyFlink's
gateway with a lib folder holding the package's jars and the reporter (``FLINK_LIB_DIR``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyflink

from jobs.errors import UserError
from schemas.config import PROJECT_ROOT

PYFLINK_HOME = Path(pyflink.__file__).resolve().parent
FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
DEFAULT_PORTS = "9249-9260"  # one port per JobManager / TaskManager process on a host


def prometheus_jar() -> Path:
    jars = sorted((PYFLINK_HOME / "plugins" / "metrics-prometheus").glob("flink-metrics-prometheus-*.jar"))
    if not jars:
        raise UserError(f"no flink-metrics-prometheus jar in {PYFLINK_HOME / 'plugins' / 'metrics-prometheus'} "
                        "(the apache-flink package ships it; reinstall it with scripts/bootstrap.sh)")
    return jars[-1]


def reporter_settings(port: str = DEFAULT_PORTS) -> dict[str, str]:
    """Flink configuration for the reporter named ``prom`` on ``port`` (a port or a range)."""
    return {"metrics.reporter.prom.factory.class": FACTORY, "metrics.reporter.prom.port": port}


def check_port(text: str) -> str:
    """``--metrics-port``: PORT or FIRST-LAST (argparse type)."""
    import argparse

    parts = text.split("-")
    if not (1 <= len(parts) <= 2 and all(p.isdigit() and 0 < int(p) < 65536 for p in parts)):
        raise argparse.ArgumentTypeError(f"expected PORT or FIRST-LAST, got {text!r}")
    return text


def minicluster_lib(root: Path = PROJECT_ROOT / ".ttpflow") -> Path:
    """A lib folder for the MiniCluster's JVM: the package's lib/ jars and the reporter, linked.
    Made once per Flink version, atomically (runs started together share it)."""
    jar = prometheus_jar()
    lib = root / f"minicluster-lib-{jar.stem.removeprefix('flink-metrics-prometheus-')}"
    if lib.is_dir():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lib-", dir=root))
    for source in [*(PYFLINK_HOME / "lib").glob("*.jar"), jar]:
        (staging / source.name).symlink_to(source)
    try:
        staging.rename(lib)
    except OSError:  # another run made it first
        shutil.rmtree(staging, ignore_errors=True)
    return lib


def use_reporter_in_minicluster() -> None:
    """Before PyFlink's gateway starts: its JVM gets the reporter on the classpath."""
    from pyflink import java_gateway

    if getattr(java_gateway, "_gateway", None) is not None:
        raise UserError("--metrics-port: the Flink gateway of this process is already running without the "
                        "Prometheus reporter; start the run in a new process")
    # PyFlink resets FLINK_LIB_DIR to its own lib/ while it looks for FLINK_HOME, unless FLINK_HOME is set.
    os.environ.setdefault("FLINK_HOME", str(PYFLINK_HOME))
    os.environ["FLINK_LIB_DIR"] = str(minicluster_lib())
