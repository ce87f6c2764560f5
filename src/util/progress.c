// util/progress.c — owns progress reporting on stderr: a single self-updating line with rate and
// ETA on a TTY, plain periodic log lines otherwise (see progress.h).
#include "util/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/timer.h"

static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e9) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (s < 10) snprintf(buf, n, "%.1fs", s);
    else if (t < 60) snprintf(buf, n, "%lds", t);
    else if (t < 3600) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

// "LABEL 123/1000 (12.3%) 45.6 it/s ETA 1m23s EXTRA"
static void fmt_status(const Progress *p, double now, const char *extra, char *buf, size_t n) {
    double el = now - p->t_start;
    double rate = el > 0 ? (double)p->done / el : 0;
    int k = 0;
    if (p->total > 0) {
        double pct = 100.0 * (double)p->done / (double)p->total;
        k = snprintf(buf, n, "%s %ld/%ld (%.1f%%) %.1f it/s", p->label, p->done, p->total, pct,
                     rate);
        if (k > 0 && (size_t)k < n) {
            char eta[32];
            if (rate > 0) fmt_duration(eta, sizeof eta, (double)(p->total - p->done) / rate);
            else snprintf(eta, sizeof eta, "?");
            k += snprintf(buf + k, n - (size_t)k, " ETA %s", eta);
        }
    } else {
        k = snprintf(buf, n, "%s %ld %.1f it/s", p->label, p->done, rate);
    }
    if (extra && *extra && k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, " %s", extra);
}

void progress_start(Progress *p, const char *label, long total) {
    memset(p, 0, sizeof *p);
    p->label = label ? label : "";
    p->total = total;
    p->t_start = now_s();
    p->t_last_print = p->t_start;
    p->log_every_s = 10.0;
    p->tty = isatty(fileno(stderr));
}

void progress_update(Progress *p, long done, const char *extra) {
    p->done = done;
    double now = now_s();
    char buf[1024];
    if (p->tty) {
        // redraw at most ~10 times a second (always the first time)
        if (p->line_open && now - p->t_last_print < 0.1) return;
        fmt_status(p, now, extra, buf, sizeof buf);
        fprintf(stderr, "\r%s\033[K", buf);
        fflush(stderr);
        p->line_open = 1;
        p->t_last_print = now;
    } else {
        double every = p->log_every_s > 0 ? p->log_every_s : 10.0;
        if (now - p->t_last_print < every) return;
        fmt_status(p, now, extra, buf, sizeof buf);
        fprintf(stderr, "%s\n", buf);
        p->t_last_print = now;
    }
}

void progress_log(Progress *p, const char *line) {
    if (p->tty && p->line_open) {
        fputs("\r\033[K", stderr);
        p->line_open = 0;
    }
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void progress_end(Progress *p, const char *extra) {
    double now = now_s();
    double el = now - p->t_start;
    char dur[32];
    fmt_duration(dur, sizeof dur, el);
    double rate = el > 0 ? (double)p->done / el : 0;
    if (p->tty && p->line_open) fputs("\r\033[K", stderr);
    if (p->total > 0)
        fprintf(stderr, "%s %ld/%ld done in %s (%.1f it/s)", p->label, p->done, p->total, dur,
                rate);
    else
        fprintf(stderr, "%s %ld done in %s (%.1f it/s)", p->label, p->done, dur, rate);
    if (extra && *extra) fprintf(stderr, " %s", extra);
    fputc('\n', stderr);
    fflush(stderr);
    p->line_open = 0;
    p->t_last_print = now;
}
