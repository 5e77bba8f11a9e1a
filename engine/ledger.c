/*
 * The ledger handle: open/verify, expert rates and budgets, metering of
 * consultations and crediting of contributions, listing and CSV export.
 */
#include "config_ini.h"
#include "errors.h"
#include "ledger_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ledger_now(const plmm_ledger *l)
{
    return l->now != 0 ? l->now : (int64_t)time(NULL);
}

/* ---- open, verify ---- */

static plmm_status keep_entry(void *user, uint64_t seq, const char *body, size_t len)
{
    plmm_ledger *l = user;
    (void)seq;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (j == NULL || json_array_append_new(l->entries, j) != 0)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    return PLMM_OK;
}

static plmm_status check_params(const plmm_ledger_params *params)
{
    if (params->struct_size < sizeof(*params))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_ledger_params.struct_size is %u, need %zu",
                        params->struct_size, sizeof(*params));
    if (params->path == NULL || params->path[0] == '\0')
        return plmm_err(PLMM_ERR_CONFIG, "no ledger file ([ledger] path)");
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_ledger_open(const plmm_ledger_params *params, plmm_ledger **out)
{
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    sign_key device;
    *out = NULL;
    plmm_status st = check_params(params);
    if (st != PLMM_OK)
        return st;
    if ((st = ledger_keys(params, true, key, &device)) != PLMM_OK)
        return st;
    plmm_ledger *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->entries = json_array()) == NULL) {
        free(l);
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    l->now = params->now;
    l->store.fd = -1;
    if ((st = ledger_store_open(&l->store, params->path, key, &device, true, keep_entry, l)) !=
        PLMM_OK) {
        plmm_err_prefix(st, "ledger '%s'", params->path);
        plmm_ledger_close(l);
        goto out;
    }
    *out = l;
out:
    sodium_memzero(key, sizeof(key));
    sign_key_wipe(&device);
    return st;
}

PLMM_EXPORT void plmm_ledger_close(plmm_ledger *l)
{
    if (l == NULL)
        return;
    ledger_store_close(&l->store);
    json_decref(l->entries);
    for (size_t i = 0; i < l->n_experts; i++) {
        free(l->experts[i].name);
        free(l->experts[i].counterparty);
        free(l->experts[i].currency);
    }
    free(l->experts);
    free(l);
}

/* An entry marked signed must carry a receipt whose signature holds and
 * whose token counts are the ones charged. */
static plmm_status check_receipt(void *user, uint64_t seq, const char *body, size_t len)
{
    (void)user;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (j == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    plmm_status st = PLMM_OK;
    if (json_is_true(json_object_get(j, "signed"))) {
        char *r = json_dumps(json_object_get(j, "receipt"), JSON_COMPACT);
        int64_t in = -1, out = -1;
        if (r == NULL || ledger_receipt_check(r, NULL, &in, &out, NULL, NULL, NULL) != PLMM_OK ||
            in != json_integer_value(json_object_get(j, "tokens_in")) ||
            out != json_integer_value(json_object_get(j, "tokens_out")))
            st = plmm_err(PLMM_ERR_AUTH,
                          "entry %llu: its receipt does not verify or does not match the "
                          "tokens charged",
                          (unsigned long long)seq);
        free(r);
    }
    json_decref(j);
    return st;
}

PLMM_EXPORT plmm_status plmm_ledger_verify(const plmm_ledger_params *params, uint64_t *entries)
{
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    sign_key device;
    ledger_store s;
    if (entries)
        *entries = 0;
    plmm_status st = check_params(params);
    if (st != PLMM_OK)
        return st;
    if ((st = ledger_keys(params, false, key, &device)) != PLMM_OK)
        return st;
    st = ledger_store_open(&s, params->path, key, &device, false, check_receipt, NULL);
    if (st == PLMM_OK) {
        if (entries)
            *entries = s.n;
        ledger_store_close(&s);
    } else {
        plmm_err_prefix(st, "ledger '%s'", params->path);
    }
    sodium_memzero(key, sizeof(key));
    sign_key_wipe(&device);
    return st;
}

PLMM_EXPORT uint64_t plmm_ledger_count(const plmm_ledger *l)
{
    return l->store.n;
}

plmm_status ledger_append(plmm_ledger *l, json_t *body)
{
    plmm_status st = ledger_store_append(&l->store, body, NULL);
    if (st != PLMM_OK)
        return st;
    if (json_array_append(l->entries, body) != 0)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    return PLMM_OK;
}

/* ---- experts: rates and budgets ---- */

static ledger_expert *find_expert(plmm_ledger *l, const char *name, bool create)
{
    for (size_t i = 0; i < l->n_experts; i++)
        if (strcmp(l->experts[i].name, name) == 0)
            return &l->experts[i];
    if (!create)
        return NULL;
    ledger_expert *p = realloc(l->experts, (l->n_experts + 1) * sizeof(*p));
    if (p == NULL)
        return NULL;
    l->experts = p;
    ledger_expert *e = &p[l->n_experts];
    memset(e, 0, sizeof(*e));
    e->budget = -1;
    if ((e->name = strdup(name)) == NULL)
        return NULL;
    l->n_experts++;
    return e;
}

PLMM_EXPORT plmm_status plmm_ledger_set_rates(plmm_ledger *l, const char *expert,
                                              const plmm_ledger_rates *rates)
{
    if (rates->struct_size < sizeof(*rates))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_ledger_rates.struct_size is %u, need %zu",
                        rates->struct_size, sizeof(*rates));
    if (rates->counterparty == NULL || rates->counterparty[0] == '\0' || rates->currency == NULL ||
        rates->currency[0] == '\0')
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "rates of expert '%s' need a counterparty and a "
                        "currency",
                        expert);
    if (rates->in_per_1k < 0 || rates->out_per_1k < 0 || rates->rating < 0 ||
        rates->correction < 0 || rates->example < 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "rates of expert '%s' must not be negative", expert);
    ledger_expert *e = find_expert(l, expert, true);
    char *cp = strdup(rates->counterparty), *cur = strdup(rates->currency);
    if (e == NULL || cp == NULL || cur == NULL) {
        free(cp);
        free(cur);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    free(e->counterparty);
    free(e->currency);
    e->counterparty = cp;
    e->currency = cur;
    e->rates = *rates;
    e->rates.counterparty = cp;
    e->rates.currency = cur;
    e->has_rates = true;
    return PLMM_OK;
}

