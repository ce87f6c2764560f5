// cli/commands.h — one entry point per subcommand (cli/cmd_*.c); each parses its own flags and
// returns the process exit status.
#ifndef RLHF_CLI_COMMANDS_H
#define RLHF_CLI_COMMANDS_H

// The --zero flag of every training command (train/dp_optim.h, docs/distributed.md).
#define DIST_ZERO_FLAG(var)                                                                        \
    {"zero", 0, FLAG_INT, &(var), "under mpirun: 1 = ZeRO-1, AdamW moments sharded over the "     \
     "processes (same numbers, 1/N of the optimizer state per process); 0 = off", 0, 0}

int cmd_pretrain(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_logprobs(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_dpo(int argc, char **argv);
int cmd_ppo(int argc, char **argv);
int cmd_grpo(int argc, char **argv);
int cmd_bon(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_tokenizer_train(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data_stats(int argc, char **argv);
int cmd_label(int argc, char **argv);

#endif
