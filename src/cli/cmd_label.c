// cli/cmd_label.c — `rlhf label`: the labelling app's subcommands (init, annotator add|list|revoke,
// serve, export, stats); each parses its flags and calls src/label/.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "label/candidates.h"
#include "label/export.h"
#include "label/server.h"
#include "label/stats.h"
#include "label/store.h"
#include "label/token.h"
#include "util/fileio.h"
#include "util/flags.h"
#include "util/json.h"

#define NF(f) (int)(sizeof f / sizeof f[0])

static int fail(const char *sub, const Err *e) {
    fprintf(stderr, "rlhf label %s: error: %s\n", sub, e->msg);
    return 1;
}

static void remove_db(const char *path) {
    char buf[4096];
    unlink(path);
    snprintf(buf, sizeof buf, "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", path);
    unlink(buf);
}

static int label_init(int argc, char **argv) {
    const char *db = NULL, *prompts = NULL, *model = NULL, *cands = NULL, *guide = NULL;
    CandidateSampling cs = {.k = 2, .temperature = 1.0f, .top_p = 1.0f, .max_new = 64, .seed = 1};
    Flag flags[] = {
        {"db", 0, FLAG_STRING, &db, "the new project file (SQLite; must not exist)", 1, 0},
        {"prompts", 0, FLAG_STRING, &prompts, "prompts JSONL ({\"prompt\": \"...\"} per line), with --model", 0, 0},
        {"model", 0, FLAG_STRING, &model, "sample the candidates from this model folder", 0, 0},
        {"k", 'k', FLAG_INT, &cs.k, "responses per prompt (with --model; 2 to 16)", 0, 0},
        {"candidates", 0, FLAG_STRING, &cands, "import candidates instead: {\"prompt\", \"responses\": [...]} per line", 0, 0},
        {"guidelines", 0, FLAG_STRING, &guide, "a text / Markdown file shown to annotators", 0, 0},
        {"temperature", 't', FLAG_FLOAT, &cs.temperature, "sampling temperature (0 = greedy)", 0, 0},
        {"top-k", 0, FLAG_INT, &cs.top_k, "keep the k most likely tokens (0 = off)", 0, 0},
        {"top-p", 0, FLAG_FLOAT, &cs.top_p, "nucleus sampling mass (1 = off)", 0, 0},
        {"max-new", 0, FLAG_INT, &cs.max_new, "new tokens at most per response", 0, 0},
        {"seed", 0, FLAG_LONG, &cs.seed, "sampling seed; response j of prompt i uses the stream (seed, i*K+j)", 0, 0},
        {"plain-template", 0, FLAG_BOOL, &cs.plain_template, "the plain-text chat template even if the tokenizer has role markers", 0, 0},
    };
    flags_parse("label init", "--db FILE --prompts P.jsonl (--model DIR -k K | --candidates C.jsonl) [FLAGS]",
                "Creates a labelling project: prompts with K candidate responses each, sampled from "
                "a model or imported, stored with their provenance.", flags, NF(flags), argc, argv,
                NULL, 0, NULL);
    if (!model == !cands) { fprintf(stderr, "rlhf label init: give exactly one of --model and --candidates\n"); return 2; }
    if (model && !prompts) { fprintf(stderr, "rlhf label init: --model needs --prompts\n"); return 2; }
    if (cands && prompts) { fprintf(stderr, "rlhf label init: --candidates carries its prompts: drop --prompts\n"); return 2; }
    if (model && (cs.k < 2 || cs.k > LABEL_MAX_K || cs.max_new <= 0 || cs.temperature < 0 ||
                  cs.top_p <= 0 || cs.top_p > 1 || cs.top_k < 0)) {
        fprintf(stderr, "rlhf label init: need 2 ≤ -k ≤ %d, --max-new > 0, --temperature ≥ 0, "
                        "0 < --top-p ≤ 1, --top-k ≥ 0\n", LABEL_MAX_K);
        return 2;
    }
    cs.model = model;
    Err e;
    char *gtext = NULL;
    size_t glen = 0;
    if (guide && read_file(guide, &gtext, &glen, &e)) return fail("init", &e);
    LabelStore s;
    if (store_create(&s, db, &e)) { free(gtext); return fail("init", &e); }
    long n = cands ? candidates_import(&s, cands, &e) : candidates_sample(&s, prompts, &cs, &e);
    json_t *prov = cands ? json_pack("{s:s, s:s}", "source", "import", "candidates", cands)
                         : json_pack("{s:s, s:s, s:s, s:i, s:f, s:i, s:f, s:i, s:I, s:b}", "source",
                                     "model", "model", model, "prompts", prompts, "k", cs.k,
                                     "temperature", (double)cs.temperature, "top_k", cs.top_k,
                                     "top_p", (double)cs.top_p, "max_new", cs.max_new, "seed",
                                     (json_int_t)cs.seed, "plain_template", cs.plain_template);
    char *ptxt = json_dumps(prov, JSON_COMPACT);
    json_decref(prov);
    int rc = n < 0 || store_set_meta(&s, "provenance", ptxt, &e) ||
             store_set_meta(&s, "guidelines", gtext ? gtext : "", &e);
    free(ptxt);
    free(gtext);
    store_close(&s);
    if (rc) { remove_db(db); return fail("init", &e); }
    printf("rlhf label: %ld items in %s (%s)\n", n, db, cands ? "imported" : "sampled");
    return 0;
}

