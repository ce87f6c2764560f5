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

// One reward-model forward over the given rows (one pack), normalised.
static int score_rows_with_model(RewardSource *rs, const Rollout *r, const int *rows, int n,
                                 double *score, Err *e) {
    RolloutPack p;
    memset(&p, 0, sizeof p);
    rollout_pack(r, rows, n, &p);
    int rc = rollout_last_values(rs->rm, &p, score, e);
    rs->tokens += (double)p.N;
    for (int i = 0; i < n; i++) score[i] = rs->gain * (score[i] + rs->bias);
    rollout_pack_free(&p);
    return rc;
}

static int score_rows_with_cmd(RewardSource *rs, const Rollout *r, const int *rows, int B,
                               const Dataset *prompts, double *score, Err *e) {
    const char **pr = xmalloc((size_t)B * sizeof(char *) + 1), **ans = xmalloc((size_t)B * sizeof(char *) + 1);
    char **resp = xmalloc((size_t)B * sizeof(char *) + 1);
    for (int i = 0; i < B; i++) {
        int b = rows[i];
        const PromptExample *q = &prompts->prm[r->prompt[b]];
        pr[i] = q->text;
        ans[i] = q->answer;
        resp[i] = tok_decode(rs->tok, r->ids[b] + r->plen[b], (size_t)(r->rlen[b] - r->ended[b]));
        rs->tokens += r->rlen[b];
    }
    int rc = reward_cmd_score(rs->cmd, B, pr, (const char *const *)resp, ans, score, e);
    for (int i = 0; i < B; i++) free(resp[i]);
    free(pr); free(ans); free(resp);
    return rc;
}

int reward_score_rows(RewardSource *rs, const Rollout *r, const int *rows, int n,
                      const Dataset *prompts, double *score, Err *e) {
    if (n <= 0) return 0;
    return rs->rm ? score_rows_with_model(rs, r, rows, n, score, e)
                  : score_rows_with_cmd(rs, r, rows, n, prompts, score, e);
}

int reward_score(RewardSource *rs, const Rollout *r, const Dataset *prompts, double *score, Err *e) {
    int *rows = xmalloc((size_t)(r->B > 0 ? r->B : 1) * sizeof(int));
    for (int b = 0; b < r->B; b++) rows[b] = b;
    int step = rs->rm ? rs->batch : r->B, rc = 0;
    for (int b0 = 0; b0 < r->B && !rc; b0 += step) {
        int n = r->B - b0 < step ? r->B - b0 : step;
        rc = reward_score_rows(rs, r, rows + b0, n, prompts, score + b0, e);
    }
    free(rows);
    return rc;
}

void reward_close(RewardSource *rs) {
    if (rs->rm) gpt_free(rs->rm);
    reward_cmd_close(rs->cmd);
    memset(rs, 0, sizeof *rs);
}
