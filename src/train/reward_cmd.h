// train/reward_cmd.h — an external reward process for PPO (`rlhf ppo --reward-cmd "CMD"`): a
// long-lived child `/bin/sh -c CMD` that reads one JSON request per line on its stdin and writes
// one JSON answer per line on its stdout, in order:
//   request:  {"prompt": "...", "response": "..."}   plus "answer": "..." when the data has one
//   answer:   {"score": 0.73}                         (other keys are ignored)
// Strings are sent as valid UTF-8 (invalid bytes become U+FFFD); requests may be megabytes. The
// command must read its input line by line and flush its output after every answer line (awk:
// fflush(), and `mawk -W interactive`; Python: flush=True) — it is not sent EOF between batches. Its stderr is ours, so the user sees its messages.
//
// The child runs in its own process group (so stopping it also stops whatever it started); a
// Ctrl-C at the terminal therefore reaches rlhf, not the command, which sees EOF on its stdin
// when rlhf exits. Writes to it never raise SIGPIPE in rlhf: SIGPIPE is blocked in the writing
// thread around each write() and a SIGPIPE raised by that write is consumed, so the process-wide
// disposition is left alone; EPIPE becomes "exited with status …".
#ifndef RLHF_TRAIN_REWARD_CMD_H
#define RLHF_TRAIN_REWARD_CMD_H

#include "util/common.h"

typedef struct RewardCmd RewardCmd;

// Starts `/bin/sh -c CMD` with pipes to its stdin and stdout (stderr inherited). timeout_s > 0:
// the longest wait for progress (an answer line) before giving up; ≤ 0: wait for ever. Our ends
// of the pipes are close-on-exec, so other children never inherit them. Returns NULL with a
// message when the shell cannot be started; a command the shell cannot run (exit 127, "not
// found") is reported by the first reward_cmd_score.
RewardCmd *reward_cmd_start(const char *cmd, double timeout_s, Err *e);

// Scores n (prompt, response) pairs: writes one JSON line per pair {"prompt": ..., "response":
// ...} plus "answer": ... when answer != NULL && answer[i] != NULL, then reads exactly n answer
// lines (\n or \r\n), each a JSON object with a finite number "score". Writing and reading are
// interleaved with poll(), so a command that answers line by line never deadlocks on full pipes.
// score[n] out. Returns 0, or -1 with a message naming the command and the answer ("answer 3 of
// 8: expected …, got: LINE", "exited with status 2 after 5 of 8 answers", "killed by signal 9
// …", "no answer within 30 s …"). A failure stops the command (killed and reaped) and leaves
// the RewardCmd unusable: later calls fail saying so; it still needs reward_cmd_close.
int reward_cmd_score(RewardCmd *rc, int n, const char *const *prompt,
                     const char *const *response, const char *const *answer, double *score,
                     Err *e);

// Closes its stdin, waits up to 2 s for it to exit, then kills it (SIGKILL, its process group)
// and reaps it; frees rc. Safe on NULL.
void reward_cmd_close(RewardCmd *rc);

#endif
