/*
 * Distillation: a knowledge pack answered by the T-model (any connector
 * section of the configuration, usually [tmodel]), the questions taken
 * from a file or from the expert's weak turns in the vault's history, and
 * every question sent through the privacy layer (share policy, egress scan
 * and audit in the connector's before_send hook, answers restored
 * locally), as the router does for consultations.
 */
#include "connector.h"
#include "errors.h"
#include "ledger_impl.h"
#include "plmm/vault.h"
#include "privacy_consult.h"
#include "update_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- choosing the questions ---- */

/* The value of the header line "NAME: value" in the lines before "Q: ",
 * copied into out; false when absent. */
static bool header(const char *turn, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = turn; *p != '\0';) {
        if (strncmp(p, "Q: ", 3) == 0)
            return false;
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > nl + 1 && strncmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = len - (size_t)(v - p);
            if (vl >= size)
                vl = size - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return false;
}

/* Whether ledger rated the turn key of expert negatively. */
static bool rated_down(const plmm_ledger *l, const char *expert, const char *key)
{
    if (l == NULL)
        return false;
    size_t kl = strlen(key), i;
    json_t *e;
    json_array_foreach(l->entries, i, e)
    {
        const char *c = json_string_value(json_object_get(e, "contribution"));
        const char *x = json_string_value(json_object_get(e, "expert"));
        const char *ref = json_string_value(json_object_get(e, "ref"));
        if (c != NULL && x != NULL && ref != NULL && strcmp(c, "rating") == 0 &&
            strcmp(x, expert) == 0 && strncmp(ref, key, kl) == 0 && strcmp(ref + kl, ":-1") == 0)
            return true;
    }
    return false;
}

typedef struct qbuf {
    char *s;
    size_t len, cap;
} qbuf;

/* Whether line (len bytes, no newline) is already one of b's lines. */
static bool qb_has(const qbuf *b, const char *line, size_t len)
{
    for (size_t off = 0; off < b->len;) {
        const char *p = b->s + off;
        const char *end = memchr(p, '\n', b->len - off);
        size_t l = (size_t)(end - p);
        if (l == len && memcmp(p, line, len) == 0)
            return true;
        off += l + 1;
    }
    return false;
}

