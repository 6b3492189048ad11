# The README's two commands:  `make run`  and  `make test`.  Both set themselves up first.
.PHONY: bootstrap run test unit lint bench clean

bootstrap:
	@scripts/bootstrap.sh

# The main job in the embedded Flink MiniCluster on the bundled sample; alerts on stdout.
run: bootstrap
	.venv/bin/ttpflow run --input samples/seed.jsonl --output - --dead-letter .ttpflow/dead-letter.jsonl

# Unit tests, then integration tests on a real Kafka broker and real Flink (MiniCluster + standalone).
test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -ra tests

unit: bootstrap
	.venv/bin/python -m pytest -q tests/unit

lint: bootstrap
	.venv/bin/ruff check .

bench: bootstrap
	.venv/bin/python bench/bench_pipeline.py

clean:
	rm -rf .ttpflow
