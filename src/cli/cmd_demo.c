// cli/cmd_demo.c — `rlhf demo` (for now): writes a built-in corpus, samples from an untrained
// tiny model, pretrains it for a minute or two, and samples again from the trained model.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "demo/corpus.h"
#include "gen/sample.h"
#include "io/checkpoint.h"
#include "train/pretrain.h"
#include "util/fileio.h"
#include "util/flags.h"
#include "util/timer.h"
#include "util/utf8.h"

static void show_samples(GPT *m, const Tokenizer *tok, const char *prompt, int n, uint64_t seed) {
    int *ids = xmalloc(sizeof(int));
    size_t len = 1, cap = 1;
    ids[0] = tok->eos_id;
    tok_encode(tok, prompt, strlen(prompt), &ids, &len, &cap);
    const int **pp = xmalloc((size_t)n * sizeof(int *));
    int *pl = xmalloc((size_t)n * sizeof(int));
    uint64_t *sid = xmalloc((size_t)n * sizeof(uint64_t));
    for (int i = 0; i < n; i++) { pp[i] = ids; pl[i] = (int)len; sid[i] = (uint64_t)i; }
    SampleConfig sc = {.temperature = 0.8f, .top_k = 0, .top_p = 1.0f, .max_new = 60,
                       .eos_id = tok->eos_id, .seed = seed};
    Samples s;
    Err e;
    if (generate(m, n, pp, pl, sid, &sc, &s, &e)) die("demo: %s", e.msg);
    for (int i = 0; i < n; i++) {
        char *raw = tok_decode(tok, s.tokens[i], (size_t)s.len[i]);
        char *text = utf8_sanitize(raw, strlen(raw));  // untrained models emit arbitrary bytes
        for (char *c = text; *c; c++)
            if (*c == '\n') *c = '/';
            else if ((unsigned char)*c < 32) *c = '?';
        printf("  [%d] %s|%s\n", i + 1, prompt, text);
        free(raw);
        free(text);
    }
    samples_free(&s);
    free(ids); free(pp); free(pl); free(sid);
}

int cmd_demo(int argc, char **argv) {
    const char *out = "runs/demo";
    long steps = 400, seed = 1;
    int quick = 0;
    Flag flags[] = {
        {"out", 0, FLAG_STRING, &out, "run folder (replaced if it holds an earlier demo)", 0, 0},
        {"steps", 0, FLAG_LONG, &steps, "pretraining steps", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed", 0, 0},
        {"quick", 0, FLAG_BOOL, &quick, "a much shorter run (for smoke tests)", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("demo", "[--out DIR] [--steps N] [--seed N] [--quick]",
                "Pretrains a ~0.8M-parameter GPT on a built-in corpus and prints samples before "
                "and after training.", flags, nf, argc, argv, NULL, 0, NULL);
    if (quick && !flag_seen(flags, nf, "steps")) steps = 30;
    Err e;
    char *marker = path_join(out, "demo-corpus.txt");
    if (is_dir(out)) {
        if (!path_exists(marker)) {
            fprintf(stderr, "rlhf demo: error: %s exists and is not an earlier demo; choose another --out\n", out);
            free(marker);
            return 1;
        }
        if (remove_tree(out, &e)) { fprintf(stderr, "rlhf demo: error: %s\n", e.msg); free(marker); return 1; }
    }
    if (mkdir_p(out, &e)) { fprintf(stderr, "rlhf demo: error: %s\n", e.msg); free(marker); return 1; }
    char *text = demo_corpus(quick ? 60000 : 400000, (uint64_t)seed);
    if (atomic_write_file(marker, text, strlen(text), &e)) die("%s", e.msg);
    printf("rlhf demo: wrote a %zu-byte built-in corpus to %s; first lines:\n", strlen(text), marker);
    char *nl = text;
    for (int i = 0; i < 3 && nl; i++) {
        char *next = strchr(nl, '\n');
        printf("  %.*s\n", next ? (int)(next - nl) : (int)strlen(nl), nl);
        nl = next ? next + 1 : NULL;
    }
    free(text);

    PretrainOptions o;
    pretrain_defaults(&o);
    o.data = marker;
    char *run = path_join(out, "pretrain");
    o.out = run;
    o.layers = 4; o.heads = 4; o.embd = 128; o.ctx = 128; o.seq = 64; o.batch = 16;
    o.steps = steps; o.lr = 2e-3f; o.warmup = steps / 10; o.eval_every = steps / 4 > 0 ? steps / 4 : 1;
    o.ckpt_every = steps; o.seed = (uint64_t)seed;

    Tokenizer tok;
    tok_init_bytes(&tok);
    GPTConfig cfg = {.n_layer = o.layers, .n_head = o.heads, .n_embd = o.embd, .n_ctx = o.ctx,
                     .vocab_size = tok.vocab_size};
    GPT *m = gpt_create(&cfg, 0);
    gpt_init_weights(m, o.seed);
    const char *prompt = "the ";
    printf("\nbefore training (%zu parameters, random init), samples of \"%s\":\n", m->n_params, prompt);
    show_samples(m, &tok, prompt, 3, (uint64_t)seed);
    gpt_free(m);

    printf("\npretraining %ld steps (batch %d × %d bytes)...\n", steps, o.batch, o.seq);
    fflush(stdout);
    double t0 = now_s();
    if (pretrain_run(&o, &e)) {
        fprintf(stderr, "rlhf demo: error: %s\n", e.msg);
        free(run); free(marker);
        return 1;
    }
    double dt = now_s() - t0;
    char *fin = path_join(run, "final");
    m = ckpt_load_model(fin, 0, &tok, &e);
    if (!m) die("%s", e.msg);
    printf("\nafter %.0f s of training, samples of \"%s\":\n", dt, prompt);
    show_samples(m, &tok, prompt, 3, (uint64_t)seed);
    printf("\nmodel: %s   metrics: %s/metrics.jsonl   plot: %s/loss.svg\n", fin, run, run);
    printf("try:   build/rlhf sample --model %s --prompt \"alice has\" -n 3\n", fin);
    gpt_free(m);
    free(fin); free(run); free(marker);
    return 0;
}
