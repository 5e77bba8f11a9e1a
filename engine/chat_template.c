#include "chat_template.h"

#include "errors.h"

#include <stdio.h>
#include <string.h>

/* ---- family names and defaults ---- */

typedef struct family_info {
    plmm_chat_family family;
    const char *name;
    const char *bos;
    const char *eos;
    bool bos_prefix; /* the family's template always writes BOS itself */
} family_info;

static const family_info families[] = {
    {PLMM_CHAT_AUTO, "auto", "", "", false},
    {PLMM_CHAT_PLAIN, "plain", "", "", false},
    {PLMM_CHAT_CHATML, "chatml", "<s>", "<|im_end|>", false},
    {PLMM_CHAT_LLAMA2, "llama2", "<s>", "</s>", true},
    {PLMM_CHAT_MISTRAL, "mistral", "<s>", "</s>", true},
    {PLMM_CHAT_LLAMA3, "llama3", "<|begin_of_text|>", "<|eot_id|>", true},
    {PLMM_CHAT_ZEPHYR, "zephyr", "<s>", "</s>", false},
    {PLMM_CHAT_PHI3, "phi3", "<s>", "<|endoftext|>", false},
    {PLMM_CHAT_GEMMA, "gemma", "<bos>", "<eos>", true},
};

static const family_info *family_lookup(plmm_chat_family f)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (families[i].family == f)
            return &families[i];
    return NULL;
}

const char *plmm_chat_family_name(plmm_chat_family family)
{
    const family_info *fi = family_lookup(family);
    return fi ? fi->name : "unknown";
}

plmm_status plmm_chat_family_from_name(const char *name, plmm_chat_family *out)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (strcmp(name, families[i].name) == 0) {
            *out = families[i].family;
            return PLMM_OK;
        }
    }
    return plmm_err(PLMM_ERR_INVALID_ARG,
                    "unknown chat template '%s' (expected "
                    "auto|plain|chatml|llama2|mistral|llama3|zephyr|phi3|gemma)",
                    name);
}

/* ---- detection ---- */

plmm_chat_family plmm_chat_template_detect(const char *jinja)
{
    if (jinja == NULL || jinja[0] == '\0')
        return PLMM_CHAT_PLAIN;
    if (strstr(jinja, "<|im_start|>"))
        return PLMM_CHAT_CHATML;
    if (strstr(jinja, "<|start_header_id|>"))
        return PLMM_CHAT_LLAMA3;
    if (strstr(jinja, "<start_of_turn>"))
        return PLMM_CHAT_GEMMA;
    if (strstr(jinja, "[INST]"))
        return strstr(jinja, "<<SYS>>") ? PLMM_CHAT_LLAMA2 : PLMM_CHAT_MISTRAL;
    if (strstr(jinja, "<|user|>") || strstr(jinja, "<|assistant|>"))
        return strstr(jinja, "<|end|>") ? PLMM_CHAT_PHI3 : PLMM_CHAT_ZEPHYR;
    return PLMM_CHAT_PLAIN;
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Does the template's first output come from "{{ bos_token }}" (any
 * whitespace-control variant: "{{- bos_token -}}")? */
static bool starts_with_bos_token(const char *jinja)
{
    const char *p = skip_space(jinja);
    if (strncmp(p, "{{", 2) != 0)
        return false;
    p += 2;
    if (*p == '-' || *p == '+')
        p++;
    p = skip_space(p);
    if (strncmp(p, "bos_token", 9) != 0)
        return false;
    p = skip_space(p + 9);
    if (*p == '-' || *p == '+')
        p++;
    return strncmp(p, "}}", 2) == 0;
}

/*
 * A ChatML template that inserts a fixed system turn spells it as one
 * string literal, '<|im_start|>system\n<TEXT><|im_end|>'. Find the first
 * such literal and copy TEXT, resolving the escapes a Jinja string may
 * hold. A quote before <|im_end|> means the turn is built from an
 * expression (the caller's own system message), which is not a default.
 */
