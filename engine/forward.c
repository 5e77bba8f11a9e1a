#include "forward.h"

#include <math.h>

#include "errors.h"
#include "lora.h"

void plmm_forward_capacity(const plmm_hparams *hp, uint32_t *n_tensors, uint32_t *n_nodes)
{
    /* per layer: ~18 weights/state + ~30 activations and views; ~20 nodes */
    *n_tensors = 32 + hp->n_layer * 56;
    *n_nodes = 16 + hp->n_layer * 24;
}

static plmm_tensor *weight(plmm_graph_builder *b, const plmm_gguf *g, int32_t idx)
{
    if (idx < 0)
        return NULL;
    const plmm_gguf_tensor *gt = plmm_gguf_tensor_at(g, (uint64_t)idx);
    plmm_tensor *t = plmm_graph_tensor(b, gt->dtype, gt->ne[0], gt->ne[1], gt->ne[2], gt->ne[3],
                                       gt->name);
    if (t != NULL) {
        t->flags |= PLMM_TENSOR_WEIGHT;
        b->info[t->id].weight = idx;
    }
    return t;
}

/* LoRA beside y = W x: y + f * B (A x), A (n_in, r) and B (r, n_out) host
 * inputs in F32; f = scale * alpha / rank. Returns y when w is not adapted. */
static plmm_tensor *lora_add(plmm_graph_builder *b, const plmm_forward_io *io, int32_t w,
                             plmm_tensor *x, plmm_tensor *y)
{
    const plmm_lora_pair *p = plmm_lora_find(io->lora, w);
    if (p == NULL || io->lora_scale == 0.0f || y == NULL)
        return y;
    plmm_tensor *A = plmm_graph_tensor(b, PLMM_DTYPE_F32, p->n_in, p->rank, 1, 1, "lora_a");
    plmm_tensor *B = plmm_graph_tensor(b, PLMM_DTYPE_F32, p->rank, p->n_out, 1, 1, "lora_b");
    if (A == NULL || B == NULL)
        return NULL;
    A->flags |= PLMM_TENSOR_INPUT;
    A->data = p->a;
    B->flags |= PLMM_TENSOR_INPUT;
    B->data = p->b;
    plmm_tensor *ax = plmm_graph_tensor(b, PLMM_DTYPE_F32, p->rank, x->ne[1], 1, 1, "lora_ax");
    plmm_graph_node(b, PLMM_OP_MUL_MAT, ax, A, x, NULL, NULL);
    plmm_tensor *axs = plmm_graph_tensor(b, PLMM_DTYPE_F32, p->rank, x->ne[1], 1, 1, "lora_axs");
    plmm_node *sn = plmm_graph_node(b, PLMM_OP_SCALE, axs, ax, NULL, NULL, NULL);
    if (sn != NULL)
        sn->fp[0] = plmm_lora_factor(io->lora, p, io->lora_scale);
    plmm_tensor *bax = plmm_graph_tensor(b, PLMM_DTYPE_F32, p->n_out, x->ne[1], 1, 1, "lora_bax");
    plmm_graph_node(b, PLMM_OP_MUL_MAT, bax, B, axs, NULL, NULL);
    plmm_tensor *sum = plmm_graph_tensor(b, PLMM_DTYPE_F32, y->ne[0], y->ne[1], 1, 1, "lora_out");
    plmm_graph_node(b, PLMM_OP_ADD, sum, y, bax, NULL, NULL);
    return sum;
}

/* y = W x (+ LoRA) (+ bias) */
static plmm_tensor *linear(plmm_graph_builder *b, const plmm_gguf *g, int32_t w, int32_t bias,
                           plmm_tensor *x, const char *name, const plmm_forward_io *io)
{
    plmm_tensor *W = weight(b, g, w);
    if (W == NULL || x == NULL)
        return NULL;
    plmm_tensor *y = plmm_graph_tensor(b, PLMM_DTYPE_F32, W->ne[1], x->ne[1], 1, 1, name);
    plmm_graph_node(b, PLMM_OP_MUL_MAT, y, W, x, NULL, NULL);
    y = lora_add(b, io, w, x, y);
    if (y == NULL)
        return NULL;
    if (bias >= 0) {
        plmm_tensor *B = weight(b, g, bias);
        plmm_tensor *yb = plmm_graph_tensor(b, PLMM_DTYPE_F32, y->ne[0], y->ne[1], 1, 1, name);
        plmm_graph_node(b, PLMM_OP_ADD, yb, y, B, NULL, NULL);
        return yb;
    }
    return y;
}

