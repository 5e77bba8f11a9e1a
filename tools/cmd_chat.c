/*
 * plmm chat: a conversation with the model on stdin/stdout, formatted with
 * the model's chat template.
 *
 * The KV cache is reused across turns: the session remembers the text
 * whose tokens it holds (the formatted prompt of the last turn plus the
 * reply generated so far). When the next formatted conversation starts
 * with that text, only the rest is tokenized and evaluated; otherwise
 * (a template that rewrites earlier turns, a reply cut short) the session
 * is reset and the whole conversation is evaluated again.
 */
#include "cli.h"
#include "plmm/ask.h"
#include "privacy_cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    OPT_SYSTEM = OPT_CMD_START,
    OPT_TEMPLATE,
    OPT_N_PREDICT,
    OPT_LOCAL,
};

static const cli_opt chat_opts[] = {
    {OPT_SYSTEM, 's', "system", "TEXT", "system prompt at the start of the conversation"},
    {OPT_TEMPLATE, 0, "template", "NAME", "chat template (default: [chat] template)"},
    {OPT_N_PREDICT, 'n', "n-predict", "N", "most tokens per reply, -1 = no limit (512)"},
    {OPT_TEMP, 0, "temp", "T", "temperature, 0 = greedy ([sampling] temperature)"},
    {OPT_SEED, 0, "seed", "S", "sampling seed"},
    {OPT_LOCAL, 0, "local", NULL,
     "answer every turn with the P-model (no routing to experts or "
     "the T-model)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_chat_desc = {
    .name = "chat",
    .summary = "Chat with the model (one user turn per line of stdin).",
    .synopsis = "[--system TEXT] [--template NAME] [-n N] [-m MODEL] [-c FILE.ini]",
    .details = "Each line read from stdin is one user turn; the reply is streamed to stdout.\n"
               "Commands: /reset forgets the conversation (the system prompt stays),\n"
               "/quit ends. End of input ends the chat. Empty lines are ignored. When stdin\n"
               "is a terminal a '> ' prompt is shown and errors do not end the chat.\n"
               "When the configuration has experts ([expert.NAME]) or a T-model ([tmodel]),\n"
               "each turn goes through the router (docs/experts.md): a turn it keeps local\n"
               "continues the conversation with the P-model; one it sends to an expert or\n"
               "the T-model is asked on its own and the answer joins the conversation. A line\n"
               "'[answered by: ...]' and any fallback notices go to stderr. --local turns\n"
               "routing off.\n"
               "With [privacy] personalise = true, the vault items relevant to each line\n"
               "(chosen locally) are put in front of it; the vault's passphrase comes from\n"
               "[privacy] key_file, PLMM_VAULT_PASSPHRASE or the terminal. With\n"
               "[privacy] remember_history = true each turn is also stored in the vault.",
    .opts = chat_opts,
    .needs_model = true,
};

typedef struct chat {
    plmm_model *model;     /* borrowed from the command's cli_ctx */
    plmm_session *session; /* borrowed */
    const char *template_name;
    int32_t n_predict;
    bool interactive;
    bool verbose;
    plmm_router *router; /* NULL: every turn is local */

    plmm_chat_message *msgs;          /* roles are static strings, contents owned */
    size_t n_msgs, cap_msgs, n_fixed; /* n_fixed: leading messages kept by /reset */

    char *fmt; /* formatted conversation */
    size_t fmt_cap;

    char *kv_text; /* text whose tokens the KV cache holds */
    size_t kv_len, kv_cap;

    plmm_vault *vault; /* [privacy] personalise: the user's store, else NULL */
    size_t ctx_items, ctx_bytes;
    bool remember;                   /* [privacy] remember_history: turns go into the vault */
    const plmm_ask_result *meta;     /* the router's decision for the turn, or NULL */
    double min_logprob, max_entropy; /* [router] thresholds, for "Confidence: low" */

    char *reply; /* text generated in this turn */
    size_t reply_len, reply_cap, last_piece_len;
    bool write_failed;
} chat;

/* Ensure *buf holds at least need bytes. */
static bool reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return false;
        n *= 2;
    }
    char *p = realloc(*buf, n);
    if (p == NULL)
        return false;
    *buf = p;
    *cap = n;
    return true;
}

