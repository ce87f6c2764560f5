// train/ppo.c — the RL loop (see ppo.h): options and their config.json round trip, one iteration
// (rollout, scoring, advantages, updates), evaluation, checkpoints and resume.
#include "train/ppo.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "eval/plot.h"
#include "io/checkpoint.h"
#include "nn/gemm.h"
#include "train/dp_optim.h"
#include "train/loop.h"
#include "train/reward.h"
#include "train/rl_math.h"
#include "train/rollout.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/rng.h"
#include "util/sysinfo.h"
#include "util/timer.h"
#include "util/utf8.h"

void ppo_defaults(PpoOptions *o) {
    memset(o, 0, sizeof *o);
    o->reward_timeout = 60; o->advantage = "gae";
    o->iterations = 100; o->rollouts = 64; o->group = 0; o->minibatch = 16; o->epochs = 4;
    o->grad_accum = 1;
    o->max_new = 64; o->temperature = 0.7f;
    o->beta = -1; o->kl_target = 6; o->kl_horizon = 0;
    o->gamma = 1; o->lambda = 0.95; o->clip_low = 0.2; o->clip_high = 0.2; o->value_clip = 0.2;
    o->noeos = "replace"; o->noeos_value = -1; o->score_clip = 0;
    o->lr = 0; o->critic_lr = 0; o->min_lr_frac = 0; o->weight_decay = 0;
    o->beta1 = 0.9f; o->beta2 = 0.95f; o->adam_eps = 1e-5f; o->grad_clip = 1.0f;
    o->schedule = "linear"; o->warmup = 0;
    o->val_fraction = 0.1; o->eval_every = 10; o->eval_prompts = 64; o->eval_samples = 8;
    o->eval_temperature = -1;
    o->ckpt_every = 20; o->keep_checkpoints = 2;
    o->seed = 1337;
}

float ppo_default_lr(size_t n) {
    const double n0 = 10e6, n1 = 124e6, lr0 = 1e-4, lr1 = 3e-6;
    if ((double)n <= n0) return (float)lr0;
    if ((double)n >= n1) return (float)lr1;
    double f = log((double)n / n0) / log(n1 / n0);
    return (float)exp(log(lr0) + f * (log(lr1) - log(lr0)));
}

// ---- options ↔ config.json ---------------------------------------------------------------------
typedef struct {
    const char *key;
    char type;  // s string (may be null), i int, l long, d double, f float, b bool, u uint64
    size_t off;
} OptField;
#define F(k, t, m) {k, t, offsetof(PpoOptions, m)}
static const OptField FIELDS[] = {
    F("policy", 's', policy), F("reward", 's', reward), F("reward_cmd", 's', reward_cmd),
    F("reward_timeout", 'd', reward_timeout), F("critic", 's', critic), F("prompts", 's', prompts),
    F("val_prompts", 's', val_prompts), F("advantage", 's', advantage),
    F("iterations", 'l', iterations), F("rollouts", 'i', rollouts), F("group", 'i', group),
    F("minibatch", 'i', minibatch), F("epochs", 'i', epochs), F("max_new", 'i', max_new),
    F("max_prompt", 'i', max_prompt), F("temperature", 'f', temperature), F("beta", 'd', beta),
    F("kl_estimator", 's', kl_estimator), F("kl_in", 's', kl_in), F("adaptive_kl", 'b', adaptive_kl),
    F("kl_target", 'd', kl_target), F("kl_horizon", 'd', kl_horizon), F("gamma", 'd', gamma),
    F("lambda", 'd', lambda), F("clip_low", 'd', clip_low), F("clip_high", 'd', clip_high),
    F("value_clip", 'd', value_clip), F("noeos", 's', noeos), F("noeos_value", 'd', noeos_value),
    F("score_clip", 'd', score_clip), F("whiten_rewards", 'b', whiten_rewards),
    F("loss_agg", 's', loss_agg), F("lr", 'f', lr), F("critic_lr", 'f', critic_lr),
    F("min_lr_frac", 'f', min_lr_frac), F("weight_decay", 'f', weight_decay), F("beta1", 'f', beta1),
    F("beta2", 'f', beta2), F("adam_eps", 'f', adam_eps), F("grad_clip", 'f', grad_clip),
    F("schedule", 's', schedule), F("warmup", 'l', warmup), F("val_fraction", 'd', val_fraction),
    F("eval_every", 'i', eval_every), F("eval_prompts", 'i', eval_prompts),
    F("eval_samples", 'i', eval_samples), F("eval_temperature", 'f', eval_temperature),
    F("ckpt_every", 'l', ckpt_every), F("keep_checkpoints", 'l', keep_checkpoints),
    F("plain_template", 'b', plain_template), F("skip_bad", 'b', skip_bad), F("seed", 'u', seed),
};
#undef F
#define N_FIELDS (int)(sizeof FIELDS / sizeof FIELDS[0])

static json_t *options_json(const PpoOptions *o, const char *stage) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string(stage));
    for (int i = 0; i < N_FIELDS; i++) {
        const char *p = (const char *)o + FIELDS[i].off;
        json_t *v = NULL;
        switch (FIELDS[i].type) {
        case 's': v = json_string_or_null(*(const char *const *)p); break;
        case 'i': v = json_integer(*(const int *)p); break;
        case 'l': v = json_integer(*(const long *)p); break;
        case 'd': v = json_real(*(const double *)p); break;
        case 'f': v = json_real(*(const float *)p); break;
        case 'b': v = json_boolean(*(const int *)p); break;
        case 'u': v = json_integer((json_int_t) * (const uint64_t *)p); break;
        }
        json_object_set_new(j, FIELDS[i].key, v);
    }
    json_object_set_new(j, "grad_accum", json_integer(o->grad_accum));
    json_object_set_new(j, "frozen_bf16", json_boolean(o->frozen_bf16));
    json_object_set_new(j, "bf16", json_boolean(o->bf16));
    loop_machine_to_json(j);
    return j;
}

// The stored settings of a resumed run win over flags (strings point into j).
static int options_from_json(PpoOptions *o, const json_t *j, const char *ctx, Err *e) {
    for (int i = 0; i < N_FIELDS; i++) {
        char *p = (char *)o + FIELDS[i].off;
        const char *k = FIELDS[i].key;
        long l;
        double d;
        switch (FIELDS[i].type) {
        case 's': if (json_get_string_or_null(j, k, (const char **)p, ctx, e)) return -1; break;
        case 'i': if (json_get_long(j, k, &l, ctx, e)) return -1; *(int *)p = (int)l; break;
        case 'l': if (json_get_long(j, k, &l, ctx, e)) return -1; *(long *)p = l; break;
        case 'u': if (json_get_long(j, k, &l, ctx, e)) return -1; *(uint64_t *)p = (uint64_t)l; break;
        case 'd': if (json_get_double(j, k, &d, ctx, e)) return -1; *(double *)p = d; break;
        case 'f': if (json_get_double(j, k, &d, ctx, e)) return -1; *(float *)p = (float)d; break;
        case 'b': if (json_get_bool(j, k, (int *)p, ctx, e)) return -1; break;
        }
    }
    long ga = 1;  // runs from before --grad-accum have none
    if (json_get_long_opt(j, "grad_accum", &ga, ctx, e)) return -1;
    o->grad_accum = (int)ga;
    o->frozen_bf16 = 0;  // runs from before --frozen-bf16 have none
    if (json_object_get(j, "frozen_bf16") && json_get_bool(j, "frozen_bf16", &o->frozen_bf16, ctx, e))
        return -1;
    o->bf16 = 0;  // nor --bf16
    if (json_object_get(j, "bf16") && json_get_bool(j, "bf16", &o->bf16, ctx, e)) return -1;
    return 0;
}

