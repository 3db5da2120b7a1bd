# Longhaul: the two commands a user needs are `make run` and `make test`.
# Every target creates or refreshes the environment from uv.lock first.
PY := .venv/bin/python

.PHONY: env run run-fresh test test-fast lint chaos soak bench images image-smoke docs docs-serve clean

env:
	@bash scripts/bootstrap.sh

run: env  ## dev Resonate server + gateway on :8000 (PORT) + 2 workers; RESONATE_URL uses a real server
	@$(PY) -m services.stack

run-fresh: env  ## make run, after deleting the dev server's state (.longhaul/devserver.sqlite3)
	@LONGHAUL_STACK_FRESH=true $(PY) -m services.stack

test: env  ## the whole suite: unit, integration, chaos, soak (beside the rest) and the offline Kubernetes checks
	@bash scripts/test.sh

test-fast: env  ## unit tests only
	@$(PY) -m pytest -m unit

chaos: env  ## a bigger, parameterised local chaos run that prints its report (ARGS="--jobs 1000 ...")
	@$(PY) -m tests.chaos $(ARGS)

soak: env  ## the stack under light load for hours: throughput, latency, memory over time (ARGS="--duration 2h")
	@$(PY) -m tests.soak $(ARGS)

bench: ## benchmarks: regenerates bench/results/ (report, JSON, charts)
	@bash scripts/bootstrap.sh bench
	@$(PY) -m bench $(ARGS)

images: env  ## build both images with podman on this machine (see scripts/images/README.md)
	@bash scripts/images/build.sh

image-smoke: env  ## run the built images as containers: jobs, a worker SIGKILL, metrics, logs
	@$(PY) -m scripts.images.smoke

docs: env  ## the documentation site (mkdocs.yml) into site/, --strict: a broken link fails
	@NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: env  ## the documentation site on http://127.0.0.1:8000 (DOCS_ADDR), rebuilt on every change
	@NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --strict --dev-addr $(or $(DOCS_ADDR),127.0.0.1:8000)

lint: env
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

clean:
	rm -rf .venv .tools .pytest_cache site