typedef struct rates_ini {
    plmm_ledger_rates r;
    char counterparty[128];
    char currency[16];
} rates_ini;

static plmm_status rates_key(void *user, const char *section, const char *key, const char *value,
                             uint32_t line, char *err, size_t err_size)
{
    rates_ini *ri = user;
    (void)line;
    if (strcmp(section, "pricing") != 0)
        return PLMM_OK; /* the expert's other sections are not ours */
    int64_t *amount = NULL;
    if (strcmp(key, "counterparty") == 0) {
        snprintf(ri->counterparty, sizeof(ri->counterparty), "%s", value);
        return PLMM_OK;
    }
    if (strcmp(key, "currency") == 0) {
        snprintf(ri->currency, sizeof(ri->currency), "%s", value);
        return PLMM_OK;
    }
    if (strcmp(key, "in_per_1k") == 0)
        amount = &ri->r.in_per_1k;
    else if (strcmp(key, "out_per_1k") == 0)
        amount = &ri->r.out_per_1k;
    else if (strcmp(key, "rating") == 0)
        amount = &ri->r.rating;
    else if (strcmp(key, "correction") == 0)
        amount = &ri->r.correction;
    else if (strcmp(key, "example") == 0)
        amount = &ri->r.example;
    if (amount == NULL) {
        snprintf(err, err_size, "unknown key '%s' in [pricing]", key);
        return PLMM_ERR_CONFIG;
    }
    if (!ledger_parse_amount(value, amount) || *amount < 0) {
        snprintf(err, err_size, "pricing.%s: expected an amount like 0.002, got '%s'", key, value);
        return PLMM_ERR_CONFIG;
    }
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_ledger_load_rates(plmm_ledger *l, const char *expert,
                                               const char *ini_path)
{
    rates_ini ri;
    memset(&ri, 0, sizeof(ri));
    plmm_ini_handlers h = {NULL, rates_key, &ri};
    plmm_status st = plmm_ini_parse_file(ini_path, &h);
    if (st != PLMM_OK)
        return st;
    if (ri.counterparty[0] == '\0' || ri.currency[0] == '\0')
        return plmm_err(PLMM_ERR_CONFIG, "%s: [pricing] needs counterparty and currency", ini_path);
    ri.r.struct_size = sizeof(ri.r);
    ri.r.counterparty = ri.counterparty;
    ri.r.currency = ri.currency;
    return plmm_ledger_set_rates(l, expert, &ri.r);
}

PLMM_EXPORT plmm_status plmm_ledger_set_budget(plmm_ledger *l, const char *expert, int64_t limit,
                                               plmm_ledger_period period)
{
    if (period != PLMM_LEDGER_PERIOD_TOTAL && period != PLMM_LEDGER_PERIOD_DAY &&
        period != PLMM_LEDGER_PERIOD_MONTH)
        return plmm_err(PLMM_ERR_INVALID_ARG, "unknown budget period %d", (int)period);
    ledger_expert *e = find_expert(l, expert, true);
    if (e == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    e->budget = limit;
    e->period = period;
    return PLMM_OK;
}

/* Start of the budget period that contains now. */
static int64_t period_start(plmm_ledger_period period, int64_t now)
{
    if (period == PLMM_LEDGER_PERIOD_TOTAL)
        return INT64_MIN;
    struct tm tm;
    time_t t = (time_t)now;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (period == PLMM_LEDGER_PERIOD_MONTH)
        tm.tm_mday = 1;
    return (int64_t)timegm(&tm);
}

static int64_t spent_since(const plmm_ledger *l, const char *expert, int64_t since)
{
    size_t i;
    json_t *e;
    int64_t sum = 0;
    json_array_foreach(l->entries, i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *x = json_string_value(json_object_get(e, "expert"));
        if (kind == NULL || x == NULL || strcmp(kind, "usage") != 0 || strcmp(x, expert) != 0)
            continue;
        if (json_integer_value(json_object_get(e, "time")) >= since)
            sum += json_integer_value(json_object_get(e, "amount"));
    }
    return sum;
}

PLMM_EXPORT plmm_status plmm_ledger_budget_check(plmm_ledger *l, const char *expert,
                                                 int64_t estimate, int64_t *remaining)
{
    ledger_expert *e = find_expert(l, expert, false);
    if (remaining)
        *remaining = INT64_MAX;
    if (e == NULL || e->budget < 0)
        return PLMM_OK;
    int64_t spent = spent_since(l, expert, period_start(e->period, ledger_now(l)));
    int64_t left = e->budget - spent;
    if (remaining)
        *remaining = left > 0 ? left : 0;
    if (estimate < 0)
        estimate = 0;
    if (left <= 0 || estimate > left) {
        char sp[32], b[32], est[32];
        static const char *const names[] = {"in total", "today", "this month"};
        ledger_format_amount(spent, sp);
        ledger_format_amount(e->budget, b);
        ledger_format_amount(estimate, est);
        const char *cur = e->currency ? e->currency : "";
        if (left <= 0)
            return plmm_err(PLMM_ERR_DENIED, "budget of expert '%s' spent: %s of %s %s %s", expert,
                            sp, b, cur, names[e->period]);
        return plmm_err(PLMM_ERR_DENIED,
                        "budget of expert '%s' too small: this would cost %s, %s of %s %s spent "
                        "%s",
                        expert, est, sp, b, cur, names[e->period]);
    }
    return PLMM_OK;
}

static plmm_status price_of(const ledger_expert *e, const char *expert, int64_t tin, int64_t tout,
                            int64_t *amount)
{
    if (tin < 0 || tout < 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "token counts must not be negative");
    if ((tin > 0 && e->rates.in_per_1k > INT64_MAX / 4 / tin) ||
        (tout > 0 && e->rates.out_per_1k > INT64_MAX / 4 / tout))
        return plmm_err(PLMM_ERR_RANGE, "usage of expert '%s' too large to price", expert);
    /* Rounded up to the micro-unit. */
    *amount = (tin * e->rates.in_per_1k + tout * e->rates.out_per_1k + 999) / 1000;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_ledger_price(plmm_ledger *l, const char *expert, int64_t tokens_in,
                                          int64_t tokens_out, int64_t *amount)
{
    *amount = 0;
    ledger_expert *e = find_expert(l, expert, false);
    if (e == NULL || !e->has_rates)
        return plmm_err(PLMM_ERR_CONFIG, "no published rates for expert '%s'", expert);
    return price_of(e, expert, tokens_in, tokens_out, amount);
}

/* ---- recording ---- */

static json_t *new_entry(plmm_ledger *l, const char *kind, const ledger_expert *e)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s}", "kind", kind, "time", (json_int_t)ledger_now(l),
                     "expert", e->name, "counterparty", e->counterparty, "currency", e->currency);
}

