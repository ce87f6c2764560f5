// train/reward.c — reward sources for the RL stages (see reward.h).
#include "train/reward.h"

#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"

int tok_same_vocab(const Tokenizer *a, const Tokenizer *b, int vocab) {
    if (a->vocab_size != b->vocab_size || a->eos_id != b->eos_id) return 0;
    for (int id = 0; id < vocab; id++) {
        size_t na, nb;
        char *sa = tok_decode_ex(a, &id, 1, 1, &na), *sb = tok_decode_ex(b, &id, 1, 1, &nb);
        int same = na == nb && !memcmp(sa, sb, na);
        free(sa); free(sb);
        if (!same) return 0;
    }
    return 1;
}

int reward_open(RewardSource *rs, const char *rm_dir, const char *cmd, double timeout_s,
                const Tokenizer *policy_tok, int batch, Err *e) {
    memset(rs, 0, sizeof *rs);
    rs->tok = policy_tok;
    rs->batch = batch > 0 ? batch : 16;
    rs->gain = 1;
    if ((rm_dir != NULL) == (cmd != NULL))
        return err_set(e, "give exactly one reward source: --reward RM_DIR or --reward-cmd \"CMD\"");
    if (cmd) {
        rs->cmd = reward_cmd_start(cmd, timeout_s, e);
        return rs->cmd ? 0 : -1;
    }
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    rs->rm = ckpt_load_model(rm_dir, 0, &tok, e);
    if (!rs->rm) return -1;
    int bad = rs->rm->cfg.score_head
                  ? 0
                  : err_set(e, "%s: no score head (score.weight): not a reward model", rm_dir);
    if (!bad && !tok_same_vocab(&tok, policy_tok, policy_tok->vocab_size))
        bad = err_set(e, "%s: the reward model's tokenizer differs from the policy's (vocabularies "
                        "%d and %d); both must use the same tokenizer", rm_dir, tok.vocab_size,
                     policy_tok->vocab_size);
    tok_free(&tok);
    if (bad) { reward_close(rs); return -1; }
    ckpt_read_reward_norm(rm_dir, &rs->bias, &rs->gain);
    return 0;
}

static int score_with_model(RewardSource *rs, const Rollout *r, double *score, Err *e) {
    RolloutPack p;
    memset(&p, 0, sizeof p);
    int *rows = xmalloc((size_t)(r->B > 0 ? r->B : 1) * sizeof(int));
    for (int b = 0; b < r->B; b++) rows[b] = b;
    int rc = 0;
    for (int b0 = 0; b0 < r->B && !rc; b0 += rs->batch) {
        int n = r->B - b0 < rs->batch ? r->B - b0 : rs->batch;
        rollout_pack(r, rows + b0, n, &p);
        rc = rollout_last_values(rs->rm, &p, score + b0, e);
        rs->tokens += (double)p.N;
        for (int i = 0; i < n; i++) score[b0 + i] = rs->gain * (score[b0 + i] + rs->bias);
    }
    free(rows);
    rollout_pack_free(&p);
    return rc;
}

static int score_with_cmd(RewardSource *rs, const Rollout *r, const Dataset *prompts,
                          double *score, Err *e) {
    int B = r->B;
    const char **pr = xmalloc((size_t)B * sizeof(char *) + 1), **ans = xmalloc((size_t)B * sizeof(char *) + 1);
    char **resp = xmalloc((size_t)B * sizeof(char *) + 1);
    for (int b = 0; b < B; b++) {
        const PromptExample *q = &prompts->prm[r->prompt[b]];
        pr[b] = q->text;
        ans[b] = q->answer;
        resp[b] = tok_decode(rs->tok, r->ids[b] + r->plen[b], (size_t)(r->rlen[b] - r->ended[b]));
        rs->tokens += r->rlen[b];
    }
    int rc = reward_cmd_score(rs->cmd, B, pr, (const char *const *)resp, ans, score, e);
    for (int b = 0; b < B; b++) free(resp[b]);
    free(pr); free(ans); free(resp);
    return rc;
}

int reward_score(RewardSource *rs, const Rollout *r, const Dataset *prompts, double *score, Err *e) {
    return rs->rm ? score_with_model(rs, r, score, e) : score_with_cmd(rs, r, prompts, score, e);
}

void reward_close(RewardSource *rs) {
    if (rs->rm) gpt_free(rs->rm);
    reward_cmd_close(rs->cmd);
    memset(rs, 0, sizeof *rs);
}
