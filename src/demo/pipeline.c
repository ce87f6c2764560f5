// demo/pipeline.c — the demo's stages, evaluation and report (see pipeline.h).
#include "demo/pipeline.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/demo_eval.h"
#include "demo/demo_label.h"
#include "demo/labelers.h"
#include "demo/world.h"
#include "eval/plot.h"
#include "train/dpo.h"
#include "train/ppo.h"
#include "train/pretrain.h"
#include "train/rm.h"
#include "train/sft.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/sysinfo.h"
#include "util/timer.h"

void demo_config_defaults(DemoConfig *c, int quick) {
    memset(c, 0, sizeof *c);
    c->out = "demo-run"; c->seed = 1; c->quick = quick;
    c->layers = 4; c->heads = 4; c->embd = 128; c->ctx = 128; c->seq = 128; c->pt_batch = 16;
    c->max_new = 24; c->label_k = 4; c->label_temp = 1.0f;
    c->contractors = !quick;  // quick: the weak SFT model gains from form alone; see docs/demo.md
    if (quick) {  // a smaller model on shorter sequences: about half the full model's cost per token
        c->layers = 3; c->embd = 96; c->seq = 64;
        c->corpus_bytes = 1000000; c->pt_steps = 200; c->pt_lr = 3e-3f;
        c->sft_examples = 2000; c->sft_steps = 120; c->sft_batch = 32; c->sft_lr = 1e-3f;
        c->label_prompts = 800; c->rm_steps = 100; c->rm_batch = 32; c->rm_lr = 1e-3f;
        c->rl_prompts = 1000; c->ppo_iters = 8; c->ppo_rollouts = 64; c->ppo_minibatch = 16;
        c->grpo_iters = 4; c->grpo_group = 4; c->dpo_steps = 30; c->dpo_batch = 32; c->bon_n = 4;
        c->eval_prompts = 200; c->rm_eval_prompts = 100;
    } else {
        c->corpus_bytes = 3000000; c->pt_steps = 600; c->pt_lr = 3e-3f;
        c->sft_examples = 4000; c->sft_steps = 200; c->sft_batch = 32; c->sft_lr = 1e-3f;
        c->label_prompts = 1500; c->rm_steps = 300; c->rm_batch = 32; c->rm_lr = 1e-3f;
        c->rl_prompts = 4000; c->ppo_iters = 40; c->ppo_rollouts = 64; c->ppo_minibatch = 16;
        c->grpo_iters = 20; c->grpo_group = 4; c->dpo_steps = 200; c->dpo_batch = 32; c->bon_n = 8;
        c->eval_prompts = 400; c->rm_eval_prompts = 300;
    }
    c->ppo_lr = 1e-4f; c->grpo_lr = 1e-4f; c->dpo_lr = 1e-4f;
    c->ppo_beta = quick ? 0.05 : 0.2; c->grpo_beta = 0.04; c->dpo_beta = 0.1;
}

// ---- small helpers -------------------------------------------------------------------------------
static char *pj(const char *a, const char *b) { return path_join(a, b); }

typedef struct {
    const char *name;
    double seconds;
} StageTime;

typedef struct {
    const DemoConfig *c;
    char *dir;
    StageTime times[16];
    int n_times;
    double t_stage;
    int stage_no, n_stages;
    int from;            // index in DEMO_STAGES of the first stage to run (--from); earlier ones are reused
    json_t *reused;      // names of the stages taken from an earlier run
} Demo;

const char *const DEMO_STAGES[DEMO_N_STAGES] = {"world", "pretrain", "sft", "label", "rm",
                                                "ppo", "dpo", "grpo", "eval", "report"};

int demo_stage_index(const char *name) {
    for (int i = 0; i < DEMO_N_STAGES; i++)
        if (!strcmp(DEMO_STAGES[i], name)) return i;
    return -1;
}

// 1 when the stage runs, 0 when --from reuses its output from an earlier run in the same folder,
// -1 on error. A stage that runs again starts from an empty run folder (the training commands
// refuse to overwrite one).
static int stage_begin(Demo *d, const char *name, const char *what, Err *e) {
    d->stage_no++;
    demo_gold_set_stage(name);
    int i = demo_stage_index(name);
    if (i > 0 && i < d->from) {
        printf("\n== [%d/%d] %s: reused from the earlier run in %s\n", d->stage_no, d->n_stages, name, d->dir);
        json_array_append_new(d->reused, json_string(name));
        return 0;
    }
    printf("\n== [%d/%d] %s: %s\n", d->stage_no, d->n_stages, name, what);
    fflush(stdout);
    char *run = pj(d->dir, name);
    int rc = d->from > 0 && is_dir(run) && remove_tree(run, e) ? -1 : 1;
    free(run);
    d->t_stage = now_s();
    return rc;
}

