// label/server.h — the labelling app's HTTP server (GNU libmicrohttpd, its own thread pool): the
// embedded page at / (and /app.js, /app.css), the JSON API under /api/ (label/api.h). Checks on
// every request: the Host header names the bound address (no DNS rebinding), an Origin header,
// when sent, is this server's; request bodies at most LABEL_MAX_BODY bytes; /api/ calls carry
// "Authorization: Bearer TOKEN" of a live annotator (else 401). No cookies.
#ifndef RLHF_LABEL_SERVER_H
#define RLHF_LABEL_SERVER_H

#include "label/store.h"

#define LABEL_MAX_BODY 65536

typedef struct {
    const char *host;        // IPv4/IPv6 literal or "localhost"
    int port;                // 0: any free port (label_server_port says which)
    int overlap;
    int threads;
    const char *allow_host;  // extra accepted Host names (comma-separated), or NULL
    const char *guidelines;  // shown on the page
    LabelStore *store;
} ServeConfig;

typedef struct LabelServer LabelServer;

LabelServer *label_server_start(const ServeConfig *c, Err *e);
int label_server_port(const LabelServer *s);
void label_server_stop(LabelServer *s);

#endif