static void find_default_system(const char *jinja, char *out, size_t out_size)
{
    static const char open[] = "<|im_start|>system";
    static const char close[] = "<|im_end|>";
    out[0] = '\0';
    for (const char *p = strstr(jinja, open); p != NULL; p = strstr(p + 1, open)) {
        const char *q = p + sizeof(open) - 1;
        if (*q == '\n')
            q++;
        else if (q[0] == '\\' && q[1] == 'n')
            q += 2;
        else
            continue;
        size_t n = 0;
        bool ok = false;
        while (*q != '\0') {
            if (strncmp(q, close, sizeof(close) - 1) == 0) {
                ok = true;
                break;
            }
            char ch = *q++;
            if (ch == '\'' || ch == '"' || ch == '{' || ch == '}')
                break;
            if (ch == '\\') {
                char e = *q++;
                if (e == 'n')
                    ch = '\n';
                else if (e == 't')
                    ch = '\t';
                else if (e == '\\' || e == '\'' || e == '"')
                    ch = e;
                else
                    break;
            }
            if (n + 1 >= out_size)
                break;
            out[n++] = ch;
        }
        if (ok && n > 0) {
            out[n] = '\0';
            return;
        }
    }
    out[0] = '\0';
}

/* ---- init ---- */

static plmm_status copy_token(char *dst, const char *src, const char *what)
{
    size_t n = strlen(src);
    if (n >= PLMM_CHAT_TOKEN_MAX)
        return plmm_err(PLMM_ERR_RANGE, "chat template %s text too long (%zu bytes, max %d)", what,
                        n, PLMM_CHAT_TOKEN_MAX - 1);
    memcpy(dst, src, n + 1);
    return PLMM_OK;
}

plmm_status plmm_chat_template_init(plmm_chat_template *t, const char *name, const char *jinja)
{
    plmm_chat_family f = PLMM_CHAT_AUTO;
    memset(t, 0, sizeof(*t));
    if (name != NULL) {
        plmm_status st = plmm_chat_family_from_name(name, &f);
        if (st != PLMM_OK)
            return st;
    }
    bool detect = f == PLMM_CHAT_AUTO;
    if (detect)
        f = plmm_chat_template_detect(jinja);
    const family_info *fi = family_lookup(f);
    t->family = f;
    t->bos_prefix = fi->bos_prefix;
    memcpy(t->bos, fi->bos, strlen(fi->bos) + 1);
    memcpy(t->eos, fi->eos, strlen(fi->eos) + 1);
    if (detect && jinja != NULL && f != PLMM_CHAT_PLAIN) {
        if (starts_with_bos_token(jinja))
            t->bos_prefix = true;
        if (f == PLMM_CHAT_CHATML)
            find_default_system(jinja, t->default_system, sizeof(t->default_system));
    }
    return PLMM_OK;
}

plmm_status plmm_chat_template_set_tokens(plmm_chat_template *t, const char *bos, const char *eos)
{
    char b[PLMM_CHAT_TOKEN_MAX], e[PLMM_CHAT_TOKEN_MAX];
    plmm_status st = copy_token(b, bos ? bos : t->bos, "bos");
    if (st != PLMM_OK)
        return st;
    st = copy_token(e, eos ? eos : t->eos, "eos");
    if (st != PLMM_OK)
        return st;
    memcpy(t->bos, b, sizeof(b));
    memcpy(t->eos, e, sizeof(e));
    return PLMM_OK;
}

/* ---- output ---- */

/* Appends pieces while they fit; always counts the full length. */
typedef struct writer {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;                  /* length passed SIZE_MAX */
    char head[PLMM_CHAT_TOKEN_MAX]; /* first bytes of the text, for the BOS check */
} writer;

