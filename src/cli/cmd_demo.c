// cli/cmd_demo.c — `rlhf demo`: flags → demo/pipeline (the whole RLHF story on the built-in world:
// pretrain → SFT → simulated labelling → reward model → PPO, with DPO, GRPO and best-of-n as
// baselines, judged on held-out prompts by a hidden gold judge).
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "demo/pipeline.h"
#include "util/flags.h"

int cmd_demo(int argc, char **argv) {
    int quick = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--quick")) quick = 1;
    DemoConfig c;
    demo_config_defaults(&c, quick);
    long seed = (long)c.seed;
    Flag flags[] = {
        {"quick", 0, FLAG_BOOL, &c.quick, "smaller everything (about 90 s; what make test runs)", 0, 0},
        {"seed", 0, FLAG_LONG, &seed, "seed of the world, the models and the labelers", 0, 0},
        {"out", 0, FLAG_STRING, &c.out, "output folder (every stage's run, report.md, summary.json, plots); an earlier demo there is replaced", 0, 0},
        {"sweep", 0, FLAG_BOOL, &c.sweep, "also PPO at β 0.01, 0.05, 0.2, 0.5 and best-of-n at n 1, 2, 4, 8, 16: the reward–KL frontier and where the reward model is over-optimised", 0, 0},
        {"from", 0, FLAG_STRING, &c.from, "rerun from this stage on (world pretrain sft label rm ppo dpo grpo sweep eval report), reusing the earlier stages' runs in --out", 0, 0},
        {"quiet", 'q', FLAG_BOOL, &c.quiet, "no progress lines inside the stages", 0, 0},
        {"pretrain-steps", 0, FLAG_LONG, &c.pt_steps, "pretraining steps", 0, 0},
        {"ppo-iterations", 0, FLAG_INT, &c.ppo_iters, "PPO iterations", 0, 0},
        {"eval-prompts", 0, FLAG_INT, &c.eval_prompts, "held-out prompts every model is judged on", 0, 0},
        {"label-temperature", 0, FLAG_FLOAT, &c.label_temp, "temperature of the SFT samples the labelers compare", 0, 0},
        {"contractors", 0, FLAG_BOOL, &c.contractors, "add a right and a wrong contractor answer to each labelling prompt's comparisons (default: on, off with --quick)", 0, 0},
        {"ppo-beta", 0, FLAG_DOUBLE, &c.ppo_beta, "PPO's KL coefficient β", 0, 0},
        {"ppo-lr", 0, FLAG_FLOAT, &c.ppo_lr, "PPO's learning rate", 0, 0},
    };
    int nf = (int)(sizeof flags / sizeof flags[0]);
    flags_parse("demo", "[--quick] [--seed N] [--out DIR]",
                "The whole RLHF pipeline on a built-in world of small tasks with a hidden gold judge: "
                "pretrain → SFT → simulated human comparisons → reward model → PPO, plus DPO, GRPO and "
                "best-of-n baselines, all evaluated on held-out prompts. Writes DIR/report.md and "
                "DIR/summary.json.",
                flags, nf, argc, argv, NULL, 0, NULL);
    c.seed = (uint64_t)seed;
    Err e;
    if (demo_pipeline(&c, &e)) {
        fprintf(stderr, "rlhf demo: error: %s\n", e.msg);
        return 1;
    }
    return 0;
}
