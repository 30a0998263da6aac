# vqz — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
# libjpeg-turbo-progs and webp: the JPEG and WebP anchors of `make rd` (cjpeg/djpeg, cwebp/dwebp)
# python3-distributed: Dask, the engine the scale-out test runs vqz on (tools/vqz_dask)
APT_PACKAGES := libpng-dev zlib1g-dev libzstd-dev libopenblas-dev libdnnl-dev pkg-config python3 python3-numpy libjpeg-turbo-progs webp python3-distributed
# OPENBLAS_CORETYPE=Haswell (set in this environment) halves OpenBLAS on AVX-512: unset for speed.
FAST := env -u OPENBLAS_CORETYPE
# Release builds link the Swift runtime and Foundation statically: a vqz process starts in ≈ 5.6 ms
# instead of ≈ 8.4 ms (no dynamic symbol binding of libswiftCore/Foundation), a Kodak encode is ≈ 5 ms
# faster, and the binary runs where no Swift toolchain is installed (it still needs libpng, zstd,
# OpenBLAS, oneDNN). The cost is its size: ≈ 84 MB instead of 13 MB (docs/design/speed.md).
RELEASE := swift build -c release --static-swift-stdlib

.PHONY: help deps build release test test-scale check-report demo fixtures clean train-vq train-gaussian

help: ## Show this message
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

deps: ## Install the apt packages vqz needs, when missing
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps ## Debug build
	swift build

release: deps ## Release build of vqz (.build/release/vqz; the Swift runtime linked statically)
	$(RELEASE) --product vqz

test: deps ## Run the whole test suite (Swift, the tools' Python tests, the Dask scale-out test, the HTML report in Chromium)
	swift test
	/usr/bin/python3 tools/test_heldout_rd.py
	$(MAKE) test-scale
	$(MAKE) check-report

check-report: deps build ## vqz bench's HTML report rendered in headless Chromium: plot and crops present (tools/check_report.py)
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }
	/usr/bin/python3 tools/check_report.py .build/debug/vqz

test-scale: deps build ## vqz as the map step of a local Dask cluster, a worker killed mid-run (tools/vqz_dask)
	/usr/bin/python3 tools/vqz_dask/test_vqz_dask.py

demo: release ## Build, then encode and decode the sample photo with the default model
	@mkdir -p .build/demo
	.build/release/vqz models
	$(FAST) .build/release/vqz encode docs/sample.png -o .build/demo/sample.vqz -f -v
	$(FAST) .build/release/vqz decode .build/demo/sample.vqz -o .build/demo/sample.png -f
	.build/release/vqz info .build/demo/sample.vqz | head -12
	@command -v python3 >/dev/null && python3 tools/vqz_dump.py .build/demo/sample.vqz >/dev/null \
	  && echo "tools/vqz_dump.py (the independent reader) agrees the file is valid" || true

DATA ?= ../shared/data/train
train-vq: release ## Train the default VQ model in the background (log: train-vq.log)
	nohup $(FAST) .build/release/vqz train --family vq --data $(DATA) -o codecs/rvq-k256-d32-f8.vqzm \
	  --log train-vq.events $(TRAIN_FLAGS) > train-vq.log 2>&1 &

train-gaussian: release ## Train the Gaussian VAE baseline in the background (log: train-gaussian.log)
	nohup $(FAST) .build/release/vqz train --family gaussian --data $(DATA) -o codecs/gaussian-c32-f8.vqzm \
	  --log train-gaussian.events $(TRAIN_FLAGS) > train-gaussian.log 2>&1 &

fixtures: ## Regenerate the NumPy reference fixtures (on demand only)
	python3 tools/make_fixtures.py

clean: ## Remove build outputs
	rm -rf .build

.PHONY: bench-kernels
bench-kernels: deps ## Kernel GFLOP/s and one training step (release) -> Benchmarks/Results/kernels.json
	$(RELEASE) --product KernelBench
	$(FAST) .build/release/KernelBench

.PHONY: bench-codec
LARGE_PNG ?= /tmp/vqz-large-6000x4000.png
bench-codec: release ## Encode/decode seconds and peak RSS (Kodak 768×512; a 6000×4000 photo) -> Benchmarks/Results/codec-speed.json
	$(RELEASE) --product CodecBench
	@[ -f $(LARGE_PNG) ] || python3 tools/make_large_png.py $(LARGE_PNG)
	$(FAST) .build/release/CodecBench --large $(LARGE_PNG) --vqz .build/release/vqz

.PHONY: rd
# The extra λ = 0 curve shows what the entropy-constrained token choice buys (models with a λ schedule).
RD_FLAGS ?= --lambdas 0
# RD_MODELS: a comma-separated list to measure fewer models (every model in codecs/ by default).
RD_MODELS ?= all
rd: release ## Rate–distortion on Kodak (vqz bench): every model in codecs/, JPEG and WebP -> Benchmarks/Results/kodak/, Benchmarks/README.md
	$(FAST) .build/release/vqz bench --images ../shared/data/kodak --models $(RD_MODELS) -o Benchmarks/Results/kodak \
	  --reference ../shared/reference/kodak --markdown Benchmarks/README.md $(RD_FLAGS)

.PHONY: fuzz sanitize
FUZZ_SECONDS ?= 60
fuzz: deps ## libFuzzer (ASan): container parser, whole decode path, PNG reader, FUZZ_SECONDS each
	FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz/run.sh

sanitize: deps ## The test suite under AddressSanitizer (+LeakSanitizer), then ThreadSanitizer
	VQZ_SANITIZER=address LSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitize/lsan.supp swift test --sanitize=address --scratch-path .build/asan
	VQZ_SANITIZER=thread swift test --sanitize=thread --scratch-path .build/tsan

.PHONY: bench-packing
bench-packing: deps ## Token layouts, zstd levels and a dictionary, per level on Kodak -> Benchmarks/Results/packing.json
	$(RELEASE) --product PackingBench
	$(FAST) .build/release/PackingBench
