// tests/test_model_head_grad.c — gpt_lm_logprobs_grad (the LM head's backward taken with its
// forward, for a loss gradient known in advance) against gpt_lm_logprobs then gpt_backward: the
// log-probabilities, entropies and every parameter gradient bit for bit — one chunk of active
// rows and several (the logits would be made twice), shared prefixes and tails, with and without
// the entropy term, with a value gradient beside it, accumulated over two micro-batches, fp32 and
// bf16 products; a gpt_zero_grad between the two calls leaves gpt_backward to redo the head; a
// gpt_backward given another dL/dlogp, dL/dent, target or temperature than the head's gradient was
// taken for dies (checked in fork()ed children).
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "nn/gemm.h"
#include "nn/nn.h"
#include "tiny.h"

enum { BMAX = 16, NMAX = 16 * 32 };

typedef struct {
    int B, len[BMAX], parent[BMAX], prefix[BMAX], tail[BMAX];
    int tok[NMAX], tgt[NMAX];
    float dlogp[NMAX], dent[NMAX], dval[NMAX];
    size_t N;
} Batch;

// B rows of `len` tokens (rows 1, 3, … continue their left neighbour's first `share` tokens when
// share > 0), a target on every position after each row's first `skip`, tails from the targets.
static void make_batch(Batch *bt, int B, int len, int share, int skip, unsigned long long seed) {
    memset(bt, 0, sizeof *bt);
    bt->B = B;
    for (int b = 0; b < B; b++) {
        bt->len[b] = len;
        bt->parent[b] = share > 0 && b % 2 == 1 ? b - 1 : -1;
        bt->prefix[b] = bt->parent[b] >= 0 ? share : 0;
    }
    bt->N = tiny_tokens(bt->tok, bt->len, B, 40, seed);
    for (int b = 0, o = 0; b < B; o += bt->len[b], b++)
        for (int i = 0; i < bt->len[b]; i++) {
            size_t n = (size_t)(o + i);
            bt->tgt[n] = i >= skip && i + 1 < bt->len[b] ? bt->tok[n + 1] : -1;
            bt->dlogp[n] = bt->tgt[n] >= 0 ? 0.1f * (float)(n % 7) - 0.3f : 0.0f;
            bt->dent[n] = bt->tgt[n] >= 0 ? 0.03f * (float)(n % 5) - 0.05f : 0.0f;
            bt->dval[n] = bt->tgt[n] >= 0 ? 0.02f * (float)(n % 3) : 0.0f;
        }
    gpt_tail_from_targets(B, bt->len, bt->tgt, bt->tail);
}

static size_t active(const Batch *bt) {
    size_t a = 0;
    for (size_t n = 0; n < bt->N; n++) a += bt->tgt[n] >= 0;
    return a;
}

typedef struct {
    const char *name;
    int ent, val, zero_between;
} Form;

// Runs the batches (micro-batches accumulating into one gradient) through the head the two ways
// and compares; returns nothing, CHECKs.
static void compare(const char *what, const Batch *bts, int nb, const Form *f) {
    GPT *m[2] = {tiny_model(1, 1, 31), tiny_model(1, 1, 31)};
    float lp[2][NMAX], en[2][NMAX];
    const float it = 1.0f / 0.8f;
    for (int way = 0; way < 2; way++) {
        gpt_zero_grad(m[way]);
        for (int k = 0; k < nb; k++) {
            const Batch *bt = &bts[k];
            Err e;
            CHECK(gpt_forward_tail(m[way], bt->B, bt->len, bt->tok, bt->parent, bt->prefix,
                                   bt->tail, &e) == 0, "%s: %s", what, e.msg);
            const float *de = f->ent ? bt->dent : NULL, *dv = f->val ? bt->dval : NULL;
            float *ent = f->ent ? en[way] : NULL;
            if (way == 0) {
                gpt_lm_logprobs(m[0], bt->tgt, it, lp[0], ent);
            } else {
                gpt_lm_logprobs_grad(m[1], bt->tgt, it, lp[1], ent, bt->dlogp, de);
                if (f->zero_between) gpt_zero_grad(m[1]);
            }
            if (way == 0 && f->zero_between) gpt_zero_grad(m[0]);
            gpt_backward(m[way], bt->tgt, it, bt->dlogp, de, dv);
            CHECK(!m[way]->head_grad, "%s: gpt_backward left the head's gradient marked taken", what);
        }
    }
    const Batch *last = &bts[nb - 1];
    char buf[192];
    snprintf(buf, sizeof buf, "%s (%s): logp", what, f->name);
    check_bitwise(buf, lp[1], lp[0], last->N);
    if (f->ent) {
        snprintf(buf, sizeof buf, "%s (%s): ent", what, f->name);
        check_bitwise(buf, en[1], en[0], last->N);
    }
    for (int t = 0; t < m[0]->n_tensors; t++) {
        const GPTTensor *T = &m[0]->tensors[t];
        snprintf(buf, sizeof buf, "%s (%s): d %s", what, f->name, T->name);
        check_bitwise(buf, m[1]->grads + T->offset, m[0]->grads + T->offset, T->numel);
    }
    gpt_free(m[0]);
    gpt_free(m[1]);
}

