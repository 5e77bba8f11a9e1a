/*
 * Usage receipts: signed by the party that did the work (a plmm server),
 * verified by the device before its ledger records the usage.
 *
 * A receipt is a JSON object {"v":1, "server", "key" (hex public key),
 * "request", "model", "prompt_tokens", "completion_tokens", "time",
 * "nonce", "sig"}; sig (base64 Ed25519) covers the lines
 * "plmm-receipt-v1", server, key, request, model, prompt_tokens,
 * completion_tokens, time, nonce joined by '\n'.
 */
#include "errors.h"
#include "ledger_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct plmm_receipt_signer {
    sign_key key;
    char *server;
};

PLMM_EXPORT plmm_status plmm_receipt_signer_open(const char *secret_key_path, const char *server,
                                                 plmm_receipt_signer **out)
{
    *out = NULL;
    if (strchr(server, '\n') != NULL || server[0] == '\0')
        return plmm_err(PLMM_ERR_INVALID_ARG, "receipt signer name must be one non-empty line");
    plmm_receipt_signer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    plmm_status st = sign_key_load(secret_key_path, &s->key);
    if (st == PLMM_OK && !s->key.has_secret)
        st = plmm_err(PLMM_ERR_INVALID_ARG, "'%s' is a public key; receipts need the secret key",
                      secret_key_path);
    if (st == PLMM_OK && (s->server = strdup(server)) == NULL)
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    if (st != PLMM_OK) {
        plmm_receipt_signer_close(s);
        return st;
    }
    *out = s;
    return PLMM_OK;
}

PLMM_EXPORT void plmm_receipt_signer_close(plmm_receipt_signer *s)
{
    if (s == NULL)
        return;
    sign_key_wipe(&s->key);
    free(s->server);
    free(s);
}

/* The signed text (owned). */
static char *receipt_message(const char *server, const char *key, const char *request,
                             const char *model, long long in, long long out, long long t,
                             const char *nonce)
{
#define RECEIPT_FMT "plmm-receipt-v1\n%s\n%s\n%s\n%s\n%lld\n%lld\n%lld\n%s"
    int n = snprintf(NULL, 0, RECEIPT_FMT, server, key, request, model, in, out, t, nonce);
    char *m = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (m != NULL)
        snprintf(m, (size_t)n + 1, RECEIPT_FMT, server, key, request, model, in, out, t, nonce);
    return m;
#undef RECEIPT_FMT
}

