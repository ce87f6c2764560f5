// data/encode.c — tokenising a record with the chat template and truncating it (see encode.h).
#include "data/encode.h"

#include <stdlib.h>
#include <string.h>

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

int trunc_plan(const TruncOpts *o, int marker_len, int p, int r, int *keep_p, int *keep_r) {
    *keep_p = p;
    *keep_r = r;
    int L = o->max_len;
    if (L <= 0 || p + imax(r, 1) <= L) return ENC_OK;
    if (L <= marker_len) return ENC_TOO_LONG;
    int minp = o->min_prompt < 0 ? L / 2 : o->min_prompt;
    int floor = imin(p, imax(marker_len, minp));
    int kp = imin(imax(floor, L - r), L - 1);
    *keep_p = kp;
    *keep_r = imin(r, L - kp);
    return ENC_TRUNCATED;
}

static void cut_left(TokSeq *s, int keep) {
    int d = s->n - keep;
    if (d <= 0) return;
    memmove(s->ids, s->ids + d, (size_t)keep * sizeof *s->ids);
    memmove(s->mask, s->mask + d, (size_t)keep);
    s->n = keep;
}

int record_encode(const ChatTemplate *ct, const DataRecord *rec, const TruncOpts *o,
                  EncodedRecord *x) {
    memset(x, 0, sizeof *x);
    int marker = ct->marker_len;
    if (rec->shape == REC_SHAPE_TEXT) {
        x->k = 1;
        x->resp = xcalloc(1, sizeof *x->resp);
        chat_render_text(ct, rec->text, rec->text_len, &x->resp[0]);
        marker = 0;
    } else {
        chat_render_prompt(ct, &rec->prompt, &x->prompt);
        x->k = rec->k;
        x->resp = xcalloc((size_t)imax(rec->k, 1), sizeof *x->resp);
        for (int i = 0; i < rec->k; i++) chat_render_response(ct, &rec->resp[i], &x->resp[i]);
    }
    int r = 0;
    for (int i = 0; i < x->k; i++) r = imax(r, x->resp[i].n);
    x->prompt_len0 = x->prompt.n;
    x->resp_len0_max = r;
    int kp, kr;
    int st = trunc_plan(o, marker, x->prompt.n, r, &kp, &kr);
    if (st != ENC_TRUNCATED) return st;
    x->cut_prompt = x->prompt.n - kp;
    cut_left(&x->prompt, kp);
    for (int i = 0; i < x->k; i++)
        if (x->resp[i].n > kr) {
            x->cut_resp += x->resp[i].n - kr;
            x->resp[i].n = kr;
        }
    return ENC_TRUNCATED;
}

void encoded_free(EncodedRecord *x) {
    tokseq_free(&x->prompt);
    for (int i = 0; i < x->k; i++) tokseq_free(&x->resp[i]);
    free(x->resp);
    memset(x, 0, sizeof *x);
}
