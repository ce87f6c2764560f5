#!/usr/bin/env bash
# scripts/demo-feasibility.sh — the feasibility check of issue 6: does the demo world (src/demo/world.c)
# give an SFT model with 20–60 % task accuracy and a harmful rate >= 5 % within the time budget
# (pretrain <= 3 min, SFT <= 45 s on 2 cores)? Builds the world's files with a small helper linked
# against build/librlhf.a, pretrains and fine-tunes with the CLI, samples one answer per held-out
# prompt with `rlhf bon -n 1` (temperature 0.3 ≈ greedy) and scores them with the gold judge.
# Usage: scripts/demo-feasibility.sh [OUT_DIR]   (env: SEED, PRE_STEPS, PRE_BATCH, SFT_STEPS, ...)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-runs/feasibility}
SEED=${SEED:-1}
CORPUS_BYTES=${CORPUS_BYTES:-3000000}
PRE_STEPS=${PRE_STEPS:-600}
PRE_BATCH=${PRE_BATCH:-16}
PRE_LR=${PRE_LR:-0.003}
SFT_N=${SFT_N:-4000}
SFT_STEPS=${SFT_STEPS:-200}
SFT_BATCH=${SFT_BATCH:-32}
SFT_LR=${SFT_LR:-0.001}
EVAL_N=${EVAL_N:-300}
TEMP=${TEMP:-0.3}
THREADS=${OMP_NUM_THREADS:-2}
export OMP_NUM_THREADS=$THREADS

make -s build/rlhf build/librlhf.a >/dev/null
rm -rf "$out"; mkdir -p "$out"
tool="$out/demo-tool"
cat >"$out/demo-tool.c" <<'CEOF'
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "demo/world.h"
int main(int argc, char **argv) {
    Err e;
    if (argc >= 5 && !strcmp(argv[1], "corpus"))
        return demo_write_corpus(argv[2], strtoull(argv[3], 0, 10), strtoull(argv[4], 0, 10), &e) ? (fprintf(stderr, "%s\n", e.msg), 1) : 0;
    if (argc >= 6 && !strcmp(argv[1], "sft"))
        return demo_write_sft(argv[2], atoi(argv[3]), strtoull(argv[4], 0, 10), strtoull(argv[5], 0, 10), &e) ? (fprintf(stderr, "%s\n", e.msg), 1) : 0;
    if (argc >= 6 && !strcmp(argv[1], "prompts"))
        return demo_write_prompts(argv[2], atoi(argv[3]), strtoull(argv[4], 0, 10), strtoull(argv[5], 0, 10), &e) ? (fprintf(stderr, "%s\n", e.msg), 1) : 0;
    char *line = NULL; size_t cap = 0;
    if (argc >= 2 && !strcmp(argv[1], "score")) {  // rlhf --reward-cmd protocol
        while (getline(&line, &cap, stdin) > 0) {
            json_t *j = json_loads(line, 0, NULL);
            GoldScore g = demo_gold(json_string_value(json_object_get(j, "prompt")),
                                    json_string_value(json_object_get(j, "response")), 1);
            printf("{\"score\": %.6f}\n", g.total); fflush(stdout); json_decref(j);
        }
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "eval")) {  // bon output -> gold statistics
        FILE *fp = fopen(argv[2], "r"); if (!fp) return 1;
        double s[6] = {0}, kc[TASK_KINDS] = {0}, kn[TASK_KINDS] = {0}, ended = 0, len = 0; int n = 0;
        while (getline(&line, &cap, fp) > 0) {
            json_t *j = json_loads(line, 0, NULL);
            const char *p = json_string_value(json_object_get(j, "prompt")), *r = json_string_value(json_object_get(j, "response"));
            int en = json_is_true(json_object_get(j, "ended"));
            GoldScore g = demo_gold(p, r, en); DemoTask t; demo_parse_task(p, &t);
            s[0] += g.correct; s[1] += g.format; s[2] += g.stop; s[3] += 1 - g.harmless; s[4] += g.brevity; s[5] += g.total;
            kc[t.kind] += g.correct; kn[t.kind]++; ended += en; len += strlen(r); n++;
            if (n <= 12) printf("  %-24s -> %s%s\n", p, r, en ? "" : " [no EOS]");
            json_decref(j);
        }
        printf("n=%d accuracy=%.3f format=%.3f stop=%.3f harmful=%.3f brevity=%.3f gold=%.3f eos=%.3f len=%.1f\n", n,
               s[0] / n, s[1] / n, s[2] / n, s[3] / n, s[4] / n, s[5] / n, ended / n, len / n);
        for (int k = 0; k < TASK_KINDS; k++) printf("  %-9s accuracy %.2f (n=%.0f)\n", demo_task_kind_name((TaskKind)k), kn[k] ? kc[k] / kn[k] : 0, kn[k]);
        return 0;
    }
    fprintf(stderr, "usage: demo-tool corpus|sft|prompts|score|eval ...\n");
    return 2;
}
CEOF
gcc -std=c11 -D_GNU_SOURCE -O2 -Isrc "$out/demo-tool.c" build/librlhf.a -o "$tool" \
    -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -ljansson -lutf8proc -lm -fopenmp

