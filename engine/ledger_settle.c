/*
 * Settlement: the net balance with one counterparty over a period, as a
 * statement signed by the device key that the other side verifies.
 */
#include "errors.h"
#include "ledger_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PLMM_EXPORT plmm_status plmm_ledger_settle(plmm_ledger *l, const char *counterparty, int64_t from,
                                           int64_t to, const char *out_path, char **report)
{
    int64_t owed = 0, credited = 0;
    long long n_usage = 0, n_signed = 0, n_contrib = 0, first = 0, last = 0;
    const char *currency = NULL;
    size_t i;
    json_t *e;
    if (report)
        *report = NULL;
    if (to <= from)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "settlement period is empty (from must be before to)");
    /* The receipts behind the signed usage, so the other side can match
     * each one with what its server signed. */
    json_t *receipts = json_array();
    if (receipts == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    json_array_foreach(l->entries, i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *cp = json_string_value(json_object_get(e, "counterparty"));
        const char *cur = json_string_value(json_object_get(e, "currency"));
        int64_t t = json_integer_value(json_object_get(e, "time"));
        if (kind == NULL || cp == NULL || cur == NULL || strcmp(cp, counterparty) != 0 ||
            t < from || t >= to || strcmp(kind, "settlement") == 0)
            continue;
        if (currency != NULL && strcmp(currency, cur) != 0) {
            json_decref(receipts);
            return plmm_err(PLMM_ERR_UNSUPPORTED,
                            "counterparty '%s' has entries in %s and %s; settle one currency",
                            counterparty, currency, cur);
        }
        currency = cur;
        int64_t amount = json_integer_value(json_object_get(e, "amount"));
        if (amount >= 0)
            owed += amount;
        else
            credited -= amount;
        if (strcmp(kind, "usage") == 0) {
            n_usage++;
            json_t *r = json_object_get(e, "receipt");
            if (json_is_true(json_object_get(e, "signed")) && json_is_object(r)) {
                n_signed++;
                json_t *item = json_pack(
                    "{s:O?, s:O?, s:O?, s:O?, s:O?}", "server", json_object_get(r, "server"),
                    "request", json_object_get(r, "request"), "nonce", json_object_get(r, "nonce"),
                    "prompt_tokens", json_object_get(r, "prompt_tokens"), "completion_tokens",
                    json_object_get(r, "completion_tokens"));
                if (item == NULL || json_array_append_new(receipts, item) != 0) {
                    json_decref(receipts);
                    return plmm_err(PLMM_ERR_NOMEM, "out of memory");
                }
            }
        } else {
            n_contrib++;
        }
        long long seq = (long long)json_integer_value(json_object_get(e, "seq"));
        if (first == 0)
            first = seq;
        last = seq;
    }
    if (currency == NULL) {
        json_decref(receipts);
        return plmm_err(PLMM_ERR_NOT_FOUND, "no entries with counterparty '%s' in the period",
                        counterparty);
    }
    char tf[32], tt[32], a_owed[32], a_cred[32], a_net[32], dev[2 * SIGN_PK_BYTES + 1],
        head[2 * LEDGER_HASH_BYTES + 1];
    sign_time_format(from, tf);
    sign_time_format(to, tt);
    ledger_format_amount(owed, a_owed);
    ledger_format_amount(credited, a_cred);
    ledger_format_amount(owed - credited, a_net);
    sign_hex(l->store.device.pk, SIGN_PK_BYTES, dev);
    sign_hex(l->store.last_hash, LEDGER_HASH_BYTES, head);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
        "type", "statement", "device", l->store.device.keyid, "device_public", dev, "counterparty",
        counterparty, "currency", currency, "from", tf, "to", tt, "owed_by_user", a_owed,
        "credited_to_user", a_cred, "net_owed_by_user", a_net, "usage_entries", (json_int_t)n_usage,
        "signed_receipts", (json_int_t)n_signed, "contributions", (json_int_t)n_contrib,
        "first_seq", (json_int_t)first, "last_seq", (json_int_t)last, "ledger_entries",
        (json_int_t)l->store.n, "chain_head", head);
    if (j == NULL || json_object_set_new(j, "receipts", receipts) != 0) {
        json_decref(j);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    char *payload = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (payload == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    sign_envelope env;
    char *text = NULL;
    plmm_status st = sign_envelope_init(&env, PLMM_PAYLOAD_STATEMENT, payload, strlen(payload));
    if (st != PLMM_OK)
        goto out_payload;
    if ((st = sign_envelope_add(&env, &l->store.device)) == PLMM_OK &&
        (st = sign_envelope_dump(&env, &text)) == PLMM_OK)
        st = sign_write_atomic(out_path, text, strlen(text), 0644);
    sign_envelope_free(&env);
    if (st != PLMM_OK)
        goto out_payload;
    uint8_t h[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof(h) + 1];
    crypto_hash_sha256(h, (const uint8_t *)text, strlen(text));
    sign_hex(h, sizeof(h), hex);
    json_t *body =
        json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:s}", "kind", "settlement", "time",
                  (json_int_t)ledger_now(l), "expert", "", "counterparty", counterparty, "currency",
                  currency, "statement_sha256", hex, "amount", (json_int_t)0, "net", a_net);
    if (body == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_payload;
    }
    st = ledger_append(l, body);
    json_decref(body);
    if (st == PLMM_OK && report != NULL) {
        char line[768];
        snprintf(line, sizeof(line),
                 "statement for %s, %s to %s: owed by user %s %s, credited to user %s %s, net "
                 "owed by user %s %s (%lld usage entries, %lld with signed receipts, %lld "
                 "contributions); signed by device key %s\n",
                 counterparty, tf, tt, a_owed, currency, a_cred, currency, a_net, currency, n_usage,
                 n_signed, n_contrib, l->store.device.keyid);
        if ((*report = strdup(line)) == NULL)
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
out_payload:
    free(text);
    free(payload);
    return st;
}