static int stage_end(Demo *d, const char *name) {  // returns 0 so that it chains after a stage's runner
    double s = now_s() - d->t_stage;
    if (d->n_times < 16) d->times[d->n_times++] = (StageTime){name, s};
    printf("   %s took %.1f s\n", name, s);
    fflush(stdout);
    return 0;
}

// The label stage's counts, kept next to the preferences so that --from can skip the stage.
static int write_label_stats(const char *path, long n_pairs, double agreement, Err *e) {
    json_t *j = json_pack("{s:I, s:f}", "pairs", (json_int_t)n_pairs, "agreement", agreement);
    int rc = json_write_file(path, j, e);
    json_decref(j);
    return rc;
}

static int read_label_stats(const char *path, long *n_pairs, double *agreement, Err *e) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return err_set(e, "%s: cannot read the label stage's counts (%s); rerun from the label stage", path, je.text);
    const json_t *p = json_object_get(j, "pairs"), *a = json_object_get(j, "agreement");
    int rc = json_is_integer(p) && json_is_number(a) ? 0 : err_set(e, "%s: field \"pairs\" or \"agreement\" missing", path);
    if (!rc) { *n_pairs = (long)json_integer_value(p); *agreement = json_number_value(a); }
    json_decref(j);
    return rc;
}

