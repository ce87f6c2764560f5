// train/reward_cmd.c — owns the external reward process (see reward_cmd.h): starting
// `/bin/sh -c CMD` with posix_spawn in its own process group, the JSON-lines protocol over its
// stdin/stdout (requests encoded one at a time, non-blocking writes and reads interleaved with
// poll()), the progress timeout, and stopping and reaping it on error or close.
#include "train/reward_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/utf8.h"

#define READ_CHUNK 65536
#define MAX_ANSWER_LINE ((size_t)64 << 20)  // a longer answer line is an error, not a hang
#define SHOW_LINE 200                       // bytes of a bad answer line quoted in errors
#define CLOSE_WAIT_S 2.0

struct RewardCmd {
    char label[256];   // `reward command "CMD"` (CMD truncated) for messages
    double timeout_s;  // ≤ 0: no timeout
    pid_t pid;         // the shell; 0 once reaped
    int to_fd;         // its stdin (our write end, non-blocking); -1 when closed
    int from_fd;       // its stdout (our read end, non-blocking); -1 when closed
    char *buf;         // answer bytes read and not yet consumed: buf[start..len)
    size_t start, len, cap;
    size_t scan;       // buf[start..scan) holds no '\n'
    int stopped;       // after a failure: the child is gone and every call fails
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

// An fd at 0, 1 or 2 would collide with the dup2 onto the child's stdin/stdout: move it up.
static int fd_above_stdio(int fd) {
    if (fd > 2) return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

RewardCmd *reward_cmd_start(const char *cmd, double timeout_s, Err *e) {
    if (!cmd || !*cmd) {
        err_set(e, "reward command: empty command");
        return NULL;
    }
    RewardCmd *rc = xcalloc(1, sizeof *rc);
    size_t cl = strlen(cmd);
    if (cl > 160)
        snprintf(rc->label, sizeof rc->label, "reward command \"%.160s...\"", cmd);
    else
        snprintf(rc->label, sizeof rc->label, "reward command \"%s\"", cmd);
    rc->timeout_s = timeout_s;
    rc->to_fd = rc->from_fd = -1;

    int in[2] = {-1, -1}, out[2] = {-1, -1};  // in: child's stdin; out: child's stdout
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        err_set(e, "%s: cannot create pipes: %s", rc->label, strerror(errno));
        goto fail;
    }
    for (int k = 0; k < 2; k++) {
        in[k] = fd_above_stdio(in[k]);
        out[k] = fd_above_stdio(out[k]);
    }
    if (in[0] < 0 || in[1] < 0 || out[0] < 0 || out[1] < 0) {
        err_set(e, "%s: cannot create pipes: %s", rc->label, strerror(errno));
        goto fail;
    }

    // posix_spawn does the fork/exec part async-signal-safely (and without copying our page
    // tables). The child: pipes on fds 0/1 (dup2 clears close-on-exec there; every other fd of
    // ours is close-on-exec), an empty signal mask, SIGPIPE at its default even if we ignore
    // it, and its own process group so that stopping it stops what it started.
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawnattr_init(&attr);
    sigset_t none, pipe_only;
    sigemptyset(&none);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &pipe_only);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    int sr = posix_spawn(&rc->pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (sr != 0) {
        rc->pid = 0;
        err_set(e, "%s: cannot start /bin/sh: %s", rc->label, strerror(sr));
        goto fail;
    }
    close(in[0]);
    close(out[1]);
    rc->to_fd = in[1];
    rc->from_fd = out[0];
    if (set_nonblock(rc->to_fd) != 0 || set_nonblock(rc->from_fd) != 0) {
        err_set(e, "%s: cannot make its pipes non-blocking: %s", rc->label, strerror(errno));
        reward_cmd_close(rc);
        return NULL;
    }
    return rc;

fail:
    for (int k = 0; k < 2; k++) {
        if (in[k] >= 0) close(in[k]);
        if (out[k] >= 0) close(out[k]);
    }
    free(rc);
    return NULL;
}

// ---- the child's life --------------------------------------------------------------------

static void close_fds(RewardCmd *rc) {
    if (rc->to_fd >= 0) close(rc->to_fd);
    if (rc->from_fd >= 0) close(rc->from_fd);
    rc->to_fd = rc->from_fd = -1;
}

// 1 once the child has exited (left as a zombie, not reaped) within `secs`, else 0.
static int wait_exit(RewardCmd *rc, double secs) {
    double until = now_s() + secs;
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)rc->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR) continue;
            return 1;  // ECHILD: reaped elsewhere (SIGCHLD ignored); nothing left to wait for
        }
        if (si.si_pid != 0) return 1;
        if (now_s() >= until) return 0;
        sleep_s(0.005);
    }
}

// Kills the child's process group (a no-op for members already gone) and reaps the child.
// Returns its wait status, or -1 when it was reaped elsewhere.
static int kill_and_reap(RewardCmd *rc) {
    if (rc->pid <= 0) return -1;
    kill(-rc->pid, SIGKILL);
    kill(rc->pid, SIGKILL);
    int st = -1;
    while (waitpid(rc->pid, &st, 0) < 0) {
        if (errno != EINTR) {
            st = -1;
            break;
        }
    }
    rc->pid = 0;
    return st;
}

