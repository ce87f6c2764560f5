// demo/demo_plots.c — the demo's own SVG plots (see demo_plots.h).
#include "demo/demo_plots.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "demo/world.h"
#include "eval/plot.h"
#include "util/fileio.h"
#include "util/json.h"


// The reward–KL frontier: each point's gold (●) and RM (■) score against √KL; points of the same
// series > 0 are joined in order (gold solid, RM dashed), series 0 points stand alone.
int demo_frontier_svg(const char *path, int n, const char *const *label, const int *series, const double *kl,
                      const double *gold, const double *rm, Err *e) {
    double xmax = 0.5, ylo = 0, yhi = 0;
    for (int i = 0; i < n; i++) {
        double x = sqrt(kl[i] > 0 ? kl[i] : 0);
        if (x > xmax) xmax = x;
        double lo = fmin(gold[i], rm[i]), hi = fmax(gold[i], rm[i]);
        if (i == 0 || lo < ylo) ylo = lo;
        if (i == 0 || hi > yhi) yhi = hi;
    }
    if (yhi - ylo < 0.1) { yhi += 0.05; ylo -= 0.05; }
    xmax *= 1.1;
    double pad = 0.1 * (yhi - ylo);
    ylo -= pad; yhi += pad;
    const double W = 640, H = 420, L = 60, R = 20, T = 40, B = 50;
    static const char *COLOR[] = {"#555", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"};
#define PX(i) (L + (W - L - R) * sqrt(kl[i] > 0 ? kl[i] : 0) / xmax)
#define PY(v) (T + (H - T - B) * (yhi - (v)) / (yhi - ylo))
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    FILE *f = af.fp;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">gold (●) and reward-model (■) score against √KL to SFT</text>\n", L);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, W - L - R, H - T - B);
    for (int k = 0; k <= 4; k++) {
        double x = L + (W - L - R) * k / 4, y = T + (H - T - B) * k / 4;
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.2f</text>\n", x, H - B + 16, xmax * k / 4);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, y + 4, yhi - (yhi - ylo) * k / 4);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">√KL (nats^½, k1 on samples at T=1; best-of-n: the bound)</text>\n", (L + W - R) / 2, H - 12);
    for (int i = 1; i < n; i++) {  // the series' lines first, under the points
        if (series[i] <= 0 || series[i] != series[i - 1]) continue;
        const char *c = COLOR[series[i] % 5];
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                PX(i - 1), PY(gold[i - 1]), PX(i), PY(gold[i]), c);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"5,4\"/>\n",
                PX(i - 1), PY(rm[i - 1]), PX(i), PY(rm[i]), c);
    }
    for (int i = 0; i < n; i++) {
        double x = PX(i), yg = PY(gold[i]), yr = PY(rm[i]);
        const char *c = COLOR[(series[i] > 0 ? series[i] : 0) % 5];
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", x, yg, c);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"%s\" fill-opacity=\"0.6\"/>\n", x - 4.5, yr - 4.5, c);
        if (series[i] <= 0) fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\"/>\n", x, yg, x, yr);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">", x + 8, yg - 6, c);
        for (const char *p = label[i]; *p; p++) {  // labels are ours, but escape anyway
            if (*p == '<') fputs("&lt;", f);
            else if (*p == '&') fputs("&amp;", f);
            else fputc(*p, f);
        }
        fprintf(f, "</text>\n");
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    return atomic_commit(&af, e);
}

// PPO's curves: its metrics (RM score, KL) plus the gold score of its evaluation samples.
int demo_ppo_curves(const char *ppo_dir, const char *out_jsonl, const char *svg, Err *e) {
    char *mp = path_join(ppo_dir, "metrics.jsonl"), *sp = path_join(ppo_dir, "samples.jsonl");
    FILE *m = fopen(mp, "r"), *s = fopen(sp, "r");
    int rc = -1;
    AtomicFile af;
    if (!m || !s) { err_set(e, "%s: cannot read the PPO run's metrics / samples", ppo_dir); goto out; }
    if (atomic_open(&af, out_jsonl, e)) goto out;
    // gold per evaluation step from samples.jsonl
    long steps[4096];
    double gsum[4096], gn[4096];
    int ns = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, s) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        long st = (long)json_integer_value(json_object_get(j, "step"));
        const char *p = json_string_value(json_object_get(j, "prompt")), *r = json_string_value(json_object_get(j, "policy"));
        if (p && r) {
            int k = ns - 1;
            if (ns == 0 || steps[k] != st) { if (ns == 4096) { json_decref(j); break; } k = ns++; steps[k] = st; gsum[k] = gn[k] = 0; }
            gsum[k] += demo_gold(p, r, json_is_true(json_object_get(j, "policy_ended"))).total;
            gn[k] += 1;
        }
        json_decref(j);
    }
    while (getline(&line, &cap, m) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        long st = (long)json_integer_value(json_object_get(j, "step"));
        json_t *o = json_pack("{s:I, s:f, s:f}", "step", (json_int_t)st, "rm_score", json_number_at(j, "score"), "kl", json_number_at(j, "kl"));
        for (int k = 0; k < ns; k++)
            if (steps[k] == st && gn[k] > 0) {
                json_object_set_new(o, "gold", json_real(gsum[k] / gn[k]));
                json_object_set_new(o, "eval_rm_score", json_object_get(j, "eval_score") ? json_real(json_number_at(j, "eval_score")) : json_null());
            }
        char *txt = json_dumps(o, JSON_COMPACT);
        fprintf(af.fp, "%s\n", txt);
        free(txt);
        json_decref(o);
        json_decref(j);
    }
    free(line);
    if (atomic_commit(&af, e)) goto out;
    const char *keys[] = {"rm_score", "kl", "gold", "eval_rm_score"};
    rc = plot_metrics_svg(out_jsonl, svg, "PPO: reward-model score, KL to SFT, gold score (held-out samples)", keys, 4, e);
out:
    if (m) fclose(m);
    if (s) fclose(s);
    free(mp); free(sp);
    return rc;
}
