// data/dataset.c — loading a tokenised dataset with its split and report (see dataset.h).
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "util/rng.h"

unsigned data_kind_shapes(DataKind kind) {
    switch (kind) {
    case DATA_SFT:
        return 1u << REC_SHAPE_TEXT | 1u << REC_SHAPE_COMPLETION | 1u << REC_SHAPE_MESSAGES |
               1u << REC_SHAPE_ALPACA;
    case DATA_CMP: return 1u << REC_SHAPE_PREFERENCE | 1u << REC_SHAPE_RANKING;
    case DATA_PROMPT: return ~(1u << REC_SHAPE_TEXT) & ((1u << REC_SHAPE_COUNT) - 1);
    }
    return 0;
}

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int data_is_val(uint64_t seed, long line, double val_fraction) {
    if (val_fraction <= 0) return 0;
    double u = (double)(mix64(mix64(seed) ^ (uint64_t)line) >> 11) * 0x1.0p-53;
    return u < val_fraction;
}

void data_order(size_t n, uint64_t seed, int epoch, int *idx) {
    for (size_t i = 0; i < n; i++) idx[i] = (int)i;
    Rng r;
    rng_seed(&r, seed, 0x64617461 /* "data" */, (uint64_t)epoch);
    rng_shuffle(&r, idx, (int)n);
}

static int *dup_ids(const int *a, int n) {
    int *p = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (n) memcpy(p, a, (size_t)n * sizeof(int));
    return p;
}

// A prompt conversation as text: one message → its content; several → a plain transcript.
static char *prompt_text(const Convo *c) {
    if (c->n == 1) return xstrdup(c->msg[0].text);
    static const char *label[3] = {"System", "User", "Assistant"};
    size_t n = 0;
    for (int i = 0; i < c->n; i++) n += c->msg[i].len + 16;
    char *s = xmalloc(n + 1), *p = s;
    for (int i = 0; i < c->n; i++) {
        p += sprintf(p, "%s%s: ", i ? "\n\n" : "", label[c->msg[i].role]);
        memcpy(p, c->msg[i].text, c->msg[i].len);
        p += c->msg[i].len;
    }
    *p = 0;
    return s;
}

static void ds_add(Dataset *ds, size_t *cap, const DataRecord *rec, const EncodedRecord *x) {
    if (ds->n == *cap) {
        *cap = *cap * 2 + 16;
        if (ds->kind == DATA_SFT) ds->sft = xrealloc(ds->sft, *cap * sizeof *ds->sft);
        if (ds->kind == DATA_CMP) ds->cmp = xrealloc(ds->cmp, *cap * sizeof *ds->cmp);
        if (ds->kind == DATA_PROMPT) ds->prm = xrealloc(ds->prm, *cap * sizeof *ds->prm);
    }
    if (ds->kind == DATA_SFT) {
        SftExample *s = &ds->sft[ds->n];
        const TokSeq *p = &x->prompt, *r = &x->resp[0];
        s->n_prompt = p->n;
        s->n = p->n + r->n;
        s->ids = xmalloc((size_t)s->n * sizeof(int));
        s->mask = xmalloc((size_t)s->n);
        if (p->n) memcpy(s->ids, p->ids, (size_t)p->n * sizeof(int));
        if (p->n) memcpy(s->mask, p->mask, (size_t)p->n);
        memcpy(s->ids + p->n, r->ids, (size_t)r->n * sizeof(int));
        memcpy(s->mask + p->n, r->mask, (size_t)r->n);
        s->line = rec->line;
    } else if (ds->kind == DATA_CMP) {
        CmpExample *c = &ds->cmp[ds->n];
        memset(c, 0, sizeof *c);
        c->prompt = dup_ids(x->prompt.ids, x->prompt.n);
        c->n_prompt = x->prompt.n;
        c->k = x->k;
        c->resp = xmalloc((size_t)x->k * sizeof(int *));
        c->n_resp = xmalloc((size_t)x->k * sizeof(int));
        for (int i = 0; i < x->k; i++) {
            c->resp[i] = dup_ids(x->resp[i].ids, x->resp[i].n);
            c->n_resp[i] = x->resp[i].n;
        }
        c->n_rank = rec->n_rank;
        c->rank = dup_ids(rec->rank, rec->n_rank);
        c->tie = dup_ids(rec->tie, rec->n_rank);
        c->n_pairs = rec->n_pairs;
        c->pairs = xmalloc((size_t)rec->n_pairs * sizeof *c->pairs);
        memcpy(c->pairs, rec->pairs, (size_t)rec->n_pairs * sizeof *c->pairs);
        c->has_margin = rec->has_margin;
        c->margin = (float)rec->margin;
        c->line = rec->line;
    } else {
        PromptExample *q = &ds->prm[ds->n];
        q->ids = dup_ids(x->prompt.ids, x->prompt.n);
        q->n = x->prompt.n;
        q->answer = rec->answer ? xstrdup(rec->answer) : NULL;
        q->text = prompt_text(&rec->prompt);
        q->line = rec->line;
    }
    ds->n++;
}

