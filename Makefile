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

.PHONY: all build ort demo test test-long lint fuzz bench bench-quick clean

all: build ort

# The cgo JPEG decoder (extractor/jpeg_cgo.go) needs libjpeg's header.
.PHONY: deps
deps:
	@[ -e /usr/include/jpeglib.h ] || [ "$$($(GO) env CGO_ENABLED)" = 0 ] || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y libjpeg62-turbo-dev || { apt-get update && apt-get install -y libjpeg62-turbo-dev; }; \
	else echo "jpeglib.h is missing: install libjpeg62-turbo-dev (Debian) or libjpeg-turbo8-dev (Ubuntu) as root, or build with CGO_ENABLED=0" >&2; exit 1; fi

build: deps
	$(GO) build -trimpath -o $(BIN) ./cmd/simsearch

ort: $(ORT_LIB)

$(ORT_LIB):
	./scripts/fetch-ort.sh lib

demo: all
	./scripts/demo.sh $(BIN) $(DEMO_DIR)

# The race detector needs cgo, which the ONNX Runtime binding needs anyway.
test: all
	$(GO) test -race -short ./...
	CGO_ENABLED=0 $(GO) test -short ./index/... ./store/...

test-long: all
	$(GO) test -race -timeout 30m ./...

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Go benchmarks of the hot paths; run with nothing else busy (check uptime).
BENCHTIME ?= 3x
bench: all
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./extractor/ ./store/ ./index/

clean:
	rm -rf bin .cache
