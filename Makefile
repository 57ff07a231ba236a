# The commands people use. Everything runs against real PostgreSQL, Redis and a Kafka-protocol
# broker, which `make deps` installs (Debian) and starts when they are missing.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/fleet-target
export CARGO_TERM_COLOR ?= never
FLEET := $(CARGO_TARGET_DIR)/debug/fleet
FLEET_RELEASE := $(CARGO_TARGET_DIR)/release/fleet
NEXTEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: help deps build run demo admin migrate test test-rust chart kong fuzz fuzz-ci lint fmt bench images clean-test-dbs

help:
	@echo "make run     start the datastores, the whole fleet and the gateway on :8000 (FLEET_ENV=development)"
	@echo "make demo    walk through the platform's journeys against 'make run', step by step"
	@echo "make admin EMAIL=you@acme.com"
	@echo "            create the first platform admin locally (asks for its password, twice)"
	@echo "make test    every test against the real datastores, the chart and the Kong config"
	@echo "make fuzz    Schemathesis against every built service's OpenAPI document (FUZZ_BUDGET=600 s)"
	@echo "make lint    rustfmt check and clippy with warnings denied"
	@echo "make bench   benchmarks (release build); prints figures"
	@echo "make chart   render and validate the Helm chart"
	@echo "make images  build the container image (needs a Docker engine)"

deps:
	@scripts/deps.sh

build:
	cargo build -p fleet -p e2e

migrate: deps build
	FLEET_ENV=development $(FLEET) migrate --target all

run: migrate
	@echo "Starting the fleet and the gateway (Ctrl-C stops them). Mail goes to var/mailbox/."
	@FLEET=$(FLEET) scripts/run.sh

demo: build
	@scripts/demo.sh

# The first platform admin, against the local datastores: the same preparation as `make run`
# (datastores, fleet, migrations), then scripts/admin.sh reads the password — from the terminal
# without echo, or one line of standard input — and pipes it to
# `fleet admin create-platform-admin --password-stdin`. The preparation steps get /dev/null as
# standard input so that the password is left for the script.
admin:
	@[ -n "$(strip $(EMAIL))" ] || { echo "make admin: give the admin's address: make admin EMAIL=you@acme.com" >&2; exit 2; }
	@scripts/deps.sh </dev/null
	cargo build -p fleet </dev/null
	FLEET_ENV=development $(FLEET) migrate --target all </dev/null
	@FLEET=$(FLEET) FLEET_ENV=development scripts/admin.sh "$(strip $(EMAIL))"

test: deps test-rust chart kong fuzz-ci

test-rust:
ifeq ($(NEXTEST),yes)
	cargo nextest run --workspace --no-fail-fast
else
	cargo test --workspace --no-fail-fast
endif

chart:
	scripts/chart-test.sh

kong:
	scripts/kong-test.sh

# Schemathesis (pinned, installed on first use) against the OpenAPI document of every service
# that is not planned, on a fleet of its own; non-zero on any failure. FUZZ_BUDGET is the fuzzing
# time in seconds, shared by the runs; `make test` makes the short one (about 100 s in all).
fuzz: deps build
	@FLEET=$(FLEET) scripts/fuzz.sh

fuzz-ci: deps build
	@FLEET=$(FLEET) FUZZ_BUDGET=$${FUZZ_BUDGET:-60} scripts/fuzz.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

bench: deps
	@command -v wrk >/dev/null || { echo "installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	cargo build --release -p fleet -p bench
	FLEET_ENV=development $(FLEET_RELEASE) migrate --target all
	$(CARGO_TARGET_DIR)/release/fleet-bench --fleet $(FLEET_RELEASE)

images:
	@if docker info >/dev/null 2>&1; then \
		docker build -f docker/Dockerfile -t workflow-platform/fleet:dev . ; \
	else echo "no Docker engine here: the image builds where one runs (docker/Dockerfile)"; exit 1; fi
