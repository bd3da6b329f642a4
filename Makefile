# kyso — see README.md. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION := v0.8.2
# Where `make demo` keeps its development token and test PKI between runs.
KYSO_DEV_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/kyso/dev

.PHONY: all build test test-go fuzz cross lint bench demo deps js-deps js-size clean dist

all: build

build:
	$(GO) build -o bin/kyso ./cmd/kyso

# Installs missing system packages (softhsm2, opensc, poppler-utils, qpdf,
# libnss3-tools, gcc, mingw-w64), then runs every test with the race
# detector and cross-builds the Windows binary.
test: deps js-deps test-go fuzz cross js-size

deps:
	@scripts/install-deps.sh test

# The JavaScript SDK's pinned dev packages (package-lock.json): the Go tests
# run its Node tests against a real agent.
js-deps:
	cd js-sdk && npm ci --no-audit --no-fund

# The browser bundle's size, minified and gzipped (budget 12 KB).
js-size:
	cd js-sdk && npm run size

# Screenshots of the agent's dialogs (taken under Xvfb) land in artifacts/.
test-go:
	KYSO_ARTIFACTS=$(CURDIR)/artifacts CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# Bounded fuzzing runs over reading and signing, over verification and
# over the loopback protocol's message handling,
# seeded with the corpus (signed once and twice for the verifier).
# Minimising each new input to one run keeps the engine fuzzing (≈8 000
# executions a second here) instead of spending the budget shrinking inputs.
FUZZTIME ?= 30s
VERIFY_FUZZTIME ?= 20s
PROTOCOL_FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSign$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1x ./pades/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(VERIFY_FUZZTIME) -fuzzminimizetime 1x ./pades/
	$(GO) test -run '^$$' -fuzz '^FuzzProtocol$$' -fuzztime $(PROTOCOL_FUZZTIME) -fuzzminimizetime 1x ./bridge/

# Windows keeps compiling although no Windows machine runs the tests.
cross:
	CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc GOOS=windows GOARCH=amd64 \
		$(GO) build -o bin/kyso.exe ./cmd/kyso

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Benchmarks, including whole-process ratios on a ≈100 MB scan it generates
# (kyso sign vs sha256sum and pdfsig). -count=1: each benchmark process sets
# up its SoftHSM token once.
# Then, unless BENCH_SERVE=0, the `kyso serve` and `kyso run` benchmarks (cmd/kyso/
# serve_bench_test.go), once each (-benchtime 1x): they build the kysotest
# binary themselves and drive it over WebSocket — 200 connections × 20
# signHash in a PIN session, and one idle client for 60 s (so they take a
# bit over a minute). KYSO_CPUPROFILE=FILE profiles the server (each
# benchmark's server writes it: run one benchmark at a time for a profile).
BENCH_SERVE ?= 1
bench: deps
	$(GO) test -run '^$$' -bench . -skip '^Benchmark(Serve|Run)' -benchmem -count=1 -timeout 30m ./...
	if [ "$(BENCH_SERVE)" != 0 ]; then \
		$(GO) test -run '^$$' -bench '^Benchmark(Serve|Run)' -benchtime 1x -count=1 -timeout 10m ./cmd/kyso/; \
	fi

# Creates (or reuses) the development token with test certificates, signs
# the sample, then runs the agent and the demo DMS (two agencies on
# 127.0.0.1:19580 and :19581). Without root to install SoftHSM it falls back
# to a PKCS#12 key store (command-line signing only).
demo:
	@scripts/install-deps.sh demo || echo "kyso: SoftHSM could not be installed; the demo uses a PKCS#12 key store instead." >&2
	@if command -v npm >/dev/null 2>&1; then \
		(cd js-sdk && npm ci --no-audit --no-fund --silent && npm run --silent build); \
	else echo "kyso: npm not found: the demo pages will say the SDK is missing" >&2; fi
	$(GO) run ./cmd/kyso demo --dir "$(KYSO_DEV_DIR)" --sample testdata/sample/quyet-dinh-chua-so.pdf --serve

clean:
	rm -rf bin dist js-sdk/dist

# Release artifacts in dist/: the .deb and .rpm (nfpm, pinned in
# installer/dist), kyso.exe and the .msi (wixl) with Authenticode signatures
# (osslsigncode), and SHA256SUMS. Versioned by git describe --tags.
# Without SIGN_PKCS12=FILE SIGN_PASS_FILE=FILE (or SIGN_PKCS11_MODULE=LIB
# SIGN_PKCS11_KEY=URI with SIGN_CERTS=PEM or SIGN_PKCS11_CERT=URI) the
# signatures use a throwaway test certificate, whose CA is written to
# dist/test-signing-ca.pem; SIGN_REQUIRED=1 refuses that, SIGN_TIMESTAMP_URL
# adds an RFC 3161 timestamp. docs/deployment.md, "Packages".
# The tests (installer/dist, run by test-go) build the same into a
# temporary folder and install the .deb.
dist:
	@scripts/install-deps.sh dist
	rm -rf dist
	$(GO) run ./cmd/kysodist -out dist
