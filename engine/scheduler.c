#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors.h"
#include "plmm_sdk.h"
#include "profile.h"

#define HOST (-1) /* tensor storage in plain host memory */
#define UNSET (-2)
#define MIN_ALIGN 64

typedef struct sched_backend {
    plmm_sched_backend_ref ref;
    bool host_reads; /* kernels can read plain host memory (CPU, unified memory) */
    uint64_t align;  /* activation offsets */
    /* weights: the model file imported once */
    plmm_buffer *wbuf;
    uint8_t *wbase;
    plmm_tensor *wt;  /* per GGUF tensor, bound lazily */
    uint8_t *wbound;
    /* activation arena */
    plmm_buffer *abuf;
    uint8_t *abase;
    uint64_t asize;
    uint64_t need; /* high-water mark of the current plan */
    /* partition contract */
    bool partition; /* claims, compiles and executes partitions */
    uint8_t *claim; /* (cap_nodes) its claims on the current graph */
} sched_backend;

/* free-list first-fit allocator over one arena's offsets */
typedef struct span {
    uint64_t off, size;
} span;

typedef struct arena_plan {
    span *free;
    uint32_t n_free, cap_free;
    uint64_t top;
} arena_plan;

struct plmm_sched {
    sched_backend *be;
    uint32_t n_be;
    int32_t fallback;
    bool strict;
    const plmm_gguf *model;
    uint32_t cap_tensors, cap_nodes;
    int32_t *node_be;   /* (cap_nodes) */
    int32_t *home;      /* (cap_tensors) backend of a root's storage, HOST or UNSET */
    uint64_t *off;      /* (cap_tensors) arena offset of an activation root */
    int32_t *shadow;    /* (cap_tensors) shadow offset owner: split id holding a copy, or -1 */
    uint64_t *shadow_off;
    plmm_tensor *bound; /* (cap_tensors) storage-bound roots */
    plmm_tensor *shadow_t; /* (cap_tensors) shadow copies */
    uint64_t *shadow_stamp; /* (cap_tensors) run/split whose copy shadow_t holds */
    uint64_t run_seq;
    plmm_tensor *views; /* (cap_nodes * (PLMM_MAX_SRC + 1)) per-run substituted tensors */
    plmm_node *run;     /* (cap_nodes) */
    arena_plan *plans;  /* (n_be) */
    uint32_t n_fallback;
    /* partition contract */
    bool any_partition;
    plmm_part_cache *parts;
    plmm_part_log_fn log;
    void *log_user;
    bool fallback_logged;
    uint64_t pseq;          /* partition binding stamp */
    uint64_t *pstamp;       /* (cap_tensors) pseq when pview[t] was bound */
    plmm_tensor **pview;    /* (cap_tensors) the one bound object of a tensor in a partition */
    plmm_tensor **pin, **pout; /* (cap_tensors) partition inputs and outputs */
    uint32_t *plocal;       /* (cap_tensors) tensor number inside a partition's signature */
    uint8_t *cut;           /* (cap_nodes) a partition must start at this node */
    uint32_t bucket;        /* tokens of the graph being run */
};

const uint32_t plmm_sched_buckets[PLMM_SCHED_N_BUCKETS] = {1, 16, 64, 256};

/* ---- capabilities ---- */

bool plmm_caps_cover(const plmm_backend_desc *desc, const plmm_node *node)
{
    if (!PLMM_ABI_HAS(plmm_backend_desc, desc, caps) || desc->caps == NULL)
        return false;
    uint32_t dt = plmm_node_cap_dtype(node);
    if (dt >= PLMM_DTYPE_COUNT)
        return false;
    const plmm_tensor *shape = node->src[0] ? node->src[0] : node->dst;
    for (uint32_t i = 0; i < desc->n_caps; i++) {
        const plmm_op_caps *c = &desc->caps[i];
        if (c->op != node->op || !(c->dtypes & PLMM_DTYPE_BIT(dt)))
            continue;
        bool fits = true;
        for (int d = 0; d < PLMM_MAX_DIMS; d++)
            if (c->max_ne[d] > 0 && shape->ne[d] > c->max_ne[d])
                fits = false;
        if (fits)
            return true;
    }
    return false;
}

static bool backend_runs(const sched_backend *b, const plmm_node *node)
{
    if (!(b->ref.desc->contracts & PLMM_CONTRACT_GRAPH) ||
        !plmm_backend_has(b->ref.desc->vtbl, graph_compute) || !plmm_caps_cover(b->ref.desc, node))
        return false;
    const plmm_backend_vtbl *vt = b->ref.desc->vtbl;
    if (plmm_backend_has(vt, supports_node) && !vt->supports_node(b->ref.ctx, node))
        return false;
    return true;
}

/* ---- create / destroy ---- */

static const char *be_err(const sched_backend *b)
{
    const char *m = b->ref.errmsg ? b->ref.errmsg(b->ref.inst) : NULL;
    return m && m[0] ? m : "no detail";
}