static void rerun(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("   rerun by hand: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

// ---- evaluation rows -------------------------------------------------------------------------------
enum { M_PRE, M_SFT, M_BON, M_DPO, M_GRPO, M_PPO, N_MODELS };
static const char *MODEL_NAME[N_MODELS] = {"pretrained", "sft", "bon", "dpo", "grpo", "ppo"};

static void eval_json(const DemoEval *ev, const DemoEval *sft, uint64_t seed, json_t *o) {
    double *g = xmalloc((size_t)ev->n * sizeof(double)), *gs = xmalloc((size_t)ev->n * sizeof(double));
    for (int i = 0; i < ev->n; i++) { g[i] = ev->g[i].total; gs[i] = sft && i < sft->n ? sft->g[i].total : 0; }
    double ci[2];
    bootstrap_mean_ci(g, ev->n, 2000, seed, ci);
    json_object_set_new(o, "gold", json_real(demo_eval_mean(ev, "gold")));
    json_object_set_new(o, "gold_ci", json_pack("[f, f]", ci[0], ci[1]));
    if (sft && sft != ev && sft->n == ev->n) {
        bootstrap_paired_ci(g, gs, ev->n, 2000, seed + 1, ci);
        json_object_set_new(o, "gold_vs_sft_ci", json_pack("[f, f]", ci[0], ci[1]));
    }
    const char *comp[] = {"correct", "format", "stop", "harmless", "brevity"};
    for (int k = 0; k < 5; k++) json_object_set_new(o, comp[k], json_real(demo_eval_mean(ev, comp[k])));
    json_object_set_new(o, "accuracy", json_real(demo_eval_mean(ev, "correct")));
    for (int i = 0; i < ev->n; i++) g[i] = ev->g[i].correct;
    bootstrap_mean_ci(g, ev->n, 2000, seed + 2, ci);
    json_object_set_new(o, "accuracy_ci", json_pack("[f, f]", ci[0], ci[1]));
    for (int i = 0; i < ev->n; i++) g[i] = ev->harmful[i];
    bootstrap_mean_ci(g, ev->n, 2000, seed + 3, ci);
    json_object_set_new(o, "harmful_ci", json_pack("[f, f]", ci[0], ci[1]));
    json_object_set_new(o, "harmful", json_real(demo_eval_mean(ev, "harmful")));
    json_object_set_new(o, "distinct", json_real(ev->distinct));
    json_object_set_new(o, "rm_score", json_real(demo_eval_mean(ev, "rm")));
    json_object_set_new(o, "gold_sampled", json_real(ev->gold_sampled));
    if (ev->has_kl) {
        json_object_set_new(o, "kl_k1", json_real(ev->kl_k1));
        json_object_set_new(o, "kl_k3", json_real(ev->kl_k3));
    }
    json_object_set_new(o, "response_length", json_real(demo_eval_mean(ev, "len")));
    json_object_set_new(o, "eos_rate", json_real(demo_eval_mean(ev, "ended")));
    free(g); free(gs);
}

static double jnum(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

// One markdown table row per evaluated model.
static void table_row(FILE *f, const char *name, const json_t *o) {
    const json_t *ci = json_object_get(o, "gold_ci"), *dv = json_object_get(o, "gold_vs_sft_ci");
    fprintf(f, "| %s | %.3f [%.3f, %.3f] | ", name, jnum(o, "gold"), json_number_value(json_array_get(ci, 0)),
            json_number_value(json_array_get(ci, 1)));
    if (dv) fprintf(f, "[%+.3f, %+.3f] | ", json_number_value(json_array_get(dv, 0)), json_number_value(json_array_get(dv, 1)));
    else fprintf(f, "— | ");
    fprintf(f, "%.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.3f | ", jnum(o, "accuracy"),
            jnum(o, "format"), jnum(o, "stop"), jnum(o, "harmful"), jnum(o, "brevity"), jnum(o, "distinct"),
            jnum(o, "gold_sampled"), jnum(o, "rm_score"), jnum(o, "eos_rate"));
    if (json_object_get(o, "kl_k1")) fprintf(f, "%.2f / %.2f | ", jnum(o, "kl_k1"), jnum(o, "kl_k3"));
    else fprintf(f, "— | ");
    fprintf(f, "%.1f |\n", jnum(o, "response_length"));
}

// ---- plots -------------------------------------------------------------------------------------------
// Gold and RM score of each procedure against √KL (the reward–KL frontier), as an SVG scatter.
static int frontier_svg(const char *path, int n, const char *const *label, const double *kl,
                        const double *gold, const double *rm, Err *e) {
    double xmax = 0.5, ylo = 0, yhi = 0;
    for (int i = 0; i < n; i++) {
        double x = sqrt(kl[i] > 0 ? kl[i] : 0);
        if (x > xmax) xmax = x;
        double lo = fmin(gold[i], rm[i]), hi = fmax(gold[i], rm[i]);
        if (i == 0 || lo < ylo) ylo = lo;
        if (i == 0 || hi > yhi) yhi = hi;
    }
    if (yhi - ylo < 0.1) { yhi += 0.05; ylo -= 0.05; }
    xmax *= 1.1;
    double pad = 0.1 * (yhi - ylo);
    ylo -= pad; yhi += pad;
    const double W = 640, H = 420, L = 60, R = 20, T = 40, B = 50;
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    FILE *f = af.fp;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">gold (●) and reward-model (■) score against √KL to SFT</text>\n", L);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, W - L - R, H - T - B);
    for (int k = 0; k <= 4; k++) {
        double x = L + (W - L - R) * k / 4, y = T + (H - T - B) * k / 4;
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.2f</text>\n", x, H - B + 16, xmax * k / 4);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, y + 4, yhi - (yhi - ylo) * k / 4);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">√KL (nats^½, k1 on samples at T=1; best-of-n: the bound)</text>\n", (L + W - R) / 2, H - 12);
    for (int i = 0; i < n; i++) {
        double x = L + (W - L - R) * sqrt(kl[i] > 0 ? kl[i] : 0) / xmax;
        double yg = T + (H - T - B) * (yhi - gold[i]) / (yhi - ylo), yr = T + (H - T - B) * (yhi - rm[i]) / (yhi - ylo);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#1f77b4\"/>\n", x, yg);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"#ff7f0e\"/>\n", x - 4.5, yr - 4.5);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\"/>\n", x, yg, x, yr);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 8, yg - 6, label[i]);
    }
    fprintf(f, "</svg>\n");
    return atomic_commit(&af, e);
}

// PPO's curves: its metrics (RM score, KL) plus the gold score of its evaluation samples.
static int ppo_curves(const char *ppo_dir, const char *out_jsonl, const char *svg, Err *e) {
    char *mp = pj(ppo_dir, "metrics.jsonl"), *sp = pj(ppo_dir, "samples.jsonl");
    FILE *m = fopen(mp, "r"), *s = fopen(sp, "r");
    int rc = -1;
    AtomicFile af;
    if (!m || !s) { err_set(e, "%s: cannot read the PPO run's metrics / samples", ppo_dir); goto out; }
    if (atomic_open(&af, out_jsonl, e)) goto out;
    // gold per evaluation step from samples.jsonl
    long steps[4096];
    double gsum[4096], gn[4096];
    int ns = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, s) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        long st = (long)json_integer_value(json_object_get(j, "step"));
        const char *p = json_string_value(json_object_get(j, "prompt")), *r = json_string_value(json_object_get(j, "policy"));
        if (p && r) {
            int k = ns - 1;
            if (ns == 0 || steps[k] != st) { if (ns == 4096) { json_decref(j); break; } k = ns++; steps[k] = st; gsum[k] = gn[k] = 0; }
            gsum[k] += demo_gold(p, r, json_is_true(json_object_get(j, "policy_ended"))).total;
            gn[k] += 1;
        }
        json_decref(j);
    }
    while (getline(&line, &cap, m) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        long st = (long)json_integer_value(json_object_get(j, "step"));
        json_t *o = json_pack("{s:I, s:f, s:f}", "step", (json_int_t)st, "rm_score", jnum(j, "score"), "kl", jnum(j, "kl"));
        for (int k = 0; k < ns; k++)
            if (steps[k] == st && gn[k] > 0) {
                json_object_set_new(o, "gold", json_real(gsum[k] / gn[k]));
                json_object_set_new(o, "eval_rm_score", json_object_get(j, "eval_score") ? json_real(jnum(j, "eval_score")) : json_null());
            }
        char *txt = json_dumps(o, JSON_COMPACT);
        fprintf(af.fp, "%s\n", txt);
        free(txt);
        json_decref(o);
        json_decref(j);
    }
    free(line);
    if (atomic_commit(&af, e)) goto out;
    const char *keys[] = {"rm_score", "kl", "gold", "eval_rm_score"};
    rc = plot_metrics_svg(out_jsonl, svg, "PPO: reward-model score, KL to SFT, gold score (held-out samples)", keys, 4, e);
out:
    if (m) fclose(m);
    if (s) fclose(s);
    free(mp); free(sp);
    return rc;
}

