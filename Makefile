# rlhf.c build. `make` builds build/rlhf; `make test`, `make sanitize`, `make bench`, `make demo`.
# `make valgrind` runs the unit tests under valgrind (memcheck, leaks). Every target that builds
# first runs scripts/install-deps.sh (installs missing Debian packages).
# `make test` also installs the Debian packages only tests need (TEST_PKGS: headless chromium and
# its WebDriver for the labelling app's browser test) and sets up the cached .venv/
# (scripts/setup-venv.sh: Debian's python3-torch + transformers for the cross-check against
# Hugging Face, tests/cli_hf_crosscheck.sh; selenium for tests/cli_label_browser.sh).
# Processes: when mpicc is found (Debian openmpi-bin + libopenmpi-dev), src/dist/dist_mpi.c is
# built with mpicc's own compile and link flags (`mpicc --showme:*`) and the binary runs under
# mpirun; otherwise (or with RLHF_NO_MPI=1) src/dist/dist_single.c, and nothing links MPI.
# `make bench-peers` times every stage against TRL / PyTorch (bench/peers/; sets up the cached
# .venv-peers/ first, ~5 GB).

CC      ?= gcc
BLASINC := /usr/include/x86_64-linux-gnu/openblas-openmp
BLASLIB := /usr/lib/x86_64-linux-gnu/openblas-openmp
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -Isrc -Ibench -Itests/support -I$(BLASINC) -MMD -MP
CFLAGS  ?= -O3 -march=native -fno-math-errno -g
LDLIBS  := -L$(BLASLIB) -Wl,-rpath,$(BLASLIB) -lopenblas -ldnnl -ljansson -lutf8proc -lmicrohttpd -lsqlite3 -lcrypto -lpthread -lm
TEST_PKGS := chromium chromium-driver
SANFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

MPICC := $(if $(RLHF_NO_MPI),,$(shell command -v mpicc 2>/dev/null))
ifneq ($(MPICC),)
  DIST_SKIP := src/dist/dist_single.c
  CFLAGS_BASE += $(shell $(MPICC) --showme:compile)
  LDLIBS += $(shell $(MPICC) --showme:link)
else
  DIST_SKIP := src/dist/dist_mpi.c
endif

LIB_SRC  := $(sort $(filter-out $(DIST_SKIP),$(shell find src bench -name '*.c' ! -path 'src/cli/main.c')))
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
	@scripts/install-deps.sh $(TEST_PKGS) || echo "rlhf: no $(TEST_PKGS): the labelling browser test will be SKIPPED"
	@scripts/setup-venv.sh || echo "rlhf: no Python environment: the Hugging Face cross-check and the browser test will be SKIPPED"
	@$(MAKE) -s -j$$(nproc) --no-print-directory build/rlhf $(TESTS)
	@tests/run.sh build

sanitize: deps
	@$(MAKE) -s -j$$(nproc) --no-print-directory build-san/rlhf $(SAN_TESTS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 RLHF_SANITIZE=1 tests/run.sh build-san

# oneDNN limited to its SSE4.1 kernels here: its AVX2 jit gemm reads a 32-byte vector past the end
# of its own packing buffers (oneDNN's allocations, within their last page), which memcheck reports
# (seen in test_train_core); valgrind's CPU has no AVX-512, and make sanitize runs the real kernels
valgrind:
	@scripts/install-deps.sh valgrind
	@$(MAKE) -s -j$$(nproc) --no-print-directory $(VG_TESTS)
	@RLHF_VALGRIND=1 OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=SSE41 OMP_NUM_THREADS=1 tests/run.sh build-vg

# data parallelism: one process × 2 threads, then (MPI build) 2 processes × 1 thread
bench: all
	@build/rlhf bench
	@OMP_NUM_THREADS=2 build/rlhf bench --only dist
	@if ldd build/rlhf | grep -q libmpi && command -v mpirun >/dev/null; then \
	  mpirun $$([ "$$(id -u)" = 0 ] && echo --allow-run-as-root) -np 2 -x OMP_NUM_THREADS=1 \
	    build/rlhf bench --only dist; fi

# rlhf.c vs TRL / PyTorch, stage by stage (docs/performance.md, "Peers"); PEERS_FLAGS passes flags
# to bench/peers/run.py (e.g. PEERS_FLAGS="--only sft,dpo --steps 8 --rounds 3")
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