static bool push_msg(chat *ch, const char *role, const char *content, size_t len)
{
    if (ch->n_msgs == ch->cap_msgs) {
        size_t cap = ch->cap_msgs ? ch->cap_msgs * 2 : 16;
        plmm_chat_message *m = realloc(ch->msgs, cap * sizeof(*m));
        if (m == NULL)
            return false;
        ch->msgs = m;
        ch->cap_msgs = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return false;
    memcpy(copy, content, len);
    copy[len] = '\0';
    ch->msgs[ch->n_msgs].role = role;
    ch->msgs[ch->n_msgs].content = copy;
    ch->n_msgs++;
    return true;
}

static void pop_msgs(chat *ch, size_t keep)
{
    while (ch->n_msgs > keep) {
        ch->n_msgs--;
        free((char *)ch->msgs[ch->n_msgs].content);
    }
}

static void forget_kv(chat *ch)
{
    plmm_session_reset(ch->session);
    ch->kv_len = 0;
}

static bool on_token(void *user, int32_t id, const char *piece, size_t len)
{
    chat *ch = user;
    (void)id;
    if (!reserve(&ch->reply, &ch->reply_cap, ch->reply_len + len + 1)) {
        ch->write_failed = true;
        return false;
    }
    memcpy(ch->reply + ch->reply_len, piece, len);
    ch->reply_len += len;
    ch->last_piece_len = len;
    if ((len > 0 && fwrite(piece, 1, len, stdout) != len) || fflush(stdout) != 0) {
        ch->write_failed = true;
        return false;
    }
    return true;
}

/* Format the conversation with a generation prompt into ch->fmt. */
static int format_conversation(chat *ch, size_t *len, bool *has_bos)
{
    size_t needed = 0;
    plmm_status st = plmm_chat_format(ch->model, ch->template_name, ch->msgs, ch->n_msgs, true,
                                      ch->fmt, ch->fmt_cap, &needed, has_bos);
    if (st == PLMM_ERR_RANGE && needed > ch->fmt_cap) {
        if (!reserve(&ch->fmt, &ch->fmt_cap, needed))
            return cli_error("out of memory");
        st = plmm_chat_format(ch->model, ch->template_name, ch->msgs, ch->n_msgs, true, ch->fmt,
                              ch->fmt_cap, &needed, has_bos);
    }
    if (st != PLMM_OK)
        return cli_api_error(st);
    *len = strlen(ch->fmt);
    return CLI_EXIT_OK;
}

/* Record which text the KV cache now holds: the formatted prompt plus the
 * reply tokens that were evaluated (the last sampled token is not
 * evaluated when generation stops on the length limit). */
static bool update_kv_text(chat *ch, size_t fmt_len, uint32_t n_past_expected, size_t n_gen)
{
    uint32_t n_past = plmm_session_n_past(ch->session);
    size_t reply_len;
    if (n_past == n_past_expected + n_gen)
        reply_len = ch->reply_len;
    else if (n_gen > 0 && n_past == n_past_expected + n_gen - 1)
        reply_len = ch->reply_len - ch->last_piece_len;
    else
        return false;
    if (!reserve(&ch->kv_text, &ch->kv_cap, fmt_len + reply_len + 1))
        return false;
    memcpy(ch->kv_text, ch->fmt, fmt_len);
    memcpy(ch->kv_text + fmt_len, ch->reply, reply_len);
    ch->kv_len = fmt_len + reply_len;
    return true;
}

/* One user turn: format, evaluate what the KV cache lacks, stream the reply. */
/* Store a turn in the vault as history (docs/updates.md, distillation):
 * the router's expert, route and confidence as header lines, then
 * "Q: question" and "A: answer". */
static void remember_turn(chat *ch, const char *q, size_t q_len, const char *a, size_t a_len)
{
    char head[256] = "";
    const plmm_ask_result *m = ch->meta;
    if (m != NULL) {
        bool low = m->draft_tokens > 0 && ((double)m->mean_logprob < ch->min_logprob ||
                                           (double)m->mean_entropy > ch->max_entropy);
        int k = 0;
        if (m->expert[0] != '\0')
            k = snprintf(head, sizeof(head), "Expert: %s\n", m->expert);
        snprintf(head + k, sizeof(head) - (size_t)k, "Route: %s\nConfidence: %s\n",
                 plmm_route_name(m->route), low ? "low" : "ok");
    }
    size_t n = strlen(head) + q_len + a_len + 16;
    char *turn = malloc(n);
    plmm_status st = PLMM_ERR_NOMEM;
    if (turn != NULL) {
        snprintf(turn, n, "%sQ: %.*s\nA: %.*s", head, (int)q_len, q, (int)a_len, a);
        st = plmm_vault_add(ch->vault, PLMM_VAULT_HISTORY, PLMM_PII_NONE, turn, NULL, 0);
        explicit_bzero(turn, n);
        free(turn);
    }
    if (st != PLMM_OK)
        fprintf(stderr, "plmm: warn: turn not stored in the vault: %s\n", plmm_last_errmsg());
}

static int chat_turn(chat *ch, const char *line, size_t line_len)
{
    size_t keep = ch->n_msgs, fmt_len = 0, n_ids = 0, n_gen = 0;
    bool has_bos = false;
    int32_t *ids = NULL;
    const char *suffix;
    uint32_t flags = PLMM_TOKENIZE_PARSE_SPECIAL;
    int code;
    plmm_status st;

    if (ch->vault != NULL) {
        /* Personalisation: the vault items relevant to this question, chosen
         * locally, go in front of it; earlier turns keep their text, so the
         * KV cache still matches. */
        char *ctx = NULL, *q = malloc(line_len + 1);
        if (q == NULL)
            return cli_error("out of memory");
        memcpy(q, line, line_len);
        q[line_len] = '\0';
        st = plmm_vault_context(ch->vault, q, ch->ctx_items, ch->ctx_bytes, &ctx);
        free(q);
        if (st != PLMM_OK)
            return cli_api_error(st);
        size_t cl = strlen(ctx);
        if (ch->verbose)
            fprintf(stderr, "plmm: debug: chat: %zu bytes of vault context for this turn\n", cl);
        char *msg = malloc(cl + line_len + 2);
        bool ok = msg != NULL;
        if (ok) {
            memcpy(msg, ctx, cl);
            if (cl > 0)
                msg[cl++] = '\n';
            memcpy(msg + cl, line, line_len);
            ok = push_msg(ch, "user", msg, cl + line_len);
            explicit_bzero(msg, cl + line_len);
        }
        explicit_bzero(ctx, strlen(ctx));
        plmm_free(ctx);
        free(msg);
        if (!ok)
            return cli_error("out of memory");
    } else if (!push_msg(ch, "user", line, line_len)) {
        return cli_error("out of memory");
    }
    code = format_conversation(ch, &fmt_len, &has_bos);
    if (code != CLI_EXIT_OK)
        goto out_pop;
    if (ch->kv_len > 0 && ch->kv_len <= fmt_len && memcmp(ch->fmt, ch->kv_text, ch->kv_len) == 0) {
        suffix = ch->fmt + ch->kv_len;
    } else {
        forget_kv(ch);
        suffix = ch->fmt;
        if (!has_bos)
            flags |= PLMM_TOKENIZE_ADD_SPECIAL;
    }
    code = cli_tokenize(ch->model, suffix, strlen(suffix), flags, &ids, &n_ids);
    if (code != CLI_EXIT_OK)
        goto out_pop;
    if (ch->verbose)
        fprintf(stderr, "plmm: debug: chat: %u cached positions reused, %zu new tokens\n",
                (unsigned)plmm_session_n_past(ch->session), n_ids);

    uint32_t n_past_expected = plmm_session_n_past(ch->session) + (uint32_t)n_ids;
    ch->reply_len = 0;
    ch->last_piece_len = 0;
    ch->write_failed = false;
    st = plmm_session_generate(ch->session, ids, n_ids, ch->n_predict, on_token, ch, &n_gen);
    fputc('\n', stdout);
    fflush(stdout);
    if (ch->write_failed) {
        code = cli_error("cannot write to stdout");
        goto out_reset;
    }
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        if (st == PLMM_ERR_RANGE && ch->interactive)
            fprintf(stderr, "plmm: the conversation may no longer fit the context; "
                            "/reset starts a new one\n");
        goto out_reset;
    }
    if (!update_kv_text(ch, fmt_len, n_past_expected, n_gen))
        forget_kv(ch);
    /* Templates render a reply after their own separator; the leading
     * space a SentencePiece vocab puts on the first word is not content. */
    size_t skip = 0;
    while (skip < ch->reply_len && isspace((unsigned char)ch->reply[skip]))
        skip++;
    if (!push_msg(ch, "assistant", ch->reply + skip, ch->reply_len - skip)) {
        code = cli_error("out of memory");
        goto out_reset;
    }
    if (ch->remember)
        remember_turn(ch, line, line_len, ch->reply + skip, ch->reply_len - skip);
    free(ids);
    return CLI_EXIT_OK;

out_reset:
    forget_kv(ch);
out_pop:
    pop_msgs(ch, keep);
    free(ids);
    return code;
}