plmm_status plmm_sched_create(const plmm_sched_backend_ref *backends, uint32_t n,
                              int32_t fallback_backend, bool strict, const plmm_gguf *model,
                              uint32_t cap_tensors, uint32_t cap_nodes, plmm_sched **out)
{
    *out = NULL;
    if (n == 0)
        return plmm_err(PLMM_ERR_CONFIG, "no backend available");
    plmm_sched *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate scheduler");
    s->be = calloc(n, sizeof(*s->be));
    s->plans = calloc(n, sizeof(*s->plans));
    s->n_be = n;
    s->fallback = fallback_backend;
    s->strict = strict;
    s->model = model;
    s->cap_tensors = cap_tensors;
    s->cap_nodes = cap_nodes;
    s->node_be = calloc(cap_nodes, sizeof(*s->node_be));
    s->home = calloc(cap_tensors, sizeof(*s->home));
    s->off = calloc(cap_tensors, sizeof(*s->off));
    s->shadow = calloc(cap_tensors, sizeof(*s->shadow));
    s->shadow_off = calloc(cap_tensors, sizeof(*s->shadow_off));
    s->bound = calloc(cap_tensors, sizeof(*s->bound));
    s->shadow_t = calloc(cap_tensors, sizeof(*s->shadow_t));
    s->shadow_stamp = calloc(cap_tensors, sizeof(*s->shadow_stamp));
    s->views = calloc((size_t)cap_nodes * (PLMM_MAX_SRC + 1), sizeof(*s->views));
    s->run = calloc(cap_nodes, sizeof(*s->run));
    s->pstamp = calloc(cap_tensors, sizeof(*s->pstamp));
    s->pview = calloc(cap_tensors, sizeof(*s->pview));
    s->pin = calloc(cap_tensors, sizeof(*s->pin));
    s->pout = calloc(cap_tensors, sizeof(*s->pout));
    s->plocal = calloc(cap_tensors, sizeof(*s->plocal));
    s->cut = calloc(cap_nodes, 1);
    s->bucket = 1;
    if (s->pstamp == NULL || s->pview == NULL || s->pin == NULL || s->pout == NULL ||
        s->plocal == NULL || s->cut == NULL)
        goto out_nomem;
    if (s->be == NULL || s->plans == NULL || s->node_be == NULL || s->home == NULL ||
        s->off == NULL || s->shadow == NULL || s->shadow_off == NULL || s->bound == NULL ||
        s->shadow_t == NULL || s->shadow_stamp == NULL || s->views == NULL || s->run == NULL)
        goto out_nomem;
    uint64_t n_w = model ? plmm_gguf_n_tensors(model) : 0;
    for (uint32_t i = 0; i < n; i++) {
        sched_backend *b = &s->be[i];
        b->ref = backends[i];
        const plmm_backend_vtbl *vt = b->ref.desc->vtbl;
        plmm_buffer_reqs reqs = {.struct_size = sizeof(reqs)};
        b->align = MIN_ALIGN;
        if (plmm_backend_has(vt, buffer_reqs) &&
            vt->buffer_reqs(b->ref.ctx, PLMM_BUFFER_ACTIVATIONS, &reqs) == PLMM_OK &&
            reqs.alignment > b->align && (reqs.alignment & (reqs.alignment - 1)) == 0)
            b->align = reqs.alignment;
        b->host_reads = b->ref.desc->device_type == PLMM_DEVICE_CPU;
        if (!b->host_reads && plmm_backend_has(vt, device_props)) {
            plmm_device_props p = {.struct_size = sizeof(p)};
            if (vt->device_props(b->ref.ctx, 0, &p) == PLMM_OK &&
                (p.flags & PLMM_DEVICE_UNIFIED_MEMORY))
                b->host_reads = true;
        }
        b->partition = (b->ref.desc->contracts & PLMM_CONTRACT_PARTITION) &&
                       plmm_backend_has(vt, partition_claim) &&
                       plmm_backend_has(vt, partition_compile) &&
                       plmm_backend_has(vt, blob_load) && plmm_backend_has(vt, compiled_execute) &&
                       !b->ref.fallback_only;
        if (b->partition) {
            s->any_partition = true;
            if ((b->claim = calloc(cap_nodes, 1)) == NULL)
                goto out_nomem;
        }
        if (n_w > 0) {
            b->wt = calloc(n_w, sizeof(*b->wt));
            b->wbound = calloc(n_w, 1);
            if (b->wt == NULL || b->wbound == NULL)
                goto out_nomem;
        }
    }
    *out = s;
    return PLMM_OK;

out_nomem:
    plmm_sched_destroy(s);
    return plmm_err(PLMM_ERR_NOMEM, "cannot allocate scheduler tables");
}

void plmm_sched_destroy(plmm_sched *s)
{
    if (s == NULL)
        return;
    plmm_part_cache_destroy(s->parts); /* compiled blobs before their backends' buffers */
    for (uint32_t i = 0; s->be != NULL && i < s->n_be; i++) {
        sched_backend *b = &s->be[i];
        const plmm_backend_vtbl *vt = b->ref.desc ? b->ref.desc->vtbl : NULL;
        if (vt != NULL && plmm_backend_has(vt, buffer_free)) {
            if (b->abuf)
                vt->buffer_free(b->ref.ctx, b->abuf);
            if (b->wbuf)
                vt->buffer_free(b->ref.ctx, b->wbuf);
        }
        free(b->wt);
        free(b->wbound);
        free(b->claim);
        free(s->plans[i].free);
    }
    free(s->be);
    free(s->plans);
    free(s->node_be);
    free(s->home);
    free(s->off);
    free(s->shadow);
    free(s->shadow_off);
    free(s->bound);
    free(s->shadow_t);
    free(s->shadow_stamp);
    free(s->views);
    free(s->run);
    free(s->pstamp);
    free(s->pview);
    free(s->pin);
    free(s->pout);
    free(s->plocal);
    free(s->cut);
    free(s);
}

plmm_status plmm_sched_set_partition(plmm_sched *s, const char *cache_dir, plmm_part_log_fn log,
                                     void *log_user)
{
    s->log = log;
    s->log_user = log_user;
    plmm_part_cache_destroy(s->parts);
    s->parts = NULL;
    return plmm_part_cache_create(cache_dir, s->model, log, log_user, &s->parts);
}

void plmm_sched_set_tokens(plmm_sched *s, uint32_t n_tokens)
{
    s->bucket = n_tokens;
}

bool plmm_sched_has_partitions(const plmm_sched *s)
{
    return s->any_partition;
}

uint32_t plmm_sched_chunk(const plmm_sched *s, uint32_t n)
{
    if (!s->any_partition)
        return n;
    uint32_t best = 1;
    for (int i = 0; i < PLMM_SCHED_N_BUCKETS; i++)
        if (plmm_sched_buckets[i] <= n && plmm_sched_buckets[i] > best)
            best = plmm_sched_buckets[i];
    return best;
}

void plmm_sched_part_stats(const plmm_sched *s, plmm_part_stats *out)
{
    if (s->parts != NULL)
        plmm_part_cache_stats(s->parts, out);
    else
        memset(out, 0, sizeof(*out));
}

uint32_t plmm_sched_fallback_count(const plmm_sched *s)
{
    return s->n_fallback;
}

