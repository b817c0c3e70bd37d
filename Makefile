# agentq: every target is part of the interface; `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
EMULATORS := localstack/emulators
FUZZTIME  ?= 30s
# How long `make test` fuzzes each target: enough to catch a shallow panic, short enough for CI.
FUZZ_SMOKE ?= 3s
SOAK_N    ?= 2000
SOAK_C    ?= 32
PKGS      := ./...

.PHONY: help tools run soak test test-unit test-fuzz bench bench-go fuzz vet fmt clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

tools: ## install the pinned local tools: DynamoDB Local, fauxqs (localstack/emulators/tools.lock), the Lambda Runtime API emulator, the JavaScript A2A SDK of the dispatch tests
	@bash $(EMULATORS)/install.sh
	@bash test/lambdaruntime/install.sh
	@bash shared/dispatch/testdata/a2a-js/install.sh

run: tools ## start the whole system on 127.0.0.1:8042 (emulators, API, worker, echo agent, event bus, webhooks); Ctrl-C stops it
	AGENTQ_ALLOW_LOOPBACK_URLS=$${AGENTQ_ALLOW_LOOPBACK_URLS-1} $(GO) run ./cmd/agentq run

soak: tools ## bounded load test on 127.0.0.1: SOAK_N (2000) invocations from SOAK_C (32) clients while the worker process is killed and restarted and DynamoDB Local and fauxqs are frozen (SIGSTOP) twice each; fails if a task is lost or a refused task ran
	$(GO) build -o build/agentq ./cmd/agentq
	./build/agentq soak -n $(SOAK_N) -c $(SOAK_C)

vet: ## go vet every package
	$(GO) vet $(PKGS)

test-unit: ## unit tests only (no emulators)
	$(GO) test -count=1 -short $(PKGS)

test: tools vet ## every test: unit, integration on the emulators, race detector, fuzzing (bounded), deploy-check (both templates synthesized, cfn-lint, infra assertions and cdk-nag)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SMOKE)
	$(MAKE) --no-print-directory deploy-check

# A fuzz run the Go toolchain ends with a bare "context deadline exceeded" (its time ran out while
# a worker was mid-input on a loaded machine; no failing input is written) is run once more; a
# run that found a failing input, or fails twice, fails the target.
fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    if ! out=$$($(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg 2>&1); then \
	      echo "$$out"; \
	      if grep -q 'Failing input written' <<<"$$out" || ! grep -q 'context deadline exceeded' <<<"$$out"; then exit 1; fi; \
	      echo "== $$pkg $$f: the fuzz engine ran out of time mid-input; once more"; \
	      $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	    else echo "$$out" | tail -1; fi; \
	  done; \
	done

bench: tools ## the whole pipeline measured on 127.0.0.1 (cold starts, latency, throughput, accept round trips, worker billing, cost per million tasks); a few minutes; never asserted in tests
	$(GO) build -o build/agentq ./cmd/agentq
	./build/agentq bench

bench-go: ## Go microbenchmarks (speed and memory figures of hot functions)
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 $(PKGS)

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build output
	rm -rf build cdk.out

-include mk/infra.mk
