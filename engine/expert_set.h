/*
 * The configured experts: one instance per [expert.NAME] section of a
 * configuration. An expert whose plugin is missing, broken or refuses its
 * options is kept as a failed entry with the reason, so the router (and
 * `plmm experts`) can report it and go on with the others.
 */
#ifndef PLMM_ENGINE_EXPERT_SET_H
#define PLMM_ENGINE_EXPERT_SET_H

#include "expert_host.h"

typedef struct plmm_expert_set plmm_expert_set;

/* One configured expert. */
typedef struct plmm_expert_entry {
    const char *name;       /* the NAME of [expert.NAME] */
    plmm_expert_inst *inst; /* NULL when it failed */
    plmm_status status;     /* PLMM_OK or why it failed */
    const char *reason;     /* "" or the failure's message */
} plmm_expert_entry;

/* Create an instance for every [expert.NAME] section of cfg, in the order
 * the sections appear. Fails only for out of memory; an expert that cannot
 * be created is a failed entry. Destroy before the registry. */
PLMM_NODISCARD plmm_status plmm_expert_set_open(plmm_registry *reg, const plmm_config *cfg,
                                                plmm_expert_set **out) PLMM_NONNULL(1, 3);
/* NULL is ignored. */
void plmm_expert_set_close(plmm_expert_set *set);

uint32_t plmm_expert_set_count(const plmm_expert_set *set) PLMM_NONNULL(1);
/* NULL past the end. */
const plmm_expert_entry *plmm_expert_set_at(const plmm_expert_set *set, uint32_t i) PLMM_NONNULL(1);
/* The entry of an expert by name, or NULL when it is not configured. */
const plmm_expert_entry *plmm_expert_set_find(const plmm_expert_set *set, const char *name)
    PLMM_NONNULL(1, 2);

#endif
