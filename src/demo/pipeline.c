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
#include "demo/demo_plots.h"
#include "demo/labelers.h"
#include "demo/world.h"
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
        c->label_prompts = 1500; c->rm_steps = 150; c->rm_batch = 32; c->rm_lr = 1e-3f;
        c->rl_prompts = 4000; c->ppo_iters = 40; c->ppo_rollouts = 64; c->ppo_minibatch = 16;
        c->grpo_iters = 8; c->grpo_group = 4; c->dpo_steps = 40; c->dpo_batch = 32; c->bon_n = 8;
        c->eval_prompts = 400; c->rm_eval_prompts = 300;
    }
    c->ppo_lr = 1e-4f; c->grpo_lr = 1e-4f; c->dpo_lr = 1e-4f;
    c->ppo_beta = quick ? 0.05 : 0.5; c->grpo_beta = 0.04; c->dpo_beta = 0.1;
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

const char *const DEMO_STAGES[DEMO_N_STAGES] = {"world", "pretrain", "sft", "label", "rm", "ppo",
                                                "dpo", "grpo", "sweep", "eval", "report"};

// --sweep: PPO at each β (the main run's β is one of the points when it is in the list) and
// best-of-n at each n, for the reward–KL frontier.
static const double SWEEP_BETAS[] = {0.01, 0.05, 0.2, 0.5};
enum { N_SWEEP_BETAS = (int)(sizeof SWEEP_BETAS / sizeof SWEEP_BETAS[0]) };
static const int SWEEP_BON_NS[] = {1, 2, 4, 8, 16};
enum { N_SWEEP_BON = (int)(sizeof SWEEP_BON_NS / sizeof SWEEP_BON_NS[0]) };

static int is_main_beta(const DemoConfig *c, double beta) { return fabs(beta - c->ppo_beta) < 1e-12; }
static void sweep_run_name(double beta, char *buf, size_t n) { snprintf(buf, n, "sweep/ppo-beta-%g", beta); }

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
    json_t *j = json_read_file(path, e);
    if (!j) return -1;
    int rc = json_get_long(j, "pairs", n_pairs, path, e) || json_get_double(j, "agreement", agreement, path, e) ? -1 : 0;
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


// One markdown table row per evaluated model.
static void table_row(FILE *f, const char *name, const json_t *o) {
    const json_t *ci = json_object_get(o, "gold_ci"), *dv = json_object_get(o, "gold_vs_sft_ci");
    fprintf(f, "| %s | %.3f [%.3f, %.3f] | ", name, json_number_at(o, "gold"), json_number_value(json_array_get(ci, 0)),
            json_number_value(json_array_get(ci, 1)));
    if (dv) fprintf(f, "[%+.3f, %+.3f] | ", json_number_value(json_array_get(dv, 0)), json_number_value(json_array_get(dv, 1)));
    else fprintf(f, "— | ");
    fprintf(f, "%.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.3f | ", json_number_at(o, "accuracy"),
            json_number_at(o, "format"), json_number_at(o, "stop"), json_number_at(o, "harmful"), json_number_at(o, "brevity"), json_number_at(o, "distinct"),
            json_number_at(o, "gold_sampled"), json_number_at(o, "rm_score"), json_number_at(o, "eos_rate"));
    if (json_object_get(o, "kl_k1")) fprintf(f, "%.2f / %.2f | ", json_number_at(o, "kl_k1"), json_number_at(o, "kl_k3"));
    else fprintf(f, "— | ");
    fprintf(f, "%.1f |\n", json_number_at(o, "response_length"));
}