int32_t plmm_sched_state_backend(const plmm_sched *s, uint32_t kv_dtype)
{
    plmm_tensor cache = {.dtype = kv_dtype, .ne = {1, 1, 1, 1}};
    plmm_tensor act = {.dtype = PLMM_DTYPE_F32, .ne = {1, 1, 1, 1}};
    plmm_node cpy = {.op = PLMM_OP_CPY, .dst = &cache, .src = {&act}};
    plmm_node att = {.op = PLMM_OP_ATTENTION, .dst = &act, .src = {&act, &cache, &cache}};
    for (uint32_t i = 0; i < s->n_be; i++)
        if ((s->be[i].ref.desc->contracts & PLMM_CONTRACT_GRAPH) &&
            plmm_caps_cover(s->be[i].ref.desc, &cpy) && plmm_caps_cover(s->be[i].ref.desc, &att))
            return (int32_t)i;
    return -1;
}

plmm_status plmm_sched_alloc_state(plmm_sched *s, uint32_t be, uint64_t size, plmm_buffer **buf,
                                   uint8_t **data)
{
    sched_backend *b = &s->be[be];
    const plmm_backend_vtbl *vt = b->ref.desc->vtbl;
    void *p = NULL;
    *buf = NULL;
    *data = NULL;
    plmm_status st = vt->buffer_alloc(b->ref.ctx, size, PLMM_BUFFER_STATE, buf);
    if (st != PLMM_OK)
        return plmm_err(st, "backend '%s': cannot allocate %llu bytes of KV cache: %s",
                        b->ref.name, (unsigned long long)size, be_err(b));
    if (plmm_backend_has(vt, buffer_map) && vt->buffer_map(b->ref.ctx, *buf, &p) == PLMM_OK)
        *data = p;
    return PLMM_OK;
}

void plmm_sched_free_state(plmm_sched *s, uint32_t be, plmm_buffer *buf)
{
    if (buf != NULL)
        s->be[be].ref.desc->vtbl->buffer_free(s->be[be].ref.ctx, buf);
}

/* ---- assignment ---- */

static bool touches_state(const plmm_node *n)
{
    if (n->dst->flags & PLMM_TENSOR_STATE)
        return true;
    for (int i = 0; i < PLMM_MAX_SRC; i++)
        if (n->src[i] && (n->src[i]->flags & PLMM_TENSOR_STATE))
            return true;
    return false;
}

static int32_t state_slot_of(const plmm_graph_builder *g, const plmm_node *n)
{
    if (n->dst->flags & PLMM_TENSOR_STATE)
        return g->info[n->dst->id].state;
    for (int i = 0; i < PLMM_MAX_SRC; i++)
        if (n->src[i] && (n->src[i]->flags & PLMM_TENSOR_STATE))
            return g->info[n->src[i]->id].state;
    return -1;
}

static int32_t node_backend(const plmm_sched *s, uint32_t i);

/* A partition ends before a node that reads a view of a tensor produced
 * earlier in the same partition: inside a partition each tensor is one
 * object, so the view becomes an input of the next partition instead. */
static void mark_cuts(plmm_sched *s, const plmm_graph_builder *g)
{
    uint32_t start = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        s->cut[i] = 0;
        int32_t b = node_backend(s, i);
        if (i == 0 || b != node_backend(s, i - 1))
            start = i;
        if (!s->be[b].partition || i == start)
            continue;
        for (int k = 0; k < PLMM_MAX_SRC; k++) {
            const plmm_tensor *t = g->nodes[i].src[k];
            if (t == NULL || g->info[t->id].view_src < 0)
                continue;
            int32_t prod = g->info[plmm_graph_root(g, t->id)].producer;
            if (prod >= (int32_t)start && prod < (int32_t)i) {
                s->cut[i] = 1;
                start = i;
                break;
            }
        }
    }
}

static plmm_status assign(plmm_sched *s, plmm_graph_builder *g, const plmm_state_slot *slots,
                          uint32_t n_slots)
{
    s->n_fallback = 0;
    if (g->overflow)
        return plmm_err(PLMM_ERR_INTERNAL, "graph exceeds its capacity");
    if (g->n_nodes > s->cap_nodes || g->n_tensors > s->cap_tensors)
        return plmm_err(PLMM_ERR_INTERNAL, "graph larger than the scheduler's tables");
    const plmm_graph whole = {.struct_size = sizeof(whole), .n_nodes = g->n_nodes,
                              .nodes = g->nodes};
    for (uint32_t b = 0; b < s->n_be; b++) {
        sched_backend *sb = &s->be[b];
        if (!sb->partition)
            continue;
        memset(sb->claim, 0, g->n_nodes);
        plmm_status st = sb->ref.desc->vtbl->partition_claim(sb->ref.ctx, &whole, sb->claim);
        if (st != PLMM_OK)
            return plmm_err(st, "backend '%s': partition_claim failed: %s", sb->ref.name,
                            be_err(sb));
        /* a claim counts only where the declared capabilities cover the node */
        for (uint32_t i = 0; i < g->n_nodes; i++)
            sb->claim[i] = sb->claim[i] && !touches_state(&g->nodes[i]) &&
                           plmm_caps_cover(sb->ref.desc, &g->nodes[i]);
    }
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const plmm_node *n = &g->nodes[i];
        int32_t pick = -1;
        if (touches_state(n)) {
            int32_t slot = state_slot_of(g, n);
            if (slot < 0 || (uint32_t)slot >= n_slots)
                return plmm_err(PLMM_ERR_INTERNAL, "node %u references unbound state", i);
            pick = (int32_t)slots[slot].backend;
            if (!backend_runs(&s->be[pick], n))
                return plmm_err(PLMM_ERR_UNSUPPORTED,
                                "backend '%s' holds the KV cache but cannot run node %u (%s %s)",
                                s->be[pick].ref.name, i, plmm_op_name(n->op),
                                plmm_dtype_name(plmm_node_cap_dtype(n)));
        } else {
            for (uint32_t b = 0; b < s->n_be && pick < 0; b++)
                if (!s->be[b].ref.fallback_only &&
                    ((s->be[b].partition && s->be[b].claim[i]) || backend_runs(&s->be[b], n)))
                    pick = (int32_t)b;
        }
        if (pick < 0) {
            if (s->strict || s->fallback < 0 || !backend_runs(&s->be[s->fallback], n))
                return plmm_err(PLMM_ERR_UNSUPPORTED,
                                "no backend can run node %u (%s, %s)%s", i, plmm_op_name(n->op),
                                plmm_dtype_name(plmm_node_cap_dtype(n)),
                                s->strict ? " and fallback = strict" : "");
            pick = s->fallback;
            s->n_fallback++;
            s->node_be[i] = pick | 0x40000000; /* marks a fallback for the plan */
            continue;
        }
        s->node_be[i] = pick;
    }
    mark_cuts(s, g);
    return PLMM_OK;
}