t() { local s=$(date +%s.%N); "$@"; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}' >"$out/.t"; }
# task index ranges: SFT demonstrations 0..SFT_N-1, held-out evaluation prompts from 1000000
t "$tool" corpus "$out/corpus.jsonl" "$CORPUS_BYTES" "$SEED"; t_corpus=$(cat "$out/.t")
"$tool" sft "$out/sft.jsonl" "$SFT_N" "$SEED" 0
"$tool" prompts "$out/eval.jsonl" "$EVAL_N" "$SEED" 1000000
echo "world: corpus $(wc -c <"$out/corpus.jsonl") bytes (${t_corpus}s), $SFT_N demonstrations, $EVAL_N held-out prompts"

if [ -n "${PRETRAINED:-}" ]; then  # reuse a pretrained model folder (iterating on SFT only)
  mkdir -p "$out/pretrain"; cp -r "$PRETRAINED" "$out/pretrain/final"; echo "pretrain: reused $PRETRAINED"
else
  t build/rlhf pretrain --data "$out/corpus.jsonl" --out "$out/pretrain" --layers 4 --heads 4 --embd 128 --ctx 128 \
      --batch "$PRE_BATCH" --steps "$PRE_STEPS" --lr "$PRE_LR" --warmup 30 --eval-every 0 --ckpt-every 100000 --seed "$SEED" -q
  t_pre=$(cat "$out/.t"); echo "pretrain: ${t_pre}s ($PRE_STEPS steps x $PRE_BATCH x 128 tokens)"
fi

eval_model() {  # $1 = model folder, $2 = name, $3 = temperature (bon needs > 0: 0.05 is near-greedy)
    local temp=${3:-$TEMP}
    t build/rlhf bon --policy "$1" --reward-cmd "$tool score" --prompts "$out/eval.jsonl" --out "$out/$2-samples.jsonl" \
        -n 1 --temperature "$temp" --max-new 48 --batch 32 --seed "$SEED" >/dev/null
    echo "eval $2 (${EVAL_N} held-out prompts, T=$temp, $(cat "$out/.t")s):"
    "$tool" eval "$out/$2-samples.jsonl"
}
eval_model "$out/pretrain/final" pretrained

t build/rlhf sft --model "$out/pretrain/final" --data "$out/sft.jsonl" --out "$out/sft" --batch "$SFT_BATCH" \
    --steps "$SFT_STEPS" --lr "$SFT_LR" --warmup 10 --eval-every 0 --samples 0 --ckpt-every 100000 --seed "$SEED" -q
t_sft=$(cat "$out/.t"); echo "sft: ${t_sft}s ($SFT_STEPS steps x $SFT_BATCH examples)"
eval_model "$out/sft/final" sft-greedy 0.05
eval_model "$out/sft/final" sft "$TEMP"
eval_model "$out/sft/final" sft-t1 1 || echo "eval at T=1 failed (rlhf bon could not write a sampled line; see report)"
