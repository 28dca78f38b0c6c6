# QLP — two commands on a fresh Debian 12 machine with Go:
#   make demo   runs the main job on the embedded defaults
#   make test   installs and starts what the tests need, then runs them all
GO ?= go
BIN := bin/qlp

.PHONY: build demo test vet fmt-check bench clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/qlp

demo:
	scripts/demo.sh

test:
	scripts/install-deps.sh test
	scripts/run-tests.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	scripts/run-benchmarks.sh $(ARGS)

clean:
	rm -rf bin out