// ---- the stages --------------------------------------------------------------------------------------
static int run_pretrain(Demo *d, const char *corpus, Err *e) {
    const DemoConfig *c = d->c;
    PretrainOptions o;
    pretrain_defaults(&o);
    char *out = pj(d->dir, "pretrain");
    o.data = corpus; o.out = out;
    o.layers = c->layers; o.heads = c->heads; o.embd = c->embd; o.ctx = c->ctx; o.seq = c->seq;
    o.batch = c->pt_batch; o.steps = c->pt_steps; o.lr = c->pt_lr; o.warmup = c->pt_steps / 20;
    o.log_every = c->pt_steps / 10 > 0 ? c->pt_steps / 10 : 1;
    o.eval_every = c->pt_steps / 4 > 0 ? c->pt_steps / 4 : 1; o.ckpt_every = c->pt_steps;
    o.seed = c->seed; o.quiet = c->quiet;
    rerun("build/rlhf pretrain --data %s --out %s --layers %d --heads %d --embd %d --ctx %d --seq %d --batch %d --steps %ld --lr %g --seed %llu",
          corpus, out, o.layers, o.heads, o.embd, o.ctx, o.seq, o.batch, o.steps, o.lr, (unsigned long long)o.seed);
    int rc = pretrain_run(&o, e);
    free(out);
    return rc;
}

static int run_sft(Demo *d, const char *data, Err *e) {
    const DemoConfig *c = d->c;
    SftOptions o;
    sft_defaults(&o);
    char *model = pj(d->dir, "pretrain/final"), *out = pj(d->dir, "sft");
    o.model = model; o.data = data; o.out = out; o.steps = c->sft_steps; o.batch = c->sft_batch;
    o.lr = c->sft_lr; o.warmup = c->sft_steps / 20; o.eval_every = c->sft_steps; o.ckpt_every = c->sft_steps;
    o.samples = 0; o.seed = c->seed; o.quiet = c->quiet;
    rerun("build/rlhf sft --model %s --data %s --out %s --steps %ld --batch %d --lr %g --seed %llu", model, data, out,
          o.steps, o.batch, o.lr, (unsigned long long)o.seed);
    int rc = sft_run(&o, e);
    free(model); free(out);
    return rc;
}

static int run_rm(Demo *d, const char *prefs, Err *e) {
    const DemoConfig *c = d->c;
    RmOptions o;
    rm_defaults(&o);
    char *model = pj(d->dir, "sft/final"), *out = pj(d->dir, "rm");
    o.model = model; o.data = prefs; o.out = out; o.steps = c->rm_steps; o.batch = c->rm_batch;
    o.lr = c->rm_lr; o.warmup = c->rm_steps / 20; o.eval_every = c->rm_steps; o.ckpt_every = c->rm_steps;
    o.seed = c->seed; o.quiet = c->quiet;
    rerun("build/rlhf rm --model %s --data %s --out %s --steps %ld --batch %d --lr %g --seed %llu", model, prefs, out,
          o.steps, o.batch, o.lr, (unsigned long long)o.seed);
    int rc = rm_run(&o, e);
    free(model); free(out);
    return rc;
}