void reward_cmd_close(RewardCmd *rc) {
    if (!rc) return;
    close_fds(rc);  // EOF on its stdin: a well-behaved command exits now
    if (rc->pid > 0) {
        if (wait_exit(rc, CLOSE_WAIT_S)) {
            int st;
            while (waitpid(rc->pid, &st, 0) < 0 && errno == EINTR) {}
            rc->pid = 0;
        } else {
            kill_and_reap(rc);
        }
    }
    free(rc->buf);
    free(rc);
}

// Stops the child after an error and formats the message: `reward command "CMD": MSG`.
static int fail(RewardCmd *rc, Err *e, const char *fmt, ...) RLHF_PRINTF(3, 4);
static int fail(RewardCmd *rc, Err *e, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    close_fds(rc);
    kill_and_reap(rc);
    rc->stopped = 1;
    return err_set(e, "%s: %s", rc->label, msg);
}

static void describe_status(int st, char *out, size_t n) {
    if (st == -1)
        snprintf(out, n, "exited (status unknown)");
    else if (WIFEXITED(st))
        snprintf(out, n, "exited with status %d%s", WEXITSTATUS(st),
                 WEXITSTATUS(st) == 127   ? " (command not found?)"
                 : WEXITSTATUS(st) == 126 ? " (not executable?)"
                                          : "");
    else if (WIFSIGNALED(st))
        snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, n, "ended with wait status %d", st);
}

// Its output ended (EOF, or EPIPE on its input followed by EOF) after `got` of n answers.
static int fail_ended(RewardCmd *rc, Err *e, int got, int n) {
    close_fds(rc);
    if (!wait_exit(rc, CLOSE_WAIT_S))
        return fail(rc, e, "closed its output after %d of %d answers; stopped it", got, n);
    int st = kill_and_reap(rc);  // it has exited: this only clears its process group and reaps
    char how[128];
    describe_status(st, how, sizeof how);
    rc->stopped = 1;
    return err_set(e, "%s: %s after %d of %d answers", rc->label, how, got, n);
}

// ---- protocol ----------------------------------------------------------------------------

static json_t *text_value(const char *s) {
    if (!s) return json_null();
    char *t = utf8_sanitize(s, strlen(s));  // invalid bytes → U+FFFD: jansson needs valid UTF-8
    json_t *j = json_string(t);
    free(t);
    return j ? j : json_null();
}

// One request line, '\n'-terminated; NULL if jansson cannot allocate.
static char *encode_request(const char *prompt, const char *response, const char *answer,
                            size_t *len) {
    json_t *o = json_object();
    json_object_set_new(o, "prompt", text_value(prompt));
    json_object_set_new(o, "response", text_value(response));
    if (answer) json_object_set_new(o, "answer", text_value(answer));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return NULL;
    size_t k = strlen(s);
    char *line = xmalloc(k + 1);
    memcpy(line, s, k);
    line[k] = '\n';
    free(s);
    *len = k + 1;
    return line;
}

// write() that cannot raise SIGPIPE in this process: SIGPIPE is blocked in this thread for the
// call, and one raised by it (EPIPE) is consumed before unblocking. Leaves the process-wide
// disposition alone (callers and libraries may rely on it).
static ssize_t write_nosigpipe(int fd, const void *p, size_t n) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t w = write(fd, p, n);
    int saved = errno;
    if (w < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return w;
}

// Parses answer line `idx` (0-based) of n into *score.
static int parse_answer(RewardCmd *rc, const char *line, size_t len, int idx, int n,
                        double *score, Err *e) {
    if (len > 0 && line[len - 1] == '\r') len--;
    json_error_t je;
    json_t *j = len ? json_loadb(line, len, 0, &je) : NULL;
    json_t *s = json_is_object(j) ? json_object_get(j, "score") : NULL;
    int ok = json_is_number(s) && isfinite(json_number_value(s));
    if (ok) *score = json_number_value(s);
    json_decref(j);
    if (ok) return 0;
    if (len == 0)
        return fail(rc, e,
                    "answer %d of %d: expected a JSON object with a number \"score\", got an "
                    "empty line",
                    idx + 1, n);
    char shown[SHOW_LINE + 4];
    size_t k = min_sz(len, SHOW_LINE);
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)line[i];
        shown[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    memcpy(shown + k, len > SHOW_LINE ? "..." : "", len > SHOW_LINE ? 4 : 1);
    return fail(rc, e,
                "answer %d of %d: expected a JSON object with a finite number \"score\", got: %s",
                idx + 1, n, shown);
}

