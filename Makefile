# rlhf.c build. `make` builds build/rlhf; `make test`, `make sanitize`, `make bench`, `make demo`.
# `make valgrind` runs the unit tests under valgrind (memcheck, leaks). `make bench-peers` times
# every stage against TRL / PyTorch (bench/peers/; sets up the cached .venv-peers/ first, ~5 GB).
# Every target that builds first runs scripts/install-deps.sh (installs missing Debian packages).
# `make test` also sets up the cached .venv/ (scripts/setup-venv.sh: Debian's python3-torch +
# transformers) for the cross-check against Hugging Face (tests/cli_hf_crosscheck.sh).

CC      ?= gcc
BLASINC := /usr/include/x86_64-linux-gnu/openblas-openmp
BLASLIB := /usr/lib/x86_64-linux-gnu/openblas-openmp
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -Isrc -Ibench -Itests/support -I$(BLASINC) -MMD -MP
CFLAGS  ?= -O3 -march=native -fno-math-errno -g
LDLIBS  := -L$(BLASLIB) -Wl,-rpath,$(BLASLIB) -lopenblas -ljansson -lutf8proc -lm
SANFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRC  := $(sort $(shell find src bench -name '*.c' ! -path 'src/cli/main.c'))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := $(sort $(wildcard tests/support/*.c))

# $(1) = build dir, $(2) = extra cflags
define build_rules
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	@echo "  CC $$<"
	@$$(CC) $$(CFLAGS_BASE) $(2) -c $$< -o $$@
$(1)/librlhf.a: $$(patsubst %.c,$(1)/obj/%.o,$$(LIB_SRC))
	@rm -f $$@
	@ar rcs $$@ $$^
$(1)/rlhf: $(1)/obj/src/cli/main.o $(1)/librlhf.a
	@echo "  LD $$@"
	@$$(CC) $$(CFLAGS_BASE) $(2) $$^ -o $$@ $$(LDLIBS)
$(1)/tests/%: $(1)/obj/tests/%.o $$(patsubst %.c,$(1)/obj/%.o,$$(TEST_SUPPORT)) $(1)/librlhf.a
	@mkdir -p $$(dir $$@)
	@$$(CC) $$(CFLAGS_BASE) $(2) $$^ -o $$@ $$(LDLIBS)
endef

$(eval $(call build_rules,build,$(CFLAGS)))
$(eval $(call build_rules,build-san,$(SANFLAGS)))
# valgrind cannot decode AVX-512: its build targets AVX2, and OpenBLAS is pinned to Haswell kernels
$(eval $(call build_rules,build-vg,-O1 -g -march=x86-64-v3))

TESTS     := $(patsubst tests/%.c,build/tests/%,$(TEST_SRC))
SAN_TESTS := $(patsubst tests/%.c,build-san/tests/%,$(TEST_SRC))
VG_TESTS  := $(patsubst tests/%.c,build-vg/tests/%,$(TEST_SRC))

.PHONY: all deps test sanitize valgrind bench bench-peers demo demo-seeds clean
.DEFAULT_GOAL := all
.SECONDARY:

all: deps
	@$(MAKE) -s -j$$(nproc) --no-print-directory build/rlhf

deps:
	@scripts/install-deps.sh

test: deps
	@scripts/setup-venv.sh || echo "rlhf: no Python environment: the Hugging Face cross-check will be SKIPPED"
	@$(MAKE) -s -j$$(nproc) --no-print-directory build/rlhf $(TESTS)
	@tests/run.sh build

sanitize: deps
	@$(MAKE) -s -j$$(nproc) --no-print-directory build-san/rlhf $(SAN_TESTS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 RLHF_SANITIZE=1 tests/run.sh build-san

valgrind:
	@scripts/install-deps.sh valgrind
	@$(MAKE) -s -j$$(nproc) --no-print-directory $(VG_TESTS)
	@RLHF_VALGRIND=1 OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=1 tests/run.sh build-vg

bench: all
	@build/rlhf bench

# rlhf.c vs TRL / PyTorch, stage by stage (docs/performance.md, "Peers"); PEERS_FLAGS passes flags
# to bench/peers/run.py (e.g. PEERS_FLAGS="--only sft,dpo --steps 8")
PEERS_VENV := $(or $(RLHF_PEERS_VENV),$(CURDIR)/.venv-peers)
bench-peers: all
	@scripts/setup-peers-venv.sh
	@python3 bench/peers/run.py --python $(PEERS_VENV)/bin/python $(PEERS_FLAGS)

demo: all
	@build/rlhf demo

# the full demo on seeds 1-5; every summary and report goes to docs/demo-seeds/ whether it passed or not
demo-seeds: all
	@mkdir -p docs/demo-seeds
	@for s in 1 2 3 4 5; do build/rlhf demo --quiet --seed $$s --out demo-seeds/seed-$$s || true; \
	  cp demo-seeds/seed-$$s/summary.json docs/demo-seeds/seed-$$s.json 2>/dev/null || true; \
	  cp demo-seeds/seed-$$s/report.md docs/demo-seeds/seed-$$s.md 2>/dev/null || true; done
	@echo "passed: $$(grep -l '"pass": true' docs/demo-seeds/seed-*.json 2>/dev/null | wc -l) of 5 seeds (docs/demo-seeds/)"

clean:
	rm -rf build build-san build-vg

-include $(shell find build build-san build-vg -name '*.d' 2>/dev/null)