static plmm_tensor *rms_norm(plmm_graph_builder *b, const plmm_gguf *g, plmm_tensor *x, int32_t w,
                             float eps, const char *name)
{
    if (x == NULL)
        return NULL;
    plmm_tensor *y = plmm_graph_tensor(b, PLMM_DTYPE_F32, x->ne[0], x->ne[1], 1, 1, name);
    plmm_node *n = plmm_graph_node(b, PLMM_OP_RMS_NORM, y, x, weight(b, g, w), NULL, NULL);
    if (n != NULL)
        n->fp[0] = eps;
    return y;
}

static void rope_params(plmm_node *n, const plmm_hparams *hp)
{
    if (n == NULL)
        return;
    n->ip[0] = (int32_t)hp->n_rot;
    n->ip[1] = (int32_t)hp->rope_mode;
    n->ip[2] = (int32_t)hp->n_ctx_orig;
    n->fp[0] = hp->rope_freq_base;
    n->fp[1] = hp->rope_freq_scale;
    n->fp[2] = hp->yarn_ext_factor;
    n->fp[3] = hp->yarn_attn_factor;
    n->fp[4] = hp->yarn_beta_fast;
    n->fp[5] = hp->yarn_beta_slow;
}

plmm_status plmm_forward_build(plmm_graph_builder *b, const plmm_gguf *g, const plmm_hparams *hp,
                               const plmm_model_weights *w, plmm_forward_io *io)
{
    const int64_t T = io->n_tokens, E = hp->n_embd, D = hp->head_dim;
    const int64_t H = hp->n_head, HKV = hp->n_head_kv;
    if (T <= 0 || io->pos0 + (uint64_t)T > io->n_ctx)
        return plmm_err(PLMM_ERR_RANGE, "batch of %lld tokens at position %u exceeds the context "
                        "of %u", (long long)T, io->pos0, io->n_ctx);
    plmm_graph_reset(b);

    plmm_tensor *ids = plmm_graph_tensor(b, PLMM_DTYPE_I32, T, 1, 1, 1, "inp_tokens");
    plmm_tensor *pos = plmm_graph_tensor(b, PLMM_DTYPE_I32, T, 1, 1, 1, "inp_pos");
    if (ids == NULL || pos == NULL)
        return plmm_err(PLMM_ERR_INTERNAL, "graph capacity exceeded");
    ids->flags |= PLMM_TENSOR_INPUT;
    ids->data = io->ids;
    pos->flags |= PLMM_TENSOR_INPUT;
    pos->data = io->pos;

    plmm_tensor *x = plmm_graph_tensor(b, PLMM_DTYPE_F32, E, T, 1, 1, "embd");
    plmm_graph_node(b, PLMM_OP_GET_ROWS, x, weight(b, g, w->tok_embd), ids, NULL, NULL);
    plmm_tensor *freqs = w->rope_freqs >= 0 ? weight(b, g, w->rope_freqs) : NULL;

    for (uint32_t l = 0; l < hp->n_layer && !b->overflow; l++) {
        const plmm_layer_weights *L = &w->layers[l];
        plmm_tensor *h = rms_norm(b, g, x, L->attn_norm, hp->rms_eps, "attn_norm");
        plmm_tensor *q = linear(b, g, L->wq, L->bq, h, "q", io);
        plmm_tensor *k = linear(b, g, L->wk, L->bk, h, "k", io);
        plmm_tensor *v = linear(b, g, L->wv, L->bv, h, "v", io);
        if (b->overflow)
            break;
        /* (D*H, T) viewed as (D, H, T) */
        plmm_tensor *q3 = plmm_graph_view(b, q, D, H, T, 1, q->nb[0] * (uint64_t)D,
                                          q->nb[1], q->nb[1] * T, 0, "q_heads");
        plmm_tensor *k3 = plmm_graph_view(b, k, D, HKV, T, 1, k->nb[0] * (uint64_t)D,
                                          k->nb[1], k->nb[1] * T, 0, "k_heads");
        plmm_tensor *v3 = plmm_graph_view(b, v, D, HKV, T, 1, v->nb[0] * (uint64_t)D,
                                          v->nb[1], v->nb[1] * T, 0, "v_heads");
        plmm_tensor *qr = plmm_graph_tensor(b, PLMM_DTYPE_F32, D, H, T, 1, "q_rope");
        plmm_tensor *kr = plmm_graph_tensor(b, PLMM_DTYPE_F32, D, HKV, T, 1, "k_rope");
        rope_params(plmm_graph_node(b, PLMM_OP_ROPE, qr, q3, pos, freqs, NULL), hp);
        rope_params(plmm_graph_node(b, PLMM_OP_ROPE, kr, k3, pos, freqs, NULL), hp);

        /* KV cache of this layer and the slots this batch writes */
        plmm_tensor *kc = plmm_graph_tensor(b, io->kv_dtype, D, HKV, io->n_ctx, 1, "cache_k");
        plmm_tensor *vc = plmm_graph_tensor(b, io->kv_dtype, D, HKV, io->n_ctx, 1, "cache_v");
        if (kc == NULL || vc == NULL)
            break;
        kc->flags |= PLMM_TENSOR_STATE;
        vc->flags |= PLMM_TENSOR_STATE;
        b->info[kc->id].state = (int32_t)(2 * l);
        b->info[vc->id].state = (int32_t)(2 * l + 1);
        plmm_tensor *kw = plmm_graph_view(b, kc, D, HKV, T, 1, kc->nb[1], kc->nb[2],
                                          kc->nb[2] * T, kc->nb[2] * io->pos0, "cache_k_write");
        plmm_tensor *vw = plmm_graph_view(b, vc, D, HKV, T, 1, vc->nb[1], vc->nb[2],
                                          vc->nb[2] * T, vc->nb[2] * io->pos0, "cache_v_write");
        plmm_graph_node(b, PLMM_OP_CPY, kw, kr, NULL, NULL, NULL);
        plmm_graph_node(b, PLMM_OP_CPY, vw, v3, NULL, NULL, NULL);

        plmm_tensor *att = plmm_graph_tensor(b, PLMM_DTYPE_F32, D, H, T, 1, "attn");
        plmm_node *an = plmm_graph_node(b, PLMM_OP_ATTENTION, att, qr, kc, vc, NULL);
        if (an != NULL) {
            an->ip[0] = (int32_t)(io->pos0 + T);
            an->ip[1] = (int32_t)io->pos0;
            an->ip[2] = 1;
            an->fp[0] = 1.0f / sqrtf((float)D);
        }
        plmm_tensor *att2 = plmm_graph_view(b, att, D * H, T, 1, 1, att->nb[2], att->nb[2] * T,
                                            att->nb[2] * T, 0, "attn_flat");
        plmm_tensor *o = linear(b, g, L->wo, L->bo, att2, "attn_out", io);
        plmm_tensor *x1 = plmm_graph_tensor(b, PLMM_DTYPE_F32, E, T, 1, 1, "ffn_inp");
        plmm_graph_node(b, PLMM_OP_ADD, x1, x, o, NULL, NULL);

        plmm_tensor *h2 = rms_norm(b, g, x1, L->ffn_norm, hp->rms_eps, "ffn_norm");
        plmm_tensor *gate = linear(b, g, L->w_gate, -1, h2, "ffn_gate", io);
        plmm_tensor *up = linear(b, g, L->w_up, -1, h2, "ffn_up", io);
        if (b->overflow)
            break;
        plmm_tensor *act = plmm_graph_tensor(b, PLMM_DTYPE_F32, gate->ne[0], T, 1, 1, "ffn_act");
        plmm_graph_node(b, PLMM_OP_SWIGLU, act, gate, up, NULL, NULL);
        plmm_tensor *down = linear(b, g, L->w_down, -1, act, "ffn_down", io);
        plmm_tensor *x2 = plmm_graph_tensor(b, PLMM_DTYPE_F32, E, T, 1, 1, "l_out");
        plmm_graph_node(b, PLMM_OP_ADD, x2, x1, down, NULL, NULL);
        x = x2;
    }
    if (b->overflow)
        return plmm_err(PLMM_ERR_INTERNAL, "graph capacity exceeded");

    plmm_tensor *last = x;
    if (!io->all_logits && T > 1)
        last = plmm_graph_view(b, x, E, 1, 1, 1, x->nb[1], x->nb[1], x->nb[1],
                               x->nb[1] * (uint64_t)(T - 1), "last_token");
    plmm_tensor *xn = rms_norm(b, g, last, w->output_norm, hp->rms_eps, "result_norm");
    plmm_tensor *logits = linear(b, g, w->output, -1, xn, "result_output", io);
    if (b->overflow || logits == NULL)
        return plmm_err(PLMM_ERR_INTERNAL, "graph capacity exceeded");
    logits->flags |= PLMM_TENSOR_OUTPUT;
    io->logits = logits;
    return PLMM_OK;
}
