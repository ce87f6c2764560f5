// data/chat.h — the chat template: how a conversation (system / user / assistant messages)
// becomes token ids plus a per-token loss mask. One template for every stage (SFT, RM, PPO,
// sampling, labelling); docs/chat-template.md defines it exactly.
//
// Special form (the tokenizer has <|system|> <|user|> <|assistant|> as special tokens, as every
// BPE trained here does): each message is its role marker id followed by its content encoded as
// is; every assistant message is followed by EOS.
// Plain form (GPT-2's own vocabulary, the byte tokenizer): each message is the text
// "\n\nSystem:", "\n\nUser:" or "\n\nAssistant:" followed by " " + content; every assistant
// message is followed by EOS. Marker and content are encoded separately (a token never spans
// both), so the mask boundary is exact.
// A prompt renders its messages and then the assistant marker (where generation starts); a
// response renders its messages with the first one's marker left out (the prompt ended with it).
// Mask: 1 on assistant content tokens and their EOS, 0 on markers and system/user content.
#ifndef RLHF_DATA_CHAT_H
#define RLHF_DATA_CHAT_H

#include <stddef.h>

#include "tok/tokenizer.h"

typedef enum { ROLE_SYSTEM = 0, ROLE_USER = 1, ROLE_ASSISTANT = 2 } ChatRole;

typedef struct {
    ChatRole role;
    char *text;  // owned, NUL-terminated
    size_t len;
} ChatMsg;

typedef struct {
    ChatMsg *msg;  // owned
    int n;
} Convo;

const char *chat_role_name(ChatRole r);  // "system", "user", "assistant"
void convo_push(Convo *c, ChatRole role, const char *text, size_t len);  // copies text
void convo_free(Convo *c);

// Token ids with a per-token loss mask (1 = trained), growable.
typedef struct {
    int *ids;
    unsigned char *mask;
    int n, cap;
} TokSeq;
void tokseq_push(TokSeq *s, int id, int mask);
void tokseq_free(TokSeq *s);

typedef struct ChatTemplate {
    const Tokenizer *tok;
    int special;      // 1: role markers are special ids; 0: plain-text markers
    int role_id[3];   // special form: the marker ids, by ChatRole
    int eos_id;
    int marker_len;   // tokens of the assistant marker (what a prompt always ends with)
} ChatTemplate;

// The special form when tok has all three role-marker tokens and plain is 0; else the plain form.
void chat_template_init(ChatTemplate *ct, const Tokenizer *tok, int plain);
// Appends the prompt: its messages, then the assistant marker (mask 0; assistant messages inside
// a prompt keep mask 1 on their content and EOS).
void chat_render_prompt(const ChatTemplate *ct, const Convo *prompt, TokSeq *out);
// Appends a response (the first message's marker omitted).
void chat_render_response(const ChatTemplate *ct, const Convo *resp, TokSeq *out);
// Appends plain text + EOS, all mask 1 (pretraining-style {"text"} records).
void chat_render_text(const ChatTemplate *ct, const char *text, size_t len, TokSeq *out);
// The documented text of prompt (+ response when not NULL) with special tokens written as their
// text ("<|user|>", "<|endoftext|>"): what tok_decode_ex(..., with_special = 1) gives back for the
// rendered ids. Free with free().
char *chat_format(const ChatTemplate *ct, const Convo *prompt, const Convo *resp);

#endif