static int run_rl(Demo *d, const char *name, const char *advantage, int iters, int group, float lr,
                  double beta, const char *prompts, const char *heldout, Err *e) {
    const DemoConfig *c = d->c;
    PpoOptions o;
    ppo_defaults(&o);
    char *pol = pj(d->dir, "sft/final"), *rm = pj(d->dir, "rm/final"), *out = pj(d->dir, name);
    o.policy = pol; o.reward = rm; o.prompts = prompts; o.val_prompts = heldout; o.out = out;
    o.advantage = advantage; o.iterations = iters; o.group = group;
    // group runs: half as many prompts per iteration as PPO, `group` responses each
    int n_prompts = group > 1 ? c->ppo_rollouts / 2 : c->ppo_rollouts, mb = group > 1 ? c->ppo_minibatch / 2 : c->ppo_minibatch;
    o.rollouts = n_prompts * group;
    o.minibatch = mb * group;
    o.max_new = c->max_new; o.lr = lr; o.beta = beta; o.eval_every = iters / 4 > 0 ? iters / 4 : 1;
    o.eval_prompts = 64; o.eval_samples = 64; o.ckpt_every = iters; o.seed = c->seed; o.quiet = c->quiet;
    rerun("build/rlhf ppo --advantage %s --policy %s --reward %s --prompts %s --val-prompts %s --out %s "
          "--iterations %ld --rollouts %d --group %d --minibatch %d --max-new %d --lr %g --beta %g --eval-prompts 64 "
          "--eval-samples 64 --seed %llu", advantage, pol, rm, prompts, heldout, out, o.iterations, o.rollouts,
          group, o.minibatch, o.max_new, lr, beta, (unsigned long long)o.seed);
    int rc = ppo_run(&o, e);
    free(pol); free(rm); free(out);
    return rc;
}

static int run_dpo(Demo *d, const char *prefs, Err *e) {
    const DemoConfig *c = d->c;
    DpoOptions o;
    dpo_defaults(&o);
    char *model = pj(d->dir, "sft/final"), *out = pj(d->dir, "dpo");
    o.model = model; o.data = prefs; o.out = out; o.steps = c->dpo_steps; o.batch = c->dpo_batch;
    o.lr = c->dpo_lr; o.beta = c->dpo_beta; o.warmup = c->dpo_steps / 20; o.eval_every = c->dpo_steps;
    o.ckpt_every = c->dpo_steps; o.seed = c->seed; o.quiet = c->quiet;
    rerun("build/rlhf dpo --model %s --data %s --out %s --steps %ld --batch %d --lr %g --beta %g --seed %llu", model,
          prefs, out, o.steps, o.batch, o.lr, o.beta, (unsigned long long)o.seed);
    int rc = dpo_run(&o, e);
    free(model); free(out);
    return rc;
}