static bool on_routed_piece(void *user, const char *piece, size_t len)
{
    (void)user;
    return fwrite(piece, 1, len, stdout) == len && fflush(stdout) == 0;
}

/* A turn through the router: local ones continue the conversation, the
 * others are asked on their own and their answer joins it. */
static int routed_turn(chat *ch, const char *line, size_t len)
{
    plmm_ask_result res = {.struct_size = sizeof(res)};
    int code = CLI_EXIT_OK;
    char *q = malloc(len + 1);
    if (q == NULL)
        return cli_error("out of memory");
    memcpy(q, line, len);
    q[len] = '\0';
    plmm_status st = plmm_router_decide(ch->router, q, &res);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    if (res.route == PLMM_ROUTE_LOCAL) {
        ch->meta = &res;
        code = chat_turn(ch, line, len);
        ch->meta = NULL;
        goto out;
    }
    st = plmm_router_ask(ch->router, q, on_routed_piece, NULL, &res);
    fputc('\n', stdout);
    fflush(stdout);
    if (res.notices != NULL)
        fputs(res.notices, stderr);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    if (res.route == PLMM_ROUTE_EXPERT)
        fprintf(stderr, "[answered by: expert %s]\n", res.expert);
    else
        fprintf(stderr, "[answered by: %s]\n", plmm_route_name(res.route));
    size_t keep = ch->n_msgs;
    if (!push_msg(ch, "user", line, len) ||
        !push_msg(ch, "assistant", res.answer, strlen(res.answer))) {
        pop_msgs(ch, keep);
        code = cli_error("out of memory");
    } else if (ch->remember) {
        ch->meta = &res;
        remember_turn(ch, line, len, res.answer, strlen(res.answer));
        ch->meta = NULL;
    }
out:
    plmm_ask_result_clear(&res);
    free(q);
    return code;
}