static int32_t node_backend(const plmm_sched *s, uint32_t i)
{
    return s->node_be[i] & 0x3fffffff;
}

static bool node_fell_back(const plmm_sched *s, uint32_t i)
{
    return (s->node_be[i] & 0x40000000) != 0;
}

/* ---- memory planning ---- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void plan_reset(arena_plan *p)
{
    p->n_free = 0;
    p->top = 0;
}

static uint64_t plan_alloc(arena_plan *p, uint64_t size)
{
    for (uint32_t i = 0; i < p->n_free; i++) {
        if (p->free[i].size >= size) {
            uint64_t off = p->free[i].off;
            p->free[i].off += size;
            p->free[i].size -= size;
            if (p->free[i].size == 0)
                p->free[i] = p->free[--p->n_free];
            return off;
        }
    }
    uint64_t off = p->top;
    p->top += size;
    return off;
}

static bool plan_free(arena_plan *p, uint64_t off, uint64_t size)
{
    /* merge with neighbours; keeps the list short */
    for (uint32_t i = 0; i < p->n_free; i++) {
        if (p->free[i].off + p->free[i].size == off) {
            p->free[i].size += size;
            for (uint32_t j = 0; j < p->n_free; j++) {
                if (j != i && p->free[j].off == p->free[i].off + p->free[i].size) {
                    p->free[i].size += p->free[j].size;
                    p->free[j] = p->free[--p->n_free];
                    break;
                }
            }
            return true;
        }
        if (off + size == p->free[i].off) {
            p->free[i].off = off;
            p->free[i].size += size;
            return true;
        }
    }
    if (off + size == p->top) {
        p->top = off;
        return true;
    }
    if (p->n_free == p->cap_free) {
        uint32_t cap = p->cap_free ? p->cap_free * 2 : 64;
        span *f = realloc(p->free, cap * sizeof(*f));
        if (f == NULL)
            return false;
        p->free = f;
        p->cap_free = cap;
    }
    p->free[p->n_free++] = (span){off, size};
    return true;
}

static bool is_weight(const plmm_graph_builder *g, uint32_t root)
{
    return g->info[root].weight >= 0;
}

static bool is_state(const plmm_graph_builder *g, uint32_t root)
{
    return (g->tensors[root].flags & PLMM_TENSOR_STATE) != 0;
}

/* A root read by a node on backend b needs a copy on b? */
static bool needs_shadow(const plmm_sched *s, const plmm_graph_builder *g, uint32_t root, int32_t b)
{
    if (is_weight(g, root))
        return false;
    int32_t h = s->home[root];
    if (h == b)
        return false;
    bool host_data = h == HOST || (h >= 0 && !is_state(g, root) && s->be[h].abase != NULL) ||
                     (h >= 0 && is_state(g, root) && g->tensors[root].data != NULL);
    return !(host_data && s->be[b].host_reads);
}

static uint64_t root_bytes(const plmm_graph_builder *g, uint32_t root)
{
    return plmm_tensor_nbytes(&g->tensors[root]);
}

/* Split k runs nodes [start, end) on one backend. */
static uint32_t split_end(const plmm_sched *s, uint32_t start, uint32_t n_nodes)
{
    uint32_t e = start + 1;
    while (e < n_nodes && node_backend(s, e) == node_backend(s, start) && !s->cut[e])
        e++;
    return e;
}

