// train/rollout_gather.c — data parallelism for rollouts: every rank samples its share of the
// iteration's prompts, then rollout_allgather concatenates the ranks' rows in rank order on
// every rank, so each holds the batch one process would have sampled (see rollout.h).
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "train/rollout.h"

void rollout_allgather(Rollout *r) {
    int S = dist_size();
    if (S == 1) return;
    Rollout all;
    memset(&all, 0, sizeof all);
    long head[2 * 64], *hd = S <= 64 ? head : xmalloc(2 * (size_t)S * sizeof(long));
    for (int q = 0; q < S; q++) {  // rows and prompt+response tokens of every rank
        long mine[2] = {r->B, 0};
        for (int b = 0; b < r->B; b++) mine[1] += r->plen[b] + r->rlen[b];
        if (q == dist_rank()) memcpy(hd + 2 * q, mine, sizeof mine);
        dist_broadcast_from(q, hd + 2 * q, 2 * sizeof(long));
    }
    for (int q = 0; q < S; q++) all.B += (int)hd[2 * q];
    size_t B = (size_t)all.B;
    all.prompt = xmalloc((B ? B : 1) * sizeof(int));
    all.plen = xmalloc((B ? B : 1) * sizeof(int));
    all.rlen = xmalloc((B ? B : 1) * sizeof(int));
    all.ended = xmalloc((B ? B : 1) * sizeof(int));
    all.ids = xmalloc((B ? B : 1) * sizeof(int *));
    all.roff = xmalloc((B ? B : 1) * sizeof(size_t));
    int at = 0;
    for (int q = 0; q < S; q++) {
        int nb = (int)hd[2 * q];
        size_t nt = (size_t)hd[2 * q + 1];
        int *meta = xmalloc((4 * (size_t)nb + 1) * sizeof(int));
        int *toks = xmalloc((nt + 1) * sizeof(int));
        if (q == dist_rank()) {
            size_t o = 0;
            for (int b = 0; b < nb; b++) {
                meta[4 * b] = r->prompt[b]; meta[4 * b + 1] = r->plen[b];
                meta[4 * b + 2] = r->rlen[b]; meta[4 * b + 3] = r->ended[b];
                size_t L = (size_t)(r->plen[b] + r->rlen[b]);
                memcpy(toks + o, r->ids[b], L * sizeof(int));
                o += L;
            }
        }
        dist_broadcast_from(q, meta, 4 * (size_t)nb * sizeof(int));
        dist_broadcast_from(q, toks, nt * sizeof(int));
        size_t o = 0;
        for (int b = 0; b < nb; b++, at++) {
            all.prompt[at] = meta[4 * b]; all.plen[at] = meta[4 * b + 1];
            all.rlen[at] = meta[4 * b + 2]; all.ended[at] = meta[4 * b + 3];
            size_t L = (size_t)(all.plen[at] + all.rlen[at]);
            all.ids[at] = xmalloc(L * sizeof(int));
            memcpy(all.ids[at], toks + o, L * sizeof(int));
            o += L;
            all.roff[at] = all.N;
            all.N += (size_t)all.rlen[at];
        }
        free(meta);
        free(toks);
    }
    all.sampler_logp = falloc(all.N ? all.N : 1);
    at = 0;
    for (int q = 0; q < S; q++) {  // the sampler's logprobs, rank q's rows in place
        int nb = (int)hd[2 * q];
        size_t first = nb ? all.roff[at] : 0, n = 0;
        for (int b = 0; b < nb; b++) n += (size_t)all.rlen[at + b];
        if (q == dist_rank() && n) memcpy(all.sampler_logp + first, r->sampler_logp, n * sizeof(float));
        dist_broadcast_from(q, all.sampler_logp + first, n * sizeof(float));
        at += nb;
    }
    if (hd != head) free(hd);
    rollout_free(r);
    *r = all;
}