/* Has a receipt with this signer and nonce been recorded already? */
static bool receipt_seen(const plmm_ledger *l, const char *keyid, const char *nonce)
{
    size_t i;
    json_t *e;
    json_array_foreach(l->entries, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "receipt_key"));
        const char *n = json_string_value(json_object_get(e, "receipt_nonce"));
        if (k != NULL && n != NULL && strcmp(k, keyid) == 0 && strcmp(n, nonce) == 0)
            return true;
    }
    return false;
}

PLMM_EXPORT plmm_status plmm_ledger_record_usage(plmm_ledger *l, const plmm_ledger_usage *u,
                                                 int64_t *cost)
{
    if (cost)
        *cost = 0;
    if (u->struct_size < sizeof(*u))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_ledger_usage.struct_size is %u, need %zu",
                        u->struct_size, sizeof(*u));
    if (u->expert == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "usage names no expert");
    ledger_expert *e = find_expert(l, u->expert, false);
    if (e == NULL || !e->has_rates)
        return plmm_err(PLMM_ERR_CONFIG, "no published rates for expert '%s'", u->expert);
    int64_t tin = u->tokens_in, tout = u->tokens_out;
    char keyid[PLMM_KEYID_SIZE] = "", nonce[33] = "";
    json_t *receipt = NULL;
    plmm_status st;
    if (u->receipt_json != NULL) {
        if ((st = ledger_receipt_check(u->receipt_json, u->receipt_key_path, &tin, &tout, keyid,
                                       nonce, &receipt)) != PLMM_OK)
            return st;
        if (receipt_seen(l, keyid, nonce)) {
            json_decref(receipt);
            return plmm_err(PLMM_ERR_AUTH, "receipt %s by key %s was already recorded (replay)",
                            nonce, keyid);
        }
    }
    int64_t amount = 0;
    if ((st = price_of(e, u->expert, tin, tout, &amount)) != PLMM_OK) {
        json_decref(receipt);
        return st;
    }
    const char *model = u->model;
    if ((model == NULL || model[0] == '\0') && receipt != NULL)
        model = json_string_value(json_object_get(receipt, "model"));
    json_t *body = new_entry(l, "usage", e);
    if (body == NULL ||
        json_object_set_new(body, "connector", json_string(u->connector ? u->connector : "")) ||
        json_object_set_new(body, "model", json_string(model ? model : "")) ||
        json_object_set_new(body, "tokens_in", json_integer(tin)) ||
        json_object_set_new(body, "tokens_out", json_integer(tout)) ||
        json_object_set_new(body, "amount", json_integer(amount)) ||
        json_object_set_new(body, "signed", json_boolean(receipt != NULL))) {
        json_decref(body);
        json_decref(receipt);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    if (receipt != NULL && (json_object_set_new(body, "receipt", receipt) ||
                            json_object_set_new(body, "receipt_key", json_string(keyid)) ||
                            json_object_set_new(body, "receipt_nonce", json_string(nonce)))) {
        json_decref(body);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    st = ledger_append(l, body);
    json_decref(body);
    if (st == PLMM_OK && cost)
        *cost = amount;
    return st;
}

PLMM_EXPORT plmm_status plmm_ledger_record_contribution(plmm_ledger *l, const char *expert,
                                                        const char *kind, const char *ref,
                                                        int64_t *credit)
{
    if (credit)
        *credit = 0;
    ledger_expert *e = find_expert(l, expert, false);
    if (e == NULL || !e->has_rates)
        return plmm_err(PLMM_ERR_CONFIG, "no published rates for expert '%s'", expert);
    int64_t amount;
    if (strcmp(kind, "rating") == 0)
        amount = e->rates.rating;
    else if (strcmp(kind, "correction") == 0)
        amount = e->rates.correction;
    else if (strcmp(kind, "example") == 0)
        amount = e->rates.example;
    else
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "contribution kind '%s' is not rating, correction or example", kind);
    json_t *body = new_entry(l, "contribution", e);
    if (body == NULL || json_object_set_new(body, "contribution", json_string(kind)) ||
        json_object_set_new(body, "ref", json_string(ref ? ref : "")) ||
        json_object_set_new(body, "amount", json_integer(-amount))) {
        json_decref(body);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    plmm_status st = ledger_append(l, body);
    json_decref(body);
    if (st == PLMM_OK && credit)
        *credit = amount;
    return st;
}

/* ---- show, export ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *fmt, ...) PLMM_PRINTF(2, 3);

static void sb_add(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static plmm_status sb_finish(strbuf *b, char **out)
{
    if (b->oom || b->s == NULL) {
        free(b->s);
        if (!b->oom && (*out = strdup("")) != NULL)
            return PLMM_OK;
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    *out = b->s;
    return PLMM_OK;
}

static const char *str_of(json_t *e, const char *key)
{
    const char *s = json_string_value(json_object_get(e, key));
    return s ? s : "";
}

static const char *detail_of(json_t *e, char *buf, size_t size)
{
    const char *kind = str_of(e, "kind");
    if (strcmp(kind, "usage") == 0)
        snprintf(buf, size, "%lld in / %lld out via %s%s%s, %s",
                 (long long)json_integer_value(json_object_get(e, "tokens_in")),
                 (long long)json_integer_value(json_object_get(e, "tokens_out")),
                 str_of(e, "connector"), str_of(e, "model")[0] ? " " : "", str_of(e, "model"),
                 json_is_true(json_object_get(e, "signed")) ? "receipt signed" : "unsigned");
    else if (strcmp(kind, "contribution") == 0)
        snprintf(buf, size, "%s %s", str_of(e, "contribution"), str_of(e, "ref"));
    else if (strcmp(kind, "settlement") == 0)
        snprintf(buf, size, "statement %.16s", str_of(e, "statement_sha256"));
    else
        snprintf(buf, size, "-");
    return buf;
}

PLMM_EXPORT plmm_status plmm_ledger_show(const plmm_ledger *l, char **out)
{
    strbuf b = {0};
    size_t i;
    json_t *e;
    *out = NULL;
    sb_add(&b, "%5s  %-20s  %-12s  %-10s  %-14s  %14s  %s\n", "seq", "time (UTC)", "kind", "expert",
           "counterparty", "amount", "detail");
    json_array_foreach(l->entries, i, e)
    {
        char t[32], a[32], d[256];
        sign_time_format(json_integer_value(json_object_get(e, "time")), t);
        ledger_format_amount(json_integer_value(json_object_get(e, "amount")), a);
        sb_add(&b, "%5lld  %-20s  %-12s  %-10s  %-14s  %10s %-3s  %s\n",
               (long long)json_integer_value(json_object_get(e, "seq")), t, str_of(e, "kind"),
               str_of(e, "expert"), str_of(e, "counterparty"), a, str_of(e, "currency"),
               detail_of(e, d, sizeof(d)));
    }
    sb_add(&b, "%llu entries\n", (unsigned long long)l->store.n);
    return sb_finish(&b, out);
}

/* A CSV field, quoted when it needs to be. */
static void csv_field(strbuf *b, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        sb_add(b, "%s%s", s, last ? "\r\n" : ",");
        return;
    }
    sb_add(b, "\"");
    for (; *s; s++)
        sb_add(b, *s == '"' ? "\"\"" : "%c", *s);
    sb_add(b, "\"%s", last ? "\r\n" : ",");
}

