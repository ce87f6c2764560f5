// label/export.h — training data from the stored judgements (live ones, in judgement order), in
// the JSONL shapes rlhf rm / dpo / sft read (docs/formats.md, docs/labelling.md "Export rules"):
//   pairs    {"prompt", "chosen", "rejected", "margin"} per ordered pair of a judgement: "a"/"b"
//            one pair, "rank" every pair of responses in different groups; ties, "both_bad" and
//            skips give none. margin: margin_slight for strength 1, margin_clear for strength 2.
//   rankings {"prompt", "responses", "ranking", "margin"} per ranked judgement, tie groups as
//            lists of indices; a judgement with everything tied ("tie", "both_bad") only with
//            keep_ties (rm/dpo refuse a line without an ordered pair).
//   sft      {"prompt", "completion"} per judgement with a rewritten answer.
// Every line also names "item_id", "judgement_id" and "annotator".
#ifndef RLHF_LABEL_EXPORT_H
#define RLHF_LABEL_EXPORT_H

#include "label/store.h"

typedef enum { EXPORT_PAIRS, EXPORT_RANKINGS, EXPORT_SFT } ExportFormat;

typedef struct {
    ExportFormat format;
    double margin_slight, margin_clear;
    int keep_ties;
} ExportOptions;

typedef struct {
    long judgements;  // live judgements read
    long records;     // lines written
    long skipped;     // judgements that gave no line
} ExportCounts;

int label_export(LabelStore *s, const ExportOptions *o, const char *out_path, ExportCounts *n,
                 Err *e);

#endif