// ---- the stage's state ---------------------------------------------------------------------------
typedef enum { ADV_GAE, ADV_GRPO, ADV_DR_GRPO, ADV_RLOO, ADV_REINFORCE, ADV_REINFORCE_BASELINE } AdvMode;

typedef struct {
    PpoOptions o;
    AdvMode mode;
    int G, n_prompts_iter;         // responses per prompt, prompts per iteration
    KLEstimator kl_est;
    int kl_in_loss;
    RLAgg agg;
    RLScoreConfig scfg;
    RLKLController klc;
    LoopOptions lo, clo;           // AdamW settings of policy / critic
    DpAccum pacc, cacc;            // gradient accumulation over micro-batches (policy / critic)
    LRSchedule sched, csched;
    GPT *policy, *ref, *critic;
    Tokenizer tok;
    RewardSource rs;
    Dataset train, val;
    RunDir run;
    char *samples_path;
    int *order, cached_epoch;
    int warned_ratio;
    // evaluation: the reference's samples and scores, computed once (fixed evaluation seed)
    int eval_n, eval_ready;
    int *eval_idx;
    Rollout eval_ref;
    double *eval_ref_score;
} Ppo;

static int parse_mode(const char *s, AdvMode *m) {
    static const char *names[] = {"gae", "grpo", "dr-grpo", "rloo", "reinforce", "reinforce-baseline"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, names[i])) { *m = (AdvMode)i; return 0; }
    return -1;
}

static int grpo_family(AdvMode m) { return m == ADV_GRPO || m == ADV_DR_GRPO; }

// Fills in the per-estimator defaults and checks every setting.
static int resolve_options(Ppo *P, Err *e) {
    PpoOptions *o = &P->o;
    if (parse_mode(o->advantage, &P->mode))
        return err_set(e, "--advantage: expected gae, grpo, dr-grpo, rloo, reinforce or "
                          "reinforce-baseline, got \"%s\"", o->advantage);
    AdvMode m = P->mode;
    if (o->group <= 0) o->group = (m == ADV_GAE || m == ADV_REINFORCE) ? 1 : 4;
    if (o->beta < 0) o->beta = grpo_family(m) ? 0.04 : 0.05;
    if (!o->kl_estimator) o->kl_estimator = grpo_family(m) ? "k3" : "k1";
    if (!o->kl_in) o->kl_in = grpo_family(m) ? "loss" : "reward";
    if (!o->loss_agg) o->loss_agg = m == ADV_DR_GRPO ? "seq-sum" : "token-mean";
    if (o->eval_temperature < 0) o->eval_temperature = o->temperature;
    P->G = o->group;
    if (kl_estimator_parse(o->kl_estimator, &P->kl_est))
        return err_set(e, "--kl-estimator: expected k1, k2 or k3, got \"%s\"", o->kl_estimator);
    if (strcmp(o->kl_in, "reward") && strcmp(o->kl_in, "loss"))
        return err_set(e, "--kl-in: expected reward or loss, got \"%s\"", o->kl_in);
    P->kl_in_loss = !strcmp(o->kl_in, "loss");
    if (rl_agg_parse(o->loss_agg, &P->agg))
        return err_set(e, "--loss-agg: expected token-mean, seq-mean or seq-sum, got \"%s\"", o->loss_agg);
    P->scfg = rl_score_config_default();
    if (rl_noeos_parse(o->noeos, &P->scfg.noeos_mode))
        return err_set(e, "--noeos: expected replace, subtract or none, got \"%s\"", o->noeos);
    P->scfg.noeos_value = o->noeos_value;
    P->scfg.clip = o->score_clip;
    SchedKind sk;
    if (sched_parse(o->schedule, &sk))
        return err_set(e, "--schedule: expected constant, linear or cosine, got \"%s\"", o->schedule);
    if (o->iterations <= 0 || o->rollouts <= 0 || o->minibatch <= 0 || o->epochs <= 0 || o->max_new <= 0)
        return err_set(e, "--iterations, --rollouts, --minibatch, --epochs and --max-new must be positive");
    if (o->rollouts % P->G)
        return err_set(e, "--rollouts %d is not a multiple of --group %d", o->rollouts, P->G);
    if (o->minibatch % P->G || o->rollouts % o->minibatch)
        return err_set(e, "--minibatch %d must be a multiple of --group %d and divide --rollouts %d "
                          "(a group is never split across minibatches)", o->minibatch, P->G, o->rollouts);
    if (o->grad_accum < 1) return err_set(e, "--grad-accum must be at least 1, got %d", o->grad_accum);
    if (o->minibatch / P->G < o->grad_accum * dist_size())
        return err_set(e, "--minibatch %d holds %d group%s of %d: fewer than --grad-accum %d × %d "
                          "process%s (a micro-batch is at least one group)", o->minibatch,
                       o->minibatch / P->G, o->minibatch / P->G == 1 ? "" : "s", P->G,
                       o->grad_accum, dist_size(), dist_size() == 1 ? "" : "es");
    if (P->mode == ADV_GAE && P->G != 1)
        return err_set(e, "--advantage gae samples one response per prompt (--group 1), got --group %d", P->G);
    if ((P->mode == ADV_GRPO || P->mode == ADV_RLOO || P->mode == ADV_DR_GRPO ||
         P->mode == ADV_REINFORCE_BASELINE) && P->G < 2)
        return err_set(e, "--advantage %s needs at least 2 responses per prompt (--group), got %d",
                       o->advantage, P->G);
    if (!(o->temperature > 0)) return err_set(e, "--temperature must be positive, got %g", o->temperature);
    if (!(o->beta >= 0) || !isfinite(o->beta)) return err_set(e, "--beta must be ≥ 0, got %g", o->beta);
    if (o->adaptive_kl && !(o->beta > 0)) return err_set(e, "--adaptive-kl needs --beta > 0 (its starting value)");
    if (!(o->kl_target > 0)) return err_set(e, "--kl-target must be positive, got %g", o->kl_target);
    if (!(o->gamma >= 0 && o->gamma <= 1) || !(o->lambda >= 0 && o->lambda <= 1))
        return err_set(e, "--gamma and --lambda must be in [0, 1]");
    if (!(o->clip_low > 0 && o->clip_low < 1) || !(o->clip_high > 0))
        return err_set(e, "--clip-low must be in (0, 1) and --clip-high positive");
    if (o->val_fraction < 0 || o->val_fraction >= 1)
        return err_set(e, "--val-fraction must be in [0, 1), got %g", o->val_fraction);
    if (o->eval_prompts < 0 || o->eval_samples < 0 || o->eval_every < 0)
        return err_set(e, "--eval-every, --eval-prompts and --eval-samples must be ≥ 0");
    if (o->reward_timeout <= 0) return err_set(e, "--reward-timeout must be positive");
    P->n_prompts_iter = o->rollouts / P->G;
    return 0;
}

// A derived seed for one purpose (rollouts, minibatch orders, evaluation).
static uint64_t derive_seed(uint64_t seed, uint64_t what, uint64_t a) {
    Rng r;
    rng_seed(&r, seed, what, a);
    return rng_u64(&r);
}