/* Read one line (without its line end) into *buf: 1, or 0 at the end of
 * input, -1 when out of memory. */
static int read_line(char **buf, size_t *cap, size_t *len)
{
    size_t n = 0;
    int c;
    if (!reserve(buf, cap, 2))
        return -1;
    while ((c = getchar()) != EOF) {
        if (c == '\n')
            break;
        if (!reserve(buf, cap, n + 2))
            return -1;
        (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return 0;
    if (n > 0 && (*buf)[n - 1] == '\r')
        n--;
    (*buf)[n] = '\0';
    *len = n;
    return 1;
}

static int chat_loop(chat *ch)
{
    char *line = NULL;
    size_t cap = 0, len = 0;
    int code = CLI_EXIT_OK;

    for (;;) {
        if (ch->interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        int got = read_line(&line, &cap, &len);
        if (got <= 0) {
            if (got < 0)
                code = cli_error("out of memory reading stdin");
            else if (ferror(stdin))
                code = cli_error("cannot read stdin");
            if (ch->interactive)
                fputc('\n', stdout);
            break;
        }
        if (len == 0)
            continue;
        if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0)
            break;
        if (strcmp(line, "/reset") == 0) {
            pop_msgs(ch, ch->n_fixed);
            forget_kv(ch);
            continue;
        }
        size_t bad = cli_utf8_invalid_at(line, len);
        if (bad < len) {
            code = cli_error("input is not valid UTF-8 (byte 0x%02x at offset %zu)",
                             (unsigned)(unsigned char)line[bad], bad);
        } else {
            code = ch->router != NULL ? routed_turn(ch, line, len) : chat_turn(ch, line, len);
        }
        if (code != CLI_EXIT_OK && !ch->interactive)
            break;
        code = CLI_EXIT_OK;
    }
    free(line);
    return code;
}

int cmd_chat(int argc, char **argv)
{
    const cli_command *cmd = &cmd_chat_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    const char *system = NULL;
    int64_t n_predict = 512;
    cli_sampling sf;
    bool local = false;
    int r, code = CLI_EXIT_USAGE;
    chat ch;

    memset(&ch, 0, sizeof(ch));
    memset(&sf, 0, sizeof(sf));
    cli_ctx_init(&x, cmd, argc, argv);
    x.sampling = &sf;
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        bool ok = true;
        switch (o->id) {
        case OPT_SYSTEM:
            system = v;
            break;
        case OPT_TEMPLATE:
            ch.template_name = v;
            break;
        case OPT_N_PREDICT:
            ok = cli_parse_i64(cmd, o, v, -1, INT32_MAX, &n_predict);
            break;
        case OPT_LOCAL:
            local = true;
            break;
        }
        if (!ok)
            goto out;
    }
    if (r < 0)
        goto out;
    if (system != NULL && cli_utf8_invalid_at(system, strlen(system)) < strlen(system)) {
        code = cli_usage_error(cmd, "option '--system' is not valid UTF-8");
        goto out;
    }
    ch.n_predict = (int32_t)n_predict;
    ch.interactive = isatty(STDIN_FILENO) != 0;
    ch.verbose = x.common.verbose > 0;
    code = cli_open_model(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_session(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    ch.model = x.model;
    ch.session = x.session;
    const char *pers = cli_config_value(&x, "privacy.personalise");
    if (pers != NULL && (strcmp(pers, "true") == 0 || strcmp(pers, "yes") == 0 ||
                         strcmp(pers, "on") == 0 || strcmp(pers, "1") == 0)) {
        cli_secret sec = {.env_name = "PLMM_VAULT_PASSPHRASE", .prompt = "vault passphrase: "};
        cli_no_core_dumps();
        const char *rem = cli_config_value(&x, "privacy.remember_history");
        ch.remember = rem != NULL && (strcmp(rem, "true") == 0 || strcmp(rem, "yes") == 0 ||
                                      strcmp(rem, "on") == 0 || strcmp(rem, "1") == 0);
        code = cli_open_vault(&x, NULL, &sec, ch.remember ? PLMM_VAULT_WRITE : 0, &ch.vault);
        if (code != CLI_EXIT_OK)
            goto out;
        const char *ci = cli_config_value(&x, "privacy.context_items");
        const char *cb = cli_config_value(&x, "privacy.context_bytes");
        ch.ctx_items = ci != NULL ? (size_t)strtoul(ci, NULL, 10) : 8;
        ch.ctx_bytes = cb != NULL ? (size_t)strtoul(cb, NULL, 10) : 2048;
        const char *ml = cli_config_value(&x, "router.min_logprob");
        const char *me = cli_config_value(&x, "router.max_entropy");
        ch.min_logprob = ml != NULL ? strtod(ml, NULL) : -1e30;
        ch.max_entropy = me != NULL ? strtod(me, NULL) : 1e30;
    }
    code = cli_set_sampling(&x, &sf);
    if (code != CLI_EXIT_OK)
        goto out;
    if (system != NULL && system[0] != '\0') {
        if (!push_msg(&ch, "system", system, strlen(system))) {
            code = cli_error("out of memory");
            goto out;
        }
        ch.n_fixed = 1;
    }
    if (!local) {
        plmm_status st = plmm_router_open(x.engine, x.model, &ch.router);
        if (st != PLMM_OK) {
            code = cli_api_error(st);
            goto out;
        }
        if (st == PLMM_OK && plmm_router_wants_vault(ch.router)) {
            /* the ledger is keyed by the vault */
            plmm_vault *vlt = ch.vault;
            cli_secret sec = {.env_name = "PLMM_VAULT_PASSPHRASE", .prompt = "vault passphrase: "};
            if (vlt == NULL && (code = cli_open_vault(&x, NULL, &sec, 0, &vlt)) != CLI_EXIT_OK)
                goto out;
            st = plmm_router_use_vault(ch.router, vlt);
            if (vlt != ch.vault)
                plmm_vault_close(vlt);
            if (st != PLMM_OK) {
                code = cli_api_error(st);
                goto out;
            }
        }
        if (!plmm_router_has_consultants(ch.router)) {
            plmm_router_close(ch.router);
            ch.router = NULL;
        }
    }
    code = chat_loop(&ch);
out:
    plmm_router_close(ch.router);
    plmm_vault_close(ch.vault);
    pop_msgs(&ch, 0);
    free(ch.msgs);
    free(ch.fmt);
    free(ch.kv_text);
    free(ch.reply);
    cli_ctx_close(&x);
    return code;
}
