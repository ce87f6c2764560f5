// label/server.c — owns the HTTP plumbing over libmicrohttpd: binding (loopback by default),
// per-request body accumulation with the size limit, the Host / Origin / Authorization checks,
// the static page and the JSON replies with their security headers (see server.h).
#include "label/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "label/api.h"
#include "label/page.h"
#include "label/token.h"

#define MAX_HOSTS 16

struct LabelServer {
    struct MHD_Daemon *d;
    ApiContext api;
    int port;
    char *hosts[MAX_HOSTS];  // accepted Host header values ("127.0.0.1:8080")
    int n_hosts;
};

typedef struct {
    char *buf;
    size_t n, cap;
    int too_large;
} Req;

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *type,
                                const char *data, size_t n, int copy) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        n, (void *)data, copy ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, ApiReply rep) {
    char *s = json_dumps(rep.body, JSON_COMPACT);
    json_decref(rep.body);
    if (!s) return MHD_NO;
    return send_buf(c, rep.status, "application/json; charset=utf-8", s, strlen(s), 1);
}

static int host_ok(const LabelServer *s, const char *v) {
    if (!v) return 0;
    for (int i = 0; i < s->n_hosts; i++)
        if (!strcasecmp(v, s->hosts[i])) return 1;
    return 0;
}

static int origin_ok(const LabelServer *s, const char *origin) {
    if (!origin) return 1;  // not a browser's cross-origin request (curl, scripts)
    if (strncasecmp(origin, "http://", 7)) return 0;
    return host_ok(s, origin + 7);
}

static int auth(LabelServer *s, struct MHD_Connection *c, long *annot, ApiReply *rep) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) {
        *rep = api_error(401, "missing \"Authorization: Bearer TOKEN\" header");
        return 0;
    }
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    char hash[LABEL_TOKEN_HEX];
    Err e;
    int r = label_token_hash(tok, strlen(tok), hash, &e) ? -1 : store_auth(s->api.store, hash, annot, &e);
    if (r < 0) {
        fprintf(stderr, "rlhf label: error: %s\n", e.msg);
        *rep = api_error(500, "internal error (see the server's log)");
        return 0;
    }
    if (r == 0) {
        *rep = api_error(401, "unknown or revoked token");
        return 0;
    }
    return 1;
}

static int json_content_type(struct MHD_Connection *c) {
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!t || strncasecmp(t, "application/json", 16)) return 0;
    return t[16] == 0 || t[16] == ';' || t[16] == ' ';
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
    (void)version;
    LabelServer *s = cls;
    Req *q = *con_cls;
    if (!q) {  // headers arrived: refuse early what needs no body
        q = xcalloc(1, sizeof *q);
        *con_cls = q;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > LABEL_MAX_BODY)
            return send_json(c, api_error(413, "request body over %d bytes", LABEL_MAX_BODY));
        return MHD_YES;
    }
    if (*upload_size) {
        if (q->n + *upload_size > LABEL_MAX_BODY) {
            q->too_large = 1;
        } else {
            if (q->n + *upload_size + 1 > q->cap) {
                q->cap = max_sz(q->cap * 2, q->n + *upload_size + 1);
                q->buf = xrealloc(q->buf, q->cap);
            }
            memcpy(q->buf + q->n, upload, *upload_size);
            q->n += *upload_size;
            q->buf[q->n] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!host_ok(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
        return send_json(c, api_error(403, "Host header must name this server (%s)", s->hosts[0]));
    if (!origin_ok(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin")))
        return send_json(c, api_error(403, "cross-origin request refused"));
    if (q->too_large) return send_json(c, api_error(413, "request body over %d bytes", LABEL_MAX_BODY));
    if (strncmp(url, "/api/", 5)) {
        static const struct { const char *path, *type; const char *const *data; } PAGES[] = {
            {"/", "text/html; charset=utf-8", &LABEL_PAGE_HTML},
            {"/app.js", "text/javascript; charset=utf-8", &LABEL_PAGE_JS},
            {"/app.css", "text/css; charset=utf-8", &LABEL_PAGE_CSS},
        };
        for (size_t i = 0; i < sizeof PAGES / sizeof PAGES[0]; i++)
            if (!strcmp(url, PAGES[i].path)) {
                if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                    return send_json(c, api_error(405, "%s takes GET", url));
                return send_buf(c, 200, PAGES[i].type, *PAGES[i].data, strlen(*PAGES[i].data), 0);
            }
        return send_json(c, api_error(404, "not found: %s", url));
    }
    long annot = 0;
    ApiReply rep;
    if (!auth(s, c, &annot, &rep)) return send_json(c, rep);
    if (!strcmp(method, "POST") && q->n > 0 && !json_content_type(c))
        return send_json(c, api_error(415, "the body must be Content-Type: application/json"));
    return send_json(c, api_handle(&s->api, annot, method, url, q->buf ? q->buf : "", q->n));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    Req *q = *con_cls;
    if (q) { free(q->buf); free(q); }
    *con_cls = NULL;
}

// name: a host name, an IPv4 literal, an IPv6 literal (bracketed or not), with or without ":PORT"
static void add_host(LabelServer *s, const char *name, int port) {
    if (s->n_hosts >= MAX_HOSTS) return;
    char buf[300];
    const char *first = strchr(name, ':'), *last = strrchr(name, ':'), *rb = strchr(name, ']');
    int bare_v6 = name[0] != '[' && first && first != last;
    int has_port = !bare_v6 && last && (name[0] != '[' || (rb && last > rb));
    if (bare_v6) snprintf(buf, sizeof buf, "[%s]:%d", name, port);
    else if (has_port) snprintf(buf, sizeof buf, "%s", name);
    else snprintf(buf, sizeof buf, "%s:%d", name, port);
    s->hosts[s->n_hosts++] = xstrdup(buf);
}

LabelServer *label_server_start(const ServeConfig *c, Err *e) {
    const char *h = !strcmp(c->host, "localhost") ? "127.0.0.1" : c->host;
    struct sockaddr_in a4 = {0};
    struct sockaddr_in6 a6 = {0};
    struct sockaddr *sa;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, h, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)c->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, h, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)c->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        err_set(e, "--host %s: expected an IPv4 or IPv6 address (or localhost)", c->host);
        return NULL;
    }
    LabelServer *s = xcalloc(1, sizeof *s);
    s->api = (ApiContext){c->store, c->overlap, c->guidelines};
    s->d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(c->threads > 0 ? c->threads : 4),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!s->d) {
        err_set(e, "cannot listen on %s port %d (in use, or not an address of this machine?)",
                c->host, c->port);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : c->port;
    add_host(s, c->host, s->port);
    if (!strcmp(h, "127.0.0.1") || !strcmp(h, "::1")) {
        add_host(s, "localhost", s->port);
        add_host(s, "127.0.0.1", s->port);
        add_host(s, "::1", s->port);
    }
    if (c->allow_host) {
        char *list = xstrdup(c->allow_host), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (*t) add_host(s, t, s->port);
        free(list);
    }
    return s;
}

int label_server_port(const LabelServer *s) { return s->port; }

void label_server_stop(LabelServer *s) {
    if (!s) return;
    MHD_stop_daemon(s->d);
    for (int i = 0; i < s->n_hosts; i++) free(s->hosts[i]);
    free(s);
}
