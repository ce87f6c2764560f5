// tests/test_reward_cmd.c — the external reward process (train/reward_cmd.h) with small sh/awk
// scorers: scores in order, extra keys and \r\n, a 2000-request batch of 2 KB requests whose
// answers echo them (would deadlock without interleaved reads and writes), request encoding
// (quotes, newlines, control bytes, invalid UTF-8 → U+FFFD) read back from a tee'd copy, and
// every failure: exit status, not found, garbage, bad scores, timeout, crash, EPIPE, a stopped
// command, closing a hung command, pipes not leaking into other children, no zombies or fds.
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/check.h"
#include "train/reward_cmd.h"
#include "util/fileio.h"

// awk that reads line by line (mawk reads its input in blocks unless -W interactive)
#define AWK "LC_ALL=C $(command -v mawk >/dev/null && echo 'mawk -W interactive' || echo awk) "
// scores each request line with its length in bytes, flushing after every answer
#define AWK_LEN AWK "'{ printf \"{\\\"score\\\": %d}\\n\", length($0); fflush() }'"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;  // the DIR's own fd
}

static int no_children(void) { return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD; }

// Runs one batch on a fresh command expected to fail; checks the message has `want` (and the
// command), that a second call fails saying it stopped, and that the child was reaped.
static void expect_fail(const char *cmd, double timeout_s, int n, const char *want,
                        const char *want2) {
    Err e;
    RewardCmd *rc = reward_cmd_start(cmd, timeout_s, &e);
    CHECK(rc != NULL, "start %s: %s", cmd, e.msg);
    if (!rc) return;
    const char *p[8] = {"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"};
    const char *r[8] = {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"};
    double s[8];
    e.msg[0] = 0;
    int ret = reward_cmd_score(rc, n, p, r, NULL, s, &e);
    CHECK(ret == -1, "%s: expected failure", cmd);
    CHECK(strstr(e.msg, want) != NULL, "%s: message lacks \"%s\": %s", cmd, want, e.msg);
    if (want2) CHECK(strstr(e.msg, want2) != NULL, "%s: lacks \"%s\": %s", cmd, want2, e.msg);
    CHECK(strstr(e.msg, "reward command \"") && strstr(e.msg, cmd), "names the command: %s",
          e.msg);
    CHECK(no_children(), "%s: child reaped after the failure", cmd);
    ret = reward_cmd_score(rc, 1, p, r, NULL, s, &e);
    CHECK(ret == -1 && strstr(e.msg, "stopped"), "%s: second call fails: %s", cmd, e.msg);
    reward_cmd_close(rc);
}

int main(void) {
    Err e;
    int fds0 = count_fds();
    const char *tmp = getenv("RLHF_TEST_TMP");
    if (!tmp || !*tmp) tmp = "/tmp";

    // scores in order, answers included only where given, several batches on one process
    {
        RewardCmd *rc = reward_cmd_start(AWK_LEN, 10, &e);
        CHECK(rc != NULL, "start: %s", e.msg);
        const char *p[4] = {"a", "bb", "the cat", ""};
        const char *r[4] = {"x", "yyyy", "sat on the mat", "z"};
        const char *a[4] = {"A", NULL, "42", NULL};
        double s[4] = {0};
        CHECK(reward_cmd_score(rc, 4, p, r, a, s, &e) == 0, "score: %s", e.msg);
        for (int i = 0; i < 4; i++) {
            char line[256];
            int len = a[i] ? snprintf(line, sizeof line,
                                      "{\"prompt\":\"%s\",\"response\":\"%s\",\"answer\":\"%s\"}",
                                      p[i], r[i], a[i])
                           : snprintf(line, sizeof line, "{\"prompt\":\"%s\",\"response\":\"%s\"}",
                                      p[i], r[i]);
            CHECK(s[i] == len, "score %d: %g, want %d", i, s[i], len);
        }
        CHECK(reward_cmd_score(rc, 2, p + 2, r + 2, NULL, s, &e) == 0, "2nd batch: %s", e.msg);
        CHECK(s[0] == 48 && s[1] == 28, "2nd batch scores %g %g", s[0], s[1]);
        CHECK(reward_cmd_score(rc, 0, p, r, NULL, s, &e) == 0, "empty batch: %s", e.msg);
        reward_cmd_close(rc);
        reward_cmd_close(NULL);
    }

    // extra keys ignored, \r\n accepted, integer and negative scores
    {
        RewardCmd *rc = reward_cmd_start(
            "i=0; while IFS= read -r l; do i=$((i+1)); "
            "printf '{\"note\": \"x\", \"score\": -%d.5, \"v\": [1, {\"score\": 9}]}\\r\\n' $i; "
            "done",
            10, &e);
        CHECK(rc != NULL, "start: %s", e.msg);
        const char *p[3] = {"a", "b", "c"}, *r[3] = {"1", "2", "3"};
        double s[3] = {0};
        CHECK(reward_cmd_score(rc, 3, p, r, NULL, s, &e) == 0, "extra keys: %s", e.msg);
        CHECK(s[0] == -1.5 && s[1] == -2.5 && s[2] == -3.5, "scores %g %g %g", s[0], s[1], s[2]);
        reward_cmd_close(rc);
    }

    // an unterminated last line at EOF still counts
    {
        RewardCmd *rc = reward_cmd_start("read l; printf '{\"score\": 7}'", 10, &e);
        const char *p[1] = {"a"}, *r[1] = {"b"};
        double s[1] = {0};
        CHECK(reward_cmd_score(rc, 1, p, r, NULL, s, &e) == 0 && s[0] == 7, "no newline: %s %g",
              e.msg, s[0]);
        reward_cmd_close(rc);
    }

    // 2000 requests of ~2 KB whose answers echo them: both pipes fill up
    {
        enum { N = 2000, L = 2048 };
        RewardCmd *rc = reward_cmd_start(
            AWK "'{ printf \"{\\\"score\\\": %d, \\\"echo\\\": %s}\\n\", length($0), $0;"
            " fflush() }'",
            60, &e);
        CHECK(rc != NULL, "start: %s", e.msg);
        char **resp = xmalloc(N * sizeof *resp);
        const char **p = xmalloc(N * sizeof *p), **r = xmalloc(N * sizeof *r);
        double *s = xcalloc(N, sizeof *s);
        for (int i = 0; i < N; i++) {
            int len = L - 50 + i % 100;
            resp[i] = xmalloc((size_t)len + 1);
            for (int k = 0; k < len; k++) resp[i][k] = (char)('a' + (i + k) % 26);
            resp[i][len] = 0;
            p[i] = i % 2 ? "odd" : "even";
            r[i] = resp[i];
        }
        double t0 = now_s();
        CHECK(reward_cmd_score(rc, N, p, r, NULL, s, &e) == 0, "big batch: %s", e.msg);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            size_t want = strlen("{\"prompt\":\"\",\"response\":\"\"}") + strlen(p[i]) + strlen(r[i]);
            if (s[i] != (double)want && bad++ < 3) CHECK(0, "big %d: %g want %zu", i, s[i], want);
        }
        CHECK(bad == 0, "%d wrong scores in the big batch", bad);
        printf("2000 x 2 KB requests, echoed: %.2f s\n", now_s() - t0);
        reward_cmd_close(rc);
        for (int i = 0; i < N; i++) free(resp[i]);
        free(resp);
        free(p);
        free(r);
        free(s);
    }

    // request encoding, read back from a copy of what the command received
    {
        char file[512], cmd[700];
        snprintf(file, sizeof file, "%s/reward_cmd_requests.%ld.jsonl", tmp, (long)getpid());
        snprintf(cmd, sizeof cmd, "tee '%s' | %s", file, AWK_LEN);
        RewardCmd *rc = reward_cmd_start(cmd, 10, &e);
        CHECK(rc != NULL, "start: %s", e.msg);
        const char *p[3] = {"say \"hi\"\n\tback\\slash", "\x01\x1f ctl", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"};
        const char *r[3] = {"bad \xff byte", "cut \xe2\x82", "line1\r\nline2 </script> /"};
        const char *a[3] = {NULL, "ans \"q\"\xc0", NULL};
        const char *wp[3] = {p[0], p[1], p[2]};
        const char *wr[3] = {"bad \xef\xbf\xbd byte", "cut \xef\xbf\xbd\xef\xbf\xbd", r[2]};
        const char *wa[3] = {NULL, "ans \"q\"\xef\xbf\xbd", NULL};
        double s[3];
        CHECK(reward_cmd_score(rc, 3, p, r, a, s, &e) == 0, "encoding: %s", e.msg);
        reward_cmd_close(rc);  // waits for tee to finish writing
        char *data;
        size_t nd;
        CHECK(read_file(file, &data, &nd, &e) == 0, "read %s: %s", file, e.msg);
        if (nd) {
            int line = 0;
            char *save = NULL;
            for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
                if (line >= 3) {
                    CHECK(0, "more than 3 request lines");
                    break;
                }
                CHECK(s[line] == (double)strlen(l), "score %d = line length", line);
                json_error_t je;
                json_t *j = json_loads(l, 0, &je);
                CHECK(j != NULL, "line %d is JSON: %s: %s", line, je.text, l);
                const char *gp = json_string_value(json_object_get(j, "prompt"));
                const char *gr = json_string_value(json_object_get(j, "response"));
                json_t *ga = json_object_get(j, "answer");
                CHECK(gp && strcmp(gp, wp[line]) == 0, "prompt %d: %s", line, gp ? gp : "(none)");
                CHECK(gr && strcmp(gr, wr[line]) == 0, "response %d: %s", line, gr ? gr : "(none)");
                if (wa[line])
                    CHECK(json_is_string(ga) && strcmp(json_string_value(ga), wa[line]) == 0,
                          "answer %d", line);
                else
                    CHECK(ga == NULL, "no answer key on line %d", line);
                CHECK(json_object_size(j) == (wa[line] ? 3u : 2u), "keys on line %d", line);
                json_decref(j);
            }
            CHECK(line == 3, "3 request lines, got %d", line);
            free(data);
        }
        unlink(file);
    }

    // failures: each names the command, stops and reaps it, and later calls fail
    expect_fail("exit 3", 10, 3, "exited with status 3 after 0 of 3 answers", NULL);
    expect_fail("no_such_reward_program_xyz --flag", 10, 2, "status 127", "not found");
    expect_fail("while read l; do echo 'not json'; done", 10, 3,
                "answer 1 of 3: expected a JSON object", "got: not json");
    expect_fail("read l; echo '{\"score\": 1}'; read l; echo '{\"score\": \"x\"}'", 10, 3,
                "answer 2 of 3", "got: {\"score\": \"x\"}");
    expect_fail("while read l; do echo '{\"score\": 1e999}'; done", 10, 2, "answer 1 of 2",
                "1e999");
    expect_fail("while read l; do echo '{\"score\": NaN}'; done", 10, 2, "answer 1 of 2", "NaN");
    expect_fail("while read l; do echo '{\"score\": true}'; done", 10, 2, "answer 1 of 2", "true");
    expect_fail("while read l; do echo '[1]'; done", 10, 2, "answer 1 of 2", "[1]");
    expect_fail("while read l; do echo '{\"points\": 1}'; done", 10, 2, "answer 1 of 2", "points");
    expect_fail("while read l; do echo; done", 10, 2, "answer 1 of 2", "empty line");
    expect_fail("read l; echo '{\"score\": 1}'; exit 0", 10, 4,
                "exited with status 0 after 1 of 4 answers", NULL);
    expect_fail("i=0; while read l; do i=$((i+1)); [ $i -gt 2 ] && kill -9 $$; "
                "echo '{\"score\": 1}'; done",
                10, 5, "killed by signal 9", "after 2 of 5 answers");
    expect_fail("exec 1>&-; exec sleep 30", 10, 2, "closed its output after 0 of 2 answers",
                "stopped it");
    {
        double t0 = now_s();
        expect_fail("exec sleep 1000", 0.5, 2, "no answer within 0.5 s (answer 1 of 2)",
                    "stopped it");
        double dt = now_s() - t0;
        CHECK(dt >= 0.45 && dt < 2.0, "timeout took %.2f s", dt);
        // the timeout counts from the last answer, not from the start of the batch
        t0 = now_s();
        expect_fail("read l; echo '{\"score\": 1}'; sleep 0.3; read l; echo '{\"score\": 1}'; "
                    "exec sleep 1000",
                    0.5, 3, "no answer within 0.5 s (answer 3 of 3)", NULL);
        dt = now_s() - t0;
        CHECK(dt >= 0.75 && dt < 2.5, "timeout after progress took %.2f s", dt);
    }

    // a command that stops reading while megabytes are still to be written: EPIPE, not SIGPIPE
    {
        enum { N = 200 };
        static char big[8192];
        memset(big, 'x', sizeof big - 1);
        const char *p[N], *r[N];
        double s[N];
        for (int i = 0; i < N; i++) p[i] = r[i] = big;
        RewardCmd *rc = reward_cmd_start("exec 0<&-; sleep 0.2; exit 2", 10, &e);
        CHECK(reward_cmd_score(rc, N, p, r, NULL, s, &e) == -1 &&
                  strstr(e.msg, "exited with status 2 after 0 of 200 answers"),
              "EPIPE: %s", e.msg);
        reward_cmd_close(rc);
    }

    // starting: an empty command fails at once
    CHECK(reward_cmd_start("", 1, &e) == NULL && strstr(e.msg, "empty"), "empty: %s", e.msg);

    // our pipe ends are close-on-exec: a second command does not hold the first one's stdin
    // open, so the first sees EOF and closes at once
    {
        RewardCmd *rc1 = reward_cmd_start(AWK_LEN, 10, &e);
        RewardCmd *rc2 = reward_cmd_start(AWK_LEN, 10, &e);
        double t0 = now_s();
        reward_cmd_close(rc1);
        double dt = now_s() - t0;
        CHECK(dt < 1.0, "closing the first of two commands took %.2f s (inherited pipes?)", dt);
        reward_cmd_close(rc2);
    }

    // closing a command that ignores EOF: killed after ~2 s
    {
        RewardCmd *rc = reward_cmd_start("trap '' TERM INT HUP; exec sleep 1000", 10, &e);
        double t0 = now_s();
        reward_cmd_close(rc);
        double dt = now_s() - t0;
        CHECK(dt >= 1.9 && dt < 3.0, "close of a hung command took %.2f s", dt);
    }

    CHECK(no_children(), "no child left unreaped");
    CHECK(count_fds() == fds0, "open fds %d, at start %d", count_fds(), fds0);
    return check_summary("reward_cmd");
}