static plmm_status plan_memory(plmm_sched *s, plmm_graph_builder *g, const plmm_state_slot *slots,
                               uint32_t n_slots)
{
    for (uint32_t b = 0; b < s->n_be; b++) {
        plan_reset(&s->plans[b]);
        s->be[b].need = 0;
    }
    for (uint32_t t = 0; t < g->n_tensors; t++) {
        s->home[t] = UNSET;
        s->shadow[t] = -1;
        if (g->info[t].view_src >= 0)
            continue;
        if (g->tensors[t].flags & PLMM_TENSOR_INPUT)
            s->home[t] = HOST;
        int32_t slot = g->info[t].state;
        if (is_state(g, t) && slot >= 0 && (uint32_t)slot < n_slots)
            s->home[t] = (int32_t)slots[slot].backend;
    }
    uint32_t split_id = 0;
    for (uint32_t start = 0; start < g->n_nodes; split_id++) {
        uint32_t end = split_end(s, start, g->n_nodes);
        int32_t b = node_backend(s, start);
        arena_plan *p = &s->plans[b];
        uint64_t al = s->be[b].align;
        /* shadows for roots produced elsewhere, live for the split */
        for (uint32_t i = start; i < end; i++) {
            for (int k = 0; k < PLMM_MAX_SRC; k++) {
                const plmm_tensor *src = g->nodes[i].src[k];
                if (src == NULL)
                    continue;
                uint32_t r = plmm_graph_root(g, src->id);
                if (is_weight(g, r) || is_state(g, r))
                    continue;
                int32_t prod = g->info[r].producer;
                if (s->home[r] == UNSET && (prod < 0 || prod >= (int32_t)i))
                    return plmm_err(PLMM_ERR_INTERNAL, "node %u reads '%s' before it is written",
                                    i, src->name ? src->name : "?");
                if (s->home[r] == UNSET)
                    continue; /* produced earlier in this split: already local */
                if (s->shadow[r] == (int32_t)split_id || !needs_shadow(s, g, r, b))
                    continue;
                s->shadow[r] = (int32_t)split_id;
                s->shadow_off[r] = plan_alloc(p, align_up(root_bytes(g, r), al));
            }
        }
        for (uint32_t i = start; i < end; i++) {
            uint32_t d = plmm_graph_root(g, g->nodes[i].dst->id);
            if (!is_state(g, d) && s->home[d] != UNSET && s->home[d] != b)
                return plmm_err(PLMM_ERR_INTERNAL, "node %u writes '%s' held by another backend "
                                "(graphs must not update other backends' tensors in place)", i,
                                g->tensors[d].name ? g->tensors[d].name : "?");
            if (s->home[d] == UNSET && !is_state(g, d)) {
                s->home[d] = b;
                s->off[d] = plan_alloc(p, align_up(root_bytes(g, d), al));
            }
            if (p->top > s->be[b].need)
                s->be[b].need = p->top;
            /* release roots whose last reader is this node */
            for (int k = -1; k < PLMM_MAX_SRC; k++) {
                const plmm_tensor *t = k < 0 ? g->nodes[i].dst : g->nodes[i].src[k];
                if (t == NULL)
                    continue;
                uint32_t r = plmm_graph_root(g, t->id);
                if (g->info[r].last_use != (int32_t)i || s->home[r] < 0 || is_state(g, r) ||
                    (g->tensors[r].flags & PLMM_TENSOR_OUTPUT))
                    continue;
                if (!plan_free(&s->plans[s->home[r]], s->off[r],
                               align_up(root_bytes(g, r), s->be[s->home[r]].align)))
                    return plmm_err(PLMM_ERR_NOMEM, "cannot plan activation memory");
                s->home[r] = -3; /* released: keep distinct from UNSET */
            }
        }
        for (uint32_t i = start; i < end; i++) /* shadows end with the split */
            for (int k = 0; k < PLMM_MAX_SRC; k++) {
                const plmm_tensor *src = g->nodes[i].src[k];
                if (src == NULL)
                    continue;
                uint32_t r = plmm_graph_root(g, src->id);
                if (s->shadow[r] == (int32_t)split_id && !plan_free(p, s->shadow_off[r], align_up(root_bytes(g, r), al)))
                    return plmm_err(PLMM_ERR_NOMEM, "cannot plan activation memory");
                if (s->shadow[r] == (int32_t)split_id)
                    s->shadow[r] = -((int32_t)split_id + 2); /* planned, freed */
            }
        start = end;
    }
    return PLMM_OK;
}

static plmm_status ensure_arenas(plmm_sched *s)
{
    for (uint32_t i = 0; i < s->n_be; i++) {
        sched_backend *b = &s->be[i];
        if (b->need <= b->asize)
            continue;
        const plmm_backend_vtbl *vt = b->ref.desc->vtbl;
        if (b->abuf != NULL) {
            vt->buffer_free(b->ref.ctx, b->abuf);
            b->abuf = NULL;
            b->abase = NULL;
            b->asize = 0;
        }
        uint64_t size = align_up(b->need + b->need / 8, 1u << 16);
        plmm_status st = vt->buffer_alloc(b->ref.ctx, size, PLMM_BUFFER_ACTIVATIONS, &b->abuf);
        if (st != PLMM_OK)
            return plmm_err(st, "backend '%s': cannot allocate %llu bytes of activations: %s",
                            b->ref.name, (unsigned long long)size, be_err(b));
        void *p = NULL;
        if (plmm_backend_has(vt, buffer_map) && vt->buffer_map(b->ref.ctx, b->abuf, &p) == PLMM_OK)
            b->abase = p;
        b->asize = size;
    }
    return PLMM_OK;
}

/* ---- binding ---- */

static plmm_status bind_weight(plmm_sched *s, uint32_t be, const plmm_tensor *logical, int32_t widx,
                               plmm_tensor **out)
{
    sched_backend *b = &s->be[be];
    const plmm_backend_vtbl *vt = b->ref.desc->vtbl;
    if (b->wbuf == NULL) {
        const void *file = plmm_gguf_file_data(s->model);
        uint64_t size = plmm_gguf_file_size(s->model);
        plmm_status st;
        if (plmm_backend_has(vt, buffer_import_host)) {
            st = vt->buffer_import_host(b->ref.ctx, file, size, PLMM_BUFFER_WEIGHTS, &b->wbuf);
        } else {
            st = vt->buffer_alloc(b->ref.ctx, size, PLMM_BUFFER_WEIGHTS, &b->wbuf);
            if (st == PLMM_OK)
                st = vt->buffer_write(b->ref.ctx, b->wbuf, 0, file, size, 0);
        }
        if (st != PLMM_OK)
            return plmm_err(st, "backend '%s': cannot load weights: %s", b->ref.name, be_err(b));
        void *p = NULL;
        if (plmm_backend_has(vt, buffer_map) && vt->buffer_map(b->ref.ctx, b->wbuf, &p) == PLMM_OK)
            b->wbase = p;
    }
    plmm_tensor *t = &b->wt[widx];
    if (!b->wbound[widx]) {
        const plmm_gguf_tensor *gt = plmm_gguf_tensor_at(s->model, (uint64_t)widx);
        *t = *logical;
        t->buffer = b->wbuf;
        t->offset = plmm_gguf_data_offset(s->model) + gt->offset;
        t->data = b->wbase ? b->wbase + t->offset : NULL;
        t->flags |= PLMM_TENSOR_WEIGHT;
        b->wbound[widx] = 1;
    }
    *out = t;
    return PLMM_OK;
}

/* Total byte offset of a view from its root. */
static uint64_t view_offset(const plmm_graph_builder *g, uint32_t t)
{
    uint64_t off = 0;
    while (g->info[t].view_src >= 0) {
        off += g->tensors[t].offset;
        t = (uint32_t)g->info[t].view_src;
    }
    return off;
}