static const char *kind_name(DataKind k) {
    return k == DATA_SFT ? "SFT" : k == DATA_CMP ? "comparison" : "prompt";
}

// Reads one file; records go to train, or to val when split says so (val may be NULL).
static int load_file(const char *path, const DataOpts *o, const ChatTemplate *ct, int split,
                     Dataset *train, size_t *tcap, Dataset *val, size_t *vcap, DataReport *rep,
                     Err *e) {
    DataReader rd;
    if (data_reader_open(&rd, path, o->skip_bad, o->max_problems, e)) return -1;
    unsigned ok = data_kind_shapes(o->kind);
    DataRecord rec;
    int got, rc = 0;
    while ((got = data_reader_next(&rd, &rec, e)) == 1) {
        if (!(ok & 1u << rec.shape)) {
            err_set(e, "%s:%ld: a %s record, but %s data needs %s", path, rec.line,
                    rec_shape_name(rec.shape), kind_name(o->kind),
                    o->kind == DATA_SFT ? "{\"text\"}, {\"prompt\", \"completion\"}, {\"messages\"} "
                                          "or {\"instruction\", \"output\"} records"
                    : o->kind == DATA_CMP ? "{\"prompt\", \"chosen\", \"rejected\"} or {\"prompt\", "
                                            "\"responses\", \"ranking\"} records"
                                          : "records with a prompt");
            record_free(&rec);
            if (!o->skip_bad) { rc = -1; break; }
            rep->n_bad++;
            if (rep->n_problems < o->max_problems) {
                rep->problems = xrealloc(rep->problems, (size_t)(rep->n_problems + 1) * sizeof(char *));
                rep->problems[rep->n_problems++] = xstrdup(e->msg);
            }
            continue;
        }
        rep->shape[rec.shape]++;
        EncodedRecord x;
        DataRecord view = rec;  // prompts: the responses play no part in the truncation
        if (o->kind == DATA_PROMPT) view.k = 0;
        int st = record_encode(ct, &view, &o->trunc, &x);
        if (st == ENC_TOO_LONG) {
            rep->n_too_long++;
        } else {
            if (st == ENC_TRUNCATED) rep->n_truncated++;
            int to_val = val && (split ? data_is_val(o->split_seed, rec.line, o->val_fraction) : 1);
            if (to_val) ds_add(val, vcap, &rec, &x), rep->n_val++;
            else ds_add(train, tcap, &rec, &x), rep->n_train++;
        }
        encoded_free(&x);
        record_free(&rec);
    }
    if (got < 0) rc = -1;
    rep->n_bad += rd.n_bad;
    for (int i = 0; i < rd.n_problems; i++) {
        if (rep->n_problems < o->max_problems) {
            rep->problems = xrealloc(rep->problems, (size_t)(rep->n_problems + 1) * sizeof(char *));
            rep->problems[rep->n_problems++] = rd.problems[i];
        } else {
            free(rd.problems[i]);
        }
    }
    rd.n_problems = 0;
    data_reader_close(&rd);
    return rc;
}

int dataset_load(const char *path, const DataOpts *o, Dataset *train, Dataset *val,
                 DataReport *rep, Err *e) {
    memset(train, 0, sizeof *train);
    if (val) memset(val, 0, sizeof *val);
    memset(rep, 0, sizeof *rep);
    train->kind = o->kind;
    if (val) val->kind = o->kind;
    ChatTemplate ct;
    chat_template_init(&ct, o->tok, o->plain_template);
    size_t tcap = 0, vcap = 0;
    int rc;
    if (o->val_path && val) {
        rc = load_file(path, o, &ct, 0, train, &tcap, NULL, NULL, rep, e);
        if (!rc) rc = load_file(o->val_path, o, &ct, 0, val, &vcap, val, &vcap, rep, e);
    } else {
        rc = load_file(path, o, &ct, 1, train, &tcap, o->val_fraction > 0 ? val : NULL, &vcap,
                       rep, e);
    }
    if (rc) {
        dataset_free(train);
        if (val) dataset_free(val);
    }
    return rc;
}

void dataset_free(Dataset *ds) {
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->kind == DATA_SFT) {
            free(ds->sft[i].ids);
            free(ds->sft[i].mask);
        } else if (ds->kind == DATA_CMP) {
            CmpExample *c = &ds->cmp[i];
            free(c->prompt);
            for (int k = 0; k < c->k; k++) free(c->resp[k]);
            free(c->resp);
            free(c->n_resp);
            free(c->rank);
            free(c->tie);
            free(c->pairs);
        } else {
            free(ds->prm[i].ids);
            free(ds->prm[i].answer);
            free(ds->prm[i].text);
        }
    }
    free(ds->sft);
    free(ds->cmp);
    free(ds->prm);
    DataKind k = ds->kind;
    memset(ds, 0, sizeof *ds);
    ds->kind = k;
}

void data_report_free(DataReport *rep) {
    for (int i = 0; i < rep->n_problems; i++) free(rep->problems[i]);
    free(rep->problems);
    memset(rep, 0, sizeof *rep);
}