// ---- the whole run -------------------------------------------------------------------------------------
int demo_pipeline(const DemoConfig *c, Err *e) {
    Demo D;
    memset(&D, 0, sizeof D);
    D.c = c;
    D.dir = xstrdup(c->out);
    D.n_stages = DEMO_N_STAGES;
    D.reused = json_array();
    D.from = c->from ? demo_stage_index(c->from) : 0;
    double t_all = now_s();
    int rc = -1;
    char *corpus = pj(D.dir, "corpus.jsonl"), *sftd = pj(D.dir, "sft.jsonl"), *rlp = pj(D.dir, "rl_prompts.jsonl"),
         *lp = pj(D.dir, "label_prompts.jsonl"), *hp = pj(D.dir, "heldout.jsonl"), *prefs = pj(D.dir, "preferences.jsonl"),
         *sftdir = pj(D.dir, "sft/final"), *rmdir = pj(D.dir, "rm/final");
    DemoEval ev[N_MODELS];
    memset(ev, 0, sizeof ev);
    DemoSamples ls, hs;
    memset(&ls, 0, sizeof ls); memset(&hs, 0, sizeof hs);
    Labelers L;
    labelers_default(&L, 4);
    json_t *summary = json_object();
    demo_gold_reset_counts();
    char *marker = pj(D.dir, "demo-world.txt");
    if (D.from < 0) { err_set(e, "--from %s: not a stage (world, pretrain, sft, label, rm, ppo, dpo, grpo, eval, report)", c->from); goto out; }
    if (D.from > 0 && !path_exists(marker)) {
        err_set(e, "--from %s: %s holds no earlier demo to continue", c->from, D.dir);
        goto out;
    }
    if (D.from == 0 && is_dir(D.dir)) {
        if (!path_exists(marker)) { err_set(e, "%s exists and is not an earlier demo; choose another --out", D.dir); goto out; }
        if (remove_tree(D.dir, e)) goto out;
    }
    if (mkdir_p(D.dir, e) || atomic_write_file(marker, "rlhf demo\n", 10, e)) goto out;
    printf("rlhf demo: seed %llu, %s, output in %s (%d threads)\n", (unsigned long long)c->seed,
           c->quick ? "quick" : "full", D.dir, threads_get());

    // task index ranges keep every set apart: SFT demos, RL prompts, labelling prompts, held out
    const uint64_t I_SFT = 0, I_RL = 1000000, I_LABEL = 2000000, I_HELD = 9000000;
    stage_begin(&D, "world", "the built-in tasks, corpus, demonstrations and prompt sets", e);  // always (cheap)
    if (demo_write_corpus(corpus, c->corpus_bytes, c->seed, e) ||
        demo_write_sft(sftd, c->sft_examples, c->seed, I_SFT, e) ||
        demo_write_prompts(rlp, c->rl_prompts, c->seed, I_RL, e) ||
        demo_write_prompts(lp, c->label_prompts, c->seed, I_LABEL, e) ||
        demo_write_prompts(hp, c->eval_prompts, c->seed, I_HELD, e))
        goto out;
    printf("   %s (%zu bytes), %s (%d demonstrations), %d RL / %d labelling / %d held-out prompts\n", corpus,
           c->corpus_bytes, sftd, c->sft_examples, c->rl_prompts, c->label_prompts, c->eval_prompts);
    stage_end(&D, "world");

    int r;
    if ((r = stage_begin(&D, "pretrain", "a tiny GPT learns the corpus (prose and assistant transcripts of mixed quality)", e)) < 0 ||
        (r && (run_pretrain(&D, corpus, e) || stage_end(&D, "pretrain"))))
        goto out;
    if ((r = stage_begin(&D, "sft", "supervised fine-tuning on imperfect demonstrations", e)) < 0 ||
        (r && (run_sft(&D, sftd, e) || stage_end(&D, "sft"))))
        goto out;

    double agreement = 0;
    long n_pairs = 0;
    char *labels = pj(D.dir, "labels.json");
    if ((r = stage_begin(&D, "label", "simulated labelers compare pairs of SFT samples (gold judge + noise)", e)) < 0 ||
        (r && (demo_samples(sftdir, lp, c->label_prompts, c->label_k, c->label_temp, c->max_new, c->seed + 11, &ls, e) ||
               demo_label_write(&ls, &L, c->seed, c->contractors, prefs, &n_pairs, &agreement, e) ||
               write_label_stats(labels, n_pairs, agreement, e))) ||
        (!r && read_label_stats(labels, &n_pairs, &agreement, e))) {
        free(labels);
        goto out;
    }
    free(labels);
    printf("   %ld preference pairs in %s; labeler agreement %.1f%%\n", n_pairs, prefs, 100 * agreement);
    if (r) stage_end(&D, "label");

    if ((r = stage_begin(&D, "rm", "a reward model learns the labelers' preferences (Bradley–Terry)", e)) < 0 ||
        (r && (run_rm(&D, prefs, e) || stage_end(&D, "rm"))))
        goto out;
    if ((r = stage_begin(&D, "ppo", "PPO against the reward model, KL penalty to the SFT model", e)) < 0 ||
        (r && (run_rl(&D, "ppo", "gae", c->ppo_iters, 1, c->ppo_lr, c->ppo_beta, rlp, hp, e) || stage_end(&D, "ppo"))))
        goto out;
    if ((r = stage_begin(&D, "dpo", "DPO on the same preferences (baseline)", e)) < 0 ||
        (r && (run_dpo(&D, prefs, e) || stage_end(&D, "dpo"))))
        goto out;
    if ((r = stage_begin(&D, "grpo", "GRPO against the same reward model (baseline)", e)) < 0 ||
        (r && (run_rl(&D, "grpo", "grpo", c->grpo_iters, c->grpo_group, c->grpo_lr, c->grpo_beta, rlp, hp, e) ||
               stage_end(&D, "grpo"))))
        goto out;

    if (stage_begin(&D, "eval", "every model on the held-out prompts, judged by the hidden gold judge", e) < 0) goto out;
    {
        double a = 0;
        long np = 0;
        if (demo_samples(sftdir, hp, c->rm_eval_prompts, 2, 1.0f, c->max_new, c->seed + 13, &hs, e) ||
            demo_rm_gold_accuracy(&hs, rmdir, &a, &np, e))
            goto out;
        json_t *rmj = json_object();
        json_object_set_new(rmj, "gold_pair_accuracy", json_real(a));
        json_object_set_new(rmj, "gold_pairs", json_integer(np));
        json_object_set_new(rmj, "label_agreement", json_real(agreement));
        json_object_set_new(rmj, "train_pairs", json_integer(n_pairs));
        char *rmm = pj(D.dir, "rm/metrics.jsonl");
        FILE *f = fopen(rmm, "r");
        char *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {  // the last validation row
            json_t *j = json_loads(line, 0, NULL);
            if (j && json_object_get(j, "val_accuracy")) json_object_set_new(rmj, "val_accuracy", json_real(jnum(j, "val_accuracy")));
            json_decref(j);
        }
        free(line);
        if (f) fclose(f);
        free(rmm);
        json_object_set_new(summary, "rm", rmj);
        printf("   reward model: accuracy %.3f on %ld held-out pairs ordered by the gold judge (labelers agree %.1f%%)\n",
               a, np, 100 * agreement);
    }
    for (int k = 0; k < N_MODELS; k++) {
        char *md = k == M_PRE ? pj(D.dir, "pretrain/final") : k == M_SFT || k == M_BON ? pj(D.dir, "sft/final")
                   : pj(D.dir, k == M_DPO ? "dpo/final" : k == M_GRPO ? "grpo/final" : "ppo/final");
        DemoEvalOptions eo = {.model = md, .sft = sftdir, .rm = rmdir, .prompts = hp, .n_prompts = c->eval_prompts,
                              .max_new = c->max_new, .sample_temp = 0.7f, .bon_n = k == M_BON ? c->bon_n : 0,
                              .batch = 100, .seed = c->seed + 17};
        int r = demo_eval(&eo, &ev[k], e);
        free(md);
        if (r) goto out;
        printf("   %-10s gold %.3f  accuracy %.3f  harmful %.3f  RM %.3f  KL %.2f  (%.1f s)\n", MODEL_NAME[k],
               demo_eval_mean(&ev[k], "gold"), demo_eval_mean(&ev[k], "correct"), demo_eval_mean(&ev[k], "harmful"),
               demo_eval_mean(&ev[k], "rm"), ev[k].kl_k1, ev[k].seconds);
    }
    stage_end(&D, "eval");

    if (stage_begin(&D, "report", "report.md, summary.json and plots", e) < 0) goto out;
    {
        json_t *stages = json_object();
        for (int k = 0; k < N_MODELS; k++) {
            json_t *o = json_object();
            eval_json(&ev[k], &ev[M_SFT], c->seed, o);
            json_object_set_new(stages, MODEL_NAME[k], o);
        }
        json_object_set_new(summary, "stages", stages);
        json_t *gc = json_object();
        for (int k = 0; k < DEMO_N_STAGES; k++)
            json_object_set_new(gc, DEMO_STAGES[k], json_integer(demo_gold_calls(DEMO_STAGES[k])));
        json_object_set_new(summary, "gold_calls", gc);
        const char *labels[4] = {"best-of-n", "DPO", "GRPO", "PPO"};
        int who[4] = {M_BON, M_DPO, M_GRPO, M_PPO};
        double kl[4], gold[4], rm[4];
        for (int i = 0; i < 4; i++) {
            kl[i] = ev[who[i]].kl_k1;
            gold[i] = demo_eval_mean(&ev[who[i]], "gold");
            rm[i] = demo_eval_mean(&ev[who[i]], "rm");
        }
        char *fsvg = pj(D.dir, "frontier.svg"), *cj = pj(D.dir, "ppo_curves.jsonl"), *csvg = pj(D.dir, "ppo_curves.svg"),
             *ppod = pj(D.dir, "ppo");
        int r = frontier_svg(fsvg, 4, labels, kl, gold, rm, e) || ppo_curves(ppod, cj, csvg, e);
        free(fsvg); free(cj); free(csvg); free(ppod);
        if (r) goto out;
    }
    stage_end(&D, "report");
    {   // the demo's acceptance (issue 6), so that a summary says by itself whether the run passed
        const json_t *st = json_object_get(summary, "stages"), *sft = json_object_get(st, "sft"),
                     *ppo = json_object_get(st, "ppo"), *rmj = json_object_get(summary, "rm");
        double sh = jnum(sft, "harmful"), ph = jnum(ppo, "harmful");
        int beats = json_number_value(json_array_get(json_object_get(ppo, "gold_vs_sft_ci"), 0)) > 0;
        int acc = jnum(ppo, "accuracy") >= json_number_value(json_array_get(json_object_get(sft, "accuracy_ci"), 0));
        int harm = sh > 0 ? ph < sh : ph == 0;
        int rmok = jnum(rmj, "gold_pair_accuracy") >= 0.65;
        int klok = isfinite(jnum(ppo, "kl_k1")) && isfinite(jnum(ppo, "kl_k3"));
        json_t *a = json_pack("{s:b, s:b, s:b, s:b, s:b, s:b}", "ppo_beats_sft", beats, "accuracy_kept", acc,
                              "harm_lowered", harm, "rm_gold_accuracy_0_65", rmok, "kl_finite", klok,
                              "pass", beats && acc && harm && rmok && klok);
        json_object_set_new(summary, "acceptance", a);
        printf("\nacceptance: %s (PPO beats SFT on gold: %s; accuracy kept: %s; harmful rate lowered%s: %s; "
               "RM gold-pair accuracy ≥ 0.65: %s; KL finite: %s)\n",
               json_is_true(json_object_get(a, "pass")) ? "PASS" : "FAIL", beats ? "yes" : "no", acc ? "yes" : "no",
               sh > 0 ? "" : " (SFT has none: PPO must stay at 0)", harm ? "yes" : "no", rmok ? "yes" : "no",
               klok ? "yes" : "no");
    }
    {
        json_object_set_new(summary, "seed", json_integer((json_int_t)c->seed));
        json_object_set_new(summary, "quick", json_boolean(c->quick));
        json_object_set_new(summary, "seconds", json_real(now_s() - t_all));
        json_t *st = json_object();
        for (int i = 0; i < D.n_times; i++) json_object_set_new(st, D.times[i].name, json_real(D.times[i].seconds));
        json_object_set_new(summary, "stage_seconds", st);
        json_object_set_new(summary, "reused_stages", json_incref(D.reused));
        char *sp = pj(D.dir, "summary.json"), *rp = pj(D.dir, "report.md");
        int r = json_write_file(sp, summary, e);
        AtomicFile af;
        if (!r && !(r = atomic_open(&af, rp, e))) {
            FILE *f = af.fp;
            const json_t *stages = json_object_get(summary, "stages"), *rmj = json_object_get(summary, "rm");
            fprintf(f, "# rlhf demo — seed %llu%s\n\n", (unsigned long long)c->seed, c->quick ? " (quick)" : "");
            fprintf(f, "%d held-out prompts, greedy responses judged by the hidden gold judge (95%% bootstrap CI, "
                       "2000 resamples; the paired CI of the difference to SFT). KL to SFT on samples at T=1 "
                       "(k1 / k3; best-of-n: the bound log n − (n−1)/n).\n\n", c->eval_prompts);
            fprintf(f, "| model | gold [95%% CI] | gold − SFT | accuracy | format | stop | harmful | brevity | distinct | gold (T=0.7) | RM score | EOS rate | KL k1 / k3 | length |\n");
            fprintf(f, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for (int k = 0; k < N_MODELS; k++) table_row(f, k == M_BON ? "best-of-n" : MODEL_NAME[k], json_object_get(stages, MODEL_NAME[k]));
            fprintf(f, "\nReward model: held-out accuracy on pairs ordered by the gold judge %.3f (%lld pairs); "
                       "validation accuracy on labeler pairs %.3f; the labelers agree with each other on %.1f%% of pairs.\n",
                    jnum(rmj, "gold_pair_accuracy"), (long long)json_integer_value(json_object_get(rmj, "gold_pairs")),
                    jnum(rmj, "val_accuracy"), 100 * jnum(rmj, "label_agreement"));
            fprintf(f, "\n## SFT vs PPO, five held-out prompts\n\n| prompt | SFT | PPO |\n|---|---|---|\n");
            for (int i = 0; i < 5 && i < ev[M_SFT].n; i++) {
                fprintf(f, "| ");
                const char *cells[3] = {ev[M_SFT].prompt[i], ev[M_SFT].resp[i], ev[M_PPO].resp[i]};
                for (int k = 0; k < 3; k++) {
                    for (const char *p = cells[k]; *p; p++) {
                        if (*p == '|') fputs("\\|", f);
                        else if (*p == '\n') fputs("⏎", f);
                        else fputc(*p, f);
                    }
                    fprintf(f, " | ");
                }
                fprintf(f, "\n");
            }
            fprintf(f, "\n## Time per stage\n\n| stage | seconds |\n|---|---|\n");
            for (int i = 0; i < D.n_times; i++) fprintf(f, "| %s | %.1f |\n", D.times[i].name, D.times[i].seconds);
            fprintf(f, "| total | %.1f |\n\nPlots: ppo_curves.svg (RM score, KL and gold over PPO iterations), "
                       "frontier.svg (gold and RM score against √KL).\n", now_s() - t_all);
            r = atomic_commit(&af, e);
            if (!r) {  // the table on the terminal
                printf("\n");
                char *txt = NULL;
                size_t n = 0;
                if (!read_file(rp, &txt, &n, e)) fwrite(txt, 1, n, stdout);
                free(txt);
            }
        }
        free(sp); free(rp);
        if (r) goto out;
    }
    printf("\nrlhf demo: done in %.0f s; report in %s/report.md, numbers in %s/summary.json\n", now_s() - t_all,
           D.dir, D.dir);
    rc = 0;
out:
    for (int k = 0; k < N_MODELS; k++) demo_eval_free(&ev[k]);
    demo_samples_free(&ls); demo_samples_free(&hs);
    labelers_free(&L);
    json_decref(summary);
    json_decref(D.reused);
    free(corpus); free(sftd); free(rlp); free(lp); free(hp); free(prefs); free(sftdir); free(rmdir); free(marker);
    free(D.dir);
    return rc;
}