// ---- the sweep ----------------------------------------------------------------------------------------
// Along one series ordered by KL: each step where the RM score rises while the gold score falls, with
// the paired 95% CI of the gold change entirely below 0, is an over-optimisation finding.
static void overoptimised(json_t *list, const char *series, int n, const DemoEval *const *pt, const char *const *label,
                          uint64_t seed) {
    int ord[16];
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 1; i < n; i++)  // insertion sort by KL
        for (int j = i; j > 0 && pt[ord[j]]->kl_k1 < pt[ord[j - 1]]->kl_k1; j--) { int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t; }
    for (int i = 1; i < n; i++) {
        const DemoEval *a = pt[ord[i - 1]], *b = pt[ord[i]];
        if (a->n != b->n || demo_eval_mean(b, "rm") <= demo_eval_mean(a, "rm")) continue;
        double *ga = xmalloc((size_t)a->n * sizeof(double)), *gb = xmalloc((size_t)a->n * sizeof(double)), ci[2];
        for (int k = 0; k < a->n; k++) { ga[k] = a->g[k].total; gb[k] = b->g[k].total; }
        bootstrap_paired_ci(gb, ga, a->n, 2000, seed + (uint64_t)i, ci);
        if (ci[1] < 0)
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:[f, f]}", "series", series,
                                                  "from", label[ord[i - 1]], "to", label[ord[i]], "kl_from", a->kl_k1,
                                                  "kl_to", b->kl_k1, "rm_from", demo_eval_mean(a, "rm"), "rm_to",
                                                  demo_eval_mean(b, "rm"), "gold_from", demo_eval_mean(a, "gold"),
                                                  "gold_to", demo_eval_mean(b, "gold"), "gold_change_ci", ci[0], ci[1]));
        free(ga); free(gb);
    }
}

// summary.json's "sweep": a full evaluation row per PPO β and per best-of-n n, and the findings.
static json_t *sweep_json(const DemoConfig *c, const DemoEval *ev, const DemoEval *sw, const DemoEval *bc) {
    json_t *ppo = json_array(), *bon = json_array(), *over = json_array();
    const DemoEval *pt[N_SWEEP_BETAS + N_SWEEP_BON];
    const char *label[N_SWEEP_BETAS + N_SWEEP_BON];
    char lab[N_SWEEP_BETAS + N_SWEEP_BON][32];
    for (int j = 0; j < N_SWEEP_BETAS; j++) {
        pt[j] = is_main_beta(c, SWEEP_BETAS[j]) ? &ev[M_PPO] : &sw[j];
        snprintf(lab[j], sizeof lab[j], "ppo beta %g", SWEEP_BETAS[j]);
        label[j] = lab[j];
        json_t *o = json_pack("{s:f}", "beta", SWEEP_BETAS[j]);
        eval_json(pt[j], &ev[M_SFT], c->seed, o);
        json_array_append_new(ppo, o);
    }
    for (int j = 0; j < N_SWEEP_BON; j++) {
        pt[N_SWEEP_BETAS + j] = &bc[j];
        snprintf(lab[N_SWEEP_BETAS + j], sizeof lab[0], "best-of-%d", SWEEP_BON_NS[j]);
        label[N_SWEEP_BETAS + j] = lab[N_SWEEP_BETAS + j];
        json_t *o = json_pack("{s:i}", "n", SWEEP_BON_NS[j]);
        eval_json(&bc[j], &ev[M_SFT], c->seed, o);
        json_array_append_new(bon, o);
    }
    overoptimised(over, "ppo", N_SWEEP_BETAS, pt, label, c->seed + 31);
    overoptimised(over, "bon", N_SWEEP_BON, pt + N_SWEEP_BETAS, label + N_SWEEP_BETAS, c->seed + 37);
    return json_pack("{s:o, s:o, s:o}", "ppo", ppo, "bon", bon, "overoptimised", over);
}

