# simsearch build. `make` builds bin/simsearch and fetches ONNX Runtime into lib/.
SHELL := /bin/bash
GO ?= go
BIN := bin/simsearch
ORT_LIB := $(CURDIR)/lib/libonnxruntime.so.1
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 60s
# The demo keeps its database and models inside the checkout.
DEMO_DIR := $(CURDIR)/.cache/demo

export SIMSEARCH_ORT_LIB ?= $(ORT_LIB)

.PHONY: all build ort demo test test-long lint fuzz bench bench-bin bench-quick bench-peers bench-before bench-go clean

all: build ort

# The cgo decoders need libjpeg's header (jpeg_cgo.go) and libheif's
# (heif_cgo.go); the tests make HEIC and AVIF fixtures with heif-enc. The
# oneDNN engine (internal/onednn) needs libdnnl's header to build; the
# library itself is loaded at run time, and without it ONNX Runtime runs.
.PHONY: deps
deps:
	@[ -e /usr/include/jpeglib.h ] || [ "$$($(GO) env CGO_ENABLED)" = 0 ] || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y libjpeg62-turbo-dev || { apt-get update && apt-get install -y libjpeg62-turbo-dev; }; \
	else echo "jpeglib.h is missing: install libjpeg62-turbo-dev (Debian) or libjpeg-turbo8-dev (Ubuntu) as root, or build with CGO_ENABLED=0" >&2; exit 1; fi
	@{ [ -e /usr/include/libheif/heif.h ] || [ -e /usr/include/$$(gcc -dumpmachine 2>/dev/null)/libheif/heif.h ] || [ "$$($(GO) env CGO_ENABLED)" = 0 ]; } && \
	command -v heif-enc >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y libheif-dev libheif-examples || { apt-get update && apt-get install -y libheif-dev libheif-examples; }; \
	else echo "libheif/heif.h or heif-enc is missing: install libheif-dev and libheif-examples as root, or build with -tags nolibheif (HEIC and AVIF then decode in WebAssembly)" >&2; exit 1; fi
	@[ -e /usr/include/oneapi/dnnl/dnnl.h ] || [ "$$($(GO) env CGO_ENABLED)" = 0 ] || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y libdnnl-dev || { apt-get update && apt-get install -y libdnnl-dev; }; \
	else echo "oneapi/dnnl/dnnl.h is missing: install libdnnl-dev as root, or build with -tags nodnnl (features then always run on ONNX Runtime)" >&2; exit 1; fi

# simsearch --version: the go command records the commit only in a plain
# clone (not in a git worktree, not with -buildvcs=false), so pass it.
LINK := github.com/simsearch/simsearch
GIT_TAG = $(shell git describe --tags --exact-match --match 'v*' 2>/dev/null)
GIT_COMMIT = $(shell git rev-parse HEAD 2>/dev/null)
GIT_MODIFIED = $(shell [ -n "$$(git status --porcelain 2>/dev/null)" ] && echo true)
LDFLAGS = -X $(LINK).linkVersion=$(GIT_TAG) -X $(LINK).linkCommit=$(GIT_COMMIT) -X $(LINK).linkModified=$(GIT_MODIFIED)

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/simsearch

ort: $(ORT_LIB)

$(ORT_LIB):
	./scripts/fetch-ort.sh lib

demo: all
	./scripts/demo.sh $(BIN) $(DEMO_DIR)

# The web page's end-to-end test (web/e2e_test.go) drives Debian's
# chromium; where it is missing and cannot be installed that test skips
# and says why.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else echo "chromium is missing and cannot be installed here (needs root and apt-get): the web page's end-to-end test will skip" >&2; fi

# The race detector needs cgo, which the ONNX Runtime binding needs anyway.
# scripts/postgres.sh installs PostgreSQL 15 and pgvector where they are
# missing and runs the tests with a throwaway server (SIMSEARCH_TEST_PG).
test: all chromium
	./scripts/postgres.sh $(GO) test -race -short -timeout 50m ./...
	CGO_ENABLED=0 $(GO) test -short ./index/... ./internal/store/...
	$(GO) test -short -run 'TestDecodeCost|TestBudget' ./internal/extractor/ # allocation counts, which -race inflates
	$(GO) -C bench test -race -short ./...
	$(MAKE) bench-quick