static int label_annotator(int argc, char **argv) {
    const char *act = argc >= 2 ? argv[1] : "";
    if (strcmp(act, "add") && strcmp(act, "list") && strcmp(act, "revoke")) {
        fprintf(stderr, "usage: rlhf label annotator add|list|revoke [NAME] --db FILE\n");
        return 2;
    }
    const char *db = NULL, *pos[1] = {NULL};
    int npos = 0, as_json = 0;
    Flag flags[] = {
        {"db", 0, FLAG_STRING, &db, "the project file", 1, 0},
        {"json", 0, FLAG_BOOL, &as_json, "list: one JSON array", 0, 0},
    };
    char cmd[64];
    snprintf(cmd, sizeof cmd, "label annotator %s", act);
    int is_list = !strcmp(act, "list");
    flags_parse(cmd, is_list ? "--db FILE [--json]" : "NAME --db FILE",
                !strcmp(act, "add") ? "Adds an annotator and prints their secret login token (only its SHA-256 is stored; it cannot be shown again)."
                : is_list ? "Lists the annotators, whether revoked, and their judgement counts."
                          : "Revokes an annotator's token (their judgements stay).",
                flags, NF(flags), argc - 1, argv + 1, is_list ? NULL : pos, is_list ? 0 : 1, &npos);
    if (!is_list && (npos != 1 || !pos[0][0])) { fprintf(stderr, "rlhf %s: give the annotator's NAME\n", cmd); return 2; }
    if (!is_list && strlen(pos[0]) > 100) { fprintf(stderr, "rlhf %s: NAME longer than 100 bytes\n", cmd); return 2; }
    Err e;
    LabelStore s;
    if (store_open(&s, db, &e)) return fail("annotator", &e);
    int rc = 0;
    if (!strcmp(act, "add")) {
        char tok[LABEL_TOKEN_HEX], hash[LABEL_TOKEN_HEX];
        rc = label_token_new(tok, &e) || label_token_hash(tok, strlen(tok), hash, &e) ||
             store_annotator_add(&s, pos[0], hash, &e);
        if (!rc) {
            printf("%s\n", tok);
            fprintf(stderr, "rlhf label: annotator \"%s\" added; the token above is their login "
                            "(shown once, only its SHA-256 is stored)\n", pos[0]);
        }
    } else if (!strcmp(act, "revoke")) {
        rc = store_annotator_revoke(&s, pos[0], &e);
        if (!rc) printf("rlhf label: annotator \"%s\" revoked\n", pos[0]);
    } else {
        json_t *l = store_annotator_list(&s, &e);
        rc = !l;
        if (l && as_json) {
            char *t = json_dumps(l, JSON_COMPACT);
            printf("%s\n", t);
            free(t);
        } else if (l) {
            size_t i;
            json_t *v;
            json_array_foreach(l, i, v)
                printf("%-24s %6lld judgements%s\n", json_string_value(json_object_get(v, "name")),
                       (long long)json_integer_value(json_object_get(v, "judgements")),
                       json_is_true(json_object_get(v, "revoked")) ? "  (revoked)" : "");
        }
        json_decref(l);
    }
    store_close(&s);
    return rc ? fail("annotator", &e) : 0;
}

