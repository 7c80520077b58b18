# Switchboard — developer entry points. See README.md and deploy/README.md.
#
#   make run         start a local server on the demo config (embedded Redis)
#   make test        the full suite, exactly as CI runs it (real peers)
#   make test-short  fast unit tests, no peers needed
#   make lint        gofmt, go vet, staticcheck
#   make fuzz        every fuzz target for $(FUZZTIME) each
#   make bench       benchmarks against the raw ceilings

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

GO       ?= go
BIN      := bin/switchboard
CONFIG   ?= deploy/demo.yaml
FUZZTIME ?= 20s

# staticcheck runs from the module proxy at a pinned release; it is not a
# dependency of the module, so it stays out of go.mod. v0.8.2 is 2026.2.2.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: run build test test-short bench fuzz lint fmt-check vet staticcheck clean

## run: start switchboard on the demo config (no Redis URL = embedded Redis)
run:
	$(GO) run ./cmd/switchboard serve --config $(CONFIG)

## build: compile the binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/switchboard

## test: full suite with real peers and a throwaway redis-server (what CI runs)
test:
	bash scripts/test.sh

## test-short: unit tests only, no external peers
test-short:
	$(GO) test -short ./...

## bench: benchmarks, reported against raw ceilings measured in the same run
bench:
	bash scripts/bench.sh

## fuzz: run each fuzz target in the repository for FUZZTIME
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## lint: formatting, vet and staticcheck
lint: fmt-check vet staticcheck

fmt-check:
	@echo 'gofmt -l .'
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo 'These files need gofmt -w:' >&2; echo "$$unformatted" >&2; exit 1; \
	fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

## clean: remove build output and coverage files
clean:
	rm -rf bin/ coverage.out coverage.html *.coverprofile