static void run_all(const char *precision) {
    static const Form forms[] = {{"logp", 0, 0, 0}, {"logp and entropy", 1, 0, 0},
                                 {"with a value gradient", 1, 1, 0},
                                 {"zero_grad in between", 1, 0, 1}};
    Batch one, many, shared, micro[2];
    make_batch(&one, 5, 20, 0, 3, 41);      // 80 active rows: one chunk
    make_batch(&many, 12, 32, 0, 4, 42);    // 324 active rows: two chunks
    make_batch(&shared, 16, 22, 9, 2, 43);  // shared prompts and tails, two chunks
    make_batch(&micro[0], 10, 31, 0, 2, 44);
    make_batch(&micro[1], 3, 17, 0, 5, 45);
    CHECK(active(&one) <= lmhead_chunk_rows() && active(&many) > lmhead_chunk_rows() &&
              active(&shared) > lmhead_chunk_rows() && active(&micro[0]) > lmhead_chunk_rows(),
          "batch sizes no longer make one and two chunks");
    char what[96];
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(what, sizeof what, "%s, one chunk", precision);
        compare(what, &one, 1, &forms[i]);
        snprintf(what, sizeof what, "%s, two chunks", precision);
        compare(what, &many, 1, &forms[i]);
        snprintf(what, sizeof what, "%s, shared prompts and tails", precision);
        compare(what, &shared, 1, &forms[i]);
        snprintf(what, sizeof what, "%s, two micro-batches", precision);
        compare(what, micro, 2, &forms[i]);
    }
}

// gpt_backward(…) in a child after gpt_lm_logprobs_grad(…, dlogp, dent): 1 when it died (the
// refusal comes before the backward's first OpenMP region, which a fork()ed child must not run).
static int backward_dies(GPT *m, const Batch *bt, float it, const int *tgt, const float *dlogp,
                         const float *dent) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 2);
        alarm(20);  // a backward that is not refused may hang in OpenMP here: a signal, not a pass
        gpt_backward(m, tgt ? tgt : bt->tgt, it, dlogp, dent, NULL);
        _exit(0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) != 0;
}

static void test_mismatch_dies(void) {
    Batch bt;
    make_batch(&bt, 5, 20, 0, 3, 46);
    GPT *m = tiny_model(1, 1, 31);
    Err e;
    CHECK(gpt_forward_tail(m, bt.B, bt.len, bt.tok, NULL, NULL, bt.tail, &e) == 0, "%s", e.msg);
    float lp[NMAX], other[NMAX];
    int tgt2[NMAX];
    const float it = 1.25f;
    gpt_lm_logprobs_grad(m, bt.tgt, it, lp, NULL, bt.dlogp, bt.dent);
    memcpy(other, bt.dlogp, sizeof other);
    memcpy(tgt2, bt.tgt, sizeof tgt2);
    size_t first = 0;
    while (bt.tgt[first] < 0) first++;
    other[first] += 0.5f;
    tgt2[first] = (tgt2[first] + 1) % 40;
    CHECK(backward_dies(m, &bt, it, NULL, other, bt.dent) == 1, "another dL/dlogp was not refused");
    CHECK(backward_dies(m, &bt, it, NULL, bt.dlogp, NULL) == 1, "a missing dL/dent was not refused");
    CHECK(backward_dies(m, &bt, it, NULL, bt.dlogp, other) == 1, "another dL/dent was not refused");
    CHECK(backward_dies(m, &bt, it, tgt2, bt.dlogp, bt.dent) == 1, "another target was not refused");
    CHECK(backward_dies(m, &bt, 1.0f, NULL, bt.dlogp, bt.dent) == 1,
          "another temperature was not refused");
    // the matching backward goes through (here: a child would run OpenMP regions after fork())
    gpt_backward(m, bt.tgt, it, bt.dlogp, bt.dent, NULL);
    CHECK(!m->head_grad, "the matching backward left the head's gradient marked taken");
    gpt_free(m);
}

int main(void) {
    test_mismatch_dies();
    run_all("fp32");
    Err e;
    if (gemm_set_bf16(1, &e) == 0) {
        run_all("bf16");
        gemm_set_bf16(0, &e);
    }
    gemm_release_cache();
    return check_summary("test_model_head_grad");
}
