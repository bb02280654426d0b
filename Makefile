# The two commands of the README. Both create .venv from scratch when it is missing or stale.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   := trading_bot/sample_data

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	# bytecode now: a run that may not write it (PYTHONDONTWRITEBYTECODE, a read-only service) starts 0.1 s sooner
	$(PY) -m compileall -q -j 0 runbot.py trading_bot strategies exchanges risk
	touch $@

## run: replay 11 minutes of real Binance BTC/USDT quotes and trades through the grid strategy (paper fills)
run: $(VENV)/.installed
	$(PY) runbot.py --strategy grid --exchange binance --symbol BTC/USDT \
		--replay $(DATA)/binance_BTCUSDT_quotes_2024-08-08.csv.gz \
		--replay $(DATA)/binance_BTCUSDT_trades_2024-08-08.csv.gz \
		--quantity 0.001 --take-profit 0.02 --max-orders 10 --wait-time 35

## test: the whole test suite (what CI runs), then lint, type and import-layering (DESIGN.md §3) checks.
## Two pytest workers per core: the suite mostly waits on subprocesses and sockets (2 cores: 10.5 min, not 15.4).
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=30
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(VENV)/.installed
	$(PY) bench/replay_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