// Rows of minibatch mb in epoch ep of iteration it: groups in the order perm (shuffled by
// (seed, it, ep)), minibatch / G groups each, their rows adjacent.
static void minibatch_rows(const Ppo *P, const int *perm, int mb, int *rows) {
    int gpm = P->o.minibatch / P->G, n = 0;
    for (int q = 0; q < gpm; q++)
        for (int k = 0; k < P->G; k++) rows[n++] = perm[mb * gpm + q] * P->G + k;
}

// Rows of micro-batch u (of processes × grad_accum) of minibatch mb: groups
// [gpm·u/U, gpm·(u+1)/U) of it, in minibatch order. Rank r runs micro-batches r·A … r·A + A − 1,
// so P processes × A micro-batches and one process × P·A micro-batches see the same packs.
static int micro_rows(const Ppo *P, const int *perm, int mb, int u, int *rows) {
    int gpm = P->o.minibatch / P->G, U = dist_size() * P->o.grad_accum, n = 0;
    for (int q = gpm * u / U; q < gpm * (u + 1) / U; q++)
        for (int k = 0; k < P->G; k++) rows[n++] = perm[mb * gpm + q] * P->G + k;
    return n;
}

// Response tokens of minibatch mb (the normaliser of its token-mean losses).
static double minibatch_tokens(const Ppo *P, const Rollout *R, const int *perm, int mb, int *rows) {
    minibatch_rows(P, perm, mb, rows);
    double n = 0;
    for (int i = 0; i < P->o.minibatch; i++) n += R->rlen[rows[i]];
    return n;
}

static void epoch_perm(const Ppo *P, long it, int ep, int *perm) {
    int ng = P->n_prompts_iter;
    for (int i = 0; i < ng; i++) perm[i] = i;
    Rng r;
    rng_seed(&r, P->o.seed, 0x6d696e69 /* "mini" */ + ((uint64_t)it << 32), (uint64_t)ep);
    rng_shuffle(&r, perm, ng);
}

// ---- one iteration -------------------------------------------------------------------------------
typedef struct {  // per-token arrays over the rollout batch (N entries) + per-row arrays (B)
    double *old, *ent, *ref, *val, *kl, *kl1, *reward, *adv, *ret;
    double *raw, *score, *nonscore, *row_adv;
} Buffers;

static void buffers_alloc(Buffers *b, size_t N, int B) {
    size_t n = N ? N : 1, m = (size_t)(B ? B : 1);
    double **tok[] = {&b->old, &b->ent, &b->ref, &b->val, &b->kl, &b->kl1, &b->reward, &b->adv, &b->ret};
    for (size_t i = 0; i < sizeof tok / sizeof tok[0]; i++) *tok[i] = xcalloc(n, sizeof(double));
    double **row[] = {&b->raw, &b->score, &b->nonscore, &b->row_adv};
    for (size_t i = 0; i < sizeof row / sizeof row[0]; i++) *row[i] = xcalloc(m, sizeof(double));
}