static int label_serve(int argc, char **argv) {
    const char *db = NULL;
    ServeConfig c = {.host = "127.0.0.1", .port = 8080, .overlap = 1, .threads = 4};
    Flag flags[] = {
        {"db", 0, FLAG_STRING, &db, "the project file", 1, 0},
        {"host", 0, FLAG_STRING, &c.host, "address to listen on (loopback unless told otherwise)", 0, 0},
        {"port", 0, FLAG_INT, &c.port, "TCP port (0: any free port; the URL printed names it)", 0, 0},
        {"overlap", 0, FLAG_INT, &c.overlap, "different annotators who judge each item", 0, 0},
        {"threads", 0, FLAG_INT, &c.threads, "HTTP worker threads", 0, 0},
        {"allow-host", 0, FLAG_STRING, &c.allow_host, "more accepted Host header names, comma-separated (NAME or NAME:PORT), e.g. the machine's DNS name", 0, 0},
    };
    flags_parse("label serve", "--db FILE [--host ADDR] [--port N] [--overlap N]",
                "Serves the labelling page and its JSON API until interrupted (Ctrl-C / SIGTERM).",
                flags, NF(flags), argc, argv, NULL, 0, NULL);
    if (c.port < 0 || c.port > 65535 || c.overlap < 1 || c.threads < 1 || c.threads > 64) {
        fprintf(stderr, "rlhf label serve: need 0 ≤ --port ≤ 65535, --overlap ≥ 1, 1 ≤ --threads ≤ 64\n");
        return 2;
    }
    Err e;
    LabelStore s;
    if (store_open(&s, db, &e)) return fail("serve", &e);
    char *guide = store_get_meta(&s, "guidelines");
    c.guidelines = guide;
    c.store = &s;
    sigset_t set;  // blocked here, so the server's threads inherit the mask; sigwait takes them
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    LabelServer *srv = label_server_start(&c, &e);
    if (!srv) { free(guide); store_close(&s); return fail("serve", &e); }
    int loop = !strcmp(c.host, "127.0.0.1") || !strcmp(c.host, "localhost") || !strcmp(c.host, "::1");
    if (!loop)
        fprintf(stderr, "rlhf label serve: warning: listening on %s: anyone who can reach it may "
                        "try tokens, and HTTP is not encrypted (put it behind a TLS proxy)\n", c.host);
    const char *shown = strchr(c.host, ':') ? "[%s]" : "%s";
    printf("rlhf label: serving http://");
    printf(shown, c.host);
    printf(":%d/ (overlap %d; Ctrl-C stops)\n", label_server_port(srv), c.overlap);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    label_server_stop(srv);
    store_close(&s);
    free(guide);
    fprintf(stderr, "rlhf label serve: stopped (signal %d)\n", sig);
    return 0;
}