static void put_n(writer *w, const char *s, size_t n)
{
    if (w->len < sizeof(w->head) - 1) {
        size_t room = sizeof(w->head) - 1 - w->len;
        memcpy(w->head + w->len, s, n < room ? n : room);
    }
    if (n > SIZE_MAX - w->len) {
        w->overflow = true;
        return;
    }
    if (w->cap > 0 && w->len + n < w->cap)
        memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void put(writer *w, const char *s)
{
    put_n(w, s, strlen(s));
}

/* ---- whitespace as Python's str.strip() sees it ---- */

/* Bytes of the whitespace character that ends s[0..n), or 0. */
static size_t ws_suffix(const unsigned char *s, size_t n)
{
    if (n >= 1) {
        unsigned char c = s[n - 1];
        if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
            return 1;
    }
    if (n >= 2) {
        const unsigned char *p = s + n - 2;
        if (p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) /* U+0085, U+00A0 */
            return 2;
    }
    if (n >= 3) {
        const unsigned char *p = s + n - 3;
        if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) /* U+1680 */
            return 3;
        if (p[0] == 0xe2 && p[1] == 0x80 &&
            (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf) &&
            p[2] >= 0x80) /* U+2000..200A, U+2028, U+2029, U+202F */
            return 3;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) /* U+205F */
            return 3;
        if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) /* U+3000 */
            return 3;
    }
    return 0;
}

/* Bytes of the whitespace character that starts s[0..n), or 0. */
static size_t ws_prefix(const unsigned char *s, size_t n)
{
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
        return 1;
    for (size_t k = 2; k <= 3 && k <= n; k++)
        if (ws_suffix(s, k) == k)
            return k;
    return 0;
}

/* content with leading (lead) and trailing whitespace removed */
static void strip_span(const char *s, bool lead, const char **out, size_t *out_n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), k;
    while (lead && (k = ws_prefix(p, n)) > 0) {
        p += k;
        n -= k;
    }
    while ((k = ws_suffix(p, n)) > 0)
        n -= k;
    *out = (const char *)p;
    *out_n = n;
}

static void put_stripped(writer *w, const char *s)
{
    const char *p;
    size_t n;
    strip_span(s, true, &p, &n);
    put_n(w, p, n);
}

/* ---- roles ---- */

typedef enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT } role;

static plmm_status check_msgs(const plmm_chat_message *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (r == NULL || msgs[i].content == NULL)
            return plmm_err(PLMM_ERR_INVALID_ARG, "chat message %zu has a null %s", i,
                            r == NULL ? "role" : "content");
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0)
            return plmm_err(
                PLMM_ERR_INVALID_ARG,
                "unknown chat role '%s' in message %zu (expected system|user|assistant)", r, i);
    }
    return PLMM_OK;
}

/* Only after check_msgs: every role is one of the three. */
static role role_of(const plmm_chat_message *m)
{
    if (strcmp(m->role, "system") == 0)
        return ROLE_SYSTEM;
    return strcmp(m->role, "user") == 0 ? ROLE_USER : ROLE_ASSISTANT;
}

/* Templates that take an optional leading system turn and then strictly
 * alternating user/assistant turns starting with user. */
static plmm_status check_alternating(const plmm_chat_message *msgs, size_t n, const char *family)
{
    size_t first = n > 0 && role_of(&msgs[0]) == ROLE_SYSTEM ? 1 : 0;
    for (size_t i = first; i < n; i++) {
        role r = role_of(&msgs[i]);
        role want = (i - first) % 2 == 0 ? ROLE_USER : ROLE_ASSISTANT;
        if (r != want)
            return plmm_err(
                PLMM_ERR_INVALID_ARG,
                "%s chat template: after an optional first system message, roles "
                "must alternate user/assistant starting with user (message %zu is '%s')",
                family, i, msgs[i].role);
    }
    return PLMM_OK;
}

/* ---- families ---- */

static void fmt_plain(writer *w, const plmm_chat_message *m, size_t n, bool gen)
{
    static const char *const label[] = {"System: ", "User: ", "Assistant: "};
    for (size_t i = 0; i < n; i++) {
        put(w, label[role_of(&m[i])]);
        put(w, m[i].content);
        put(w, "\n");
    }
    if (gen)
        put(w, "Assistant:");
}

