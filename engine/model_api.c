/* Models through the public API: load, describe, info report, tokens, chat. */
#include "engine_impl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "errors.h"
#include "plmm_sdk.h"

PLMM_EXPORT plmm_status plmm_model_load(plmm_engine *e, const char *path, plmm_model **out)
{
    plmm_status st;
    if (e == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_model_load: NULL argument");
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        path = plmm_engine_cfg_str(e, "engine", "model");
    if (path == NULL || path[0] == '\0')
        return plmm_err(PLMM_ERR_CONFIG, "no model given: set [engine] model or pass a path");
    double t0 = plmm_now_ms();
    plmm_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate model");
    m->engine = e;
    if ((st = plmm_gguf_open(path, &m->gguf)) != PLMM_OK)
        goto out_free;
    if ((st = plmm_hparams_load(m->gguf, &m->hp)) != PLMM_OK ||
        (st = plmm_weights_load(m->gguf, &m->hp, &m->w)) != PLMM_OK) {
        plmm_err_prefix(st, "model '%s'", path);
        goto out_free;
    }
    if (m->hp.n_vocab == 0) {
        const plmm_gguf_tensor *te = plmm_gguf_tensor_at(m->gguf, (uint64_t)m->w.tok_embd);
        m->hp.n_vocab = (uint32_t)te->ne[1];
    }
    if ((st = plmm_tokenizer_create(m->gguf, &m->tok)) != PLMM_OK) {
        plmm_err_prefix(st, "model '%s': tokenizer", path);
        goto out_free;
    }
    if (plmm_tokenizer_n_vocab(m->tok) > m->hp.n_vocab) {
        st = plmm_err(PLMM_ERR_FORMAT, "model '%s': tokenizer has %u tokens, embedding only %u",
                      path, plmm_tokenizer_n_vocab(m->tok), m->hp.n_vocab);
        goto out_free;
    }
    m->load_ms = plmm_now_ms() - t0;
    plmm_engine_logf(e, PLMM_LOG_INFO, "loaded '%s' (%s, %u layers) in %.1f ms", path,
                     m->hp.arch_name, m->hp.n_layer, m->load_ms);
    *out = m;
    return PLMM_OK;

out_free:
    plmm_model_free(m);
    return st;
}

PLMM_EXPORT void plmm_model_free(plmm_model *m)
{
    if (m == NULL)
        return;
    plmm_tokenizer_destroy(m->tok);
    plmm_weights_free(&m->w);
    plmm_gguf_close(m->gguf);
    free(m);
}

static uint64_t count_params(const plmm_gguf *g)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < plmm_gguf_n_tensors(g); i++) {
        const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, i);
        n += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    return n;
}

PLMM_EXPORT plmm_status plmm_model_describe(const plmm_model *m, plmm_model_desc *out)
{
    if (m == NULL || out == NULL || out->struct_size < sizeof(*out))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_model_describe: bad argument");
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->n_vocab = m->hp.n_vocab;
    out->n_ctx_train = m->hp.n_ctx_train;
    out->n_embd = m->hp.n_embd;
    out->n_layer = m->hp.n_layer;
    out->n_head = m->hp.n_head;
    out->n_head_kv = m->hp.n_head_kv;
    out->n_ff = m->hp.n_ff;
    out->n_params = count_params(m->gguf);
    out->file_size = plmm_gguf_file_size(m->gguf);
    snprintf(out->arch, sizeof(out->arch), "%s", m->hp.arch_name);
    if (plmm_gguf_get_string(m->gguf, "general.name", out->name, sizeof(out->name)) != PLMM_OK)
        out->name[0] = '\0';
    plmm_err_clear();
    return PLMM_OK;
}

/* ---- info report ---- */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) PLMM_PRINTF(2, 3);

