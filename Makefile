# scenetrack — the two commands are `make demo` and `make test`; the rest are for operators.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENETRACK_HOME ?= warehouse
export SCENETRACK_HOME
export GX_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: install demo demo-postgres test test-fast test-pg lint format airflow airflow-prod airflow-prod-stop bench clean status doctor sqllint mutation mutation-sample

# The pinned environment: requirements.lock is the constraint (Airflow's own constraint files
# are not reachable here). Reinstalled only when the lock or pyproject changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv from the lock file

# A home's first demo (nothing published in it yet) checks the installation first, so a broken
# one stops with what to do instead of minutes into the run. `airflow dags test` binds no port:
# the ports check is for `make airflow` (run `make doctor` before it).
demo: $(STAMP) ## generate submissions, run them through the Airflow DAGs, print the scorecard
	@test -e $(SCENETRACK_HOME)/published/scenetrack.duckdb || \
		$(BIN)/scenetrack doctor --home $(SCENETRACK_HOME) --skip ports
	$(BIN)/scenetrack demo --home $(SCENETRACK_HOME)

doctor: $(STAMP) ## is the installation healthy? (lock, DuckDB files, writer lock, PostgreSQL, Airflow DB, ports, disk)
	$(BIN)/scenetrack doctor --home $(SCENETRACK_HOME) --port $(AIRFLOW_PORT)

demo-postgres: $(STAMP) ## the same pipeline on a throwaway PostgreSQL server; prints bi_reader's DSN and the scorecard
	$(BIN)/python -m scenetrack.postgres.demo --home $(SCENETRACK_HOME)-postgres

test: $(STAMP) ## the whole suite, end-to-end tests included (what CI runs); PYTEST_ARGS adds options
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest -m "not e2e"

test-pg: $(STAMP) ## the PostgreSQL integration suite only (starts and stops its own server)
	$(BIN)/python -m pytest tests/pg

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: lint-imports
lint-imports: $(STAMP) ## import contracts (.importlinter): dags -> scenetrack -> ingestion, no cycles
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

status: $(STAMP) ## ledger, quarantine, last gate and its checks, published version, report, silent cities
	$(BIN)/scenetrack status --home $(SCENETRACK_HOME)

AIRFLOW_PORT ?= 8080
airflow: $(STAMP) ## Airflow standalone + the project's DAGs on 127.0.0.1 (dbt parse first); Ctrl-C stops it
	$(BIN)/scenetrack airflow --home $(SCENETRACK_HOME) --port $(AIRFLOW_PORT)

airflow-prod: $(STAMP) ## PostgreSQL + Redis + Celery (2 workers) + scheduler/triggerer/dag-processor/API on 127.0.0.1; Ctrl-C stops all
	$(BIN)/scenetrack airflow --celery --home $(SCENETRACK_HOME)-prod --port $(AIRFLOW_PORT)

airflow-prod-stop: $(STAMP) ## stop a topology started with `scenetrack airflow --celery --detach`
	$(BIN)/scenetrack airflow --stop --home $(SCENETRACK_HOME)-prod

bench: $(STAMP) ## benchmarks (ratios against reference runs in the same process)
	$(BIN)/python -m benchmarks.run

bench-full: $(STAMP) ## benchmarks including 10M events (long: writes benchmarks/RESULTS.md)
	$(BIN)/python -m benchmarks.run --full --repeat-large 3 --repeat-xl 1

mutation: $(STAMP) ## mutation testing of the modules in benchmarks/mutation.toml (long): writes benchmarks/MUTATION.md
	$(BIN)/python -m benchmarks.mutation --check

mutation-sample: $(STAMP) ## a fixed sample of mutants per module (what CI runs): every survivor must be named equivalent
	$(BIN)/python -m benchmarks.mutation --sample 6 --check

clean: ## remove the demo warehouse (keeps .venv)
	rm -rf $(SCENETRACK_HOME)

sqllint: $(STAMP) ## sqlfluff with the dbt templater over every dbt model (blocking: see .sqlfluff)
	BIN=$(BIN) scripts/dbt_checks.sh sqlfluff

.PHONY: dbt-checks
dbt-checks: $(STAMP) ## the field's dbt checks, blocking: sqlfluff (dbt templater), dbt-bouncer, dbt-score >= 9.5
	BIN=$(BIN) scripts/dbt_checks.sh