// report.md's sweep section.
static void sweep_report(FILE *f, const json_t *sweep) {
    fprintf(f, "\n## Sweep: the reward–KL frontier\n\nPPO at several β and best-of-n at several n, all against the "
               "same reward model (frontier.svg draws them).\n\n");
    fprintf(f, "| procedure | KL k1 | gold [95%% CI] | gold − SFT | RM score | accuracy | harmful | distinct |\n|---|---|---|---|---|---|---|---|\n");
    const char *key[2] = {"ppo", "bon"};
    for (int s = 0; s < 2; s++) {
        const json_t *rows = json_object_get(sweep, key[s]), *o;
        size_t i;
        json_array_foreach(rows, i, o) {
            const json_t *ci = json_object_get(o, "gold_ci"), *dv = json_object_get(o, "gold_vs_sft_ci");
            if (s == 0) fprintf(f, "| PPO β=%g ", json_number_at(o, "beta"));
            else fprintf(f, "| best-of-%lld ", (long long)json_integer_value(json_object_get(o, "n")));
            fprintf(f, "| %.2f | %.3f [%.3f, %.3f] | [%+.3f, %+.3f] | %.2f | %.3f | %.3f | %.3f |\n", json_number_at(o, "kl_k1"),
                    json_number_at(o, "gold"), json_number_value(json_array_get(ci, 0)), json_number_value(json_array_get(ci, 1)),
                    json_number_value(json_array_get(dv, 0)), json_number_value(json_array_get(dv, 1)), json_number_at(o, "rm_score"),
                    json_number_at(o, "accuracy"), json_number_at(o, "harmful"), json_number_at(o, "distinct"));
        }
    }
    const json_t *over = json_object_get(sweep, "overoptimised"), *o;
    size_t i;
    if (json_array_size(over) == 0)
        fprintf(f, "\nNo over-optimisation found: along neither series does the gold score fall (paired 95%% CI below 0) "
                   "while the RM score rises.\n");
    json_array_foreach(over, i, o)
        fprintf(f, "\nOver-optimised from %s to %s: the RM score rises %.2f → %.2f while gold falls %.3f → %.3f "
                   "(paired 95%% CI of the change [%+.3f, %+.3f]), KL %.2f → %.2f.\n",
                json_string_value(json_object_get(o, "from")), json_string_value(json_object_get(o, "to")),
                json_number_at(o, "rm_from"), json_number_at(o, "rm_to"), json_number_at(o, "gold_from"), json_number_at(o, "gold_to"),
                json_number_value(json_array_get(json_object_get(o, "gold_change_ci"), 0)),
                json_number_value(json_array_get(json_object_get(o, "gold_change_ci"), 1)), json_number_at(o, "kl_from"), json_number_at(o, "kl_to"));
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
    D.n_stages = DEMO_N_STAGES - !c->sweep;
    D.reused = json_array();
    D.from = c->from ? demo_stage_index(c->from) : 0;
    double t_all = now_s();
    int rc = -1;
    char *corpus = pj(D.dir, "corpus.jsonl"), *sftd = pj(D.dir, "sft.jsonl"), *rlp = pj(D.dir, "rl_prompts.jsonl"),
         *lp = pj(D.dir, "label_prompts.jsonl"), *hp = pj(D.dir, "heldout.jsonl"), *prefs = pj(D.dir, "preferences.jsonl"),
         *sftdir = pj(D.dir, "sft/final"), *rmdir = pj(D.dir, "rm/final");
    DemoEval ev[N_MODELS], sw[N_SWEEP_BETAS], bc[N_SWEEP_BON];
    memset(ev, 0, sizeof ev); memset(sw, 0, sizeof sw); memset(bc, 0, sizeof bc);
    DemoSamples ls, hs;
    memset(&ls, 0, sizeof ls); memset(&hs, 0, sizeof hs);
    Labelers L;
    labelers_default(&L, 4);
    json_t *summary = json_object();
    demo_gold_reset_counts();
    char *marker = pj(D.dir, "demo-world.txt");
    if (D.from < 0) {
        char names[160] = "";
        for (int i = 0; i < DEMO_N_STAGES; i++) {
            strcat(names, i ? ", " : "");
            strcat(names, DEMO_STAGES[i]);
        }
        err_set(e, "--from %s: not a stage (%s)", c->from, names);
        goto out;
    }
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
    if (c->sweep) {
        if ((r = stage_begin(&D, "sweep", "PPO at several β against the same reward model (the frontier)", e)) < 0) goto out;
        for (int j = 0; r && j < N_SWEEP_BETAS; j++) {
            char name[64];
            sweep_run_name(SWEEP_BETAS[j], name, sizeof name);
            if (is_main_beta(c, SWEEP_BETAS[j])) continue;
            printf("   PPO at β %g\n", SWEEP_BETAS[j]);
            if (run_rl(&D, name, "gae", c->ppo_iters, 1, c->ppo_lr, SWEEP_BETAS[j], rlp, hp, e)) goto out;
        }
        if (r) stage_end(&D, "sweep");
    }

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
            if (j && json_object_get(j, "val_accuracy")) json_object_set_new(rmj, "val_accuracy", json_real(json_number_at(j, "val_accuracy")));
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
    if (c->sweep) {
        for (int j = 0; j < N_SWEEP_BETAS; j++) {
            if (is_main_beta(c, SWEEP_BETAS[j])) continue;
            char name[64];
            sweep_run_name(SWEEP_BETAS[j], name, sizeof name);
            char *run = pj(D.dir, name), *md = pj(run, "final");
            DemoEvalOptions eo = {.model = md, .sft = sftdir, .rm = rmdir, .prompts = hp, .n_prompts = c->eval_prompts,
                                  .max_new = c->max_new, .sample_temp = 0.7f, .batch = 100, .seed = c->seed + 17};
            int rr = demo_eval(&eo, &sw[j], e);
            free(run); free(md);
            if (rr) goto out;
            printf("   PPO β %-5g gold %.3f  RM %.3f  KL %.2f\n", SWEEP_BETAS[j], demo_eval_mean(&sw[j], "gold"),
                   demo_eval_mean(&sw[j], "rm"), sw[j].kl_k1);
        }
        DemoEvalOptions eo = {.model = sftdir, .rm = rmdir, .prompts = hp, .n_prompts = c->eval_prompts,
                              .max_new = c->max_new, .batch = 100, .seed = c->seed + 19};
        if (demo_eval_bon_curve(&eo, SWEEP_BON_NS, N_SWEEP_BON, bc, e)) goto out;
        for (int j = 0; j < N_SWEEP_BON; j++)
            printf("   best-of-%-3d gold %.3f  RM %.3f  KL bound %.2f\n", SWEEP_BON_NS[j], demo_eval_mean(&bc[j], "gold"),
                   demo_eval_mean(&bc[j], "rm"), bc[j].kl_k1);
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
        // the frontier's points: every procedure, or with --sweep the β and n series plus DPO and GRPO
        const DemoEval *pt[2 + N_SWEEP_BETAS + N_SWEEP_BON];
        const char *labels[2 + N_SWEEP_BETAS + N_SWEEP_BON];
        char lab[N_SWEEP_BETAS + N_SWEEP_BON][32];
        int series[2 + N_SWEEP_BETAS + N_SWEEP_BON], np = 0;
        double kl[2 + N_SWEEP_BETAS + N_SWEEP_BON], gold[2 + N_SWEEP_BETAS + N_SWEEP_BON], rm[2 + N_SWEEP_BETAS + N_SWEEP_BON];
        if (!c->sweep) {
            const char *l4[4] = {"best-of-n", "DPO", "GRPO", "PPO"};
            int who[4] = {M_BON, M_DPO, M_GRPO, M_PPO};
            for (int i = 0; i < 4; i++) { pt[np] = &ev[who[i]]; labels[np] = l4[i]; series[np++] = 0; }
        } else {
            pt[np] = &ev[M_DPO]; labels[np] = "DPO"; series[np++] = 0;
            pt[np] = &ev[M_GRPO]; labels[np] = "GRPO"; series[np++] = 0;
            for (int j = N_SWEEP_BETAS - 1; j >= 0; j--) {  // large β first: KL grows along the line
                snprintf(lab[j], sizeof lab[j], "PPO β=%g", SWEEP_BETAS[j]);
                pt[np] = is_main_beta(c, SWEEP_BETAS[j]) ? &ev[M_PPO] : &sw[j];
                labels[np] = lab[j]; series[np++] = 1;
            }
            for (int j = 0; j < N_SWEEP_BON; j++) {
                snprintf(lab[N_SWEEP_BETAS + j], sizeof lab[0], "n=%d", SWEEP_BON_NS[j]);
                pt[np] = &bc[j]; labels[np] = lab[N_SWEEP_BETAS + j]; series[np++] = 2;
            }
        }
        for (int i = 0; i < np; i++) {
            kl[i] = pt[i]->kl_k1;
            gold[i] = demo_eval_mean(pt[i], "gold");
            rm[i] = demo_eval_mean(pt[i], "rm");
        }
        if (c->sweep) json_object_set_new(summary, "sweep", sweep_json(c, ev, sw, bc));
        char *fsvg = pj(D.dir, "frontier.svg"), *cj = pj(D.dir, "ppo_curves.jsonl"), *csvg = pj(D.dir, "ppo_curves.svg"),
             *ppod = pj(D.dir, "ppo");
        int r = demo_frontier_svg(fsvg, np, labels, series, kl, gold, rm, e) || demo_ppo_curves(ppod, cj, csvg, e);
        free(fsvg); free(cj); free(csvg); free(ppod);
        if (r) goto out;
    }
    stage_end(&D, "report");
    {   // the demo's acceptance (issue 6), so that a summary says by itself whether the run passed
        const json_t *st = json_object_get(summary, "stages"), *sft = json_object_get(st, "sft"),
                     *ppo = json_object_get(st, "ppo"), *rmj = json_object_get(summary, "rm");
        double sh = json_number_at(sft, "harmful"), ph = json_number_at(ppo, "harmful");
        int beats = json_number_value(json_array_get(json_object_get(ppo, "gold_vs_sft_ci"), 0)) > 0;
        int acc = json_number_at(ppo, "accuracy") >= json_number_value(json_array_get(json_object_get(sft, "accuracy_ci"), 0));
        int harm = sh > 0 ? ph < sh : ph == 0;
        int rmok = json_number_at(rmj, "gold_pair_accuracy") >= 0.65;
        int klok = isfinite(json_number_at(ppo, "kl_k1")) && isfinite(json_number_at(ppo, "kl_k3"));
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
                    json_number_at(rmj, "gold_pair_accuracy"), (long long)json_integer_value(json_object_get(rmj, "gold_pairs")),
                    json_number_at(rmj, "val_accuracy"), 100 * json_number_at(rmj, "label_agreement"));
            if (json_object_get(summary, "sweep")) sweep_report(f, json_object_get(summary, "sweep"));
            fprintf(f, "\n## SFT vs PPO, five held-out prompts where they answer differently\n\n| prompt | SFT | PPO |\n|---|---|---|\n");
            int shown[5], n_shown = 0;  // the first five that differ, then the first ones if fewer do
            for (int i = 0; i < ev[M_SFT].n && n_shown < 5; i++)
                if (strcmp(ev[M_SFT].resp[i], ev[M_PPO].resp[i])) shown[n_shown++] = i;
            for (int i = 0; i < ev[M_SFT].n && n_shown < 5; i++)
                if (!strcmp(ev[M_SFT].resp[i], ev[M_PPO].resp[i])) shown[n_shown++] = i;
            for (int s = 0; s < n_shown; s++) {
                int i = shown[s];
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
    for (int k = 0; k < N_SWEEP_BETAS; k++) demo_eval_free(&sw[k]);
    for (int k = 0; k < N_SWEEP_BON; k++) demo_eval_free(&bc[k]);
    demo_samples_free(&ls); demo_samples_free(&hs);
    labelers_free(&L);
    json_decref(summary);
    json_decref(D.reused);
    free(corpus); free(sftd); free(rlp); free(lp); free(hp); free(prefs); free(sftdir); free(rmdir); free(marker);
    free(D.dir);
    return rc;
}
