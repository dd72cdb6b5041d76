# mcpfed — see README.md. Every target works on a fresh machine with Go.
GO          ?= go
BIN         ?= bin/mcpfed
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildTime=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME    ?= 30s

.PHONY: run build test test-official test-k8s lint vet staticcheck fmt-check fuzz tools bench load soak

## run: build, then serve the built-in catalogue on :8080 (override with
## MCPFED_LISTEN_ADDR). The server replaces the recipe's shell, so it is
## make's own child: Ctrl-C reaches it, and make forwards a SIGTERM to it
## (`go run` would leave the server running when killed).
run: build
	exec $(BIN) serve

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mcpfed

## test: vet, then every test (fuzz seed corpora included) with the race detector
test: vet
	$(GO) test -race -count=1 -timeout 10m ./...

## test-official: mcpfed (live and mirror) against the real official registry, built from
## the registry module in the module cache, on a throwaway PostgreSQL (C and ICU en-US
## databases). Needs PostgreSQL (Debian: postgresql); the first run builds the registry
## (~3 min), later runs ~10s. Not part of `make test`.
test-official:
	MCPFED_TEST_OFFICIAL=1 $(GO) test -count=1 -timeout 20m ./pgtest/ ./officialtest/

## test-k8s: service-account tokens and the kubernetes source (ToolHive CRDs, the shipped RBAC)
## against a real kube-apiserver (../shared/tools/kube-apiserver.sh;
## etcd from Debian's etcd-server, openssl, curl). The first run builds kube-apiserver
## (~5 min on 2 cores, cached in ~/.cache/mcpfed-k8s), later runs ~1 min. Not part of `make test`.
test-k8s:
	MCPFED_TEST_K8S=1 $(GO) test -count=1 -timeout 30m -run Kube ./auth/ ./kubetest/ ./cmd/mcpfed/ ./upstream/kube/

## test-toolhive: the real ToolHive CLI (thv, built unmodified from its Go module through
## the module proxy) pointed at mcpfed on its built-in catalogue: registry list and info,
## and the skills and plugins `thv serve` lists. The first run builds thv (~5 min on 2 idle
## cores, 1.5 GB of modules; cached in ~/.cache/mcpfed-thv), later runs ~30 s. Not part
## of `make test`.
.PHONY: test-toolhive
test-toolhive:
	MCPFED_TEST_TOOLHIVE=1 $(GO) test -count=1 -timeout 40m ./toolhivetest/

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tools:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck:
	@test -x $(STATICCHECK) || $(MAKE) tools
	$(STATICCHECK) ./...

## lint: gofmt, go vet and staticcheck
lint: fmt-check vet staticcheck

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: the Go benchmarks, briefly (BENCHTIME=100x); compare runs with benchstat
BENCHTIME ?= 100x
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./upstream/ ./federate/ ./cache/

## load: the load scenarios against a real listening mcpfed and the bare-handler limit (not part of test)
LOAD_FLAGS ?=
load:
	$(GO) run ./cmd/mcpfed-load $(LOAD_FLAGS)

## soak: the 5-minute soak with a flapping upstream
soak:
	$(GO) run ./cmd/mcpfed-load -scenario soak -d 5m $(LOAD_FLAGS)
