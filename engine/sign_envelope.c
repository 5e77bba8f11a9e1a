/*
 * Signed envelopes and roots: {"payloadType", "payload" (base64),
 * "signatures": [{"keyid", "sig"}]}, each signature over the
 * pre-authentication encoding of the type and the payload bytes.
 */
#include "errors.h"
#include "sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENVELOPE_MAX (16u << 20)
#define ROOT_MAX_KEYS 64

/* ---- envelopes ---- */

void sign_envelope_free(sign_envelope *env)
{
    free(env->type);
    free(env->payload);
    json_decref(env->sigs);
    memset(env, 0, sizeof(*env));
}

/* "PLMMSIG1 <len> <type> <len> <payload>" into a malloc'd buffer. */
static uint8_t *pae(const sign_envelope *env, size_t *len)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "PLMMSIG1 %zu %s %zu ", strlen(env->type), env->type,
                     env->payload_len);
    if (n < 0 || (size_t)n >= sizeof(head))
        return NULL;
    uint8_t *buf = malloc((size_t)n + env->payload_len);
    if (buf == NULL)
        return NULL;
    memcpy(buf, head, (size_t)n);
    memcpy(buf + n, env->payload, env->payload_len);
    *len = (size_t)n + env->payload_len;
    return buf;
}

