// util/common.c — checked allocation and error reporting (see common.h).
#include "util/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int err_set(Err *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rlhf: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void warnf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rlhf: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void infof(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static noreturn void oom(size_t n) {
    die("out of memory allocating %zu bytes (%.1f MiB)", n, (double)n / (1024.0 * 1024.0));
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

float *falloc(size_t count) {
    size_t bytes = count * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    void *p = aligned_alloc(64, bytes);
    if (!p) oom(bytes);
    memset(p, 0, bytes);
    return p;
}

// Large long-lived buffers (≥ 4 MiB: weights, packed weights, optimizer state, activations, KV
// caches) start on a 2 MiB boundary, are padded to whole 2 MiB and advised as transparent huge
// pages (in the kernel's common THP mode, "madvise", nothing gets huge pages unless asked). They
// are read in long streams, and one 2 MiB page takes one TLB entry where 4 KiB pages take 512.
// RLHF_HUGEPAGES=0 keeps 4 KiB pages.
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

int env_switch_check(const char *name, Err *e) {
    const char *v = getenv(name);
    if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return err_set(e, "environment variable %s=%s: expected 0 or 1", name, v);
    return 0;
}

int env_switch_on(const char *name) {
    const char *v = getenv(name);
    return !(v && !strcmp(v, "0"));
}

int hugepages_check_env(Err *e) { return env_switch_check("RLHF_HUGEPAGES", e); }

void *xalloc_huge(size_t bytes) {
    size_t align = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    if (bytes >= HUGE_MIN && env_switch_on("RLHF_HUGEPAGES")) {
        align = HUGE_PAGE;
        bytes = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    }
    void *p = aligned_alloc(align, bytes);
    if (!p) oom(bytes);
    if (align == HUGE_PAGE) (void)madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
    return p;
}

float *falloc_huge(size_t count) {
    float *p = xalloc_huge(count * sizeof(float));
    memset(p, 0, count * sizeof(float));
    return p;
}
