# A thin wrapper over Meson. `make up` runs a cloud on this machine; `make check` runs every test.
BUILD ?= build
ASAN  ?= build-asan
FUZZ  ?= build-fuzz
FUZZ_TIME ?= 300
STATE ?= var
LISTEN ?= 127.0.0.1:8080

.PHONY: all build asan fuzz-build fuzz deps up down check unit clean format bench

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@bash scripts/vendor.sh

asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN)

# libFuzzer harnesses (tests/fuzz, docs/fuzzing.md): clang, ASan + UBSan, coverage for libFuzzer
$(FUZZ)/build.ninja:
	CC=clang meson setup $(FUZZ) --buildtype=debugoptimized -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz-build: deps $(FUZZ)/build.ninja
	ninja -C $(FUZZ) fuzz

# Each harness for FUZZ_TIME seconds (default 300) after its seed corpus; a crash's input lands in $(FUZZ)/test-logs/.
fuzz: fuzz-build
	@python3 scripts/run-tests.py --suite fuzz --fuzz-build $(FUZZ) --fuzz-time $(FUZZ_TIME)

# Installs what is missing, builds, starts libvirt if it is not running, builds the starter image,
# then runs yund --all-in-one in the foreground (Ctrl-C stops it; VMs keep running).
up: build
	@bash scripts/up.sh $(BUILD) $(STATE) $(LISTEN)

down:
	@bash scripts/down.sh $(STATE)

# Every suite, plain and ASan+UBSan, and each fuzzer over its corpus plus 2000 inputs; ends with one line
# "N passed, N failed".
check: build asan fuzz-build
	@python3 scripts/run-tests.py --build $(BUILD) --build $(ASAN) --fuzz-build $(FUZZ)

unit: build
	@python3 scripts/run-tests.py --build $(BUILD) --suite unit

bench: build
	@for b in bench/*.sh; do echo "== $$b"; bash $$b $(BUILD) || exit 1; done

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
