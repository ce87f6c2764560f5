// util/sysinfo.h — what the machine offers: memory, threads, the BLAS that was loaded.
#ifndef RLHF_UTIL_SYSINFO_H
#define RLHF_UTIL_SYSINFO_H

#include <stddef.h>

size_t mem_available_bytes(void);  // MemAvailable from /proc/meminfo (0 if unknown)
size_t mem_total_bytes(void);      // MemTotal
size_t peak_rss_bytes(void);       // VmHWM of this process
int threads_get(void);             // omp_get_max_threads()
void threads_set(int n);           // omp_set_num_threads + openblas_set_num_threads
const char *blas_corename(void);   // OpenBLAS kernel family that runs, e.g. "Haswell"
const char *blas_threading(void);  // "openmp", "pthreads" or "sequential"
// Warns once when the loaded OpenBLAS is not the OpenMP build (two thread pools would fight).
void blas_check_threading(void);

#endif
