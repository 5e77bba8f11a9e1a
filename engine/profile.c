/*
 * The llm-core profile table. Shape ranges are the largest shapes the
 * forward graph emits for the models plmm targets: n_embd <= 16384,
 * n_ff <= 65536, n_head * head_dim <= 65536, head_dim <= 256,
 * n_head <= 256, vocab <= 262144, and batches of up to 4096 tokens.
 * Flags: the graph writes no tensor in place; PLMM_CAP_NONCONTIG is
 * required where the op contracts of backend.h allow strided views
 * (MUL_MAT activation rows, CPY into cache views, ATTENTION caches).
 */
#include "profile.h"

#include "errors.h"
#include "plmm_sdk.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

#define MAX_TOKENS 4096
#define MAX_EMBD 16384
#define MAX_FF 65536
#define MAX_VOCAB 262144
#define MAX_HEAD_DIM 256
#define MAX_HEADS 256

/* Weight dtypes of llm-core, in sub-profile order. */
static const uint32_t weight_dtypes[] = {
    PLMM_DTYPE_F32,  PLMM_DTYPE_F16,  PLMM_DTYPE_Q8_0,
    PLMM_DTYPE_Q4_0, PLMM_DTYPE_Q4_K, PLMM_DTYPE_Q6_K,
};

/* Items that hold for every weight dtype. */
static const plmm_profile_item common_items[] = {
    {PLMM_OP_RMS_NORM,
     PLMM_DTYPE_F32,
     0,
     {MAX_EMBD, MAX_TOKENS, 1, 1},
     "attn_norm, ffn_norm, result_norm: (n_embd, n_tokens) with an F32 weight"},
    {PLMM_OP_ADD,
     PLMM_DTYPE_F32,
     0,
     {MAX_FF, MAX_TOKENS, 1, 1},
     "residual adds; q/k/v bias adds (qwen2), a bias row broadcast over the tokens"},
    {PLMM_OP_ROPE,
     PLMM_DTYPE_F32,
     0,
     {MAX_HEAD_DIM, MAX_HEADS, MAX_TOKENS, 1},
     "q and k (views of the projections), modes 0 (llama) and 2 (NeoX, qwen2), optional freq "
     "factors"},
    {PLMM_OP_CPY,
     PLMM_DTYPE_F16,
     PLMM_CAP_NONCONTIG,
     {MAX_HEAD_DIM, MAX_HEADS, MAX_TOKENS, 1},
     "k and v into a view of the F16 KV cache"},
    {PLMM_OP_CPY,
     PLMM_DTYPE_F32,
     PLMM_CAP_NONCONTIG,
     {MAX_HEAD_DIM, MAX_HEADS, MAX_TOKENS, 1},
     "k and v into a view of the F32 KV cache"},
    {PLMM_OP_ATTENTION,
     PLMM_DTYPE_F16,
     PLMM_CAP_NONCONTIG,
     {MAX_HEAD_DIM, MAX_HEADS, MAX_TOKENS, 1},
     "causal GQA attention over the F16 KV cache"},
    {PLMM_OP_ATTENTION,
     PLMM_DTYPE_F32,
     PLMM_CAP_NONCONTIG,
     {MAX_HEAD_DIM, MAX_HEADS, MAX_TOKENS, 1},
     "causal GQA attention over the F32 KV cache"},
    {PLMM_OP_SWIGLU,
     PLMM_DTYPE_F32,
     0,
     {MAX_FF, MAX_TOKENS, 1, 1},
     "feed-forward gate: silu(gate) * up, (n_ff, n_tokens)"},
};

/* Items per weight dtype. */
static const plmm_profile_item weight_items[] = {
    {PLMM_OP_GET_ROWS,
     0,
     0,
     {MAX_EMBD, MAX_VOCAB, 1, 1},
     "token embedding lookup: token_embd (n_embd, n_vocab)"},
    {PLMM_OP_MUL_MAT,
     0,
     PLMM_CAP_NONCONTIG,
     {MAX_FF, MAX_VOCAB, 1, 1},
     "every projection and the output head: W (K, N) x X (K, n_tokens)"},
};

static const char specs[] = "llm-core, llm-core:F32, llm-core:F16, llm-core:Q8_0, "
                            "llm-core:Q4_0, llm-core:Q4_K, llm-core:Q6_K, llm-npu, llm-npu:DTYPE";

/* llm-npu: what a partition backend must run so that the matrix products
 * of the forward graph and the vector ops around them leave the CPU: the
 * llm-core items but GET_ROWS, ROPE, CPY and ATTENTION (embedding lookup,
 * positions and the KV cache stay on a graph backend). */
static bool npu_item(uint32_t op)
{
    return op != PLMM_OP_GET_ROWS && op != PLMM_OP_ROPE && op != PLMM_OP_CPY &&
           op != PLMM_OP_ATTENTION;
}

const char *plmm_profile_specs(void)
{
    return specs;
}

const uint32_t *plmm_profile_weight_dtypes(uint32_t *n)
{
    *n = COUNT(weight_dtypes);
    return weight_dtypes;
}