static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void sb_str(strbuf *b, plmm_gguf_str s, size_t max)
{
    sb_printf(b, "\"");
    for (uint64_t i = 0; i < s.len && i < max; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '\n')
            sb_printf(b, "\\n");
        else if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c < 0x20)
            sb_printf(b, "\\x%02x", c);
        else
            sb_printf(b, "%c", c);
    }
    sb_printf(b, s.len > max ? "\"… (%" PRIu64 " bytes)" : "\"", s.len);
}

static void sb_scalar(strbuf *b, plmm_gguf_type t, const void *p)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        uint64_t u64;
        int64_t i64;
        double f64;
    } v;
    size_t size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if ((unsigned)t > 12 || size[t] == 0) {
        sb_printf(b, "?");
        return;
    }
    memcpy(&v, p, size[t]);
    switch (t) {
    case PLMM_GGUF_UINT8: sb_printf(b, "%u", v.u8); break;
    case PLMM_GGUF_INT8: sb_printf(b, "%d", v.i8); break;
    case PLMM_GGUF_UINT16: sb_printf(b, "%u", v.u16); break;
    case PLMM_GGUF_INT16: sb_printf(b, "%d", v.i16); break;
    case PLMM_GGUF_UINT32: sb_printf(b, "%" PRIu32, v.u32); break;
    case PLMM_GGUF_INT32: sb_printf(b, "%" PRId32, v.i32); break;
    case PLMM_GGUF_FLOAT32: sb_printf(b, "%g", (double)v.f32); break;
    case PLMM_GGUF_BOOL: sb_printf(b, "%s", v.u8 ? "true" : "false"); break;
    case PLMM_GGUF_UINT64: sb_printf(b, "%" PRIu64, v.u64); break;
    case PLMM_GGUF_INT64: sb_printf(b, "%" PRId64, v.i64); break;
    case PLMM_GGUF_FLOAT64: sb_printf(b, "%g", v.f64); break;
    default: sb_printf(b, "?"); break;
    }
}

static void sb_metadata(strbuf *b, const plmm_gguf *g)
{
    sb_printf(b, "metadata (%" PRIu64 " keys):\n", plmm_gguf_n_kv(g));
    for (uint64_t i = 0; i < plmm_gguf_n_kv(g); i++) {
        plmm_gguf_type t = plmm_gguf_kv_type(g, i);
        sb_printf(b, "  %-44s ", plmm_gguf_key(g, i));
        if (t == PLMM_GGUF_STRING) {
            sb_str(b, plmm_gguf_get_str(g, i), 120);
        } else if (t == PLMM_GGUF_ARRAY) {
            plmm_gguf_type at = plmm_gguf_arr_type(g, i);
            uint64_t n = plmm_gguf_arr_len(g, i);
            sb_printf(b, "[%s × %" PRIu64 "] ", plmm_gguf_type_name(at), n);
            for (uint64_t j = 0; j < n && j < 6; j++) {
                if (j)
                    sb_printf(b, ", ");
                if (at == PLMM_GGUF_STRING)
                    sb_str(b, plmm_gguf_arr_str(g, i, j), 24);
                else if (plmm_gguf_type_size(at) != 0)
                    sb_scalar(b, at, (const uint8_t *)plmm_gguf_arr_data(g, i) +
                                         j * plmm_gguf_type_size(at));
            }
            if (n > 6)
                sb_printf(b, ", …");
        } else {
            const void *p = plmm_gguf_kv_data(g, i);
            if (p != NULL)
                sb_scalar(b, t, p);
            else
                sb_printf(b, "(%s)", plmm_gguf_type_name(t));
        }
        sb_printf(b, "\n");
    }
}

