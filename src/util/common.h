// util/common.h — checked allocation, fatal errors, warnings, and the Err type that carries a
// message with file/line/field context from a failing library call up to the command.
#ifndef RLHF_UTIL_COMMON_H
#define RLHF_UTIL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#define RLHF_PRINTF(a, b) __attribute__((format(printf, a, b)))

// Errors from library calls: functions that can fail on bad input return 0 on success and -1 on
// failure, filling an Err with a one-line message ("file:line: field \"x\": expected ...").
typedef struct {
    char msg[1024];
} Err;
int err_set(Err *e, const char *fmt, ...) RLHF_PRINTF(2, 3);  // always returns -1

// Fatal: prints "rlhf: error: MSG" to stderr and exits with status 1.
noreturn void die(const char *fmt, ...) RLHF_PRINTF(1, 2);
void warnf(const char *fmt, ...) RLHF_PRINTF(1, 2);   // "rlhf: warning: MSG"
void infof(const char *fmt, ...) RLHF_PRINTF(1, 2);   // "MSG" on stderr (rank 0 only later)

void *xmalloc(size_t n);                  // dies (naming the size) when out of memory
void *xcalloc(size_t count, size_t size); // zeroed
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
// 64-byte aligned, zeroed float buffer for tensors; free with free().
float *falloc(size_t count);
// For large long-lived buffers (weights, optimizer state, activations, KV caches): from 4 MiB on
// 2 MiB-aligned and advised as transparent huge pages (RLHF_HUGEPAGES=0: not); free with free().
float *falloc_huge(size_t count);  // zeroed floats
void *xalloc_huge(size_t bytes);   // not zeroed
// -1 with a message when RLHF_HUGEPAGES is set to something other than 0 or 1 (commands check
// it at start-up; the allocators take any value but 0 as 1).
int hugepages_check_env(Err *e);
// An on/off switch in the environment (RLHF_PROMPT_SHARING, RLHF_FORWARD_REUSE): unset, empty,
// 0 or 1; any other value is an error naming the variable.
int env_switch_check(const char *name, Err *e);
// Such a switch's state: on unless the variable is exactly "0".
int env_switch_on(const char *name);

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

#endif
