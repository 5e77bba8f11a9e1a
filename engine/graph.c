#include "graph.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "plmm_sdk.h"

plmm_status plmm_graph_builder_init(plmm_graph_builder *b, uint32_t cap_tensors, uint32_t cap_nodes)
{
    memset(b, 0, sizeof(*b));
    b->tensors = calloc(cap_tensors, sizeof(*b->tensors));
    b->info = calloc(cap_tensors, sizeof(*b->info));
    b->nodes = calloc(cap_nodes, sizeof(*b->nodes));
    if (b->tensors == NULL || b->info == NULL || b->nodes == NULL) {
        plmm_graph_builder_free(b);
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate a graph of %u tensors", cap_tensors);
    }
    b->cap_tensors = cap_tensors;
    b->cap_nodes = cap_nodes;
    return PLMM_OK;
}

void plmm_graph_builder_free(plmm_graph_builder *b)
{
    free(b->tensors);
    free(b->info);
    free(b->nodes);
    memset(b, 0, sizeof(*b));
}

void plmm_graph_reset(plmm_graph_builder *b)
{
    b->n_tensors = 0;
    b->n_nodes = 0;
    b->overflow = false;
}

static plmm_tensor *new_tensor(plmm_graph_builder *b, const char *name)
{
    if (b->n_tensors >= b->cap_tensors) {
        b->overflow = true;
        return NULL;
    }
    uint32_t i = b->n_tensors++;
    plmm_tensor *t = &b->tensors[i];
    memset(t, 0, sizeof(*t));
    t->id = i;
    t->name = name;
    b->info[i] = (plmm_tensor_info){.view_src = -1, .producer = -1, .last_use = -1, .weight = -1,
                                    .state = -1};
    return t;
}

plmm_tensor *plmm_graph_tensor(plmm_graph_builder *b, uint32_t dtype, int64_t ne0, int64_t ne1,
                               int64_t ne2, int64_t ne3, const char *name)
{
    plmm_tensor *t = new_tensor(b, name);
    if (t == NULL)
        return NULL;
    t->dtype = dtype;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->ne[3] = ne3;
    if (!plmm_tensor_set_dense_strides(t)) {
        b->overflow = true;
        return NULL;
    }
    return t;
}

plmm_tensor *plmm_graph_view(plmm_graph_builder *b, plmm_tensor *src, int64_t ne0, int64_t ne1,
                             int64_t ne2, int64_t ne3, uint64_t nb1, uint64_t nb2, uint64_t nb3,
                             uint64_t offset, const char *name)
{
    if (src == NULL)
        return NULL;
    plmm_tensor *t = new_tensor(b, name);
    if (t == NULL)
        return NULL;
    t->dtype = src->dtype;
    t->flags = PLMM_TENSOR_VIEW | (src->flags & PLMM_TENSOR_STATE);
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->ne[3] = ne3;
    t->nb[0] = src->nb[0];
    t->nb[1] = nb1;
    t->nb[2] = nb2;
    t->nb[3] = nb3;
    t->offset = offset; /* relative to the root until storage is assigned */
    uint32_t si = plmm_graph_tensor_index(b, src);
    b->info[t->id].view_src = (int32_t)si;
    b->info[t->id].state = b->info[si].state;
    return t;
}

plmm_node *plmm_graph_node(plmm_graph_builder *b, uint32_t op, plmm_tensor *dst, plmm_tensor *s0,
                           plmm_tensor *s1, plmm_tensor *s2, plmm_tensor *s3)
{
    if (dst == NULL || b->n_nodes >= b->cap_nodes || b->overflow) {
        b->overflow = true;
        return NULL;
    }
    plmm_node *n = &b->nodes[b->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->dst = dst;
    n->src[0] = s0;
    n->src[1] = s1;
    n->src[2] = s2;
    n->src[3] = s3;
    return n;
}

uint32_t plmm_graph_root(const plmm_graph_builder *b, uint32_t t)
{
    while (b->info[t].view_src >= 0)
        t = (uint32_t)b->info[t].view_src;
    return t;
}

void plmm_graph_liveness(plmm_graph_builder *b)
{
    for (uint32_t i = 0; i < b->n_tensors; i++) {
        b->info[i].producer = -1;
        b->info[i].last_use = -1;
    }
    for (uint32_t n = 0; n < b->n_nodes; n++) {
        const plmm_node *node = &b->nodes[n];
        uint32_t d = plmm_graph_root(b, node->dst->id);
        if (b->info[d].producer < 0)
            b->info[d].producer = (int32_t)n;
        b->info[d].last_use = (int32_t)n;
        for (int s = 0; s < PLMM_MAX_SRC; s++) {
            if (node->src[s] == NULL)
                continue;
            uint32_t r = plmm_graph_root(b, node->src[s]->id);
            b->info[r].last_use = (int32_t)n;
        }
    }
}