/* Fill *out: logical tensor t with the storage of base shifted by t's view offset. */
static void rebase(plmm_tensor *out, const plmm_graph_builder *g, const plmm_tensor *t,
                   const plmm_tensor *base)
{
    uint64_t voff = view_offset(g, t->id);
    *out = *t;
    out->buffer = base->buffer;
    out->offset = base->offset + voff;
    out->data = base->data ? (uint8_t *)base->data + voff : NULL;
    out->flags = t->flags | (base->flags & PLMM_TENSOR_WEIGHT);
}

static void bind_roots(plmm_sched *s, plmm_graph_builder *g, const plmm_state_slot *slots,
                       uint32_t n_slots)
{
    for (uint32_t t = 0; t < g->n_tensors; t++) {
        if (g->info[t].view_src >= 0)
            continue;
        plmm_tensor *bt = &s->bound[t];
        *bt = g->tensors[t];
        if (is_state(g, t)) {
            int32_t slot = g->info[t].state;
            if (slot >= 0 && (uint32_t)slot < n_slots) {
                bt->buffer = slots[slot].buffer;
                bt->offset = slots[slot].offset;
                bt->data = slots[slot].data ? slots[slot].data + slots[slot].offset : NULL;
                s->home[t] = (int32_t)slots[slot].backend;
            }
        }
    }
}

static void bind_activation(plmm_sched *s, uint32_t r, int32_t be)
{
    sched_backend *b = &s->be[be];
    plmm_tensor *bt = &s->bound[r];
    bt->buffer = b->abuf;
    bt->offset = s->off[r];
    bt->data = b->abase ? b->abase + s->off[r] : NULL;
}

/* ---- run ---- */

static plmm_status copy_root(plmm_sched *s, const plmm_graph_builder *g, uint32_t r, int32_t from,
                             const plmm_tensor *dst_t, int32_t to)
{
    sched_backend *dst = &s->be[to];
    const plmm_tensor *src = &s->bound[r];
    uint64_t n = root_bytes(g, r);
    const plmm_backend_vtbl *dvt = dst->ref.desc->vtbl;
    plmm_status st;
    if (src->data != NULL) {
        st = dvt->buffer_write(dst->ref.ctx, dst_t->buffer, dst_t->offset, src->data, n, 0);
    } else {
        sched_backend *sb = &s->be[from];
        void *tmp = malloc(n);
        if (tmp == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate a %llu-byte staging copy",
                            (unsigned long long)n);
        st = sb->ref.desc->vtbl->buffer_read(sb->ref.ctx, src->buffer, src->offset, tmp, n, 0);
        if (st == PLMM_OK)
            st = dvt->buffer_write(dst->ref.ctx, dst_t->buffer, dst_t->offset, tmp, n, 0);
        free(tmp);
    }
    if (st != PLMM_OK)
        return plmm_err(st, "copying '%s' to backend '%s' failed: %s",
                        g->tensors[r].name ? g->tensors[r].name : "?", dst->ref.name, be_err(dst));
    return PLMM_OK;
}

/* Bind operand k (-1: dst) of a node of split split_id on backend b into *v. */
static plmm_status bind_operand(plmm_sched *s, plmm_graph_builder *g, plmm_tensor *t, int k,
                                int32_t b, uint32_t split_id, plmm_tensor *v)
{
    plmm_status st;
    const sched_backend *sb = &s->be[b];
    uint32_t r = plmm_graph_root(g, t->id);
    const plmm_tensor *base;
    plmm_tensor host_w;
    if (is_weight(g, r) && sb->partition) {
        /* partition backends read weights from the mapped model at compile time */
        const plmm_gguf_tensor *gt = plmm_gguf_tensor_at(s->model, (uint64_t)g->info[r].weight);
        host_w = g->tensors[r];
        host_w.buffer = NULL;
        host_w.offset = 0;
        host_w.data = (uint8_t *)(uintptr_t)plmm_gguf_file_data(s->model) +
                      plmm_gguf_data_offset(s->model) + gt->offset;
        host_w.flags |= PLMM_TENSOR_WEIGHT;
        base = &host_w;
    } else if (is_weight(g, r)) {
        plmm_tensor *w = NULL;
        if ((st = bind_weight(s, (uint32_t)b, &g->tensors[r], g->info[r].weight, &w)) != PLMM_OK)
            return st;
        base = w;
    } else if (k >= 0 && s->shadow[r] == -((int32_t)split_id + 2)) {
        plmm_tensor *sh = &s->shadow_t[r];
        uint64_t stamp = (s->run_seq << 24) | (split_id + 1);
        if (s->shadow_stamp[r] != stamp) {
            *sh = g->tensors[r];
            sh->buffer = sb->abuf;
            sh->offset = s->shadow_off[r];
            sh->data = sb->abase ? sb->abase + s->shadow_off[r] : NULL;
            s->shadow_stamp[r] = stamp;
            if ((st = copy_root(s, g, r, s->home[r], sh, b)) != PLMM_OK)
                return st;
        }
        base = sh;
    } else {
        base = &s->bound[r];
    }
    rebase(v, g, t, base);
    v->reserved = 0;
    /* another backend's host-visible storage is plain host memory to this one */
    if (base == &s->bound[r] && s->home[r] >= 0 && s->home[r] != b && v->data != NULL) {
        v->buffer = NULL;
        v->offset = 0;
    }
    return PLMM_OK;
}

/* Run nodes [start, end), bound in s->run with one object per tensor, as
 * a partition on backend b: inputs are tensors produced outside it (not
 * weights) in order of first use, outputs the tensors it writes that are
 * read later or by the host. */