PLMM_EXPORT plmm_status plmm_receipt_sign(plmm_receipt_signer *s, const char *request_id,
                                          const char *model, int64_t prompt_tokens,
                                          int64_t completion_tokens, char **json)
{
    char key[2 * SIGN_PK_BYTES + 1], nonce[33];
    uint8_t nb[16], sig[SIGN_SIG_BYTES];
    *json = NULL;
    if (request_id == NULL)
        request_id = "";
    if (model == NULL)
        model = "";
    if (strchr(request_id, '\n') || strchr(model, '\n'))
        return plmm_err(PLMM_ERR_INVALID_ARG, "receipt fields must not contain newlines");
    if (prompt_tokens < 0 || completion_tokens < 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "receipt token counts must not be negative");
    sign_hex(s->key.pk, SIGN_PK_BYTES, key);
    randombytes_buf(nb, sizeof(nb));
    sign_hex(nb, sizeof(nb), nonce);
    long long t = (long long)time(NULL);
    char *msg = receipt_message(s->server, key, request_id, model, (long long)prompt_tokens,
                                (long long)completion_tokens, t, nonce);
    if (msg == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg), s->key.sk);
    free(msg);
    char b64[sodium_base64_ENCODED_LEN(SIGN_SIG_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "v", 1, "server", s->server,
                  "key", key, "request", request_id, "model", model, "prompt_tokens",
                  (json_int_t)prompt_tokens, "completion_tokens", (json_int_t)completion_tokens,
                  "time", (json_int_t)t, "nonce", nonce, "sig", b64);
    if (j == NULL || (*json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        json_decref(j);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    json_decref(j);
    return PLMM_OK;
}

PLMM_EXPORT char *plmm_receipt_server_hook(void *user, const char *request_id, const char *model,
                                           uint64_t prompt_tokens, uint64_t completion_tokens)
{
    char *json = NULL;
    if (user == NULL || prompt_tokens > INT64_MAX || completion_tokens > INT64_MAX)
        return NULL;
    if (plmm_receipt_sign(user, request_id, model, (int64_t)prompt_tokens,
                          (int64_t)completion_tokens, &json) != PLMM_OK)
        return NULL;
    return json; /* jansson allocates with malloc(): the server frees it with free() */
}

plmm_status ledger_receipt_check(const char *json, const char *public_key_path,
                                 int64_t *prompt_tokens, int64_t *completion_tokens,
                                 char keyid[PLMM_KEYID_SIZE], char nonce[33], json_t **parsed)
{
    json_error_t jerr;
    uint8_t pk[SIGN_PK_BYTES], sig[SIGN_SIG_BYTES];
    size_t sig_len = 0;
    if (parsed)
        *parsed = NULL;
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return plmm_err(PLMM_ERR_FORMAT, "receipt is not JSON: %s", jerr.text);
    const char *server = json_string_value(json_object_get(j, "server"));
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *request = json_string_value(json_object_get(j, "request"));
    const char *model = json_string_value(json_object_get(j, "model"));
    const char *n = json_string_value(json_object_get(j, "nonce"));
    const char *b64 = json_string_value(json_object_get(j, "sig"));
    json_t *in = json_object_get(j, "prompt_tokens"),
           *out = json_object_get(j, "completion_tokens");
    json_t *t = json_object_get(j, "time");
    if (json_integer_value(json_object_get(j, "v")) != 1 || server == NULL || key == NULL ||
        request == NULL || model == NULL || n == NULL || strlen(n) != 32 || b64 == NULL ||
        !json_is_integer(in) || !json_is_integer(out) || !json_is_integer(t) ||
        json_integer_value(in) < 0 || json_integer_value(out) < 0 ||
        !sign_unhex(key, pk, sizeof(pk)) ||
        sodium_base642bin(sig, sizeof(sig), b64, strlen(b64), NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sig_len != sizeof(sig)) {
        st = plmm_err(PLMM_ERR_FORMAT, "receipt lacks fields or has malformed ones");
        goto out;
    }
    if (public_key_path != NULL) {
        sign_key expected;
        if ((st = sign_key_load(public_key_path, &expected)) != PLMM_OK)
            goto out;
        bool same = sodium_memcmp(expected.pk, pk, sizeof(pk)) == 0;
        sign_key_wipe(&expected);
        if (!same) {
            st = plmm_err(PLMM_ERR_AUTH, "receipt signed by key %s, not by '%s'", key,
                          public_key_path);
            goto out;
        }
    }
    char *msg =
        receipt_message(server, key, request, model, (long long)json_integer_value(in),
                        (long long)json_integer_value(out), (long long)json_integer_value(t), n);
    if (msg == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    int bad = crypto_sign_verify_detached(sig, (const uint8_t *)msg, strlen(msg), pk);
    free(msg);
    if (bad) {
        st = plmm_err(PLMM_ERR_AUTH,
                      "receipt from '%s' has an invalid signature (forged or "
                      "altered)",
                      server);
        goto out;
    }
    if (prompt_tokens)
        *prompt_tokens = json_integer_value(in);
    if (completion_tokens)
        *completion_tokens = json_integer_value(out);
    if (keyid)
        sign_keyid_of(pk, keyid);
    if (nonce)
        snprintf(nonce, 33, "%s", n);
    if (parsed) {
        *parsed = j;
        j = NULL;
    }
out:
    json_decref(j);
    return st;
}

PLMM_EXPORT plmm_status plmm_receipt_verify(const char *json, const char *public_key_path,
                                            int64_t *prompt_tokens, int64_t *completion_tokens)
{
    return ledger_receipt_check(json, public_key_path, prompt_tokens, completion_tokens, NULL, NULL,
                                NULL);
}
