# linelab. `make test` passes the tests; `make lab` runs the lab.
GO        ?= go
COMPOSE   ?= docker-compose
GOVERSION := $(shell $(GO) env GOVERSION)
REFERENCE := threads twisted twisted-inline gevent gevent-monkey gevent-prefork node node-cluster asyncio asyncio-uvloop eventlet tornado floor
# RELEASE is the Debian release of the reference images (bookworm, trixie or
# sid); `make lab RELEASES=bookworm,trixie` runs each server on each.
RELEASE   ?= trixie
RELEASES  ?= $(RELEASE)
comma     := ,
GOFILES   := $(shell find go.mod internal go-server lab -name '*.go' -o -name go.mod)
PROFILE   ?= standard
LAB_ARGS  ?=

.PHONY: all test test-unit lab images base sshd up down clean bench fuzz report check-driver

all: test

## test: vet, unit tests, the Docker tests (conformance of every container,
## the quick profile end to end on two servers, a run on an ssh:// engine)
## and the browser test of the report that run wrote. Docker tests run one
## package at a time (-p 1): a lab run sweeps every container the lab
## labelled.
E2E_OUT := $(CURDIR)/runs/e2e
test: images sshd
	$(GO) vet ./...
	$(GO) vet -tags docker,browser ./...
	$(GO) test -count=1 ./...
	rm -rf $(E2E_OUT)
	LINELAB_E2E_OUT=$(E2E_OUT) $(GO) test -count=1 -p 1 -parallel 3 -timeout 40m -tags docker -run Docker ./...
	LINELAB_RUN=$$(ls -d $(E2E_OUT)/*/ | head -n 1) $(GO) test -count=1 -tags browser -run Browser -v ./lab/report

## test-unit: the tests that need no Docker
test-unit:
	$(GO) vet ./...
	$(GO) test ./...

## lab: run every server through every scenario (PROFILE=quick|standard|thorough);
## the run folder gets results.json, report.html and summary.txt
lab:
	@for r in $(subst $(comma), ,$(RELEASES)); do $(MAKE) --no-print-directory images RELEASE=$$r || exit 1; done
	$(GO) run ./lab/cmd/lab run --profile $(PROFILE) --release $(RELEASES) $(LAB_ARGS)

## report: rebuild the report of the newest run (or RUN=runs/<id>)
report:
	$(GO) run ./lab/cmd/lab report $${RUN:-$$(ls -d runs/2*/ | tail -n 1)}

bin/go-server: $(GOFILES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./go-server/cmd/go-server

bin/upstream: $(GOFILES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./lab/cmd/upstream

bin/agent: $(GOFILES)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ ./lab/cmd/agent

## base: the Debian base image of the reference servers for RELEASE
## (skipped when it exists)
base:
	reference/base/build.sh $(RELEASE)

## sshd: the ssh engine of the remote test, linelab/sshd (skipped when it
## exists)
sshd:
	lab/engine/sshd/build.sh

## images: every image, from the Docker layer cache where nothing changed
## (the legacy builder prints a deprecation notice on every build, so a
## build's output is shown only when it fails)
images: base bin/go-server bin/upstream bin/agent
	@build() { log=$$(mktemp); if docker build -q "$$@" >"$$log" 2>&1; then rm -f "$$log"; else cat "$$log"; rm -f "$$log"; return 1; fi; }; \
	build -t linelab/go-server --build-arg GO_VERSION=$(GOVERSION) -f go-server/Dockerfile . && \
	build -t linelab/upstream --build-arg GO_VERSION=$(GOVERSION) -f lab/cmd/upstream/Dockerfile . && \
	build -t linelab/agent --build-arg GO_VERSION=$(GOVERSION) -f lab/cmd/agent/Dockerfile . && \
	for i in $(REFERENCE); do \
		build -t linelab/$$i:$(RELEASE) --build-arg BASE=linelab/base:$(RELEASE) -f reference/$$i/Dockerfile reference || exit 1; \
	done
	@echo "images: linelab/{go-server,upstream,agent} and linelab/{$(shell echo $(REFERENCE) | tr ' ' ,)}:$(RELEASE) are built"

## up: every server and the upstream, by hand (MODE=fetch for fetch mode;
## RELEASE picks the reference images)
up: images
	RELEASE=$(RELEASE) $(COMPOSE) -p linelab up

down:
	$(COMPOSE) -p linelab down

## bench: the Go benchmarks: the codec; each Go entry as a process pinned
## as the lab pins it, echo and fetch, with the server's CPU (server-ns/line)
## and heap allocations (allocs/line) per line; idle memory; the driver.
## LINELAB_PPROF=<dir> keeps the servers' CPU profiles.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/...
	taskset -c 0 $(GO) test -run '^$$' -bench Echo -benchtime 3s ./go-server/bench
	taskset -c 0 $(GO) test -run '^$$' -bench Fetch -benchtime 20000x ./go-server/bench
	taskset -c 0 $(GO) test -run '^$$' -bench Idle -benchtime 1x ./go-server/bench
	taskset -c 0 $(GO) test -run '^$$' -bench Driver ./lab/driver

## check-driver: on a quiet machine, fail when the open loop costs the
## driver more than 1.2x a closed loop paced to its rate per line (a check over
## BenchmarkOpenOverClosed's result, pinned as the lab pins the driver)
check-driver:
	LINELAB_DRIVER_COST=1 taskset -c 0 $(GO) test -count=1 -run OpenLoopCost -v ./lab/driver

## fuzz: every fuzz target of the module for FUZZTIME each, found by
## `go test -list` so none is left out; what a target finds is kept under
## its package's testdata/fuzz/ and replayed by `make test`, where each
## target's seed corpus runs as a test
FUZZTIME ?= 10s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz: $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin
