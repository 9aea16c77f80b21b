# callbridge developer commands. `make up` runs the stack, `make test` runs the tests; both set up what is
# missing first (a virtualenv in .venv with every package, and nats-server from the Debian package).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test test-all lint typecheck bench setup clean nats-server

up: setup
	$(BIN)/callbridge up $(ARGS)

# Tests marked slow (each over ~20 s: process kills, long real-time calls) run in CI (CI set, as .ci/run sets
# it) or with `make test-all`; `make test` skips them to stay under 10 minutes.
PYTEST_ARGS ?= $(if $(CI),,-m "not slow")

test: setup lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: setup lint typecheck
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy libs/common/src libs/telephony/src libs/devkit/src services/webhooks/src services/media/src services/dialer/src services/transfer/src tests bench examples

bench: setup
	$(BIN)/python -m bench.audio
	$(BIN)/python -m bench.vad
	$(BIN)/python -m bench.wire
	$(BIN)/python -m bench.dtmf
	$(BIN)/python -m bench.calls $(ARGS)
	$(BIN)/python -m bench.batch

setup: $(STAMP) nats-server

$(STAMP): requirements-dev.txt libs/common/pyproject.toml libs/telephony/pyproject.toml libs/devkit/pyproject.toml services/media/pyproject.toml services/webhooks/pyproject.toml services/dialer/pyproject.toml services/transfer/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# nats-server, espeak-ng (speech for the tests' DTMF talk-off audio) and kubectl (kubernetes-client: the
# tests build k8s/ with `kubectl kustomize`) come from Debian packages; install them when missing (needs
# root or sudo).
nats-server:
	@missing=""; \
	command -v nats-server >/dev/null 2>&1 || missing="$$missing nats-server"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
	[ -z "$$missing" ] || { \
		echo "installing$$missing (Debian packages)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	}

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