static plmm_status run_partition(plmm_sched *s, const plmm_graph_builder *g, uint32_t start,
                                 uint32_t end, int32_t b)
{
    const sched_backend *sb = &s->be[b];
    const uint32_t n = end - start;
    uint32_t n_in = 0, n_out = 0;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    /* local tensor numbering for the signature: order of first appearance */
    uint64_t sig_seq = ++s->pseq;
    uint32_t n_local = 0;
    for (uint32_t i = 0; i < n; i++) {
        const plmm_node *rn = &s->run[i];
        const plmm_node *ln = &g->nodes[start + i];
        uint32_t hdr[2] = {rn->op, rn->flags};
        crypto_generichash_update(&h, (const uint8_t *)hdr, sizeof(hdr));
        crypto_generichash_update(&h, (const uint8_t *)rn->ip, sizeof(rn->ip));
        crypto_generichash_update(&h, (const uint8_t *)rn->fp, sizeof(rn->fp));
        for (int k = -1; k < PLMM_MAX_SRC; k++) {
            plmm_tensor *t = k < 0 ? rn->dst : rn->src[k];
            const plmm_tensor *lt = k < 0 ? ln->dst : ln->src[k];
            struct {
                int32_t local, role, weight, reserved;
                uint32_t dtype, flags;
                int64_t ne[PLMM_MAX_DIMS];
                uint64_t nb[PLMM_MAX_DIMS];
                uint64_t view_off;
            } rec;
            memset(&rec, 0, sizeof(rec));
            if (t == NULL) {
                rec.local = -1;
                crypto_generichash_update(&h, (const uint8_t *)&rec.local, sizeof(rec.local));
                continue;
            }
            bool first = s->pstamp[lt->id] != sig_seq;
            if (first) {
                s->pstamp[lt->id] = sig_seq;
                s->plocal[lt->id] = n_local++;
            }
            const uint32_t r = plmm_graph_root(g, lt->id);
            const int32_t prod = g->info[r].producer;
            const bool inside = prod >= (int32_t)start && prod < (int32_t)end;
            rec.local = (int32_t)s->plocal[lt->id];
            rec.dtype = t->dtype;
            rec.flags = t->flags & PLMM_TENSOR_WEIGHT;
            memcpy(rec.ne, t->ne, sizeof(rec.ne));
            memcpy(rec.nb, t->nb, sizeof(rec.nb));
            rec.weight = -1;
            if (is_weight(g, r)) {
                rec.role = 3;
                rec.weight = g->info[r].weight;
                rec.view_off = view_offset(g, lt->id);
            } else if (k >= 0 && !inside) {
                rec.role = 1;
                if (first)
                    s->pin[n_in++] = t;
            } else if (k < 0 && first &&
                       (g->info[r].last_use >= (int32_t)end || is_state(g, r) ||
                        (g->tensors[r].flags & PLMM_TENSOR_OUTPUT))) {
                rec.role = 2;
                s->pout[n_out++] = t;
            }
            crypto_generichash_update(&h, (const uint8_t *)&rec, sizeof(rec));
        }
    }
    uint32_t tail[3] = {n, n_in, n_out};
    crypto_generichash_update(&h, (const uint8_t *)tail, sizeof(tail));
    uint8_t sig[32];
    crypto_generichash_final(&h, sig, sizeof(sig));
    plmm_partition part = {.struct_size = sizeof(part),
                           .bucket = s->bucket,
                           .n_nodes = n,
                           .n_inputs = n_in,
                           .n_outputs = n_out,
                           .nodes = s->run,
                           .inputs = s->pin,
                           .outputs = s->pout};
    if (s->parts == NULL) {
        plmm_status st = plmm_part_cache_create(NULL, s->model, s->log, s->log_user, &s->parts);
        if (st != PLMM_OK)
            return st;
    }
    plmm_part_backend pb = {.name = sb->ref.name,
                            .desc = sb->ref.desc,
                            .ctx = sb->ref.ctx,
                            .errmsg = sb->ref.errmsg,
                            .inst = sb->ref.inst,
                            .host = sb->ref.host};
    return plmm_part_run(s->parts, &pb, &part, sig);
}

