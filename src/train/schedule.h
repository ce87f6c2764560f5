// train/schedule.h — learning-rate schedules: linear warmup, then constant, linear or cosine decay
// to min_lr_frac × lr at the last step.
#ifndef RLHF_TRAIN_SCHEDULE_H
#define RLHF_TRAIN_SCHEDULE_H

typedef enum { SCHED_CONSTANT, SCHED_LINEAR, SCHED_COSINE } SchedKind;

typedef struct {
    SchedKind kind;
    float lr;
    long warmup;  // steps of linear warmup from lr/warmup
    long total;   // steps in the run
    float min_lr_frac;
} LRSchedule;

// Parses "constant" | "linear" | "cosine"; returns -1 on anything else.
int sched_parse(const char *s, SchedKind *k);
const char *sched_name(SchedKind k);
// LR for 0-based step.
float sched_lr(const LRSchedule *s, long step);

#endif
