// train/schedule.c — learning-rate schedules (see schedule.h).
#include "train/schedule.h"

#include <math.h>
#include <string.h>

int sched_parse(const char *s, SchedKind *k) {
    if (!strcmp(s, "constant")) *k = SCHED_CONSTANT;
    else if (!strcmp(s, "linear")) *k = SCHED_LINEAR;
    else if (!strcmp(s, "cosine")) *k = SCHED_COSINE;
    else return -1;
    return 0;
}

const char *sched_name(SchedKind k) {
    return k == SCHED_CONSTANT ? "constant" : k == SCHED_LINEAR ? "linear" : "cosine";
}

float sched_lr(const LRSchedule *s, long step) {
    if (s->warmup > 0 && step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup;
    if (s->kind == SCHED_CONSTANT) return s->lr;
    long span = s->total - s->warmup;
    double frac = span > 1 ? (double)(step - s->warmup) / (double)(span - 1) : 1.0;
    if (frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    double lo = s->min_lr_frac;
    double mult = s->kind == SCHED_LINEAR ? 1.0 - frac * (1.0 - lo)
                                          : lo + (1.0 - lo) * 0.5 * (1.0 + cos(M_PI * frac));
    return (float)(s->lr * mult);
}
