# ChatJu Payments: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQUIREMENTS := requirements.txt requirements-dev.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQUIREMENTS) | cksum | cut -d' ' -f1)
PORT ?= 8000

.PHONY: run test lint migrate bench clean

## The virtualenv with the runtime and the development tools (requirements-dev.txt).
$(STAMP): $(REQUIREMENTS)
	@echo "Installing requirements-dev.txt into $(VENV) (once per change of the requirements)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

## Create the virtualenv, migrate, and start web + worker + beat + the gateway sandbox. Once they
## answer, chatju.demo.announce prints where the demo, the API, the sandbox and the mail are.
run: $(STAMP) migrate
	@export CHATJU_WEB_PORT=$(PORT) \
	  SANDBOX_TOSS_WEBHOOK_URL=$${SANDBOX_TOSS_WEBHOOK_URL:-http://127.0.0.1:$(PORT)/payment/toss/webhook} \
	  SANDBOX_STRIPE_WEBHOOK_URL=$${SANDBOX_STRIPE_WEBHOOK_URL:-http://127.0.0.1:$(PORT)/payment/stripe/webhook} \
	  FRONTEND_URL=$${FRONTEND_URL:-http://127.0.0.1:$(PORT)/demo}; \
	echo "ChatJu Payments is starting web, worker, beat and the gateway sandbox; where to go follows once they answer."; \
	CHATJU_RUN_PID=$$$$ $(BIN)/python -m chatju.demo.announce & \
	exec $(BIN)/honcho --procfile Procfile.dev start

migrate: $(STAMP)
	@$(BIN)/flask --app wsgi db upgrade

## The whole suite (PostgreSQL and Redis on 127.0.0.1 are used when reachable).
test: $(STAMP)
	$(BIN)/python -m pytest

## The benchmarks, each beside its floor, and docs/performance.md rewritten with their figures (python -m bench).
## Needs PostgreSQL and Redis on 127.0.0.1 and wrk (installed with apt-get when missing); never part of `make test`.
bench: $(STAMP)
	$(BIN)/python -m bench

## Lint, formatting, types and the import contracts.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