static int label_export_cmd(int argc, char **argv) {
    const char *db = NULL, *fmt = NULL, *out = NULL;
    ExportOptions o = {.margin_slight = 0.0, .margin_clear = 1.0};
    Flag flags[] = {
        {"db", 0, FLAG_STRING, &db, "the project file", 1, 0},
        {"format", 0, FLAG_STRING, &fmt, "pairs (rm/dpo), rankings (rm), sft (rewritten answers)", 1, 0},
        {"out", 0, FLAG_STRING, &out, "output JSONL (written atomically)", 1, 0},
        {"margin-slight", 0, FLAG_DOUBLE, &o.margin_slight, "\"margin\" of a slightly-better judgement", 0, 0},
        {"margin-clear", 0, FLAG_DOUBLE, &o.margin_clear, "\"margin\" of a clearly-better judgement", 0, 0},
        {"keep-ties", 0, FLAG_BOOL, &o.keep_ties, "rankings: also write all-tied judgements (tie, both_bad), which rm/dpo refuse", 0, 0},
    };
    flags_parse("label export", "--db FILE --format pairs|rankings|sft --out FILE.jsonl",
                "Writes the live judgements as training JSONL (docs/labelling.md, \"Export rules\").",
                flags, NF(flags), argc, argv, NULL, 0, NULL);
    if (!strcmp(fmt, "pairs")) o.format = EXPORT_PAIRS;
    else if (!strcmp(fmt, "rankings")) o.format = EXPORT_RANKINGS;
    else if (!strcmp(fmt, "sft")) o.format = EXPORT_SFT;
    else { fprintf(stderr, "rlhf label export: --format %s: expected pairs, rankings or sft\n", fmt); return 2; }
    Err e;
    LabelStore s;
    if (store_open(&s, db, &e)) return fail("export", &e);
    ExportCounts n;
    int rc = label_export(&s, &o, out, &n, &e);
    store_close(&s);
    if (rc) return fail("export", &e);
    printf("rlhf label: %ld %s records from %ld judgements (%ld gave none) -> %s\n", n.records,
           fmt, n.judgements, n.skipped, out);
    return 0;
}

static int label_stats_cmd(int argc, char **argv) {
    const char *db = NULL;
    int overlap = 1, as_json = 0;
    Flag flags[] = {
        {"db", 0, FLAG_STRING, &db, "the project file", 1, 0},
        {"overlap", 0, FLAG_INT, &overlap, "judgements an item needs to count as done", 0, 0},
        {"json", 0, FLAG_BOOL, &as_json, "one JSON object", 0, 0},
    };
    flags_parse("label stats", "--db FILE [--overlap N] [--json]",
                "Items done, judgements per choice and annotator, seconds per item, agreement "
                "(Cohen's kappa, Krippendorff's alpha) on items judged by several annotators.",
                flags, NF(flags), argc, argv, NULL, 0, NULL);
    if (overlap < 1) { fprintf(stderr, "rlhf label stats: --overlap must be ≥ 1\n"); return 2; }
    Err e;
    LabelStore s;
    if (store_open(&s, db, &e)) return fail("stats", &e);
    json_t *st = label_stats(&s, overlap, &e);
    store_close(&s);
    if (!st) return fail("stats", &e);
    if (as_json) {
        char *t = json_dumps(st, JSON_COMPACT);
        printf("%s\n", t);
        free(t);
    } else {
        label_stats_print(st, stdout);
    }
    json_decref(st);
    return 0;
}

int cmd_label(int argc, char **argv) {
    static const char *USAGE =
        "usage: rlhf label SUBCOMMAND [FLAGS]   (rlhf label SUBCOMMAND --help)\n\n"
        "The human-feedback web app (docs/labelling.md):\n"
        "  init       create a project: prompts + K candidate responses (--model or --candidates)\n"
        "  annotator  add NAME (prints a login token) | list | revoke NAME\n"
        "  serve      serve the labelling page and JSON API (loopback by default)\n"
        "  export     judgements -> pairs / rankings / sft JSONL for rlhf rm, dpo, sft\n"
        "  stats      progress, time per item, inter-annotator agreement\n";
    const char *sub = argc >= 2 ? argv[1] : "";
    if (!strcmp(sub, "init")) return label_init(argc - 1, argv + 1);
    if (!strcmp(sub, "annotator")) return label_annotator(argc - 1, argv + 1);
    if (!strcmp(sub, "serve")) return label_serve(argc - 1, argv + 1);
    if (!strcmp(sub, "export")) return label_export_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "stats")) return label_stats_cmd(argc - 1, argv + 1);
    int help = !strcmp(sub, "--help") || !strcmp(sub, "-h");
    if (!help && *sub) fprintf(stderr, "rlhf label: unknown subcommand \"%s\"\n\n", sub);
    fputs(USAGE, help ? stdout : stderr);
    return help ? 0 : 2;
}
