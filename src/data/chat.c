// data/chat.c — the chat template (see chat.h and docs/chat-template.md).
#include "data/chat.h"

#include <stdlib.h>
#include <string.h>

static const char *const ROLE_NAMES[3] = {"system", "user", "assistant"};
static const char *const PLAIN_MARKERS[3] = {"\n\nSystem:", "\n\nUser:", "\n\nAssistant:"};
static const char *const SPECIAL_MARKERS[3] = {TOK_SYSTEM_TEXT, TOK_USER_TEXT, TOK_ASSISTANT_TEXT};

const char *chat_role_name(ChatRole r) { return ROLE_NAMES[r]; }

void convo_push(Convo *c, ChatRole role, const char *text, size_t len) {
    c->msg = xrealloc(c->msg, (size_t)(c->n + 1) * sizeof *c->msg);
    ChatMsg *m = &c->msg[c->n++];
    m->role = role;
    m->text = xmalloc(len + 1);
    if (len) memcpy(m->text, text, len);
    m->text[len] = 0;
    m->len = len;
}

void convo_free(Convo *c) {
    for (int i = 0; i < c->n; i++) free(c->msg[i].text);
    free(c->msg);
    c->msg = NULL;
    c->n = 0;
}

void tokseq_push(TokSeq *s, int id, int mask) {
    if (s->n == s->cap) {
        s->cap = s->cap * 2 + 16;
        s->ids = xrealloc(s->ids, (size_t)s->cap * sizeof *s->ids);
        s->mask = xrealloc(s->mask, (size_t)s->cap);
    }
    s->ids[s->n] = id;
    s->mask[s->n++] = (unsigned char)mask;
}

void tokseq_free(TokSeq *s) {
    free(s->ids);
    free(s->mask);
    memset(s, 0, sizeof *s);
}

// Encodes text (special-token text stays plain text) onto s with one mask value.
static void push_text(const ChatTemplate *ct, const char *text, size_t len, int mask, TokSeq *s) {
    int *ids = NULL;
    size_t n = 0, cap = 0;
    tok_encode(ct->tok, text, len, &ids, &n, &cap);
    for (size_t i = 0; i < n; i++) tokseq_push(s, ids[i], mask);
    free(ids);
}

static void push_marker(const ChatTemplate *ct, ChatRole r, TokSeq *s) {
    if (ct->special) tokseq_push(s, ct->role_id[r], 0);
    else push_text(ct, PLAIN_MARKERS[r], strlen(PLAIN_MARKERS[r]), 0, s);
}

static void push_content(const ChatTemplate *ct, const ChatMsg *m, TokSeq *s) {
    int mask = m->role == ROLE_ASSISTANT;
    if (ct->special) {
        push_text(ct, m->text, m->len, mask, s);
    } else {
        char *t = xmalloc(m->len + 2);
        t[0] = ' ';
        memcpy(t + 1, m->text, m->len);
        push_text(ct, t, m->len + 1, mask, s);
        free(t);
    }
    if (m->role == ROLE_ASSISTANT) tokseq_push(s, ct->eos_id, 1);
}

void chat_template_init(ChatTemplate *ct, const Tokenizer *tok, int plain) {
    memset(ct, 0, sizeof *ct);
    ct->tok = tok;
    ct->eos_id = tok->eos_id;
    int have = 1;
    for (int r = 0; r < 3; r++) {
        ct->role_id[r] = tok_special_id(tok, SPECIAL_MARKERS[r]);
        if (ct->role_id[r] < 0) have = 0;
    }
    ct->special = have && !plain;
    TokSeq s = {0};
    push_marker(ct, ROLE_ASSISTANT, &s);
    ct->marker_len = s.n;
    tokseq_free(&s);
}

void chat_render_prompt(const ChatTemplate *ct, const Convo *p, TokSeq *out) {
    for (int i = 0; p && i < p->n; i++) {
        push_marker(ct, p->msg[i].role, out);
        push_content(ct, &p->msg[i], out);
    }
    push_marker(ct, ROLE_ASSISTANT, out);
}

void chat_render_response(const ChatTemplate *ct, const Convo *r, TokSeq *out) {
    for (int i = 0; i < r->n; i++) {
        if (i > 0) push_marker(ct, r->msg[i].role, out);
        push_content(ct, &r->msg[i], out);
    }
}

void chat_render_text(const ChatTemplate *ct, const char *text, size_t len, TokSeq *out) {
    push_text(ct, text, len, 1, out);
    tokseq_push(out, ct->eos_id, 1);
}

typedef struct {
    char *s;
    size_t n, cap;
} Str;

static void str_add(Str *b, const char *t, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, t, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void fmt_msg(const ChatTemplate *ct, const ChatMsg *m, int marker, Str *b) {
    const char *mk = ct->special ? SPECIAL_MARKERS[m->role] : PLAIN_MARKERS[m->role];
    if (marker) str_add(b, mk, strlen(mk));
    if (!ct->special) str_add(b, " ", 1);
    str_add(b, m->text, m->len);
    if (m->role == ROLE_ASSISTANT) str_add(b, TOK_EOS_TEXT, strlen(TOK_EOS_TEXT));
}

char *chat_format(const ChatTemplate *ct, const Convo *p, const Convo *r) {
    Str b = {0};
    str_add(&b, "", 0);
    for (int i = 0; p && i < p->n; i++) fmt_msg(ct, &p->msg[i], 1, &b);
    const char *mk = ct->special ? SPECIAL_MARKERS[ROLE_ASSISTANT] : PLAIN_MARKERS[ROLE_ASSISTANT];
    str_add(&b, mk, strlen(mk));
    for (int i = 0; r && i < r->n; i++) fmt_msg(ct, &r->msg[i], i > 0, &b);
    return b.s;
}