/* Append the question (made one line, trimmed) unless already there. */
static plmm_status qb_add(qbuf *b, const char *q, size_t ql, size_t *n)
{
    while (ql > 0 && (*q == ' ' || *q == '\t')) {
        q++;
        ql--;
    }
    while (ql > 0 && (q[ql - 1] == ' ' || q[ql - 1] == '\r' || q[ql - 1] == '\t'))
        ql--;
    if (ql == 0)
        return PLMM_OK;
    if (b->len + ql + 2 > b->cap) {
        size_t cap = (b->len + ql + 2) * 2;
        char *s = realloc(b->s, cap);
        if (s == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        b->s = s;
        b->cap = cap;
    }
    char *dst = b->s + b->len;
    for (size_t i = 0; i < ql; i++)
        dst[i] = q[i] == '\n' || q[i] == '\r' || q[i] == '\t' ? ' ' : q[i];
    if (qb_has(b, dst, ql)) {
        b->s[b->len] = '\0';
        return PLMM_OK;
    }
    b->len += ql;
    b->s[b->len++] = '\n';
    b->s[b->len] = '\0';
    (*n)++;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_distill_select(const plmm_vault *vault, const plmm_ledger *ledger,
                                            const char *expert, char **questions, size_t *n)
{
    *questions = NULL;
    *n = 0;
    if (!update_valid_name(expert))
        return plmm_err(PLMM_ERR_INVALID_ARG, "expert name '%s' must be 1-64 of [a-z0-9_-]",
                        expert);
    qbuf b = {NULL, 0, 0};
    plmm_status st = PLMM_OK;
    size_t count = plmm_vault_count(vault);
    for (size_t i = 0; i < count && st == PLMM_OK; i++) {
        plmm_vault_item it = {.struct_size = sizeof(it)};
        if ((st = plmm_vault_item_at(vault, i, &it)) != PLMM_OK)
            break;
        if (it.kind != PLMM_VAULT_HISTORY)
            continue;
        char who[80], conf[16];
        if (!header(it.value, "Expert", who, sizeof(who)) || strcmp(who, expert) != 0)
            continue;
        bool weak = header(it.value, "Confidence", conf, sizeof(conf)) && strcmp(conf, "low") == 0;
        if (!weak && !rated_down(ledger, expert, it.key))
            continue;
        const char *q = strstr(it.value, "Q: ");
        while (q != NULL && q != it.value && q[-1] != '\n')
            q = strstr(q + 1, "Q: ");
        if (q == NULL)
            continue;
        q += 3;
        const char *a = strstr(q, "\nA: ");
        st = qb_add(&b, q, a != NULL ? (size_t)(a - q) : strlen(q), n);
    }
    if (st == PLMM_OK && b.s == NULL && (b.s = calloc(1, 1)) == NULL)
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    if (st != PLMM_OK) {
        if (b.s != NULL)
            sodium_memzero(b.s, b.cap);
        free(b.s);
        *n = 0;
        return st;
    }
    *questions = b.s;
    return PLMM_OK;
}

/* ---- asking the T-model ---- */

typedef struct distill_ctx {
    plmm_connector *conn;
    plmm_privacy *privacy;
    plmm_audit *audit;
    uint32_t share;
    int32_t max_tokens;
    char system[256];
} distill_ctx;

static plmm_status ask(void *user, const char *question, char **answer)
{
    distill_ctx *d = user;
    plmm_connector_msg msgs[2] = {{"system", d->system}, {"user", question}};
    privacy_consult pc = {
        .connector = d->conn,
        .privacy = d->privacy,
        .audit = d->audit,
        .share = d->share,
        .full_opt_in = true, /* share = full in the INI is the explicit opt-in */
        .max_tokens = d->max_tokens,
        .temperature = 0.0f, /* the pack should not depend on luck */
    };
    privacy_consult_result pr;
    plmm_status st = privacy_consult_chat(&pc, msgs, 2, &pr);
    if (st == PLMM_OK) {
        *answer = pr.answer; /* placeholders restored locally */
        pr.answer = NULL;
    }
    privacy_consult_result_clear(&pr);
    if (st != PLMM_OK)
        return st;
    if (*answer == NULL || (*answer)[0] == '\0') {
        free(*answer);
        *answer = NULL;
        return plmm_err(PLMM_ERR_NETWORK, "the T-model gave an empty answer");
    }
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_pack_distill_private(plmm_engine *engine, const plmm_distill_params *p)
{
    if (p->struct_size < sizeof(plmm_distill_params))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_distill_params: struct_size too small");
    if (p->section == NULL || p->bundle_dir == NULL || p->expert == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "distill: section, bundle_dir and expert are needed");
    if (p->n_keys == 0 || p->secret_key_paths == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "a knowledge pack must be signed: give a key");
    if ((p->questions_path == NULL) == (p->questions == NULL))
        return plmm_err(PLMM_ERR_INVALID_ARG, "distill: give a questions file or questions, not %s",
                        p->questions_path != NULL ? "both" : "neither");
    plmm_connector_settings set;
    distill_ctx d;
    memset(&d, 0, sizeof(d));
    plmm_status st = plmm_connector_settings_read(engine, p->section, &set);
    if (st != PLMM_OK) {
        plmm_connector_settings_free(&set);
        return plmm_err_prefix(st, "distill: [%s]", p->section);
    }
    if (!set.enabled) {
        plmm_connector_settings_free(&set);
        return plmm_err(PLMM_ERR_DENIED, "distill: [%s] is disabled (enabled = false)", p->section);
    }
    d.share = PLMM_SHARE_PSEUDONYMIZED;
    if (set.share[0] != '\0' && plmm_share_parse(set.share, &d.share) != PLMM_OK) {
        st = plmm_err_prefix(PLMM_ERR_CONFIG, "distill: [%s] share: ", p->section);
        goto out;
    }
    if ((st = plmm_privacy_create(&d.privacy)) != PLMM_OK)
        goto out;
    if (p->vault != NULL && (st = plmm_privacy_add_vault(d.privacy, p->vault)) != PLMM_OK)
        goto out;
    if (p->audit_path != NULL && (st = plmm_audit_open(p->audit_path, &d.audit)) != PLMM_OK)
        goto out;
    if ((st = plmm_connector_open(engine, &set.config, &d.conn)) != PLMM_OK)
        goto out;
    d.max_tokens = set.max_tokens;
    snprintf(d.system, sizeof(d.system),
             "You write reference answers for the '%s' expert of an on-device assistant. "
             "Answer accurately and concisely.",
             p->expert);
    if (p->questions_path != NULL) {
        st = plmm_pack_build(p->bundle_dir, p->expert, p->version, p->expires, p->questions_path,
                             ask, &d, p->secret_key_paths, p->n_keys);
    } else {
        size_t len = strlen(p->questions);
        char *text = malloc(len + 1);
        if (text == NULL) {
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        } else {
            memcpy(text, p->questions, len + 1);
            st = update_pack_build_text(p->bundle_dir, p->expert, p->version, p->expires, text,
                                        "the history", ask, &d, p->secret_key_paths, p->n_keys);
            sodium_memzero(text, len);
            free(text);
        }
    }
out:
    plmm_connector_close(d.conn);
    plmm_audit_close(d.audit);
    plmm_privacy_destroy(d.privacy);
    plmm_connector_settings_free(&set);
    return st;
}

PLMM_EXPORT plmm_status plmm_pack_distill(plmm_engine *engine, const char *section,
                                          const char *bundle_dir, const char *expert,
                                          uint64_t version, int64_t expires,
                                          const char *questions_path,
                                          const char *const *secret_key_paths, uint32_t n_keys)
{
    plmm_distill_params p = {
        .struct_size = sizeof(p),
        .n_keys = n_keys,
        .section = section,
        .bundle_dir = bundle_dir,
        .expert = expert,
        .version = version,
        .expires = expires,
        .questions_path = questions_path,
        .secret_key_paths = secret_key_paths,
    };
    return plmm_pack_distill_private(engine, &p);
}