plmm_status sign_envelope_init(sign_envelope *env, const char *type, const char *payload,
                               size_t len)
{
    memset(env, 0, sizeof(*env));
    env->type = strdup(type);
    env->payload = malloc(len + 1);
    env->sigs = json_array();
    if (env->type == NULL || env->payload == NULL || env->sigs == NULL) {
        sign_envelope_free(env);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    memcpy(env->payload, payload, len);
    env->payload[len] = '\0';
    env->payload_len = len;
    return PLMM_OK;
}

plmm_status sign_envelope_parse(const char *text, size_t len, const char *source,
                                sign_envelope *env)
{
    json_error_t jerr;
    memset(env, 0, sizeof(*env));
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': not a signed envelope: line %d: %s", source,
                        jerr.line, jerr.text);
    const char *type = json_string_value(json_object_get(root, "payloadType"));
    const char *b64 = json_string_value(json_object_get(root, "payload"));
    json_t *sigs = json_object_get(root, "signatures");
    plmm_status st = PLMM_OK;
    if (type == NULL || b64 == NULL || !json_is_array(sigs)) {
        st = plmm_err(PLMM_ERR_FORMAT,
                      "'%s': not a signed envelope (payloadType, payload, signatures)", source);
        goto out;
    }
    size_t b64_len = strlen(b64), bin_len = 0;
    env->type = strdup(type);
    env->payload = malloc(b64_len / 4 * 3 + 4);
    if (env->type == NULL || env->payload == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (sodium_base642bin(env->payload, b64_len / 4 * 3 + 3, b64, b64_len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s': payload is not base64", source);
        goto out;
    }
    env->payload[bin_len] = '\0';
    env->payload_len = bin_len;
    env->sigs = json_incref(sigs);
out:
    json_decref(root);
    if (st != PLMM_OK)
        sign_envelope_free(env);
    return st;
}

plmm_status sign_envelope_load(const char *path, sign_envelope *env)
{
    char *text;
    size_t len;
    memset(env, 0, sizeof(*env));
    plmm_status st = sign_read_file(path, ENVELOPE_MAX, &text, &len);
    if (st != PLMM_OK)
        return st;
    st = sign_envelope_parse(text, len, path, env);
    free(text);
    return st;
}

plmm_status sign_envelope_dump(const sign_envelope *env, char **out)
{
    size_t b64_len = sodium_base64_ENCODED_LEN(env->payload_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    json_t *root = NULL;
    plmm_status st = PLMM_OK;
    *out = NULL;
    if (b64 == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    sodium_bin2base64(b64, b64_len, env->payload, env->payload_len, sodium_base64_VARIANT_ORIGINAL);
    root = json_pack("{s:s, s:s, s:O}", "payloadType", env->type, "payload", b64, "signatures",
                     env->sigs);
    if (root == NULL || (*out = json_dumps(root, JSON_INDENT(2))) == NULL)
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    json_decref(root);
    free(b64);
    return st;
}

plmm_status sign_envelope_add(sign_envelope *env, const sign_key *key)
{
    if (!key->has_secret)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "key %s is a public key; signing needs the secret key", key->keyid);
    size_t i;
    json_t *s;
    json_array_foreach(env->sigs, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "keyid"));
        if (id != NULL && strcmp(id, key->keyid) == 0)
            return plmm_err(PLMM_ERR_INVALID_ARG, "already signed by key %s", key->keyid);
    }
    size_t len;
    uint8_t *msg = pae(env, &len);
    if (msg == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    uint8_t sig[SIGN_SIG_BYTES];
    crypto_sign_detached(sig, NULL, msg, len, key->sk);
    free(msg);
    char b64[sodium_base64_ENCODED_LEN(SIGN_SIG_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    json_t *entry = json_pack("{s:s, s:s}", "keyid", key->keyid, "sig", b64);
    if (entry == NULL || json_array_append_new(env->sigs, entry) != 0)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    return PLMM_OK;
}

/* Does env carry a valid signature by key? */
static bool signed_by(const sign_envelope *env, const uint8_t *msg, size_t len, const sign_key *key)
{
    size_t i;
    json_t *s;
    json_array_foreach(env->sigs, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "keyid"));
        const char *b64 = json_string_value(json_object_get(s, "sig"));
        uint8_t sig[SIGN_SIG_BYTES];
        size_t n = 0;
        if (id == NULL || b64 == NULL || strcmp(id, key->keyid) != 0)
            continue;
        if (sodium_base642bin(sig, sizeof(sig), b64, strlen(b64), NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            n != sizeof(sig))
            continue;
        if (crypto_sign_verify_detached(sig, msg, len, key->pk) == 0)
            return true;
    }
    return false;
}

uint32_t sign_envelope_count(const sign_envelope *env, const sign_key *keys, uint32_t n)
{
    size_t len;
    uint8_t *msg = pae(env, &len);
    uint32_t count = 0;
    if (msg == NULL)
        return 0;
    for (uint32_t k = 0; k < n; k++) {
        bool dup = false;
        for (uint32_t j = 0; j < k; j++)
            dup = dup || memcmp(keys[j].pk, keys[k].pk, SIGN_PK_BYTES) == 0;
        if (!dup && signed_by(env, msg, len, &keys[k]))
            count++;
    }
    free(msg);
    return count;
}

PLMM_EXPORT plmm_status plmm_sign_envelope(const char *path, const char *secret_path)
{
    sign_envelope env;
    sign_key key;
    char *text = NULL;
    plmm_status st = sign_key_load(secret_path, &key);
    if (st != PLMM_OK)
        return st;
    if ((st = sign_envelope_load(path, &env)) != PLMM_OK)
        goto out_key;
    if ((st = sign_envelope_add(&env, &key)) != PLMM_OK) {
        plmm_err_prefix(st, "cannot sign '%s'", path);
        goto out_env;
    }
    if ((st = sign_envelope_dump(&env, &text)) != PLMM_OK)
        goto out_env;
    st = sign_write_atomic(path, text, strlen(text), 0644);
    free(text);
out_env:
    sign_envelope_free(&env);
out_key:
    sign_key_wipe(&key);
    return st;
}

/* ---- roots ---- */

void sign_root_free(sign_root *root)
{
    free(root->keys);
    memset(root, 0, sizeof(*root));
}

plmm_status sign_root_parse(const sign_envelope *env, const char *source, sign_root *root)
{
    json_error_t jerr;
    memset(root, 0, sizeof(*root));
    if (strcmp(env->type, PLMM_PAYLOAD_ROOT) != 0)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' is a '%s', not a root", source, env->type);
    json_t *j =
        json_loadb((const char *)env->payload, env->payload_len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': root payload: %s", source, jerr.text);
    plmm_status st = PLMM_OK;
    json_t *keys = json_object_get(j, "keys");
    json_int_t version = json_integer_value(json_object_get(j, "version"));
    json_int_t threshold = json_integer_value(json_object_get(j, "threshold"));
    const char *expires = json_string_value(json_object_get(j, "expires"));
    if (!json_is_array(keys) || version < 1 || expires == NULL ||
        !sign_time_parse(expires, &root->expires)) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s': root needs version >= 1, expires, keys", source);
        goto out;
    }
    size_t n = json_array_size(keys);
    if (n == 0 || n > ROOT_MAX_KEYS || threshold < 1 || (size_t)threshold > n) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s': root has %zu keys and threshold %lld", source, n,
                      (long long)threshold);
        goto out;
    }
    root->keys = calloc(n, sizeof(*root->keys));
    if (root->keys == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *hex = json_string_value(json_object_get(json_array_get(keys, i), "public"));
        if (hex == NULL || !sign_unhex(hex, root->keys[i].pk, SIGN_PK_BYTES)) {
            st = plmm_err(PLMM_ERR_FORMAT, "'%s': root key %zu is not 64 hex digits", source, i);
            goto out;
        }
        sign_keyid_of(root->keys[i].pk, root->keys[i].keyid);
    }
    root->version = (uint64_t)version;
    root->threshold = (uint32_t)threshold;
    root->n_keys = (uint32_t)n;
out:
    json_decref(j);
    if (st != PLMM_OK)
        sign_root_free(root);
    return st;
}

plmm_status sign_root_check(const sign_root *root, const sign_envelope *env, const char *what)
{
    uint32_t got = sign_envelope_count(env, root->keys, root->n_keys);
    if (got < root->threshold)
        return plmm_err(
            PLMM_ERR_AUTH, "%s: %u valid signature%s by keys of root version %llu, %u required",
            what, got, got == 1 ? "" : "s", (unsigned long long)root->version, root->threshold);
    return PLMM_OK;
}

plmm_status sign_check_expiry(int64_t expires, int64_t now, const char *what)
{
    if (now == 0)
        now = (int64_t)time(NULL);
    if (expires <= now) {
        char t[32];
        sign_time_format(expires, t);
        return plmm_err(PLMM_ERR_DENIED, "%s expired at %s (refusing stale metadata)", what, t);
    }
    return PLMM_OK;
}

plmm_status sign_root_load_trusted(const char *path, int64_t now, sign_root *root)
{
    sign_envelope env;
    char what[512];
    plmm_status st = sign_envelope_load(path, &env);
    if (st != PLMM_OK)
        return st;
    if ((st = sign_root_parse(&env, path, root)) != PLMM_OK)
        goto out;
    snprintf(what, sizeof(what), "root '%s'", path);
    if ((st = sign_root_check(root, &env, what)) == PLMM_OK && now >= 0)
        st = sign_check_expiry(root->expires, now, what);
    if (st != PLMM_OK)
        sign_root_free(root);
out:
    sign_envelope_free(&env);
    return st;
}

plmm_status sign_root_rotate(const sign_root *trusted, const sign_envelope *candidate,
                             const char *source, int64_t now, sign_root *next)
{
    char what[512];
    plmm_status st = sign_root_parse(candidate, source, next);
    if (st != PLMM_OK)
        return st;
    if (next->version <= trusted->version) {
        st = plmm_err(PLMM_ERR_DENIED, "'%s': root version %llu is not newer than trusted %llu",
                      source, (unsigned long long)next->version,
                      (unsigned long long)trusted->version);
        goto out;
    }
    snprintf(what, sizeof(what), "new root '%s' (old keys)", source);
    if ((st = sign_root_check(trusted, candidate, what)) != PLMM_OK)
        goto out;
    snprintf(what, sizeof(what), "new root '%s' (its own keys)", source);
    if ((st = sign_root_check(next, candidate, what)) != PLMM_OK)
        goto out;
    snprintf(what, sizeof(what), "new root '%s'", source);
    st = sign_check_expiry(next->expires, now, what);
out:
    if (st != PLMM_OK)
        sign_root_free(next);
    return st;
}

PLMM_EXPORT plmm_status plmm_root_create(const char *out_path, uint64_t version, int64_t expires,
                                         uint32_t threshold, const char *const *public_key_paths,
                                         uint32_t n_keys)
{
    char t[32], *payload = NULL, *text = NULL;
    sign_envelope env;
    if (version < 1 || n_keys == 0 || n_keys > ROOT_MAX_KEYS || threshold < 1 || threshold > n_keys)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "a root needs version >= 1 and 1 <= threshold "
                        "<= keys (got version %llu, threshold %u, %u keys)",
                        (unsigned long long)version, threshold, n_keys);
    json_t *keys = json_array();
    plmm_status st = PLMM_OK;
    if (keys == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n_keys; i++) {
        sign_key key;
        char hex[2 * SIGN_PK_BYTES + 1];
        if ((st = sign_key_load(public_key_paths[i], &key)) != PLMM_OK)
            goto out;
        sign_hex(key.pk, SIGN_PK_BYTES, hex);
        json_t *k = json_pack("{s:s, s:s}", "keyid", key.keyid, "public", hex);
        sign_key_wipe(&key);
        if (k == NULL || json_array_append_new(keys, k) != 0) {
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    sign_time_format(expires, t);
    json_t *j =
        json_pack("{s:s, s:I, s:s, s:i, s:O}", "type", "root", "version", (json_int_t)version,
                  "expires", t, "threshold", (int)threshold, "keys", keys);
    if (j == NULL || (payload = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        json_decref(j);
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    json_decref(j);
    if ((st = sign_envelope_init(&env, PLMM_PAYLOAD_ROOT, payload, strlen(payload))) != PLMM_OK)
        goto out;
    if ((st = sign_envelope_dump(&env, &text)) == PLMM_OK)
        st = sign_write_atomic(out_path, text, strlen(text), 0644);
    sign_envelope_free(&env);
out:
    free(text);
    free(payload);
    json_decref(keys);
    return st;
}