static void buffers_free(Buffers *b) {
    double *all[] = {b->old, b->ent, b->ref, b->val, b->kl, b->kl1, b->reward, b->adv, b->ret,
                     b->raw, b->score, b->nonscore, b->row_adv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

// Per-token outputs of a pack put back at their rollout-token index.
static void put(const RolloutPack *p, const double *src, double *dst) {
    for (size_t k = 0; k < p->n_resp; k++) dst[p->idx[k]] = src[k];
}
static void take(const RolloutPack *p, const double *src, double *dst) {
    for (size_t k = 0; k < p->n_resp; k++) dst[k] = src[p->idx[k]];
}

// One epoch of one minibatch with the KL in the loss (or no reference) and no critic — GRPO's
// usual shape: the policy does not change before its only training forward, and nothing before
// training needs the old logprobs (the advantages come from the scores alone). That forward's
// logprobs are then the old ones (ratio 1 by definition, as TRL does with num_iterations = 1),
// which saves the scoring pass of the policy; the KL figures are computed after training.
static int reuse_old_logprobs(const Ppo *P) {
    return P->o.epochs == 1 && P->o.rollouts == P->o.minibatch && P->mode != ADV_GAE &&
           !P->critic && (P->kl_in_loss || !P->ref);
}

// The policy's and the critic's first training forward (epoch 0, minibatch 0, micro-batch 0)
// is the scoring pass's last one when the packs match (score_rollout runs that pack last):
// train_epochs then backpropagates the stored forward instead of running it again — the same
// activations bit for bit. RLHF_FORWARD_REUSE=0 turns this off (the tests compare both ways).
static int forward_reuse(void) { return env_switch_on("RLHF_FORWARD_REUSE"); }

// Old policy logprobs + entropies (unless reuse_old_logprobs: train_epochs fills them),
// reference logprobs, critic values and reward scores, computed in the micro-batch packs of
// epoch 0 (so that the first minibatch's ratio is exactly 1): each rank its own micro-batches,
// then every array summed over the ranks (each entry has one writer, the others add zero), so
// every rank holds the whole batch's figures. The packs run last to first, so the forwards the
// policy and the critic keep are those of training's first pack (forward_reuse).
static int score_rollout(Ppo *P, const Rollout *R, const int *perm0, Buffers *bf, double *tokens,
                         Err *e) {
    int M = P->o.rollouts / P->o.minibatch, A = P->o.grad_accum;
    int *rows = xmalloc((size_t)P->o.minibatch * sizeof(int));
    RolloutPack pk;
    memset(&pk, 0, sizeof pk);
    double *tmp = NULL, *tmp2 = NULL;
    float inv_t = 1.0f / P->o.temperature;
    int rc = 0, old = !reuse_old_logprobs(P);
    for (int mb = M - 1; mb >= 0 && !rc; mb--)
        for (int a = A - 1; a >= 0 && !rc; a--) {
            int n = micro_rows(P, perm0, mb, dist_rank() * A + a, rows);
            if (n == 0) continue;
            rollout_pack(R, rows, n, &pk);
            tmp = xrealloc(tmp, (pk.n_resp + (size_t)n + 1) * sizeof(double));
            tmp2 = xrealloc(tmp2, (pk.n_resp + 1) * sizeof(double));
            if (old) {
                if ((rc = rollout_logprobs(P->policy, &pk, inv_t, tmp, tmp2, e))) break;
                put(&pk, tmp, bf->old);
                put(&pk, tmp2, bf->ent);
                *tokens += (double)pk.N;
            }
            if (P->ref) {
                if ((rc = rollout_logprobs(P->ref, &pk, inv_t, tmp, NULL, e))) break;
                put(&pk, tmp, bf->ref);
                *tokens += (double)pk.N;
            }
            if (P->critic) {
                if ((rc = rollout_values(P->critic, &pk, tmp, e))) break;
                put(&pk, tmp, bf->val);
                *tokens += (double)pk.N;
            }
        }
    // reward scores in chunks of `minibatch` rows in rollout order (the packs of one process),
    // whole chunks dealt out to the ranks
    size_t r0, rn;
    dist_shard_chunks((size_t)R->B, (size_t)P->o.minibatch, &r0, &rn);
    for (size_t b0 = r0; b0 < r0 + rn && !rc; b0 += (size_t)P->o.minibatch) {
        int n = (int)min_sz((size_t)P->o.minibatch, r0 + rn - b0);
        for (int i = 0; i < n; i++) rows[i] = (int)b0 + i;
        tmp = xrealloc(tmp, ((size_t)n + 1) * sizeof(double));
        if ((rc = reward_score_rows(&P->rs, R, rows, n, &P->train, tmp, e))) break;
        for (int i = 0; i < n; i++) bf->raw[b0 + (size_t)i] = tmp[i];
    }
    free(rows); free(tmp); free(tmp2);
    rollout_pack_free(&pk);
    if (rc) return rc;
    if (old) {
        dist_allreduce_sum_double(bf->old, R->N);
        dist_allreduce_sum_double(bf->ent, R->N);
    }
    if (P->ref) dist_allreduce_sum_double(bf->ref, R->N);
    if (P->critic) dist_allreduce_sum_double(bf->val, R->N);
    dist_allreduce_sum_double(bf->raw, (size_t)R->B);
    return 0;
}

static void kl_figures(Ppo *P, size_t N, Buffers *bf) {
    kl_per_token(P->kl_est, N, bf->old, bf->ref, bf->kl);
    kl_per_token(KL_K1, N, bf->old, bf->ref, bf->kl1);
}

// Scores, KL (unless reuse_old_logprobs: after training), rewards, advantages and returns over
// the whole rollout batch.
static void advantages(Ppo *P, const Rollout *R, Buffers *bf) {
    int B = R->B;
    size_t N = R->N;
    double beta = P->klc.beta;
    for (int b = 0; b < B; b++) bf->score[b] = rl_final_score(&P->scfg, bf->raw[b], R->ended[b]);
    if (P->ref && !reuse_old_logprobs(P)) kl_figures(P, N, bf);
    double beta_r = P->kl_in_loss ? 0.0 : beta;  // the KL enters the reward or the loss, not both
    rl_token_rewards(B, R->rlen, bf->kl, beta_r, bf->score, bf->reward, bf->nonscore);
    switch (P->mode) {
    case ADV_GAE:
        if (P->o.whiten_rewards) rl_whiten(N, bf->reward, NULL, NULL, 0);
        rl_gae(B, R->rlen, bf->reward, bf->val, P->o.gamma, P->o.lambda, bf->adv, bf->ret);
        rl_whiten(N, bf->adv, NULL, NULL, 1);
        break;
    case ADV_GRPO: case ADV_DR_GRPO: case ADV_RLOO: {
        double *r = xmalloc((size_t)B * sizeof(double));
        for (int b = 0; b < B; b++) r[b] = bf->score[b] + bf->nonscore[b];  // nonscore is 0 with the KL in the loss
        RLGroupAdv g = P->mode == ADV_GRPO ? RL_ADV_GRPO : P->mode == ADV_DR_GRPO ? RL_ADV_DR_GRPO : RL_ADV_RLOO;
        rl_group_advantages(g, B / P->G, P->G, r, bf->row_adv);
        rl_broadcast_rows(B, R->rlen, bf->row_adv, bf->adv);
        free(r);
        break;
    }
    case ADV_REINFORCE: case ADV_REINFORCE_BASELINE:
        rl_reinforce_pp(B, R->rlen, bf->kl, beta_r, bf->score,
                        P->mode == ADV_REINFORCE_BASELINE ? P->G : 0, P->o.gamma, bf->adv);
        break;
    }
}

typedef struct {
    RLPolicyStats ps;
    double pg_loss, kl_loss, v_loss, v_clipped, v_tokens, gnorm, cgnorm, steps;
    double first_dev;  // max |ρ − 1| on the first minibatch of epoch 0 (must be 0)
    double reused;     // training forwards served by scoring's (forward_reuse), summed over ranks
} TrainStats;

// E epochs × M minibatches of policy (and critic) updates; each minibatch is this rank's
// micro-batches (gradients accumulated in a fixed order), one optimizer step per model over the
// processes. Losses are normalised over the whole minibatch, so the split changes nothing.
// With reuse_old_logprobs, the one forward's logprobs and entropies become bf->old / bf->ent.
static int train_epochs(Ppo *P, long it, const Rollout *R, Buffers *bf, int *perm,
                        TrainStats *ts, double *tokens, Err *e) {
    const PpoOptions *o = &P->o;
    int M = o->rollouts / o->minibatch, A = o->grad_accum;
    int *rows = xmalloc((size_t)o->minibatch * sizeof(int));
    RolloutPack pk;
    memset(&pk, 0, sizeof pk);
    size_t cap = 0;
    double *lnew = NULL, *old = NULL, *adv = NULL, *ref = NULL, *loss = NULL, *dl = NULL, *w = NULL,
           *v = NULL, *vold = NULL, *ret = NULL, *dv = NULL, *ent = NULL;
    int reuse = reuse_old_logprobs(P);
    float *packed = NULL;
    size_t cap_packed = 0;
    float inv_t = 1.0f / o->temperature;
    float lr = sched_lr(&P->sched, it), clr = sched_lr(&P->csched, it);
    int rc = 0;
    for (int ep = 0; ep < o->epochs && !rc; ep++) {
        epoch_perm(P, it, ep, perm);
        for (int mb = 0; mb < M && !rc; mb++) {
            double mb_tok = minibatch_tokens(P, R, perm, mb, rows);
            // before the first optimizer step the weights are those scoring ran with
            int stored = ep == 0 && mb == 0 && !reuse && forward_reuse();
            // policy
            gpt_zero_grad(P->policy);
            for (int a = 0; a < A && !rc; a++) {
                int nr = micro_rows(P, perm, mb, dist_rank() * A + a, rows);
                rollout_pack(R, rows, nr, &pk);
                size_t n = pk.n_resp;
                if (n + 1 > cap) {
                    cap = n + 1;
                    double **all[] = {&lnew, &old, &adv, &ref, &loss, &dl, &w, &v, &vold, &ret, &dv, &ent};
                    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) *all[i] = xrealloc(*all[i], cap * sizeof(double));
                }
                if (pk.N > cap_packed) { cap_packed = pk.N; packed = xrealloc(packed, cap_packed * sizeof(float)); }
                if (nr > 0) {
                    if (stored && gpt_forward_stored(P->policy, pk.B, pk.len, pk.tokens, pk.parent, pk.prefix, pk.tail)) {
                        take(&pk, bf->old, lnew);  // scoring's forward of this pack (forward_reuse)
                        ts->reused += 1;
                    } else if ((rc = rollout_logprobs(P->policy, &pk, inv_t, lnew, reuse ? ent : NULL, e)))
                        break;
                    *tokens += (double)pk.N;
                    if (reuse) {  // the only minibatch of the only epoch: these are the old logprobs
                        put(&pk, lnew, bf->old);
                        put(&pk, ent, bf->ent);
                    }
                    take(&pk, bf->old, old);
                    take(&pk, bf->adv, adv);
                    RLPolicyStats st = rl_policy_loss(n, lnew, old, adv, o->clip_low, o->clip_high, loss, dl);
                    if (ep == 0 && mb == 0)
                        for (size_t k = 0; k < n; k++) {
                            double dev = fabs(exp(lnew[k] - old[k]) - 1.0);
                            if (dev > ts->first_dev) ts->first_dev = dev;
                        }
                    ts->ps.tokens += st.tokens; ts->ps.loss_sum += st.loss_sum; ts->ps.clipped += st.clipped;
                    ts->ps.approx_kl_sum += st.approx_kl_sum; ts->ps.ratio_sum += st.ratio_sum;
                    if (st.ratio_max > ts->ps.ratio_max) ts->ps.ratio_max = st.ratio_max;
                    rl_agg_weights(P->agg, pk.B, pk.rlen, mb_tok, (double)o->minibatch, o->max_new, w);
                    if (P->kl_in_loss && P->ref && P->klc.beta > 0) {
                        take(&pk, bf->ref, ref);
                        for (size_t k = 0; k < n; k++) {
                            double kl = kl_token(P->kl_est, lnew[k], ref[k]);
                            ts->kl_loss += w[k] * P->klc.beta * kl;
                            dl[k] += P->klc.beta * kl_token_grad(P->kl_est, lnew[k], ref[k]);
                        }
                    }
                    for (size_t k = 0; k < n; k++) { ts->pg_loss += w[k] * loss[k]; dl[k] *= w[k]; }
                    rollout_scatter(&pk, dl, packed);
                    gpt_backward(P->policy, pk.targets, inv_t, packed, NULL, NULL);
                }
                dp_accum_micro(&P->pacc, P->policy, a, A);
            }
            if (rc) break;
            ts->gnorm += loop_optimizer_step(P->policy, &P->lo, lr, 0);
            ts->steps += 1;
            // critic: ½ token mean of the clipped value loss over the minibatch
            if (P->critic) {
                gpt_zero_grad(P->critic);
                for (int a = 0; a < A && !rc; a++) {
                    int nr = micro_rows(P, perm, mb, dist_rank() * A + a, rows);
                    rollout_pack(R, rows, nr, &pk);
                    size_t n = pk.n_resp;
                    if (nr > 0) {
                        if (stored && gpt_forward_stored(P->critic, pk.B, pk.len, pk.tokens, pk.parent, pk.prefix, pk.tail)) {
                            take(&pk, bf->val, v);  // scoring's forward of this pack
                            ts->reused += 1;
                        } else if ((rc = rollout_values(P->critic, &pk, v, e)))
                            break;
                        *tokens += (double)pk.N;
                        take(&pk, bf->val, vold);
                        take(&pk, bf->ret, ret);
                        ts->v_clipped += (double)rl_value_loss(n, v, vold, ret, o->value_clip, loss, dv);
                        for (size_t k = 0; k < n; k++) { ts->v_loss += loss[k]; dv[k] /= mb_tok; }
                        ts->v_tokens += (double)n;
                        rollout_scatter(&pk, dv, packed);
                        gpt_backward(P->critic, NULL, 1.0f, NULL, NULL, packed);
                    }
                    dp_accum_micro(&P->cacc, P->critic, a, A);
                }
                if (rc) break;
                ts->cgnorm += loop_optimizer_step(P->critic, &P->clo, clr, 0);
            }
        }
    }
    double **all[] = {&lnew, &old, &adv, &ref, &loss, &dl, &w, &v, &vold, &ret, &dv, &ent};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(*all[i]);
    free(packed); free(rows);
    rollout_pack_free(&pk);
    if (rc) return rc;
    if (reuse) {  // every rank's entries (one writer each, zeros elsewhere), then the KL figures
        dist_allreduce_sum_double(bf->old, R->N);
        dist_allreduce_sum_double(bf->ent, R->N);
        if (P->ref) kl_figures(P, R->N, bf);
    }
    // the logged sums over every rank's micro-batches (norms and steps are already global)
    double sums[] = {ts->ps.tokens, ts->ps.loss_sum, ts->ps.clipped, ts->ps.approx_kl_sum,
                     ts->ps.ratio_sum, ts->pg_loss, ts->kl_loss, ts->v_loss, ts->v_clipped,
                     ts->v_tokens, *tokens, ts->reused};
    double maxes[] = {ts->ps.ratio_max, ts->first_dev};
    dist_allreduce_sum_double(sums, sizeof sums / sizeof sums[0]);
    dist_allreduce_max_double(maxes, 2);
    ts->ps.tokens = sums[0]; ts->ps.loss_sum = sums[1]; ts->ps.clipped = sums[2];
    ts->ps.approx_kl_sum = sums[3]; ts->ps.ratio_sum = sums[4]; ts->pg_loss = sums[5];
    ts->kl_loss = sums[6]; ts->v_loss = sums[7]; ts->v_clipped = sums[8]; ts->v_tokens = sums[9];
    *tokens = sums[10];
    ts->reused = sums[11];
    ts->ps.ratio_max = maxes[0]; ts->first_dev = maxes[1];
    return 0;
}

// ---- evaluation ----------------------------------------------------------------------------------
static SampleConfig eval_config(const Ppo *P) {
    SampleConfig sc = {.temperature = P->o.eval_temperature, .top_k = 0, .top_p = 1.0f,
                       .max_new = P->o.max_new, .eos_id = P->tok.eos_id,
                       .seed = derive_seed(P->o.seed, 0x6576616c /* "eval" */, 0), .batch = 0};
    return sc;
}

// Mean over rows of Σ_t (ℓ^π − ℓ^ref) of a rollout (the policy's own samples), at temperature T.
static int rollout_kl(Ppo *P, const Rollout *R, float temp, double *kl, Err *e) {
    int *rows = xmalloc((size_t)R->B * sizeof(int));
    for (int b = 0; b < R->B; b++) rows[b] = b;
    RolloutPack pk;
    memset(&pk, 0, sizeof pk);
    double sum = 0;
    int rc = 0, step = P->o.minibatch;
    float inv_t = temp > 0 ? 1.0f / temp : 1.0f;
    for (int b0 = 0; b0 < R->B && !rc; b0 += step) {
        int n = R->B - b0 < step ? R->B - b0 : step;
        rollout_pack(R, rows + b0, n, &pk);
        double *lp = xmalloc((pk.n_resp + 1) * sizeof(double)), *lr = xmalloc((pk.n_resp + 1) * sizeof(double));
        rc = rollout_logprobs(P->policy, &pk, inv_t, lp, NULL, e);
        if (!rc) rc = rollout_logprobs(P->ref, &pk, inv_t, lr, NULL, e);
        for (size_t k = 0; !rc && k < pk.n_resp; k++) sum += lp[k] - lr[k];
        free(lp); free(lr);
    }
    rollout_pack_free(&pk);
    free(rows);
    *kl = R->B ? sum / R->B : 0;
    return rc;
}

// The response without its EOS as valid UTF-8 (a model may emit broken byte sequences).
static char *response_text(const Ppo *P, const Rollout *R, int b) {
    char *raw = tok_decode(&P->tok, R->ids[b] + R->plen[b], (size_t)(R->rlen[b] - R->ended[b]));
    char *s = utf8_sanitize(raw, strlen(raw));
    free(raw);
    return s;
}

static int evaluate(Ppo *P, long step, json_t *row, Err *e) {
    if (P->eval_n == 0) return 0;
    SampleConfig sc = eval_config(P);
    uint64_t *gidx = xmalloc((size_t)P->eval_n * sizeof(uint64_t));
    for (int i = 0; i < P->eval_n; i++) gidx[i] = (uint64_t)i;
    Rollout R;
    double *score = xmalloc((size_t)P->eval_n * sizeof(double));
    int rc = -1;
    if (!P->eval_ready && P->ref) {  // the reference's samples never change: once per run
        if (rollout_generate(P->ref, &P->val, P->eval_idx, gidx, P->eval_n, 1, &sc, &P->eval_ref, e)) goto out;
        P->eval_ref_score = xmalloc((size_t)P->eval_n * sizeof(double));
        if (reward_score(&P->rs, &P->eval_ref, &P->val, P->eval_ref_score, e)) goto out;
        P->eval_ready = 1;
    }
    if (rollout_generate(P->policy, &P->val, P->eval_idx, gidx, P->eval_n, 1, &sc, &R, e)) goto out;
    if (reward_score(&P->rs, &R, &P->val, score, e)) { rollout_free(&R); goto out; }
    double s = 0, len = 0, eos = 0, win = 0, rs = 0;
    for (int i = 0; i < P->eval_n; i++) { s += score[i]; len += R.rlen[i]; eos += R.ended[i]; }
    json_object_set_new(row, "eval_score", json_real(s / P->eval_n));
    json_object_set_new(row, "eval_response_length", json_real(len / P->eval_n));
    json_object_set_new(row, "eval_eos_rate", json_real(eos / P->eval_n));
    if (P->ref) {
        double kl;
        if (rollout_kl(P, &R, sc.temperature, &kl, e)) { rollout_free(&R); goto out; }
        for (int i = 0; i < P->eval_n; i++) {
            rs += P->eval_ref_score[i];
            win += score[i] > P->eval_ref_score[i] ? 1.0 : score[i] == P->eval_ref_score[i] ? 0.5 : 0.0;
        }
        json_object_set_new(row, "eval_kl", json_real(kl));
        json_object_set_new(row, "eval_reference_score", json_real(rs / P->eval_n));
        json_object_set_new(row, "eval_win_rate", json_real(win / P->eval_n));
        FILE *f = fopen(P->samples_path, "a");
        for (int i = 0; f && i < P->eval_n && i < P->o.eval_samples; i++) {
            char *a = response_text(P, &P->eval_ref, i), *b = response_text(P, &R, i);
            json_t *j = json_pack("{s:I, s:s, s:s?, s:s?, s:f, s:f, s:b, s:b}", "step", (json_int_t)step,
                                  "prompt", P->val.prm[P->eval_idx[i]].text, "reference", a,
                                  "policy", b, "reference_score", P->eval_ref_score[i],
                                  "policy_score", score[i], "reference_ended", P->eval_ref.ended[i],
                                  "policy_ended", R.ended[i]);
            char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
            if (line) fprintf(f, "%s\n", line);
            free(line); json_decref(j); free(a); free(b);
        }
        if (f) fclose(f);
        else warnf("%s: cannot append", P->samples_path);
    }
    rollout_free(&R);
    rc = 0;
out:
    free(gidx); free(score);
    return rc;
}

// ---- checkpoints ---------------------------------------------------------------------------------
static int write_checkpoint(Ppo *P, long step, Err *e);
// Collective (ZeRO-1 gathers the moments); rank 0 writes.
static int save_checkpoint(Ppo *P, long step, Err *e) {
    dp_gather_state(P->policy);
    if (P->critic) dp_gather_state(P->critic);
    int rc = dist_is_root() ? write_checkpoint(P, step, e) : 0;
    dp_prepare(P->policy);
    if (P->critic) dp_prepare(P->critic);
    return rc;
}

static int write_checkpoint(Ppo *P, long step, Err *e) {
    if (P->critic) {  // the companion first: a complete step-N implies its critic
        char *cp = run_companion_path(&P->run, step, "critic");
        json_t *cst = json_pack("{s:I}", "step", (json_int_t)step);  // a state: optimizer saved too
        int rc = ckpt_save_train(P->critic, &P->tok, cp, cst, e);
        json_decref(cst);
        free(cp);
        if (rc) return -1;
    }
    char *ck = run_checkpoint_path(&P->run, step);
    json_t *st = json_object();
    json_object_set_new(st, "step", json_integer(step));
    json_object_set_new(st, "seed", json_integer((json_int_t)P->o.seed));
    json_object_set_new(st, "beta", json_real(P->klc.beta));
    int rc = ckpt_save_train(P->policy, &P->tok, ck, st, e);
    json_decref(st);
    free(ck);
    if (!rc) run_prune_checkpoints(&P->run, (int)(P->o.keep_checkpoints > 0 ? P->o.keep_checkpoints : 1));
    return rc;
}

static long resume(Ppo *P, Err *e) {
    long last = run_latest_checkpoint(&P->run);
    if (last < 0) { err_set(e, "%s: no complete checkpoint to resume from", P->run.dir); return -1; }
    char *ck = run_checkpoint_path(&P->run, last);
    json_t *st = NULL;
    int rc = ckpt_load_train(P->policy, ck, &st, e);
    free(ck);
    if (!rc) rc = json_get_double(st, "beta", &P->klc.beta, "trainer_state.json", e);
    json_decref(st);
    if (!rc && P->critic) {
        char *cp = run_companion_path(&P->run, last, "critic");
        json_t *cst = NULL;
        rc = ckpt_load_train(P->critic, cp, &cst, e);
        json_decref(cst);
        free(cp);
    }
    if (rc || run_metrics_resume(&P->run, last, e) || run_jsonl_keep_steps(P->samples_path, last, e))
        return -1;
    if (dist_is_root()) infof("resuming %s from iteration %ld", P->run.dir, last);
    return last;
}

// ---- the run -------------------------------------------------------------------------------------
static void log_row(json_t *row, const char *key, double v) { json_object_set_new(row, key, json_real(v)); }

static int iteration(Ppo *P, long it, json_t *row, char *brief, size_t brief_n, Err *e) {
    const PpoOptions *o = &P->o;
    int Pn = P->n_prompts_iter, B = o->rollouts;
    size_t n = P->train.n;
    int *pidx = xmalloc((size_t)Pn * sizeof(int)), *perm = xmalloc((size_t)Pn * sizeof(int));
    uint64_t *gidx = xmalloc((size_t)Pn * sizeof(uint64_t));
    for (int j = 0; j < Pn; j++) {
        uint64_t g = (uint64_t)it * (uint64_t)Pn + (uint64_t)j;
        int epoch = (int)(g / n);
        if (epoch != P->cached_epoch) { data_order(n, o->seed, epoch, P->order); P->cached_epoch = epoch; }
        pidx[j] = P->order[g % n];
        gidx[j] = g;
    }
    SampleConfig sc = {.temperature = o->temperature, .top_k = 0, .top_p = 1.0f, .max_new = o->max_new,
                       .eos_id = P->tok.eos_id, .seed = derive_seed(o->seed, 0x726f6c6c /* "roll" */, 0)};
    Rollout R;
    Buffers bf;
    memset(&bf, 0, sizeof bf);
    TrainStats ts;
    memset(&ts, 0, sizeof ts);
    double t0 = now_s(), score_tok = 0, train_tok = 0;
    int rc = -1;
    // each rank samples its share of the prompts (streams keyed by the global index), then
    // every rank gets the whole batch
    size_t p0, pc;
    dist_shard((size_t)Pn, &p0, &pc);
    memset(&R, 0, sizeof R);
    if (pc > 0 && rollout_generate(P->policy, &P->train, pidx + p0, gidx + p0, (int)pc, P->G, &sc, &R, e))
        goto out0;
    rollout_allgather(&R);
    double t_gen = now_s() - t0;
    buffers_alloc(&bf, R.N, B);
    t0 = now_s();
    double rm_tok0 = P->rs.tokens;
    epoch_perm(P, it, 0, perm);
    if (score_rollout(P, &R, perm, &bf, &score_tok, e)) goto out;
    score_tok += P->rs.rm ? P->rs.tokens - rm_tok0 : 0;
    dist_allreduce_sum_double(&score_tok, 1);
    double t_score = now_s() - t0;
    advantages(P, &R, &bf);
    t0 = now_s();
    if (train_epochs(P, it, &R, &bf, perm, &ts, &train_tok, e)) goto out;
    double t_train = now_s() - t0;

    // logs (every figure over the whole rollout batch)
    double s = 0, raw = 0, kl = 0, kle = 0, ns = 0, len = 0, eos = 0, ent = 0, dmax = 0;
    for (int b = 0; b < B; b++) {
        s += bf.score[b]; raw += bf.raw[b]; ns += bf.nonscore[b]; len += R.rlen[b]; eos += R.ended[b];
        for (int t = 0; t < R.rlen[b]; t++) { kl += bf.kl1[R.roff[b] + (size_t)t]; kle += bf.kl[R.roff[b] + (size_t)t]; }
    }
    for (size_t k = 0; k < R.N; k++) {
        ent += bf.ent[k];
        double d = fabs((double)R.sampler_logp[k] - bf.old[k]);
        if (d > dmax) dmax = d;
    }
    double beta_used = P->klc.beta;
    if (o->adaptive_kl) rl_klctl_update(&P->klc, kle / B, B);
    double tok = ts.ps.tokens > 0 ? ts.ps.tokens : 1;
    log_row(row, "score", s / B);
    log_row(row, "score_raw", raw / B);
    log_row(row, "kl", kl / B);
    if (P->kl_est != KL_K1) log_row(row, "kl_estimate", kle / B);
    log_row(row, "non_score_reward", ns / B);
    log_row(row, "total_reward", (s + ns) / B);
    log_row(row, "entropy", R.N ? ent / (double)R.N : 0);
    log_row(row, "policy_loss", ts.steps ? ts.pg_loss / ts.steps : 0);
    if (P->kl_in_loss) log_row(row, "kl_loss", ts.steps ? ts.kl_loss / ts.steps : 0);
    log_row(row, "clip_fraction", ts.ps.clipped / tok);
    log_row(row, "approx_kl", ts.ps.approx_kl_sum / tok);
    log_row(row, "ratio_mean", ts.ps.ratio_sum / tok);
    log_row(row, "ratio_max", ts.ps.ratio_max);
    log_row(row, "first_ratio_dev", ts.first_dev);
    json_object_set_new(row, "training_forwards_reused", json_integer((json_int_t)ts.reused));
    if (P->critic) {
        log_row(row, "value_loss", ts.v_tokens ? ts.v_loss / ts.v_tokens : 0);
        log_row(row, "value_clip_fraction", ts.v_tokens ? ts.v_clipped / ts.v_tokens : 0);
        log_row(row, "explained_variance", rl_explained_variance(R.N, bf.val, bf.ret, NULL));
        log_row(row, "critic_grad_norm", ts.steps ? ts.cgnorm / ts.steps : 0);
    }
    log_row(row, "response_length", len / B);
    log_row(row, "eos_rate", eos / B);
    log_row(row, "beta", beta_used);
    log_row(row, "lr", sched_lr(&P->sched, it));
    log_row(row, "grad_norm", ts.steps ? ts.gnorm / ts.steps : 0);
    log_row(row, "sampler_logp_maxdiff", dmax);
    log_row(row, "time_generation_s", t_gen);
    log_row(row, "time_scoring_s", t_score);
    log_row(row, "time_training_s", t_train);
    log_row(row, "generation_tokens_per_s", t_gen > 0 ? (double)R.N / t_gen : 0);
    log_row(row, "scoring_tokens_per_s", t_score > 0 ? score_tok / t_score : 0);
    log_row(row, "training_tokens_per_s", t_train > 0 ? train_tok / t_train : 0);
    snprintf(brief, brief_n, "score %.3f kl %.2f", s / B, kl / B);
    if (ts.first_dev > 0 && !P->warned_ratio && dist_is_root()) {
        warnf("iteration %ld: the first minibatch's ratio differs from 1 by %.3g — the old logprobs "
              "were not reproduced exactly (nondeterministic forward?)", it + 1, ts.first_dev);
        P->warned_ratio = 1;
    }
    if (!isfinite(s) || !isfinite(ts.pg_loss))
        { err_set(e, "iteration %ld: non-finite score or loss — training diverged (try a lower --lr)", it + 1); goto out; }
    rc = 0;
out:
    rollout_free(&R);
    buffers_free(&bf);
out0:
    free(pidx); free(perm); free(gidx);
    return rc;
}

static int load_models(Ppo *P, Err *e) {
    const PpoOptions *o = &P->o;
    if (!(P->policy = ckpt_load_model(o->policy, 1, &P->tok, e))) return -1;
    if (P->policy->cfg.score_head)
        return err_set(e, "%s has a score head (a reward model): the policy must be a language model", o->policy);
    if (P->tok.eos_id < 0) return err_set(e, "%s: the tokenizer has no end-of-text token", o->policy);
    if (o->beta > 0) {  // frozen reference: the same weights, no gradients (β = 0: none at all)
        P->ref = gpt_create(&P->policy->cfg, 0);
        memcpy(P->ref->params, P->policy->params, P->policy->n_params * sizeof(float));
    }
    if (reward_open(&P->rs, o->reward, o->reward_cmd, o->reward_timeout, &P->tok, o->minibatch, e)) return -1;
    if (o->frozen_bf16) {  // frozen for the whole run: pack once (model/gpt_packed.c)
        if (P->ref && gpt_pack(P->ref, 1, e)) return -1;
        if (P->rs.rm && gpt_pack(P->rs.rm, 1, e)) return -1;
    }
    if (P->mode == ADV_GAE) {
        const char *cdir = o->critic ? o->critic : o->reward;
        if (cdir) {
            Tokenizer ct;
            memset(&ct, 0, sizeof ct);
            P->critic = ckpt_load_model(cdir, 1, &ct, e);
            int same = P->critic && tok_same_vocab(&ct, &P->tok, P->tok.vocab_size);
            tok_free(&ct);
            if (!P->critic) return -1;
            if (!same) return err_set(e, "%s: the critic's tokenizer differs from the policy's", cdir);
            if (!P->critic->cfg.score_head && gpt_add_score_head(&P->critic, o->seed, e)) return -1;
        } else {  // no reward model: the policy's trunk with a fresh scalar head
            P->critic = gpt_create(&P->policy->cfg, 1);
            memcpy(P->critic->params, P->policy->params, P->policy->n_params * sizeof(float));
            if (gpt_add_score_head(&P->critic, o->seed, e)) return -1;
        }
    }
    return 0;
}

static int load_prompts(Ppo *P, Err *e) {
    const PpoOptions *o = &P->o;
    int n_ctx = P->policy->cfg.n_ctx;
    if (o->max_new >= n_ctx) return err_set(e, "--max-new %d leaves no room for a prompt in the context of %d", o->max_new, n_ctx);
    int max_prompt = o->max_prompt > 0 ? o->max_prompt : n_ctx - o->max_new;
    if (max_prompt + o->max_new > n_ctx)
        return err_set(e, "--max-prompt %d + --max-new %d exceed the model's context of %d", max_prompt, o->max_new, n_ctx);
    DataReport rep;
    memset(&rep, 0, sizeof rep);
    DataOpts dop = {.kind = DATA_PROMPT, .tok = &P->tok, .plain_template = o->plain_template,
                    .trunc = {.max_len = max_prompt + 1, .min_prompt = -1}, .skip_bad = o->skip_bad,
                    .max_problems = 10, .val_fraction = o->val_fraction, .split_seed = o->seed,
                    .val_path = o->val_prompts};
    int rc = dataset_load(o->prompts, &dop, &P->train, &P->val, &rep, e);
    if (!rc && dist_is_root()) {
        infof("%s: %s: %zu training / %zu held-out prompts; %ld truncated, %ld bad lines skipped", o->advantage,
              o->prompts, P->train.n, P->val.n, rep.n_truncated, rep.n_bad);
        for (int i = 0; i < rep.n_problems; i++) infof("  %s", rep.problems[i]);
    }
    data_report_free(&rep);
    if (rc) return -1;
    if (P->train.n == 0) return err_set(e, "%s: no training prompts", o->prompts);
    P->eval_n = (int)(P->val.n < (size_t)o->eval_prompts ? P->val.n : (size_t)o->eval_prompts);
    P->eval_idx = xmalloc((size_t)(P->eval_n ? P->eval_n : 1) * sizeof(int));
    for (int i = 0; i < P->eval_n; i++) P->eval_idx[i] = i;
    P->order = xmalloc(P->train.n * sizeof(int));
    P->cached_epoch = -1;
    return 0;
}

static void setup_optim(Ppo *P) {
    const PpoOptions *o = &P->o;
    loop_options_defaults(&P->lo);
    P->lo.beta1 = o->beta1; P->lo.beta2 = o->beta2; P->lo.eps = o->adam_eps;
    P->lo.weight_decay = o->weight_decay; P->lo.grad_clip = o->grad_clip;
    P->clo = P->lo;
    SchedKind sk;
    sched_parse(o->schedule, &sk);
    P->sched = (LRSchedule){.kind = sk, .lr = o->lr, .warmup = o->warmup, .total = o->iterations,
                            .min_lr_frac = o->min_lr_frac};
    P->csched = P->sched;
    P->csched.lr = o->critic_lr;
    P->klc = (RLKLController){.beta = o->beta, .adaptive = o->adaptive_kl, .target = o->kl_target,
                              .horizon = o->kl_horizon};
}

static void ppo_free(Ppo *P) {
    if (P->policy) gpt_free(P->policy);
    if (P->ref) gpt_free(P->ref);
    if (P->critic) gpt_free(P->critic);
    reward_close(&P->rs);
    dp_accum_free(&P->pacc);
    dp_accum_free(&P->cacc);
    tok_free(&P->tok);
    dataset_free(&P->train); dataset_free(&P->val);
    if (P->eval_ready || P->eval_ref.B) rollout_free(&P->eval_ref);
    free(P->eval_ref_score); free(P->eval_idx); free(P->order); free(P->samples_path);
    run_close(&P->run);
}

int ppo_run(const PpoOptions *opts, Err *e) {
    Ppo P;
    memset(&P, 0, sizeof P);
    P.o = *opts;
    json_t *stored = NULL, *cj = NULL;
    int rc = -1;
    const char *stage = "ppo";
    if (loop_open_run(&P.run, P.o.out, P.o.resume, &stored, e)) return -1;
    if (P.o.resume) {
        char *ctx = path_join(P.o.out, "config.json");
        int r = options_from_json(&P.o, stored, ctx, e);
        free(ctx);
        if (r) goto out;
        if (opts->iterations > 0 && opts->iterations != P.o.iterations) P.o.iterations = opts->iterations;
        P.o.quiet = opts->quiet;
        P.o.resume = 1;
    }
    if (!dist_is_root()) P.o.quiet = 1;  // one progress line: rank 0's
    if (resolve_options(&P, e) || gemm_set_bf16(P.o.bf16, e)) goto out;
    if (P.mode != ADV_GAE) stage = P.o.advantage;
    if (load_models(&P, e) || load_prompts(&P, e)) goto out;
    if (P.o.lr <= 0) P.o.lr = ppo_default_lr(P.policy->n_params);
    if (P.o.critic_lr <= 0) P.o.critic_lr = P.o.lr;
    if (P.o.kl_horizon <= 0) P.o.kl_horizon = (double)P.o.iterations * P.o.rollouts / 10.0;
    setup_optim(&P);
    P.samples_path = path_join(P.run.dir, "samples.jsonl");
    long it0 = 0;
    if (P.o.resume && (it0 = resume(&P, e)) < 0) goto out;
    cj = options_json(&P.o, stage);
    if (run_write_config(&P.run, cj, e)) goto out;
    dp_prepare(P.policy);
    if (P.critic) dp_prepare(P.critic);
    if (dist_is_root())
        infof("%s: policy %zu parameters (%d layers, %d wide, context %d)%s%s; %s; %d responses per "
              "iteration (%d prompts × %d), minibatch %d, %d epochs, β %g (%s, KL in the %s%s), lr %.3g, "
              "%ld iterations, %d threads", stage, P.policy->n_params,
              P.policy->cfg.n_layer, P.policy->cfg.n_embd, P.policy->cfg.n_ctx,
              P.ref ? ", frozen reference" : ", no reference", P.critic ? ", critic" : "",
              P.o.reward ? "reward model" : "reward command", P.o.rollouts, P.n_prompts_iter, P.G,
              P.o.minibatch, P.o.epochs, P.klc.beta, P.o.kl_estimator, P.o.kl_in,
              P.o.adaptive_kl ? ", adaptive" : "", P.o.lr, P.o.iterations, threads_get());
    Progress prog;
    progress_start(&prog, stage, P.o.iterations);
    prog.done = it0;
    double t_run = now_s();
    for (long it = it0; it < P.o.iterations; it++) {
        long s1 = it + 1;
        json_t *row = json_object();
        json_object_set_new(row, "step", json_integer(s1));
        char brief[96];
        if (iteration(&P, it, row, brief, sizeof brief, e)) { json_decref(row); goto out; }
        if ((P.o.eval_every > 0 && s1 % P.o.eval_every == 0) || s1 == P.o.iterations) {
            // rank 0 alone evaluates (the others wait at the next collective)
            if (dist_is_root() && evaluate(&P, s1, row, e)) { json_decref(row); goto out; }
            const json_t *es = json_object_get(row, "eval_score"), *ek = json_object_get(row, "eval_kl");
            if (es) {
                char line[200];
                snprintf(line, sizeof line, "iteration %ld: %s, eval score %.4f%s%.3f", s1, brief,
                         json_number_value(es), ek ? ", eval KL " : "", ek ? json_number_value(ek) : 0.0);
                if (P.o.quiet) infof("%s", line); else progress_log(&prog, line);
            }
        }
        run_metric(&P.run, row);
        if ((P.o.ckpt_every > 0 && s1 % P.o.ckpt_every == 0) || s1 == P.o.iterations)
            if (save_checkpoint(&P, s1, e)) goto out;
        if (!P.o.quiet) progress_update(&prog, s1, brief);
    }
    if (!P.o.quiet) progress_end(&prog, NULL);
    rc = 0;
    if (dist_is_root()) {
        char *fin = path_join(P.run.dir, "final");
        rc = ckpt_save_model(P.policy, &P.tok, fin, NULL, e);
        free(fin);
        if (rc) goto out;
        char *svg = path_join(P.run.dir, "rl.svg");
        const char *keys[] = {"score", "kl", "eval_score", "entropy", "response_length"};
        Err pe;
        if (plot_metrics_svg(P.run.metrics_path, svg, stage, keys, 5, &pe))
            warnf("%s", pe.msg);
        free(svg);
        infof("%s: done in %.1f s; final policy in %s/final", stage,
              now_s() - t_run, P.run.dir);
    }
out:
    json_decref(cj);
    ppo_free(&P);
    json_decref(stored);
    return rc;
}
