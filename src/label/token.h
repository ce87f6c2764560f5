// label/token.h — annotator login tokens: 32 random bytes from the kernel (getrandom) written as
// 64 hex digits, and their SHA-256 (OpenSSL libcrypto, EVP_Digest) — the only form stored.
#ifndef RLHF_LABEL_TOKEN_H
#define RLHF_LABEL_TOKEN_H

#include <stddef.h>

#include "util/common.h"

#define LABEL_TOKEN_HEX 65  // 64 hex digits + NUL

// A new secret token. Fails only when the kernel has no randomness to give.
int label_token_new(char out[LABEL_TOKEN_HEX], Err *e);
// SHA-256 of the n bytes at token, as 64 lowercase hex digits.
int label_token_hash(const char *token, size_t n, char out[LABEL_TOKEN_HEX], Err *e);

#endif
