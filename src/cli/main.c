// cli/main.c — the `rlhf` executable: global set-up (processes, BLAS threading check) and
// dispatch to a subcommand.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "dist/dist.h"
#include "nn/gemm.h"
#include "util/sysinfo.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command COMMANDS[] = {
    {"pretrain", cmd_pretrain, "train a GPT from scratch on a corpus (.txt, .jsonl {\"text\"}, llm.c token shard)"},
    {"sft", cmd_sft, "supervised fine-tuning of a model on demonstrations (loss on response tokens only)"},
    {"sample", cmd_sample, "sample continuations of a prompt from a model folder"},
    {"init", cmd_init, "write a randomly initialised model folder (LM, or reward model with --score-head)"},
    {"logprobs", cmd_logprobs, "per-token log-probabilities and perplexity of JSONL records"},
    {"score", cmd_score, "reward-model scores of JSONL records"},
    {"rm", cmd_rm, "train a reward model (Bradley–Terry) on preference / ranking JSONL"},
    {"dpo", cmd_dpo, "direct preference optimisation (DPO / conservative DPO / IPO) of an SFT model on preferences"},
    {"ppo", cmd_ppo, "RL fine-tuning with PPO (critic, GAE, per-token KL to the reference) against a reward model or command"},
    {"grpo", cmd_grpo, "critic-free RL: GRPO / Dr. GRPO / RLOO / REINFORCE++ with groups of responses per prompt"},
    {"bon", cmd_bon, "best-of-n sampling: n responses per prompt, keep the reward-best; reports the gain and the KL bound"},
    {"label", cmd_label, "the human-feedback web app: create a project, add annotators, serve, export, stats"},
    {"bench", cmd_bench, "measure training-step and generation speed (JSON lines)"},
    {"demo", cmd_demo, "train a tiny model on a built-in corpus and show samples before/after"},
    {"tokenize", cmd_tokenize, "encode JSON-string lines to token ids (or --decode ids to strings)"},
    {"tokenizer-train", cmd_tokenizer_train, "learn a byte-level BPE vocabulary from a corpus"},
    {"convert", cmd_convert, "convert a model: Hugging Face folder <-> llm.c .bin (fp32 or bf16)"},
    {"info", cmd_info, "describe a model path: format, config, parameter count, tensors"},
    {"data-stats", cmd_data_stats, "records per shape, token-length percentiles, truncation and bad lines of a JSONL data file"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: rlhf COMMAND [FLAGS]   (rlhf COMMAND --help for its flags)\n\n"
               "RLHF for GPT-2-family models, in C.\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-15s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\nThreads: OMP_NUM_THREADS (default: all cores). fp32 matrix products: oneDNN; "
               "RLHF_SGEMM=openblas for OpenBLAS's sgemm. Large buffers ask for huge pages; "
               "RLHF_HUGEPAGES=0 keeps 4 KiB pages. Rows that share a prompt run it once; "
               "RLHF_PROMPT_SHARING=0 runs every row whole.\n");
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        dist_finalize();
        return argc < 2 ? 2 : 0;
    }
    blas_check_threading();
    Err e;
    if (gemm_check_env(&e) || hugepages_check_env(&e) || env_switch_check("RLHF_PROMPT_SHARING", &e) ||
        env_switch_check("RLHF_FORWARD_REUSE", &e)) {
        fprintf(stderr, "rlhf: %s\n", e.msg);
        dist_finalize();
        return 2;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) {
            int rc = COMMANDS[i].run(argc - 1, argv + 1);
            if (rc != 0 && dist_size() > 1) dist_abort(rc);  // never leave the others waiting
            dist_finalize();
            return rc;
        }
    fprintf(stderr, "rlhf: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    dist_finalize();
    return 2;
}