static const char *sv(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "?";
}

PLMM_EXPORT plmm_status plmm_ledger_statement_verify(const char *path, const char *public_key_path,
                                                     char **report)
{
    sign_envelope env;
    sign_key key;
    if (report)
        *report = NULL;
    plmm_status st = sign_key_load(public_key_path, &key);
    if (st != PLMM_OK)
        return st;
    if ((st = sign_envelope_load(path, &env)) != PLMM_OK)
        goto out_key;
    if (strcmp(env.type, PLMM_PAYLOAD_STATEMENT) != 0) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is a '%s', not a ledger statement", path, env.type);
        goto out_env;
    }
    if (sign_envelope_count(&env, &key, 1) != 1) {
        st = plmm_err(PLMM_ERR_AUTH,
                      "statement '%s' carries no valid signature by key %s (altered or signed by "
                      "another device)",
                      path, key.keyid);
        goto out_env;
    }
    json_t *j = json_loadb((const char *)env.payload, env.payload_len, 0, NULL);
    const char *dev = json_string_value(json_object_get(j, "device"));
    if (j == NULL || dev == NULL || strcmp(dev, key.keyid) != 0) {
        json_decref(j);
        st = plmm_err(PLMM_ERR_FORMAT, "statement '%s' does not name signer %s", path, key.keyid);
        goto out_env;
    }
    if (report != NULL) {
        char line[768];
        snprintf(line, sizeof(line),
                 "%s: valid statement by device %s for %s, %s to %s: owed by user %s %s, "
                 "credited to user %s %s, net owed by user %s %s\n",
                 path, dev, sv(j, "counterparty"), sv(j, "from"), sv(j, "to"),
                 sv(j, "owed_by_user"), sv(j, "currency"), sv(j, "credited_to_user"),
                 sv(j, "currency"), sv(j, "net_owed_by_user"), sv(j, "currency"));
        if ((*report = strdup(line)) == NULL)
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    json_decref(j);
out_env:
    sign_envelope_free(&env);
out_key:
    sign_key_wipe(&key);
    return st;
}
