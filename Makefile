# sms-response-tracking: `make demo` runs the pipeline end to end, `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Second integration pass against an external server (CI sets this to the machine's PostgreSQL).
SMS_RT_TEST_DATABASE_URL ?=
# Whose transport `make demo` tracks over: simulator (its event API), ubx, twilio or braze.
PLATFORM ?= simulator

.PHONY: demo test lint unit venv constraints clean stop bench reliability

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py --platform $(PLATFORM)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy include/sms_response include/sms_simulator plugins/sms_rt_airflow plugins/sms_rt_provider.py

test: lint
	env -u SMS_RT_TEST_DATABASE_URL $(BIN)/python -m pytest --durations=25 tests
	@if [ -n "$(SMS_RT_TEST_DATABASE_URL)" ]; then \
	  echo "== integration and end-to-end tests again on $(SMS_RT_TEST_DATABASE_URL) =="; \
	  SMS_RT_TEST_DATABASE_URL="$(SMS_RT_TEST_DATABASE_URL)" $(BIN)/python -m pytest --durations=15 -m "(integration or e2e) and not live and not once" tests; \
	fi

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/dags

# The benchmark (bench/run.py): default 100k, 500k and 2M records per window on the embedded server and
# 127.0.0.1:5432; e.g. make bench BENCH_ARGS="--sizes 20000 --database-url postgresql://postgres@127.0.0.1:5432/test"
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# RELIABILITY.md from the results of every test marked scenario(area, title) (on SMS_RT_TEST_DATABASE_URL when set).
reliability: $(STAMP)
	$(BIN)/python scripts/reliability.py

constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -vi '^sms-response-tracking' > constraints.txt

stop:
	-$(BIN)/sms-rt embedded stop

clean: stop
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