PLMM_EXPORT plmm_status plmm_ledger_export_csv(const plmm_ledger *l, char **out)
{
    strbuf b = {0};
    size_t i;
    json_t *e;
    *out = NULL;
    sb_add(&b, "seq,time,kind,expert,counterparty,currency,amount,tokens_in,tokens_out,"
               "connector,model,signed,contribution,ref,hash_prev\r\n");
    json_array_foreach(l->entries, i, e)
    {
        char t[32], a[32], n[3][32];
        sign_time_format(json_integer_value(json_object_get(e, "time")), t);
        ledger_format_amount(json_integer_value(json_object_get(e, "amount")), a);
        snprintf(n[0], 32, "%lld", (long long)json_integer_value(json_object_get(e, "seq")));
        snprintf(n[1], 32, "%lld", (long long)json_integer_value(json_object_get(e, "tokens_in")));
        snprintf(n[2], 32, "%lld", (long long)json_integer_value(json_object_get(e, "tokens_out")));
        const char *fields[] = {n[0],
                                t,
                                str_of(e, "kind"),
                                str_of(e, "expert"),
                                str_of(e, "counterparty"),
                                str_of(e, "currency"),
                                a,
                                n[1],
                                n[2],
                                str_of(e, "connector"),
                                str_of(e, "model"),
                                json_is_true(json_object_get(e, "signed")) ? "yes" : "no",
                                str_of(e, "contribution"),
                                str_of(e, "ref"),
                                str_of(e, "prev")};
        size_t nf = sizeof(fields) / sizeof(fields[0]);
        for (size_t k = 0; k < nf; k++)
            csv_field(&b, fields[k], k + 1 == nf);
    }
    return sb_finish(&b, out);
}
