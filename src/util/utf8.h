// util/utf8.h — UTF-8 validity: model output is bytes and may be cut mid-character; JSON output
// needs valid text.
#ifndef RLHF_UTIL_UTF8_H
#define RLHF_UTIL_UTF8_H

#include <stddef.h>

// Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if it is invalid or truncated.
size_t utf8_seq_len(const unsigned char *s, size_t n);
// New NUL-terminated copy of s[0..n) with every invalid byte replaced by U+FFFD.
char *utf8_sanitize(const char *s, size_t n);
// Same; *out_n gets the result's length (it may contain NUL bytes when s does).
char *utf8_sanitize_len(const char *s, size_t n, size_t *out_n);

#endif