static void fmt_chatml(writer *w, const plmm_chat_template *t, const plmm_chat_message *m, size_t n,
                       bool gen)
{
    if (n > 0 && t->default_system[0] != '\0' && role_of(&m[0]) != ROLE_SYSTEM) {
        put(w, "<|im_start|>system\n");
        put(w, t->default_system);
        put(w, "<|im_end|>\n");
    }
    for (size_t i = 0; i < n; i++) {
        put(w, "<|im_start|>");
        put(w, m[i].role);
        put(w, "\n");
        put(w, m[i].content);
        put(w, "<|im_end|>\n");
    }
    if (gen)
        put(w, "<|im_start|>assistant\n");
}

static void fmt_llama2(writer *w, const plmm_chat_template *t, const plmm_chat_message *m, size_t n)
{
    const char *sys = NULL;
    size_t i = 0;
    if (n > 0 && role_of(&m[0]) == ROLE_SYSTEM)
        sys = m[i++].content;
    for (size_t k = 0; i < n; i++, k++) {
        if (role_of(&m[i]) == ROLE_USER) {
            put(w, t->bos);
            put(w, "[INST] ");
            if (k == 0 && sys != NULL) {
                /* the template strips "<<SYS>>\n" + S + "\n<</SYS>>\n\n" + U
                 * as one string: S is kept as is, U loses only its trailing
                 * whitespace, and an all-blank U takes the "\n\n" with it */
                const char *u;
                size_t un;
                strip_span(m[i].content, false, &u, &un);
                put(w, "<<SYS>>\n");
                put(w, sys);
                put(w, un > 0 ? "\n<</SYS>>\n\n" : "\n<</SYS>>");
                put_n(w, u, un);
            } else {
                put_stripped(w, m[i].content);
            }
            put(w, " [/INST]");
        } else {
            put(w, " ");
            put_stripped(w, m[i].content);
            put(w, " ");
            put(w, t->eos);
        }
    }
}

static void fmt_mistral(writer *w, const plmm_chat_template *t, const plmm_chat_message *m,
                        size_t n)
{
    const char *sys = NULL;
    size_t i = 0;
    if (n > 0 && role_of(&m[0]) == ROLE_SYSTEM)
        sys = m[i++].content;
    put(w, t->bos);
    for (size_t k = 0; i < n; i++, k++) {
        if (role_of(&m[i]) == ROLE_USER) {
            put(w, "[INST] ");
            if (k == 0 && sys != NULL) {
                put(w, sys);
                put(w, "\n\n");
            }
            put(w, m[i].content);
            put(w, " [/INST]");
        } else {
            put(w, m[i].content);
            put(w, t->eos);
        }
    }
}

