// label/api.h — the JSON API's handlers (docs/labelling.md): GET /api/next, POST /api/judgement,
// POST /api/undo, GET /api/progress, GET /api/project. Validates every field of a request body;
// the server has already checked the Host/Origin headers, the body size and the token.
#ifndef RLHF_LABEL_API_H
#define RLHF_LABEL_API_H

#include <jansson.h>
#include <stddef.h>

#include "label/store.h"

#define LABEL_MAX_REWRITE 20000  // bytes of a rewritten answer

typedef struct {
    int status;    // HTTP status
    json_t *body;  // owned: the reply, or {"error": "..."}
} ApiReply;

typedef struct {
    LabelStore *store;
    int overlap;        // annotators per item
    const char *guidelines;
} ApiContext;

// path is the URL path ("/api/next"); body/n the request body (POST).
ApiReply api_handle(const ApiContext *ctx, long annot, const char *method, const char *path,
                    const char *body, size_t n);
ApiReply api_error(int status, const char *fmt, ...) RLHF_PRINTF(2, 3);

#endif
