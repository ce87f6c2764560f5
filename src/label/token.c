// label/token.c — owns annotator tokens: generation from getrandom and SHA-256 hashing through
// OpenSSL's EVP_Digest (see token.h).
#include "label/token.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>

static void to_hex(const unsigned char *b, size_t n, char *out) {
    static const char H[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = H[b[i] >> 4];
        out[2 * i + 1] = H[b[i] & 15];
    }
    out[2 * n] = 0;
}

int label_token_new(char out[LABEL_TOKEN_HEX], Err *e) {
    unsigned char b[32];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return err_set(e, "getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    to_hex(b, sizeof b, out);
    return 0;
}

int label_token_hash(const char *token, size_t n, char out[LABEL_TOKEN_HEX], Err *e) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(token, n, md, &len, EVP_sha256(), NULL) || len != 32)
        return err_set(e, "SHA-256 (OpenSSL EVP_Digest) failed");
    to_hex(md, len, out);
    return 0;
}
