// util/progress.h — progress for long work: on a TTY a single updating line with rate and ETA;
// otherwise a plain log line at most every `log_every_s` seconds and at the end.
#ifndef RLHF_UTIL_PROGRESS_H
#define RLHF_UTIL_PROGRESS_H

typedef struct {
    const char *label;
    long total;
    long done;
    double t_start, t_last_print;
    double log_every_s;  // non-TTY cadence, default 10 s
    int tty;
    int line_open;
} Progress;

void progress_start(Progress *p, const char *label, long total);
// done = units finished so far; extra (may be NULL) is appended, e.g. "loss 2.31".
void progress_update(Progress *p, long done, const char *extra);
// Prints a plain log line now (closing the TTY line first), without changing the counters.
void progress_log(Progress *p, const char *line);
void progress_end(Progress *p, const char *extra);

#endif
