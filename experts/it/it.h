/* The IT expert's context and its answer check (it_check.c). */
#ifndef PLMM_EXPERT_IT_H
#define PLMM_EXPERT_IT_H

#include "plmm/expert.h"

typedef enum it_tag_policy {
    IT_TAG_REQUIRED = 0,
    IT_TAG_WARN = 1,
    IT_TAG_OFF = 2,
} it_tag_policy;

struct plmm_expert_ctx {
    const plmm_host_api *host;
    it_tag_policy language_tag;
    bool check_brackets;
};

/*
 * Checks the Markdown code blocks of an answer (CommonMark fences: a line
 * of three or more ` or ~, closed by a line of at least as many of the
 * same character; indented up to 8 spaces, as in list items):
 *  - every opened fence is closed;
 *  - every block has a language tag made of letters, digits, + # . _ -;
 *  - no block is empty (warning);
 *  - in languages with C, Python, JSON or SQL syntax, ( [ { balance
 *    outside strings and comments.
 * Messages name the block by number and line ("code block 2 (line 14) is
 * not closed").
 */
plmm_status it_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                     plmm_check_result *out);

#endif