plmm_status plmm_sched_run(plmm_sched *s, plmm_graph_builder *g, const plmm_state_slot *slots,
                           uint32_t n_slots, const plmm_tensor *out, float *dst, uint64_t n_floats)
{
    plmm_status st;
    plmm_graph_liveness(g);
    if ((st = assign(s, g, slots, n_slots)) != PLMM_OK)
        return st;
    if (s->n_fallback > 0 && !s->fallback_logged && s->log != NULL) {
        char msg[512];
        size_t used = 0;
        int w = snprintf(msg, sizeof(msg), "fallback = observable: %u node(s) no configured "
                         "backend runs go to '%s':", s->n_fallback, s->be[s->fallback].ref.name);
        used = w > 0 ? (size_t)w : 0;
        bool seen[PLMM_OP_COUNT] = {false};
        for (uint32_t i = 0; i < g->n_nodes && used < sizeof(msg); i++) {
            uint32_t op = g->nodes[i].op;
            if (!node_fell_back(s, i) || op >= PLMM_OP_COUNT || seen[op])
                continue;
            seen[op] = true;
            w = snprintf(msg + used, sizeof(msg) - used, " %s (%s)", plmm_op_name(op),
                         plmm_dtype_name(plmm_node_cap_dtype(&g->nodes[i])));
            used += w > 0 ? (size_t)w : 0;
        }
        s->log(s->log_user, PLMM_LOG_WARN, msg);
        s->fallback_logged = true;
    }
    if ((st = plan_memory(s, g, slots, n_slots)) != PLMM_OK)
        return st;
    if ((st = ensure_arenas(s)) != PLMM_OK)
        return st;
    /* re-derive homes for binding (plan_memory marked released ones) */
    for (uint32_t t = 0; t < g->n_tensors; t++)
        if (g->info[t].view_src < 0 && !is_state(g, t) && !(g->tensors[t].flags & PLMM_TENSOR_INPUT) &&
            g->info[t].producer >= 0)
            s->home[t] = node_backend(s, (uint32_t)g->info[t].producer);
    bind_roots(s, g, slots, n_slots);
    for (uint32_t t = 0; t < g->n_tensors; t++)
        if (g->info[t].view_src < 0 && !is_state(g, t) && g->info[t].producer >= 0)
            bind_activation(s, t, s->home[t]);

    int32_t prev = -1;
    uint32_t split_id = 0;
    s->run_seq++;
    for (uint32_t start = 0; start < g->n_nodes; split_id++) {
        uint32_t end = split_end(s, start, g->n_nodes);
        int32_t b = node_backend(s, start);
        const sched_backend *sb = &s->be[b];
        const plmm_backend_vtbl *vt = sb->ref.desc->vtbl;
        if (prev >= 0 && prev != b) {
            st = s->be[prev].ref.desc->vtbl->synchronize(s->be[prev].ref.ctx);
            if (st != PLMM_OK)
                return plmm_err(st, "backend '%s': synchronize failed: %s", s->be[prev].ref.name,
                                be_err(&s->be[prev]));
        }
        const bool part = sb->partition;
        if (part)
            s->pseq++;
        uint32_t nv = 0;
        for (uint32_t i = start; i < end; i++) {
            plmm_node *rn = &s->run[i - start];
            *rn = g->nodes[i];
            for (int k = -1; k < PLMM_MAX_SRC; k++) {
                plmm_tensor *t = k < 0 ? g->nodes[i].dst : g->nodes[i].src[k];
                if (t == NULL)
                    continue;
                plmm_tensor *v = NULL;
                if (part && s->pstamp[t->id] == s->pseq) {
                    v = s->pview[t->id]; /* one object per tensor inside a partition */
                } else {
                    v = &s->views[nv++];
                    if ((st = bind_operand(s, g, t, k, b, split_id, v)) != PLMM_OK)
                        return st;
                    if (part) {
                        s->pstamp[t->id] = s->pseq;
                        s->pview[t->id] = v;
                    }
                }
                if (k < 0)
                    rn->dst = v;
                else
                    rn->src[k] = v;
            }
        }
        if (part) {
            st = run_partition(s, g, start, end, b);
        } else {
            plmm_graph sub = {.struct_size = sizeof(sub), .n_nodes = end - start, .nodes = s->run};
            st = vt->graph_compute(sb->ref.ctx, &sub);
            if (st != PLMM_OK)
                st = plmm_err(st, "backend '%s' failed on nodes %u..%u: %s", sb->ref.name, start,
                              end - 1, be_err(sb));
        }
        if (st != PLMM_OK)
            return st;
        prev = b;
        start = end;
    }
    if (prev >= 0) {
        st = s->be[prev].ref.desc->vtbl->synchronize(s->be[prev].ref.ctx);
        if (st != PLMM_OK)
            return plmm_err(st, "backend '%s': synchronize failed: %s", s->be[prev].ref.name,
                            be_err(&s->be[prev]));
    }
    if (out != NULL && dst != NULL) {
        uint32_t r = plmm_graph_root(g, out->id);
        plmm_tensor o;
        rebase(&o, g, out, &s->bound[r]);
        uint64_t bytes = n_floats * sizeof(float);
        if (o.data != NULL) {
            memcpy(dst, o.data, bytes);
        } else {
            sched_backend *ob = &s->be[s->home[r]];
            st = ob->ref.desc->vtbl->buffer_read(ob->ref.ctx, o.buffer, o.offset, dst, bytes, 0);
            if (st != PLMM_OK)
                return plmm_err(st, "backend '%s': reading results failed: %s", ob->ref.name,
                                be_err(ob));
        }
    }
    return PLMM_OK;
}

plmm_status plmm_sched_plan(plmm_sched *s, plmm_graph_builder *g, const plmm_state_slot *slots,
                            uint32_t n_slots, char *buf, size_t size)
{
    plmm_graph_liveness(g);
    plmm_status st = assign(s, g, slots, n_slots);
    if (st != PLMM_OK)
        return st;
    size_t used = 0;
    int w = 0;
#define EMIT(...)                                                              \
    do {                                                                       \
        w = snprintf(buf + used, used < size ? size - used : 0, __VA_ARGS__); \
        if (w > 0)                                                             \
            used += (size_t)w;                                                 \
    } while (0)
    EMIT("plan: %u nodes, %u backend(s), fallback = %s\n", g->n_nodes, s->n_be,
         s->strict ? "strict" : "observable");
    uint32_t split = 0;
    for (uint32_t start = 0; start < g->n_nodes; split++) {
        uint32_t end = split_end(s, start, g->n_nodes);
        int32_t b = node_backend(s, start);
        uint32_t counts[PLMM_OP_COUNT] = {0};
        uint32_t fb = 0;
        for (uint32_t i = start; i < end; i++) {
            if (g->nodes[i].op < PLMM_OP_COUNT)
                counts[g->nodes[i].op]++;
            fb += node_fell_back(s, i);
        }
        EMIT("  split %u: %-8s nodes %4u..%-4u", split, s->be[b].ref.name, start, end - 1);
        if (s->be[b].partition)
            EMIT(" [partition, bucket %u]", s->bucket);
        for (uint32_t op = 0; op < PLMM_OP_COUNT; op++)
            if (counts[op])
                EMIT(" %s×%u", plmm_op_name(op), counts[op]);
        if (fb)
            EMIT("  [FALLBACK: %u node(s) unsupported by the preferred backends]", fb);
        EMIT("\n");
        start = end;
    }
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (node_fell_back(s, i))
            EMIT("  fallback: node %u %s (%s) -> %s\n", i, plmm_op_name(g->nodes[i].op),
                 plmm_dtype_name(plmm_node_cap_dtype(&g->nodes[i])),
                 s->be[node_backend(s, i)].ref.name);
    uint32_t n_part = 0, n_claimed = 0;
    for (uint32_t start = 0; start < g->n_nodes;) {
        uint32_t end = split_end(s, start, g->n_nodes);
        if (s->be[node_backend(s, start)].partition) {
            n_part++;
            n_claimed += end - start;
        }
        start = end;
    }
    if (s->any_partition) {
        plmm_part_stats ps;
        plmm_sched_part_stats(s, &ps);
        EMIT("  partitions: %u (%u of %u nodes) compiled for a bucket of %u token(s); blobs so "
             "far: %llu compiled, %llu loaded from the cache, %llu rejected and rebuilt\n",
             n_part, n_claimed, g->n_nodes, s->bucket, (unsigned long long)ps.compiled,
             (unsigned long long)ps.cache_loaded, (unsigned long long)ps.cache_rejected);
    }
#undef EMIT
    if (used >= size && size > 0)
        buf[size - 1] = '\0';
    return PLMM_OK;
}