// Reads what is available into rc->buf. Returns bytes read (> 0), 0 at EOF, -1 when nothing is
// available now, -2 on a read error (errno set).
static ssize_t read_some(RewardCmd *rc) {
    if (rc->cap - rc->len < READ_CHUNK) {
        if (rc->start > 0) {
            memmove(rc->buf, rc->buf + rc->start, rc->len - rc->start);
            rc->len -= rc->start;
            rc->scan -= rc->start;
            rc->start = 0;
        }
        if (rc->cap - rc->len < READ_CHUNK) {
            rc->cap = max_sz(2 * rc->cap, rc->len + READ_CHUNK);
            rc->buf = xrealloc(rc->buf, rc->cap);
        }
    }
    ssize_t r = read(rc->from_fd, rc->buf + rc->len, rc->cap - rc->len);
    if (r > 0) rc->len += (size_t)r;
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
    return r;
}

int reward_cmd_score(RewardCmd *rc, int n, const char *const *prompt,
                     const char *const *response, const char *const *answer, double *score,
                     Err *e) {
    if (!rc) return err_set(e, "reward command: not started");
    if (rc->stopped)
        return err_set(e, "%s: not running (it was stopped after an earlier error)", rc->label);
    if (n < 0) return err_set(e, "%s: negative batch size %d", rc->label, n);
    if (n == 0) return 0;

    int sent = 0, got = 0, input_closed = 0, eof = 0;
    char *req = NULL;
    size_t req_len = 0, req_off = 0;
    double last = now_s();  // time of the last progress (start, or the last answer)
    int rcode = 0;
    while (got < n) {
        // consume the complete answer lines we have
        char *nl;
        while (got < n && rc->len > rc->scan &&
               (nl = memchr(rc->buf + rc->scan, '\n', rc->len - rc->scan))) {
            size_t end = (size_t)(nl - rc->buf);
            if (parse_answer(rc, rc->buf + rc->start, end - rc->start, got, n, &score[got], e))
                goto out_err;
            got++;
            rc->start = rc->scan = end + 1;
            last = now_s();
        }
        if (got == n) break;
        rc->scan = rc->len;
        if (rc->len - rc->start > MAX_ANSWER_LINE) {
            rcode = fail(rc, e, "answer %d of %d: line longer than %zu MiB", got + 1, n,
                         MAX_ANSWER_LINE >> 20);
            goto out;
        }
        if (eof) {
            // an unterminated last line still counts as an answer
            if (rc->len > rc->start) {
                if (parse_answer(rc, rc->buf + rc->start, rc->len - rc->start, got, n,
                                 &score[got], e))
                    goto out_err;
                got++;
                rc->start = rc->scan = rc->len;
                if (got == n) break;
            }
            rcode = fail_ended(rc, e, got, n);
            goto out;
        }
        if (!req && sent < n && !input_closed) {
            req = encode_request(prompt[sent], response[sent], answer ? answer[sent] : NULL,
                                 &req_len);
            req_off = 0;
            if (!req) {
                rcode = fail(rc, e, "cannot encode request %d of %d as JSON", sent + 1, n);
                goto out;
            }
        }

        int timeout_ms = -1;
        if (rc->timeout_s > 0) {
            double left = last + rc->timeout_s - now_s();
            if (left <= 0) {
                rcode = fail(rc, e, "no answer within %g s (answer %d of %d); stopped it",
                             rc->timeout_s, got + 1, n);
                goto out;
            }
            timeout_ms = (int)ceil(fmin(left, 3600.0) * 1000.0);
        }
        struct pollfd pf[2] = {{rc->from_fd, POLLIN, 0}, {rc->to_fd, POLLOUT, 0}};
        int nfds = req && !input_closed ? 2 : 1;
        int pr = poll(pf, (nfds_t)nfds, timeout_ms);
        if (pr < 0) {
            if (errno == EINTR) continue;
            rcode = fail(rc, e, "poll: %s", strerror(errno));
            goto out;
        }
        if (pr == 0) continue;  // the deadline is checked above
        if (nfds == 2 && pf[1].revents) {
            ssize_t w = write_nosigpipe(rc->to_fd, req + req_off, req_len - req_off);
            if (w > 0) {
                req_off += (size_t)w;
                if (req_off == req_len) {
                    free(req);
                    req = NULL;
                    sent++;
                }
            } else if (w < 0 && errno == EPIPE) {
                input_closed = 1;  // it stopped reading: collect what it wrote, then its status
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                rcode = fail(rc, e, "writing request %d of %d: %s", sent + 1, n,
                             strerror(errno));
                goto out;
            }
        }
        if (pf[0].revents) {
            ssize_t r = read_some(rc);
            if (r == 0) eof = 1;
            if (r == -2) {
                rcode = fail(rc, e, "reading answer %d of %d: %s", got + 1, n, strerror(errno));
                goto out;
            }
        }
    }
    if (sent < n) {
        // answer i cannot arrive before request i was sent, so it printed extra lines
        rcode = fail(rc, e, "gave %d answers before it was sent all %d requests (more than one "
                     "answer line per request?)", n, n);
        goto out;
    }
out:
    free(req);
    return rcode;
out_err:
    free(req);
    return -1;
}
