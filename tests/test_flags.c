// tests/test_flags.c — flag parsing for every type and syntax, positionals, --help text, and the
// usage errors (exit status 2 with a message), checked in fork()ed children through pipes.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/check.h"
#include "util/flags.h"

typedef struct {
    int n;
    long steps;
    float lr;
    double beta;
    const char *out;
    const char *name;
    int resume;
    int verbose;
} Opts;

static Opts opts;
static Flag table[8];

static void reset(void) {
    opts = (Opts){.n = 4, .steps = 1000, .lr = 3e-4f, .beta = 0.1, .out = NULL,
                  .name = "gpt2", .resume = 0, .verbose = 1};
    Flag t[8] = {
        {"num", 'n', FLAG_INT, &opts.n, "number of things", 0, 0},
        {"steps", 0, FLAG_LONG, &opts.steps, "training steps", 0, 0},
        {"lr", 0, FLAG_FLOAT, &opts.lr, "learning rate", 0, 0},
        {"beta", 'b', FLAG_DOUBLE, &opts.beta, "KL coefficient", 0, 0},
        {"out", 'o', FLAG_STRING, &opts.out, "output folder", 1, 0},
        {"name", 0, FLAG_STRING, &opts.name, "model name", 0, 0},
        {"resume", 'r', FLAG_BOOL, &opts.resume, "resume from the last checkpoint", 0, 0},
        {"verbose", 0, FLAG_BOOL, &opts.verbose, "print more", 0, 0},
    };
    memcpy(table, t, sizeof t);
}

static const char *pos[4];
static int npos;

static void parse(int argc, char **argv, int allow_pos) {
    flags_parse("train", "[flags] FILE...", "Trains a thing.", table, 8, argc, argv,
                allow_pos ? pos : NULL, allow_pos ? 2 : 0, &npos);
}

// Runs parse() in a child; returns its exit status (or -1), with stdout/stderr captured.
static int run_child(int argc, char **argv, int allow_pos, char *out, size_t outn, char *err,
                     size_t errn) {
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        reset();
        parse(argc, argv, allow_pos);
        printf("PARSED n=%d\n", opts.n);
        fflush(stdout);
        _exit(0);
    }
    close(po[1]);
    close(pe[1]);
    // outputs are small (< pipe buffer), so reading one after the other cannot deadlock
    size_t k = 0;
    ssize_t r;
    while (k + 1 < outn && (r = read(po[0], out + k, outn - 1 - k)) > 0) k += (size_t)r;
    out[k] = 0;
    k = 0;
    while (k + 1 < errn && (r = read(pe[0], err + k, errn - 1 - k)) > 0) k += (size_t)r;
    err[k] = 0;
    close(po[0]);
    close(pe[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define ARGV(...) ((char *[]){"train", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"train", __VA_ARGS__}) / sizeof(char *)))

static void expect_error(int line, int argc, char **argv, int allow_pos, const char *msg) {
    char out[4096], err[4096];
    int rc = run_child(argc, argv, allow_pos, out, sizeof out, err, sizeof err);
    CHECK(rc == 2, "line %d: exit status %d, want 2 (stderr: %s)", line, rc, err);
    CHECK(strstr(err, msg) != NULL, "line %d: stderr lacks \"%s\": %s", line, msg, err);
    CHECK(strstr(err, "--help") != NULL, "line %d: stderr lacks a --help hint: %s", line, err);
    CHECK(strstr(out, "PARSED") == NULL, "line %d: parse returned", line);
}
#define EXPECT_ERROR(allow_pos, msg, ...) \
    expect_error(__LINE__, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), allow_pos, msg)

