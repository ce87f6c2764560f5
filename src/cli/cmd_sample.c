// cli/cmd_sample.c — `rlhf sample`: loads a model folder and prints N sampled continuations.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "gen/sample.h"
#include "data/chat.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "util/fileio.h"
#include "util/flags.h"
#include "util/utf8.h"

int cmd_sample(int argc, char **argv) {
    const char *model = NULL, *prompt = "", *tokdir = NULL;
    int n = 1, top_k = 0, max_new = 64, as_json = 0, no_stop = 0, chat = 0, plain_template = 0;
    float temperature = 1.0f, top_p = 1.0f;
    long seed = 1;
    Flag flags[] = {
        {"model", 0, FLAG_STRING, &model, "model: a Hugging Face folder or an llm.c *.bin", 1, 0},
        {"tokenizer", 0, FLAG_STRING, &tokdir, "tokenizer folder (default: the model folder's; "
                                              "required for an llm.c *.bin)", 0, 0},
        {"prompt", 'p', FLAG_STRING, &prompt, "text to continue", 0, 0},
        {"num", 'n', FLAG_INT, &n, "number of samples", 0, 0},
        {"temperature", 't', FLAG_FLOAT, &temperature, "sampling temperature (0 = greedy)", 0, 0},
        {"top-k", 0, FLAG_INT, &top_k, "keep the k most likely tokens (0 = off)", 0, 0},
        {"top-p", 0, FLAG_FLOAT, &top_p, "nucleus: smallest set with this probability mass (1 = off)", 0, 0},
        {"max-new", 0, FLAG_INT, &max_new, "new tokens at most per sample", 0, 0},
        {"no-stop", 0, FLAG_BOOL, &no_stop, "do not stop at the end-of-text token", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "random seed; sample i uses the stream (seed, i)", 0, 0},
        {"json", 0, FLAG_BOOL, &as_json, "print one JSON object per sample", 0, 0},
        {"chat", 0, FLAG_BOOL, &chat, "render --prompt as a user turn with the chat template, as "
                                      "rlhf sft trains (for SFT/RLHF models; default: plain text "
                                      "after an end-of-text)", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &plain_template, "with --chat: the plain-text template even "
                                                          "if the tokenizer has role markers", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("sample", "--model DIR [--prompt TEXT] [FLAGS]",
                "Prints N continuations of a prompt, sampled with a KV cache.", flags, nf, argc,
                argv, NULL, 0, NULL);
    if (n <= 0) { fprintf(stderr, "rlhf sample: --num must be positive\n"); return 2; }
    if (max_new < 0) { fprintf(stderr, "rlhf sample: --max-new must be ≥ 0\n"); return 2; }
    if (temperature < 0 || top_p <= 0 || top_p > 1 || top_k < 0) {
        fprintf(stderr, "rlhf sample: need --temperature ≥ 0, 0 < --top-p ≤ 1, --top-k ≥ 0\n");
        return 2;
    }
    Err e;
    Tokenizer tok = {0};
    GPT *m = NULL;
    if (!tokdir && is_dir(model)) {
        m = ckpt_load_model(model, 0, &tok, &e);
    } else if (!tokdir) {
        err_set(&e, "%s is not a model folder: pass --tokenizer DIR to sample from it", model);
    } else if (tok_load(&tok, tokdir, &e) == 0 && (m = model_load(model, 0, &e)) &&
               tok.vocab_size > m->cfg.vocab_size) {
        err_set(&e, "the tokenizer in %s has %d ids but the model's vocab_size is %d", tokdir,
                tok.vocab_size, m->cfg.vocab_size);
        gpt_free(m);
        m = NULL;
    }
    if (!m) { fprintf(stderr, "rlhf sample: error: %s\n", e.msg); tok_free(&tok); return 1; }
    int *ids = NULL;
    size_t len = 0, cap = 0;
    if (chat) {  // user turn + assistant marker: where an SFT model starts its answer
        ChatTemplate ct;
        chat_template_init(&ct, &tok, plain_template);
        Convo c = {0};
        convo_push(&c, ROLE_USER, prompt, strlen(prompt));
        TokSeq ts = {0};
        chat_render_prompt(&ct, &c, &ts);
        ids = xmalloc((size_t)(ts.n > 0 ? ts.n : 1) * sizeof(int));
        memcpy(ids, ts.ids, (size_t)ts.n * sizeof(int));
        len = cap = (size_t)ts.n;
        tokseq_free(&ts);
        convo_free(&c);
    } else {
        ids = xmalloc(sizeof(int));
        ids[len++] = tok.eos_id;  // every document starts after an end-of-text
        cap = 1;
        tok_encode(&tok, prompt, strlen(prompt), &ids, &len, &cap);
    }
    const int **prompts = xmalloc((size_t)n * sizeof(int *));
    int *plen = xmalloc((size_t)n * sizeof(int));
    uint64_t *sid = xmalloc((size_t)n * sizeof(uint64_t));
    for (int i = 0; i < n; i++) { prompts[i] = ids; plen[i] = (int)len; sid[i] = (uint64_t)i; }
    if ((int)len + max_new > m->cfg.n_ctx) {
        max_new = m->cfg.n_ctx - (int)len;
        if (max_new <= 0) {
            fprintf(stderr, "rlhf sample: error: the prompt (%zu tokens) fills the model's context of %d\n", len, m->cfg.n_ctx);
            return 1;
        }
        fprintf(stderr, "rlhf sample: note: --max-new reduced to %d to fit the context of %d\n", max_new, m->cfg.n_ctx);
    }
    SampleConfig sc = {.temperature = temperature, .top_k = top_k, .top_p = top_p,
                       .max_new = max_new, .eos_id = no_stop ? -1 : tok.eos_id,
                       .seed = (uint64_t)seed, .batch = 0};
    Samples s;
    int rc = 0;
    if (generate(m, n, prompts, plen, sid, &sc, &s, &e)) {
        fprintf(stderr, "rlhf sample: error: %s\n", e.msg);
        rc = 1;
    } else {
        for (int i = 0; i < n; i++) {
            char *text = tok_decode(&tok, s.tokens[i], (size_t)s.len[i]);
            if (as_json) {
                json_t *j = json_object();
                json_object_set_new(j, "prompt", json_string(prompt));
                char *clean = utf8_sanitize(text, strlen(text));
                json_object_set_new(j, "completion", json_string(clean));
                free(clean);
                json_object_set_new(j, "tokens", json_integer(s.len[i]));
                json_object_set_new(j, "ended", json_boolean(s.ended[i]));
                double lp = 0;
                for (int k = 0; k < s.len[i]; k++) lp += s.logp[i][k];
                json_object_set_new(j, "logprob", json_real(lp));
                char *line = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
                printf("%s\n", line);
                free(line);
                json_decref(j);
            } else {
                printf("--- sample %d (%d tokens%s)\n%s%s\n", i + 1, s.len[i],
                       s.ended[i] ? ", ended" : "", prompt, text);
            }
            free(text);
        }
        samples_free(&s);
    }
    free(prompts); free(plen); free(sid); free(ids);
    gpt_free(m);
    tok_free(&tok);
    return rc;
}
