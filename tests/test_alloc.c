// tests/test_alloc.c — tensor allocation (util/common.h): falloc / falloc_huge zeroed and aligned;
// buffers of 4 MiB and more from falloc_huge / xalloc_huge start on a 2 MiB boundary and carry
// the kernel's huge-page advice (VmFlags "hg" in /proc/self/smaps); smaller ones and
// RLHF_HUGEPAGES=0 do not.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/check.h"
#include "util/common.h"

#define MIB ((size_t)1 << 20)

// 1 when the mapping holding p carries MADV_HUGEPAGE ("hg" in its VmFlags), 0 when it does not,
// -1 when /proc/self/smaps has no mapping for p.
static int huge_advised(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[1024];
    int inside = 0, found = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && !strncmp(line, "VmFlags:", 8)) {
            found = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

static int all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}

int main(void) {
    // the kernel takes the advice only when built with transparent huge pages
    int thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
    unsetenv("RLHF_HUGEPAGES");

    float *small = falloc(100), *small_huge = falloc_huge(100);
    CHECK((uintptr_t)small % 64 == 0 && (uintptr_t)small_huge % 64 == 0, "64-byte alignment");
    CHECK(all_zero(small, 100) && all_zero(small_huge, 100), "small buffers zeroed");
    CHECK(huge_advised(small_huge) != 1, "a 400-byte buffer is not advised as huge pages");
    free(small);
    free(small_huge);

    size_t n = 3 * MIB;  // 12 MiB of floats
    float *big = falloc_huge(n);
    CHECK((uintptr_t)big % (2 * MIB) == 0, "12 MiB buffer on a 2 MiB boundary (%p)", (void *)big);
    CHECK(all_zero(big, n), "falloc_huge zeroes");
    for (size_t i = 0; i < n; i++) big[i] = (float)i;  // the whole buffer is usable
    CHECK(big[n - 1] == (float)(n - 1), "last element written");
    if (thp) CHECK(huge_advised(big) == 1, "12 MiB buffer advised as huge pages");
    free(big);

    unsigned char *raw = xalloc_huge(4 * MIB);  // the threshold itself
    CHECK((uintptr_t)raw % (2 * MIB) == 0, "4 MiB raw buffer on a 2 MiB boundary");
    memset(raw, 0xab, 4 * MIB);
    if (thp) CHECK(huge_advised(raw) == 1, "4 MiB raw buffer advised as huge pages");
    free(raw);

    unsigned char *below = xalloc_huge(4 * MIB - 64);
    CHECK((uintptr_t)below % 64 == 0, "64-byte alignment below the threshold");
    memset(below, 1, 4 * MIB - 64);
    if (thp) CHECK(huge_advised(below) == 0, "just under 4 MiB: no huge-page advice");
    free(below);

    setenv("RLHF_HUGEPAGES", "0", 1);
    float *off = falloc_huge(n);
    CHECK((uintptr_t)off % 64 == 0 && all_zero(off, n), "RLHF_HUGEPAGES=0: aligned, zeroed");
    off[n - 1] = 1.0f;
    if (thp) CHECK(huge_advised(off) == 0, "RLHF_HUGEPAGES=0: no huge-page advice");
    free(off);
    unsetenv("RLHF_HUGEPAGES");

    return check_summary("alloc");
}