PLMM_EXPORT plmm_status plmm_model_info(const plmm_model *m, uint32_t n_ctx, char **out)
{
    if (m == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_model_info: NULL argument");
    *out = NULL;
    const plmm_gguf *g = m->gguf;
    const plmm_hparams *hp = &m->hp;
    strbuf b = {0};
    if (n_ctx == 0)
        n_ctx = (uint32_t)plmm_engine_cfg_int(m->engine, "engine", "context");
    sb_printf(&b, "file: gguf v%u, %" PRIu64 " bytes, alignment %" PRIu64 "\n",
              plmm_gguf_version(g), plmm_gguf_file_size(g), plmm_gguf_alignment(g));
    sb_printf(&b, "model: %s, %u layers, n_embd %u, n_ff %u, heads %u (kv %u), head_dim %u, "
              "vocab %u, context %u (trained)\n", hp->arch_name, hp->n_layer, hp->n_embd,
              hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_vocab, hp->n_ctx_train);
    sb_printf(&b, "rope: %s, n_rot %u, base %g, scale %g; rms eps %g; parameters %" PRIu64 "\n",
              hp->rope_mode == 2 ? "neox" : "normal", hp->n_rot, (double)hp->rope_freq_base,
              (double)hp->rope_freq_scale, (double)hp->rms_eps, count_params(g));
    sb_metadata(&b, g);
    sb_printf(&b, "tensors (%" PRIu64 "):\n", plmm_gguf_n_tensors(g));
    for (uint64_t i = 0; i < plmm_gguf_n_tensors(g); i++) {
        const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, i);
        sb_printf(&b, "  %-36s %-5s [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] %" PRIu64
                  " bytes @ %" PRIu64 "\n", t->name, plmm_dtype_name(t->dtype), t->ne[0],
                  t->ne[1], t->ne[2], t->ne[3], t->size, t->offset);
    }
    for (int kv = 0; kv < 2; kv++) {
        uint32_t dt = kv ? PLMM_DTYPE_F32 : PLMM_DTYPE_F16;
        uint64_t kvb = 2ull * hp->n_layer * n_ctx * hp->n_head_kv *
                       plmm_dtype_row_bytes(dt, hp->head_dim);
        sb_printf(&b, "memory (context %u, kv %s): weights %.1f MiB (mmapped) + KV cache %.1f MiB"
                  "\n", n_ctx, kv ? "f32" : "f16",
                  (double)plmm_gguf_file_size(g) / 1048576.0, (double)kvb / 1048576.0);
    }
    if (b.oom) {
        free(b.p);
        return plmm_err(PLMM_ERR_NOMEM, "cannot build the info report");
    }
    *out = b.p;
    return PLMM_OK;
}

/* ---- tokens ---- */

PLMM_EXPORT plmm_status plmm_tokenize(const plmm_model *m, const char *text, size_t len,
                                      uint32_t flags, int32_t *ids, size_t capacity, size_t *n_out)
{
    if (m == NULL || (text == NULL && len > 0) || n_out == NULL || (ids == NULL && capacity > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_tokenize: NULL argument");
    return plmm_tokenizer_encode(m->tok, text, len, (flags & PLMM_TOKENIZE_ADD_SPECIAL) != 0,
                                 (flags & PLMM_TOKENIZE_PARSE_SPECIAL) != 0, ids, capacity, n_out);
}

PLMM_EXPORT plmm_status plmm_token_piece(const plmm_model *m, int32_t id, char *buf,
                                         size_t capacity, size_t *n_out)
{
    if (m == NULL || n_out == NULL || (buf == NULL && capacity > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_token_piece: NULL argument");
    return plmm_tokenizer_piece(m->tok, id, buf, capacity, n_out);
}

PLMM_EXPORT const char *plmm_token_text(const plmm_model *m, int32_t id, size_t *len)
{
    size_t n = 0;
    const char *t = m ? plmm_tokenizer_token_text(m->tok, id, &n) : NULL;
    if (len != NULL)
        *len = t ? n : 0;
    return t;
}

PLMM_EXPORT int32_t plmm_token_bos(const plmm_model *m)
{
    return m ? plmm_tokenizer_bos(m->tok) : -1;
}

PLMM_EXPORT int32_t plmm_token_eos(const plmm_model *m)
{
    return m ? plmm_tokenizer_eos(m->tok) : -1;
}

PLMM_EXPORT bool plmm_token_is_eog(const plmm_model *m, int32_t id)
{
    return m != NULL && plmm_tokenizer_is_eog(m->tok, id);
}