uint32_t plmm_node_cap_dtype(const plmm_node *n)
{
    const plmm_tensor *t;
    switch (n->op) {
    case PLMM_OP_ATTENTION:
        t = n->src[1];
        break;
    case PLMM_OP_CPY:
        t = n->dst;
        break;
    default:
        t = n->src[0];
        break;
    }
    return t != NULL ? t->dtype : PLMM_DTYPE_COUNT;
}

static void add_item(plmm_profile *p, const plmm_profile_item *it, uint32_t dtype)
{
    if (p->n_items >= PLMM_PROFILE_MAX_ITEMS)
        return;
    p->items[p->n_items] = *it;
    p->items[p->n_items].dtype = dtype;
    p->n_items++;
}

plmm_status plmm_profile_get(const char *spec, plmm_profile *out)
{
    static const char core[] = "llm-core", npu[] = "llm-npu";
    memset(out, 0, sizeof(*out));
    const bool is_npu = strncmp(spec, npu, sizeof(npu) - 1) == 0;
    const char *family = is_npu ? npu : core;
    const size_t fl = strlen(family);
    if (strncmp(spec, family, fl) != 0 || (spec[fl] != '\0' && spec[fl] != ':'))
        return plmm_err(PLMM_ERR_NOT_FOUND, "unknown profile '%s' (known: %s)", spec, specs);
    uint32_t wanted = PLMM_DTYPE_COUNT;
    if (spec[fl] == ':') {
        const char *dt = spec + fl + 1;
        for (uint32_t i = 0; i < COUNT(weight_dtypes); i++) {
            const char *name = plmm_dtype_name(weight_dtypes[i]);
            size_t k = 0;
            while (name[k] != '\0' && toupper((unsigned char)dt[k]) == name[k])
                k++;
            if (name[k] == '\0' && dt[k] == '\0')
                wanted = weight_dtypes[i];
        }
        if (wanted == PLMM_DTYPE_COUNT)
            return plmm_err(PLMM_ERR_NOT_FOUND, "unknown profile '%s' (known: %s)", spec, specs);
    }
    out->weight_dtype = wanted;
    if (wanted == PLMM_DTYPE_COUNT)
        snprintf(out->name, sizeof(out->name), "%s", family);
    else
        snprintf(out->name, sizeof(out->name), "%s:%s", family, plmm_dtype_name(wanted));
    for (uint32_t w = 0; w < COUNT(weight_items); w++)
        for (uint32_t i = 0; i < COUNT(weight_dtypes); i++)
            if ((wanted == PLMM_DTYPE_COUNT || wanted == weight_dtypes[i]) &&
                (!is_npu || npu_item(weight_items[w].op)))
                add_item(out, &weight_items[w], weight_dtypes[i]);
    for (uint32_t i = 0; i < COUNT(common_items); i++)
        if (!is_npu || npu_item(common_items[i].op))
            add_item(out, &common_items[i], common_items[i].dtype);
    return PLMM_OK;
}

const plmm_profile_item *plmm_profile_match(const plmm_profile *p, const plmm_node *node)
{
    uint32_t dt = plmm_node_cap_dtype(node);
    for (uint32_t i = 0; i < p->n_items; i++)
        if (p->items[i].op == node->op && p->items[i].dtype == dt)
            return &p->items[i];
    return NULL;
}

static const char *flag_name(uint32_t f)
{
    return f == PLMM_CAP_INPLACE ? "PLMM_CAP_INPLACE" : "PLMM_CAP_NONCONTIG";
}

bool plmm_profile_item_covered(const plmm_profile_item *item, const plmm_backend_desc *desc,
                               char *why, size_t why_size)
{
    char tmp[160];
    const char *op = plmm_op_name(item->op), *dt = plmm_dtype_name(item->dtype);
    snprintf(tmp, sizeof(tmp), "%s %s: not declared", op, dt);
    bool has_caps = desc->struct_size >= offsetof(plmm_backend_desc, caps) + sizeof(desc->caps) &&
                    desc->caps != NULL;
    for (uint32_t i = 0; has_caps && i < desc->n_caps; i++) {
        const plmm_op_caps *c = &desc->caps[i];
        if (c->op != item->op || item->dtype >= 64 || !(c->dtypes & PLMM_DTYPE_BIT(item->dtype)))
            continue;
        uint32_t lacking = item->flags & ~c->flags;
        if (lacking != 0) {
            snprintf(
                tmp, sizeof(tmp), "%s %s: declared without %s", op, dt,
                flag_name(lacking & PLMM_CAP_NONCONTIG ? PLMM_CAP_NONCONTIG : PLMM_CAP_INPLACE));
            continue;
        }
        int short_dim = -1;
        for (int d = 0; d < PLMM_MAX_DIMS && short_dim < 0; d++)
            if (c->max_ne[d] > 0 && (item->max_ne[d] == 0 || c->max_ne[d] < item->max_ne[d]))
                short_dim = d;
        if (short_dim >= 0) {
            snprintf(tmp, sizeof(tmp), "%s %s: max_ne[%d] = %lld, the profile needs %lld", op, dt,
                     short_dim, (long long)c->max_ne[short_dim],
                     (long long)item->max_ne[short_dim]);
            continue;
        }
        return true;
    }
    if (why != NULL && why_size > 0)
        snprintf(why, why_size, "%s", tmp);
    return false;
}
