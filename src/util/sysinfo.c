// util/sysinfo.c — owns machine facts: memory from /proc, OpenMP/OpenBLAS thread counts and
// which OpenBLAS build was loaded (see sysinfo.h).
#include "util/sysinfo.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "util/common.h"

// Reads "KEY:   123 kB" from a /proc file; returns bytes, 0 if absent.
static size_t proc_kb_field(const char *file, const char *key) {
    FILE *fp = fopen(file, "r");
    if (!fp) return 0;
    char line[256];
    size_t klen = strlen(key), result = 0;
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            unsigned long long kb = 0;
            if (sscanf(line + klen + 1, "%llu", &kb) == 1) result = (size_t)kb * 1024;
            break;
        }
    }
    fclose(fp);
    return result;
}

size_t mem_available_bytes(void) { return proc_kb_field("/proc/meminfo", "MemAvailable"); }
size_t mem_total_bytes(void) { return proc_kb_field("/proc/meminfo", "MemTotal"); }
size_t peak_rss_bytes(void) { return proc_kb_field("/proc/self/status", "VmHWM"); }

int threads_get(void) { return omp_get_max_threads(); }

void threads_set(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

const char *blas_corename(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

const char *blas_threading(void) {
    switch (openblas_get_parallel()) {
    case 0: return "sequential";
    case 1: return "pthreads";
    case 2: return "openmp";
    }
    return "unknown";
}

void blas_check_threading(void) {
    static int warned = 0;
    if (warned) return;
    if (openblas_get_parallel() != 2) {
        warned = 1;
        warnf("the loaded OpenBLAS uses %s threading, not OpenMP; its thread pool may fight "
              "with OpenMP's (install libopenblas0-openmp)",
              blas_threading());
    }
}
