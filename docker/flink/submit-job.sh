#!/usr/bin/env bash
# Submit the ttpflow job to the Flink session cluster of docker-compose.yml, once.
#
#   submit-job.sh [JOB ARGS...]      e.g. --bootstrap-servers kafka:19092 --raw-topic ttpflow.raw
#
# `docker compose up` starts this one-shot container again on every run; without the check below
# each `up` would add another copy of the job reading the same topics. To redeploy, stop the job
# with a savepoint (flink stop --savepointPath ...) and set TTPFLOW_FROM_SAVEPOINT.
set -euo pipefail

JOBMANAGER="${FLINK_JOBMANAGER:-jobmanager:8081}"
JOB_NAME="${TTPFLOW_JOB_NAME:-ttpflow}"  # the name jobs/flink_job.py gives its job
PYTHON="${TTPFLOW_PYTHON:-/usr/local/bin/python3}"
PROBE=/opt/ttpflow/docker/flink/probe.py
export FLINK_REST_URL="http://${JOBMANAGER}"

if "$PYTHON" "$PROBE" job-running "$JOB_NAME" 2>/dev/null; then
    echo "ttpflow: a job named '${JOB_NAME}' already runs on ${JOBMANAGER}; not submitting another"
    exit 0
fi

savepoint_args=()
if [[ -n "${TTPFLOW_FROM_SAVEPOINT:-}" ]]; then
    savepoint_args=(--fromSavepoint "$TTPFLOW_FROM_SAVEPOINT")
fi

echo "ttpflow: submitting jobs/flink_job.py to ${JOBMANAGER}"
# -pyexec: the interpreter of the Python workers on the TaskManagers; -pyclientexec: the one that
# compiles the job here. Both must be the image's 3.11, where ttpflow and pyflink are installed.
exec /opt/flink/bin/flink run \
    --jobmanager "$JOBMANAGER" \
    --detached \
    "${savepoint_args[@]}" \
    --python /opt/ttpflow/jobs/flink_job.py \
    --pyExecutable "$PYTHON" \
    --pyClientExecutable "$PYTHON" \
    "$@"
