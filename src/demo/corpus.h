// demo/corpus.h — a small built-in English corpus generated from templates (no downloads), for
// the quick demo and for tests that need text.
#ifndef RLHF_DEMO_CORPUS_H
#define RLHF_DEMO_CORPUS_H

#include <stddef.h>
#include <stdint.h>

// Returns a new NUL-terminated text of about `bytes` bytes: simple sentences about people,
// animals and counting, one per line, drawn deterministically from seed.
char *demo_corpus(size_t bytes, uint64_t seed);

#endif
