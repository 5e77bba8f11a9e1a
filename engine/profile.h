/*
 * Conformance profiles: the ops, dtypes, capability flags and shape ranges
 * a backend must declare to run a family of models. `llm-core` is what the
 * llama/qwen2 forward graph (forward.c) emits; test-profile checks every
 * node of that graph against this table, so the two cannot drift apart.
 * plmm-conformance certifies backends against it.
 *
 * A profile spec is a name with an optional weight dtype: "llm-core" (all
 * weight dtypes) or "llm-core:Q4_K" (the dtype-independent items plus
 * GET_ROWS and MUL_MAT with Q4_K weights). `llm-npu` (and "llm-npu:DTYPE")
 * is the part of llm-core a partition (NPU) backend takes over: MUL_MAT,
 * RMS_NORM, ADD and SWIGLU; the rest stays on a graph backend.
 */
#ifndef PLMM_ENGINE_PROFILE_H
#define PLMM_ENGINE_PROFILE_H

#include "plmm/backend.h"

#define PLMM_PROFILE_MAX_ITEMS 64

/* One required (op, dtype): the backend must declare a capability entry
 * for op whose dtypes hold dtype, whose flags hold flags and whose max_ne
 * admit max_ne (0 = no limit on either side). */
typedef struct plmm_profile_item {
    uint32_t op;
    uint32_t dtype;                /* the node's capability dtype (plmm_node_cap_dtype) */
    uint32_t flags;                /* PLMM_CAP_* the graph relies on */
    int64_t max_ne[PLMM_MAX_DIMS]; /* largest shape (of src0, else dst) the graph emits */
    const char *what;              /* where the graph uses it, one line */
} plmm_profile_item;

typedef struct plmm_profile {
    char name[64];         /* the spec as normalised: "llm-core", "llm-core:Q4_K" */
    uint32_t weight_dtype; /* PLMM_DTYPE_COUNT: every weight dtype of the profile */
    uint32_t n_items;
    plmm_profile_item items[PLMM_PROFILE_MAX_ITEMS];
} plmm_profile;

/* The dtype a node is matched on against capabilities: the weights of
 * GET_ROWS and MUL_MAT, the cache of ATTENTION, the destination of CPY,
 * src0 otherwise (backend.h, plmm_op_caps). PLMM_DTYPE_COUNT when the
 * tensor it names is missing. */
uint32_t plmm_node_cap_dtype(const plmm_node *node) PLMM_NONNULL(1);

/* Resolve a spec ("llm-core", "llm-core:F16"; dtype names as
 * plmm_dtype_name prints them, any case). PLMM_ERR_NOT_FOUND with a
 * message listing the known specs. */
PLMM_NODISCARD plmm_status plmm_profile_get(const char *spec, plmm_profile *out) PLMM_NONNULL(1, 2);

/* Known specs, ", "-separated (static text). */
const char *plmm_profile_specs(void);

/* Weight dtypes of a profile family, in order; *n receives the count. */
const uint32_t *plmm_profile_weight_dtypes(uint32_t *n) PLMM_NONNULL(1);

/* The item of p that a node falls under (same op and capability dtype),
 * or NULL. */
const plmm_profile_item *plmm_profile_match(const plmm_profile *p, const plmm_node *node)
    PLMM_NONNULL(1, 2);

/* Does the descriptor declare the item? On false, why says what is
 * missing ("MUL_MAT Q4_K: not declared", "... max_ne[0] 4096 < 32768",
 * "... lacks PLMM_CAP_INPLACE"). why may be NULL. */
bool plmm_profile_item_covered(const plmm_profile_item *item, const plmm_backend_desc *desc,
                               char *why, size_t why_size) PLMM_NONNULL(1, 2);

#endif
