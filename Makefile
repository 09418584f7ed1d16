# zdedup front door.  `make demo` and `make test` work as the only command on a
# fresh Debian 12 machine: both run `make setup`, which installs what is missing.
#
#   make            build everything user-facing into build/ (CLI: build/zdedup)
#   make setup      install the Debian packages the project needs (idempotent)
#   make test       every test tier (unit, CLI, Python, fuzz corpus, bench smoke, in-VM: test-vm)
#   make fuzz       the libFuzzer harnesses, FUZZ_SECONDS each (tests/fuzz/)
#   make test-sanitize  the 7.2 dedup tier alone, under KASAN, kmemleak, fault injection, NUMA
#   make test-kcsan the 7.2 dedup tests under KCSAN, data races listed (build/kcsan-7.2.log)
#   make demo       the main job: patched 7.2 kernel in QEMU on a ghost swapfile, workload,
#                   zdedup live + validate, every page read back
#   make demo-scan  zdedup scan of a process with a known mix (no VM)
#   make bench      benchmarks (bench/README.md)
#   make install    zdedup into /usr/local/bin, zdedup(8), the Python package into /usr/local/lib/python3*/
#   make deb        Debian package of the CLI, zdedup(8) and the Python module:
#                   build/zdedup_VERSION_amd64.deb (lintian runs when installed)
#   make kernel     build the patched test kernels, 6.12 and 7.2 (cached under ~/.cache/zdedup)
#   make clean

BUILD   ?= build
JOBS    ?= $(shell nproc)
PYTHON  := /usr/bin/python3
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The fuzz build (tests/fuzz/): its own directory, clang++-14, ASan + UBSan.
FUZZ_BUILD   ?= build-fuzz
FUZZ_RUNS    ?= 1000
FUZZ_SECONDS ?= 300

# Debian packages, grouped by what needs them.
PKGS_BUILD  := build-essential cmake pkg-config libxxhash-dev libzstd-dev \
               liblz4-dev liblzo2-dev zlib1g-dev \
               nlohmann-json3-dev libcli11-dev libgtest-dev googletest
PKGS_PYTHON := python3-dev python3-pytest python3-numpy python3-pandas \
               python3-matplotlib python3-nbclient python3-nbformat \
               python3-ipykernel pybind11-dev python3-pybind11
PKGS_KERNEL := linux-source-6.12 patch flex bison bc libelf-dev libssl-dev cpio \
               dwarves xz-utils kmod rsync
PKGS_VM     := qemu-system-x86 busybox-static util-linux procps debian-archive-keyring
PKGS_BPF    := clang llvm libbpf-dev bpftool
PKGS_BENCH  := xxhash
PKGS_DEB    := dpkg-dev man-db groff-base binutils
# The fleet path (tests/cli/test_fleet.py starts both servers itself, on loopback).
PKGS_FLEET  := prometheus prometheus-node-exporter
PKGS_FUZZ   := clang-14 libclang-rt-14-dev
PKGS        := $(PKGS_BUILD) $(PKGS_PYTHON) $(PKGS_KERNEL) $(PKGS_VM) $(PKGS_BPF) $(PKGS_BENCH) \
               $(PKGS_DEB) $(PKGS_FLEET) $(PKGS_FUZZ)

.PHONY: all setup build install deb bench test test-unit test-cli test-python test-fuzz test-bench-smoke test-vm test-sanitize test-kcsan fuzz fuzz-build demo demo-scan kernel kernel-baseline clean

all: build

setup:
	@missing=$$(for p in $(PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  for p in $(PKGS_FLEET); do for m in $$missing; do \
	    [ "$$m" != "$$p" ] || units="$$units $$p.service"; \
	  done; done; \
	  if [ -n "$$units" ]; then \
	    echo "setup: disabling the system services that came with the fleet packages:$$units"; \
	    if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now -q $$units; \
	    else $(SUDO) systemctl disable -q $$units 2>/dev/null || true; fi; \
	  fi; \
	fi
	@# Debian sid (Linux 7.2 sources, stock 7.2 kernel) through a private apt
	@# configuration under the cache; the system's apt sources stay as they are.
	@kpatch/sid-apt setup

$(BUILD)/Makefile: CMakeLists.txt
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

test: setup build test-unit test-cli test-python test-fuzz test-vm test-bench-smoke

test-unit: build
	$(BUILD)/zdedup_unit_tests --gtest_brief=1

test-cli: build
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/cli

test-python: build
	PYTHONPATH=$(BUILD)/python $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

# Each harness for FUZZ_RUNS runs on the committed corpus (regression inputs
# included); make fuzz runs them for FUZZ_SECONDS each.
$(FUZZ_BUILD)/Makefile: CMakeLists.txt tests/fuzz/CMakeLists.txt
	@cmake -S . -B $(FUZZ_BUILD) -DZDEDUP_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null

fuzz-build: $(FUZZ_BUILD)/Makefile
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) -- --no-print-directory

test-fuzz: fuzz-build
	tests/fuzz/run --runs $(FUZZ_RUNS) $(FUZZ_BUILD)

fuzz: setup fuzz-build
	tests/fuzz/run --seconds $(FUZZ_SECONDS) $(FUZZ_BUILD)

test-vm: build
	tests/vm/run-guest-tests

# The 7.2 dedup tier alone, under KASAN, kmemleak, fault injection and 2 NUMA
# nodes (kpatch/build-kernel --config sanitize, about 11 minutes to build):
# make test-vm runs it among the other tiers (tests/vm/dedup/README.md).
test-sanitize: setup build
	tests/vm/dedup/run --base 7.2 --kernel patched-sanitize-7.2

# The dedup tests on the KCSAN kernel (kpatch/build-kernel --config kcsan),
# every data race it reports listed, one in zswap a failure; not in make
# test: KCSAN cannot share a build with KASAN, and its kernel is one more.
test-kcsan: setup build
	tests/vm/dedup/kcsan --base 7.2

test-bench-smoke: build
	$(PYTHON) bench/run --smoke > /dev/null

bench: setup build
	$(PYTHON) bench/run

install: build
	cmake --install $(BUILD)

deb: build
	@deb=$$(analyzer/deb/build-deb $(BUILD) $(BUILD)) && echo "deb: $$deb" && \
	if command -v lintian >/dev/null; then lintian --fail-on error,warning "$$deb"; \
	else echo "deb: lintian is not installed (optional, about 150 packages), not run"; fi

demo: setup build
	@tests/demo/vm-demo

demo-scan: setup build
	@tests/demo/scan-demo $(BUILD)

kernel: setup
	kpatch/build-kernel --base 6.12 --variant patched
	kpatch/build-kernel --base 7.2 --variant patched

kernel-baseline: setup
	kpatch/build-kernel --base 6.12 --variant baseline
	kpatch/build-kernel --base 7.2 --variant baseline

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