static void fmt_llama3(writer *w, const plmm_chat_template *t, const plmm_chat_message *m, size_t n,
                       bool gen)
{
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            put(w, t->bos);
        put(w, "<|start_header_id|>");
        put(w, m[i].role);
        put(w, "<|end_header_id|>\n\n");
        put_stripped(w, m[i].content);
        put(w, "<|eot_id|>");
    }
    if (gen)
        put(w, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void fmt_zephyr(writer *w, const plmm_chat_template *t, const plmm_chat_message *m, size_t n,
                       bool gen)
{
    for (size_t i = 0; i < n; i++) {
        put(w, "<|");
        put(w, m[i].role);
        put(w, "|>\n");
        put(w, m[i].content);
        put(w, t->eos);
        put(w, "\n");
    }
    if (gen && n > 0)
        put(w, "<|assistant|>\n");
}

static void fmt_phi3(writer *w, const plmm_chat_template *t, const plmm_chat_message *m, size_t n,
                     bool gen)
{
    for (size_t i = 0; i < n; i++) {
        if (role_of(&m[i]) == ROLE_SYSTEM && m[i].content[0] == '\0')
            continue;
        put(w, "<|");
        put(w, m[i].role);
        put(w, "|>\n");
        put(w, m[i].content);
        put(w, "<|end|>\n");
    }
    put(w, gen ? "<|assistant|>\n" : t->eos);
}

static void fmt_gemma(writer *w, const plmm_chat_template *t, const plmm_chat_message *m, size_t n,
                      bool gen)
{
    const char *sys = NULL;
    size_t i = 0;
    if (n > 0 && role_of(&m[0]) == ROLE_SYSTEM)
        sys = m[i++].content;
    put(w, t->bos);
    for (size_t k = 0; i < n; i++, k++) {
        put(w, "<start_of_turn>");
        put(w, role_of(&m[i]) == ROLE_USER ? "user\n" : "model\n");
        if (k == 0 && sys != NULL) {
            put(w, sys);
            put(w, "\n\n");
        }
        put_stripped(w, m[i].content);
        put(w, "<end_of_turn>\n");
    }
    if (gen)
        put(w, "<start_of_turn>model\n");
}

plmm_status plmm_chat_template_format(const plmm_chat_template *t, const plmm_chat_message *msgs,
                                      size_t n_msgs, bool add_generation_prompt, char *buf,
                                      size_t capacity, size_t *needed, bool *has_bos)
{
    *needed = 0;
    if (has_bos != NULL)
        *has_bos = false;
    if (buf == NULL && capacity > 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "chat format: null buffer of size %zu", capacity);
    if (msgs == NULL && n_msgs > 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "chat format: null message array");
    plmm_status st = check_msgs(msgs, n_msgs);
    if (st != PLMM_OK)
        return st;

    plmm_chat_family f = t->family;
    const char *name = plmm_chat_family_name(f);
    if (f == PLMM_CHAT_LLAMA2 || f == PLMM_CHAT_MISTRAL || f == PLMM_CHAT_GEMMA) {
        st = check_alternating(msgs, n_msgs, name);
        if (st != PLMM_OK)
            return st;
    }

    writer w = {.buf = buf, .cap = capacity};
    bool own_bos = t->bos_prefix && f != PLMM_CHAT_LLAMA2 && f != PLMM_CHAT_MISTRAL &&
                   f != PLMM_CHAT_LLAMA3 && f != PLMM_CHAT_GEMMA;
    if (own_bos)
        put(&w, t->bos);
    switch (f) {
    case PLMM_CHAT_PLAIN:
        fmt_plain(&w, msgs, n_msgs, add_generation_prompt);
        break;
    case PLMM_CHAT_CHATML:
        fmt_chatml(&w, t, msgs, n_msgs, add_generation_prompt);
        break;
    case PLMM_CHAT_LLAMA2:
        fmt_llama2(&w, t, msgs, n_msgs);
        break;
    case PLMM_CHAT_MISTRAL:
        fmt_mistral(&w, t, msgs, n_msgs);
        break;
    case PLMM_CHAT_LLAMA3:
        fmt_llama3(&w, t, msgs, n_msgs, add_generation_prompt);
        break;
    case PLMM_CHAT_ZEPHYR:
        fmt_zephyr(&w, t, msgs, n_msgs, add_generation_prompt);
        break;
    case PLMM_CHAT_PHI3:
        fmt_phi3(&w, t, msgs, n_msgs, add_generation_prompt);
        break;
    case PLMM_CHAT_GEMMA:
        fmt_gemma(&w, t, msgs, n_msgs, add_generation_prompt);
        break;
    case PLMM_CHAT_AUTO:
    default:
        return plmm_err(PLMM_ERR_INVALID_ARG, "chat template not initialised (family %d)", (int)f);
    }
    if (w.overflow)
        return plmm_err(PLMM_ERR_RANGE, "chat format: text longer than SIZE_MAX");
    if (w.len == SIZE_MAX)
        return plmm_err(PLMM_ERR_RANGE, "chat format: text longer than SIZE_MAX");
    *needed = w.len + 1;
    if (has_bos != NULL) {
        size_t bl = strlen(t->bos);
        *has_bos = bl > 0 && w.len >= bl && strncmp(w.head, t->bos, bl) == 0;
    }
    if (w.len >= capacity) {
        if (capacity > 0)
            buf[0] = '\0';
        return plmm_err(PLMM_ERR_RANGE, "chat format: buffer of %zu bytes too small, need %zu",
                        capacity, *needed);
    }
    buf[w.len] = '\0';
    return PLMM_OK;
}