int main(void) {
    // every type, both syntaxes
    reset();
    parse(ARGC("--num", "7", "--steps=123456789012", "--lr", "1e-3", "-b", "-0.5", "--out",
               "runs/a", "--name=x=y", "--resume", "--no-verbose"),
          ARGV("--num", "7", "--steps=123456789012", "--lr", "1e-3", "-b", "-0.5", "--out",
               "runs/a", "--name=x=y", "--resume", "--no-verbose"),
          0);
    CHECK(opts.n == 7, "int %d", opts.n);
    CHECK(opts.steps == 123456789012L, "long %ld", opts.steps);
    CHECK(opts.lr == 1e-3f, "float %g", opts.lr);
    CHECK(opts.beta == -0.5, "double %g", opts.beta);
    CHECK(strcmp(opts.out, "runs/a") == 0, "string %s", opts.out);
    CHECK(strcmp(opts.name, "x=y") == 0, "string with = %s", opts.name);
    CHECK(opts.resume == 1 && opts.verbose == 0, "bools %d %d", opts.resume, opts.verbose);
    CHECK(flag_seen(table, 8, "lr") && flag_seen(table, 8, "resume") &&
              flag_seen(table, 8, "verbose"),
          "seen set");
    CHECK(npos == 0, "no positionals");

    // defaults untouched, short forms, last wins, bool=value, -n=v
    reset();
    parse(ARGC("-o", "o", "-n", "1", "-n=2", "--num", "3", "-r", "--resume=false",
               "--verbose=yes"),
          ARGV("-o", "o", "-n", "1", "-n=2", "--num", "3", "-r", "--resume=false",
               "--verbose=yes"),
          0);
    CHECK(opts.n == 3, "last wins: %d", opts.n);
    CHECK(opts.resume == 0 && opts.verbose == 1, "bool=value %d %d", opts.resume, opts.verbose);
    CHECK(opts.lr == 3e-4f && opts.steps == 1000 && strcmp(opts.name, "gpt2") == 0,
          "defaults kept");
    CHECK(!flag_seen(table, 8, "lr") && flag_seen(table, 8, "num") &&
              !flag_seen(table, 8, "nonexistent"),
          "flag_seen");

    // positionals, "-" and "--"
    reset();
    parse(ARGC("a.txt", "--out", "o", "--", "--not-a-flag"),
          ARGV("a.txt", "--out", "o", "--", "--not-a-flag"), 1);
    CHECK(npos == 2 && strcmp(pos[0], "a.txt") == 0 && strcmp(pos[1], "--not-a-flag") == 0,
          "positionals %d", npos);
    reset();
    parse(ARGC("-", "--out=o"), ARGV("-", "--out=o"), 1);
    CHECK(npos == 1 && strcmp(pos[0], "-") == 0, "'-' is a positional");

    // "-h" as the value of a string flag is a value, not a request for help
    reset();
    parse(ARGC("--out", "o", "--name", "-h"), ARGV("--out", "o", "--name", "-h"), 0);
    CHECK(strcmp(opts.name, "-h") == 0, "-h as a value: %s", opts.name);

    // numbers at the edge
    reset();
    parse(ARGC("--out", "o", "--num", "-2147483648", "--lr", "1e38", "--beta", "0x10"),
          ARGV("--out", "o", "--num", "-2147483648", "--lr", "1e38", "--beta", "0x10"), 0);
    CHECK(opts.n == -2147483647 - 1 && opts.lr == 1e38f && opts.beta == 16.0, "edge numbers");

    // errors: exit 2 with a message and a --help hint
    EXPECT_ERROR(0, "rlhf train: unknown flag --x", "--out", "o", "--x", "1");
    EXPECT_ERROR(0, "rlhf train: unknown flag --x", "--out", "o", "--x=1");
    EXPECT_ERROR(0, "unknown flag -z", "--out", "o", "-z");
    EXPECT_ERROR(0, "unknown flag --no-num", "--out", "o", "--no-num");
    EXPECT_ERROR(0, "flag --lr: expected a number, got 'abc'", "--out", "o", "--lr", "abc");
    EXPECT_ERROR(0, "flag --lr: expected a number, got '1.0x'", "--out", "o", "--lr=1.0x");
    EXPECT_ERROR(0, "flag --lr: expected a number, got ''", "--out", "o", "--lr=");
    EXPECT_ERROR(0, "flag --beta: expected a finite number, got 'nan'", "--out", "o", "--beta",
                 "nan");
    EXPECT_ERROR(0, "flag --beta: expected a finite number, got 'inf'", "--out", "o", "--beta",
                 "inf");
    EXPECT_ERROR(0, "flag --lr: 1e39 is out of range", "--out", "o", "--lr", "1e39");
    EXPECT_ERROR(0, "flag --beta: 1e999 is out of range", "--out", "o", "--beta", "1e999");
    EXPECT_ERROR(0, "flag --num: expected an integer, got '1.5'", "--out", "o", "--num", "1.5");
    EXPECT_ERROR(0, "flag -n: expected an integer, got '12abc'", "--out", "o", "-n", "12abc");
    EXPECT_ERROR(0, "flag --num: 2147483648 is out of range", "--out", "o", "--num",
                 "2147483648");
    EXPECT_ERROR(0, "flag --steps: 99999999999999999999 is out of range", "--out", "o",
                 "--steps", "99999999999999999999");
    EXPECT_ERROR(0, "flag --resume: expected true/false, got 'maybe'", "--out", "o",
                 "--resume=maybe");
    EXPECT_ERROR(0, "flag --num: missing value", "--out", "o", "--num");
    EXPECT_ERROR(0, "rlhf train: missing required flag --out", "--num", "3");
    EXPECT_ERROR(0, "unexpected argument 'file.txt'", "--out", "o", "file.txt");
    EXPECT_ERROR(1, "too many arguments", "--out", "o", "a", "b", "c");

    // --help: exit 0, usage + description + table with defaults on stdout
    {
        char out[8192], err[4096];
        int rc = run_child(ARGC("--lr", "5", "--name", "-h", "--help"),
                           ARGV("--lr", "5", "--name", "-h", "--help"), 0, out,
                           sizeof out, err, sizeof err);
        CHECK(rc == 0, "--help exit %d", rc);
        CHECK(strstr(out, "usage: rlhf train [flags] FILE...\nTrains a thing.\nflags:\n") == out,
              "help header:\n%s", out);
        CHECK(strstr(out, "  -n, --num INT       number of things (default 4)\n"), "num:\n%s",
              out);
        CHECK(strstr(out, "  --steps INT         training steps (default 1000)\n"), "steps");
        CHECK(strstr(out, "  --lr FLOAT          learning rate (default 0.0003)\n"),
              "lr (default read before parsing):\n%s", out);
        CHECK(strstr(out, "  -b, --beta FLOAT    KL coefficient (default 0.1)\n"), "beta");
        CHECK(strstr(out, "  -o, --out PATH      output folder (required)\n"), "out:\n%s", out);
        CHECK(strstr(out, "  --name STR          model name (default gpt2)\n"), "name");
        CHECK(strstr(out, "  -r, --resume        resume from the last checkpoint (default off)\n"),
              "resume");
        CHECK(strstr(out, "  --verbose           print more (default on)\n"), "verbose");
        CHECK(strstr(out, "PARSED") == NULL, "help exits before returning");
        rc = run_child(ARGC("-h"), ARGV("-h"), 0, out, sizeof out, err, sizeof err);
        CHECK(rc == 0 && strstr(out, "usage: rlhf train"), "-h works (rc %d)", rc);
    }
    // NULL string default is "(none)"; %g for floats
    {
        const char *s = NULL;
        float f = 1e-5f;
        Flag t[] = {{"path", 0, FLAG_STRING, &s, "where", 0, 0},
                    {"eps", 0, FLAG_FLOAT, &f, "epsilon", 0, 0}};
        fflush(stdout);
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p[1], 1);
            close(p[0]);
            close(p[1]);
            flags_print_help("x", NULL, NULL, t, 2);
            fflush(stdout);
            _exit(0);
        }
        close(p[1]);
        char out[2048];
        size_t k = 0;
        ssize_t r;
        while (k + 1 < sizeof out && (r = read(p[0], out + k, sizeof out - 1 - k)) > 0)
            k += (size_t)r;
        out[k] = 0;
        close(p[0]);
        waitpid(pid, NULL, 0);
        CHECK(strstr(out, "usage: rlhf x [flags]\nflags:\n") == out, "no description:\n%s", out);
        CHECK(strstr(out, "  --path PATH         where (default (none))\n"), "none:\n%s", out);
        CHECK(strstr(out, "  --eps FLOAT         epsilon (default 1e-05)\n"), "%%g:\n%s", out);
    }
    return check_summary("test_flags");
}
