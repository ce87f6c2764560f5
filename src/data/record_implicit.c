// data/record_implicit.c — preference records without a "prompt": extracting the prompt shared
// by chosen and rejected (HH-RLHF transcript strings, or message lists). See record.h.
#include <string.h>

#include "data/record.h"

#define HUMAN "\n\nHuman:"
#define ASSISTANT "\n\nAssistant:"

// One space after a marker is dropped.
static void push_turn(Convo *out, ChatRole role, const char *s, size_t n) {
    if (n > 0 && s[0] == ' ') s++, n--;
    convo_push(out, role, s, n);
}

void record_parse_transcript(const char *s, size_t n, Convo *out) {
    const size_t hl = strlen(HUMAN), al = strlen(ASSISTANT);
    size_t pos = 0;
    int role = -1;  // the role of the text from pos, -1 = before the first marker
    for (;;) {
        const char *h = memmem(s + pos, n - pos, HUMAN, hl);
        const char *a = memmem(s + pos, n - pos, ASSISTANT, al);
        const char *m = h && (!a || h < a) ? h : a;
        size_t end = m ? (size_t)(m - s) : n;
        if (role >= 0) {
            push_turn(out, (ChatRole)role, s + pos, end - pos);
        } else {
            int blank = 1;
            for (size_t i = pos; i < end; i++)
                if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r') blank = 0;
            if (!blank) convo_push(out, ROLE_SYSTEM, s + pos, end - pos);
        }
        if (!m) break;
        role = m == h ? ROLE_USER : ROLE_ASSISTANT;
        pos = end + (m == h ? hl : al);
    }
}

int record_implicit_strings(const char *c, size_t nc, const char *r, size_t nr, const char *ctx,
                            Convo *prompt, Convo *chosen, Convo *rejected, Err *e) {
    size_t common = 0;
    while (common < nc && common < nr && c[common] == r[common]) common++;
    const size_t al = strlen(ASSISTANT);
    size_t end = 0;
    int found = 0;
    for (size_t i = 0; i + al <= common; i++)
        if (!memcmp(c + i, ASSISTANT, al)) end = i + al, found = 1;
    if (!found)
        return err_set(e, "%s: field \"chosen\": no prompt: \"chosen\" and \"rejected\" share no "
                          "prefix ending in \"\\n\\nAssistant:\" (give a \"prompt\" field)", ctx);
    // the prompt's turns without the final (empty) assistant turn
    Convo all = {0};
    record_parse_transcript(c, end, &all);
    for (int i = 0; i + 1 < all.n; i++) convo_push(prompt, all.msg[i].role, all.msg[i].text, all.msg[i].len);
    convo_free(&all);
    push_turn(chosen, ROLE_ASSISTANT, c + end, nc - end);
    push_turn(rejected, ROLE_ASSISTANT, r + end, nr - end);
    return 0;
}

static int same_msg(const ChatMsg *a, const ChatMsg *b) {
    return a->role == b->role && a->len == b->len && !memcmp(a->text, b->text, a->len);
}

int record_implicit_messages(const Convo *c, const Convo *r, const char *ctx, Convo *prompt,
                             Convo *chosen, Convo *rejected, Err *e) {
    int k = 0;
    while (k < c->n && k < r->n && same_msg(&c->msg[k], &r->msg[k])) k++;
    // the responses start at the last assistant message of the common part that ends it
    while (k > 0 && (k == c->n || k == r->n)) k--;
    if (k == 0)
        return err_set(e, "%s: field \"chosen\": no prompt: \"chosen\" and \"rejected\" share no "
                          "leading messages (give a \"prompt\" field)", ctx);
    for (int i = 0; i < k; i++) convo_push(prompt, c->msg[i].role, c->msg[i].text, c->msg[i].len);
    for (int i = k; i < c->n; i++) convo_push(chosen, c->msg[i].role, c->msg[i].text, c->msg[i].len);
    for (int i = k; i < r->n; i++) convo_push(rejected, r->msg[i].role, r->msg[i].text, r->msg[i].len);
    return 0;
}
