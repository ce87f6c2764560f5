// eval/plot.c — SVG line charts from metrics.jsonl (see plot.h).
#include "eval/plot.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

typedef struct {
    double *x, *y;
    size_t n, cap;
} Series;

static void push(Series *s, double x, double y) {
    if (s->n == s->cap) {
        s->cap = s->cap * 2 + 64;
        s->x = xrealloc(s->x, s->cap * sizeof(double));
        s->y = xrealloc(s->y, s->cap * sizeof(double));
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

static void nice_range(double *lo, double *hi) {
    if (*hi <= *lo) { *hi = *lo + 1; *lo -= 1; }
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

int plot_metrics_svg(const char *metrics_path, const char *svg_path, const char *title,
                     const char *const *keys, int nkeys, Err *e) {
    FILE *in = fopen(metrics_path, "r");
    if (!in) return err_set(e, "%s: cannot open", metrics_path);
    Series *s = xcalloc((size_t)nkeys, sizeof *s);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, in)) > 0) {
        json_t *j = json_loadb(line, (size_t)got, 0, NULL);
        json_t *st = j ? json_object_get(j, "step") : NULL;
        if (st && json_is_number(st))
            for (int k = 0; k < nkeys; k++) {
                json_t *v = json_object_get(j, keys[k]);
                if (v && json_is_number(v) && isfinite(json_number_value(v)))
                    push(&s[k], json_number_value(st), json_number_value(v));
            }
        json_decref(j);
    }
    free(line);
    fclose(in);

    const int W = 660, PH = 220, M = 80;
    int panels = 0;
    for (int k = 0; k < nkeys; k++) panels += s[k].n > 0;
    AtomicFile af;
    if (atomic_open(&af, svg_path, e)) goto fail;
    FILE *f = af.fp;
    int H = 40 + panels * (PH + 30);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">%s</text>\n", W / 2, title);
    int p = 0;
    for (int k = 0; k < nkeys; k++) {
        Series *q = &s[k];
        if (!q->n) continue;
        double x0 = q->x[0], x1 = q->x[0], y0 = q->y[0], y1 = q->y[0];
        for (size_t i = 0; i < q->n; i++) {
            x0 = fmin(x0, q->x[i]); x1 = fmax(x1, q->x[i]);
            y0 = fmin(y0, q->y[i]); y1 = fmax(y1, q->y[i]);
        }
        if (x1 <= x0) x1 = x0 + 1;
        nice_range(&y0, &y1);
        int top = 40 + p * (PH + 30), left = M, width = W - M - 20, height = PH - 40;
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", left, top + 12, keys[k]);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
                left, top + 20, width, height);
        for (int t = 0; t <= 4; t++) {
            double yv = y0 + (y1 - y0) * t / 4.0;
            double py = top + 20 + height - height * t / 4.0;
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", left - 4, py + 4, yv);
            double xv = x0 + (x1 - x0) * t / 4.0;
            double px = left + width * t / 4.0;
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", px,
                    top + 20 + height + 14, xv);
        }
        fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
        for (size_t i = 0; i < q->n; i++)
            fprintf(f, "%.1f,%.1f ", left + width * (q->x[i] - x0) / (x1 - x0),
                    top + 20 + height - height * (q->y[i] - y0) / (y1 - y0));
        fprintf(f, "\"/>\n");
        p++;
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n</svg>\n", W / 2, H - 4);
    for (int k = 0; k < nkeys; k++) { free(s[k].x); free(s[k].y); }
    free(s);
    return atomic_commit(&af, e);
fail:
    for (int k = 0; k < nkeys; k++) { free(s[k].x); free(s[k].y); }
    free(s);
    return -1;
}