test-long: all chromium
	$(GO) test -race -timeout 60m ./...

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) -C bench vet ./...
	$(GO) -C bench run $(STATICCHECK) ./...

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# The benchmark report (bench/README.md): every row of issue 7, written to
# bench/results/<date>-<host>.md and .json. Run with nothing else busy
# (check uptime); BENCHFLAGS=-n1m adds the 1M-vector index row.
# The harness is its own module (bench/go.mod), which keeps the peers it
# compares with out of the library's go.mod; it runs from here, where its
# default paths point, under scripts/postgres.sh for the pg row's server
# (where none can be had, the row says so and skips).
BENCH := bin/simsearch-bench
BENCH_PY ?= /usr/bin/python3
bench-bin:
	@$(GO) -C bench build -o $(CURDIR)/$(BENCH) ./cmd/simsearch-bench

bench: all bench-bin bench-peers
	./scripts/postgres.sh $(BENCH) -out bench/results -python $(BENCH_PY) $(BENCHFLAGS)

# Every row on tiny sizes (about a minute), so the benchmarks cannot rot;
# make test runs it. The report goes to bench/results/quick/ (ignored).
bench-quick: all bench-bin
	@mkdir -p bench/results/quick
	@./scripts/postgres.sh $(BENCH) -quick -out bench/results/quick -python $(BENCH_PY) >/dev/null 2>bench/results/quick/log || \
	{ cat bench/results/quick/log; echo "bench-quick failed" >&2; exit 1; }
	@echo "bench-quick: every row ran; report in bench/results/quick/"

# Peers from Debian, as root: hnswlib and faiss for the index row's side-by-side.
bench-peers:
	@$(BENCH_PY) -c 'import numpy, hnswlib, faiss' 2>/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y python3-numpy python3-hnswlib python3-faiss || \
		{ apt-get update && apt-get install -y python3-numpy python3-hnswlib python3-faiss; } || \
		echo "bench: could not install hnswlib and faiss; the report says skipped" >&2; \
	else echo "bench: hnswlib and faiss are missing and installing them needs root (apt-get install python3-numpy python3-hnswlib python3-faiss); the report says skipped" >&2; fi
	@# hnswlib's C++ headers, compiled for this CPU by the harness (bench/peers/hnswlib_native.cpp).
	@{ command -v g++ && [ -e /usr/include/hnswlib/hnswlib.h ]; } >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y g++ libhnswlib-dev || \
		{ apt-get update && apt-get install -y g++ libhnswlib-dev; } || \
		echo "bench: could not install g++ and libhnswlib-dev; the report says skipped" >&2; \
	else echo "bench: g++ or libhnswlib-dev is missing and installing them needs root (apt-get install g++ libhnswlib-dev); the report says skipped" >&2; fi
	@# findimagedupes for the dedup row's side-by-side; Chromium opens the HTML report in the report row.
	@{ command -v findimagedupes && { command -v chromium || command -v chromium-browser; }; } >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y findimagedupes chromium || \
		{ apt-get update && apt-get install -y findimagedupes chromium; } || \
		echo "bench: could not install findimagedupes and chromium; the report says skipped" >&2; \
	else echo "bench: findimagedupes or chromium is missing and installing them needs root (apt-get install findimagedupes chromium); the report says skipped" >&2; fi

# The cold-query row's "before": simsearch and the harness built from
# BENCH_BEFORE (a commit) into bin/before; then make bench BENCHFLAGS='-before bin/before'.
bench-before:
	@[ -n "$(BENCH_BEFORE)" ] || { echo "bench-before: set BENCH_BEFORE=COMMIT" >&2; exit 1; }
	rm -rf bin/before && mkdir -p bin/before/src
	git archive $(BENCH_BEFORE) | tar -x -C bin/before/src
	cd bin/before/src && $(GO) build -trimpath -o ../simsearch ./cmd/simsearch && $(GO) -C bench build -o ../../simsearch-bench ./cmd/simsearch-bench
	rm -rf bin/before/src

# Go benchmarks of the hot paths, for benchstat (BENCHCOUNT=6).
BENCHTIME ?= 3x
BENCHCOUNT ?= 1
bench-go: all
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./internal/extractor/ ./internal/store/ ./index/

clean:
	rm -rf bin .cache
