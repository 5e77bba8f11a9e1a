/*
 * expert-consult: consult one expert the way the router does, without the
 * routing decision — for tests/e2e/test-experts-loopback.py.
 *
 *   expert-consult CONFIG EXPERT QUESTION
 *
 * Opens an engine from CONFIG, creates the expert from its [expert.NAME]
 * section, opens its E-model connector, sends the expert's system prompt
 * and QUESTION, prints the answer and the expert's check:
 *
 *   answer: TEXT
 *   check: pass|warn|fail MESSAGE
 *   usage: PROMPT_TOKENS COMPLETION_TOKENS
 *
 * Exit status 0 on an answer (whatever the check says), 1 with
 * "error: MESSAGE" on stderr otherwise.
 */
#include "connector.h"
#include "engine_impl.h"
#include "expert_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const verdicts[] = {"pass", "warn", "fail"};

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG EXPERT QUESTION\n", argv[0]);
        return 2;
    }
    plmm_engine_params ep = {.struct_size = sizeof(ep), .config_path = argv[1], .log_level = -1};
    plmm_engine *e = NULL;
    plmm_expert_inst *inst = NULL;
    plmm_connector *conn = NULL;
    plmm_connector_result res = {0};
    plmm_connector_config cc;
    plmm_check_result check;
    int rc = 1;

    plmm_status st = plmm_engine_open(&ep, &e);
    if (st == PLMM_OK)
        st = plmm_expert_inst_create(e->reg, e->cfg, argv[2], &inst);
    if (st == PLMM_OK)
        st = plmm_expert_inst_connector_config(inst, &cc);
    if (st == PLMM_OK)
        st = plmm_connector_open(e, &cc, &conn);
    if (st != PLMM_OK)
        goto out;
    const plmm_expert_desc *d = plmm_expert_inst_desc(inst);
    plmm_connector_msg msgs[2] = {{"system", d->system_prompt}, {"user", argv[3]}};
    plmm_connector_request req = {
        .msgs = msgs,
        .n_msgs = 2,
        .max_tokens = plmm_expert_inst_settings(inst)->max_tokens,
        .temperature = 0.0f,
    };
    if ((st = plmm_connector_chat(conn, &req, &res)) != PLMM_OK)
        goto out;
    if ((st = plmm_expert_inst_check(inst, argv[3], res.text, &check)) != PLMM_OK)
        goto out;
    printf("answer: %s\n", res.text);
    printf("check: %s %s\n", verdicts[check.verdict], check.message);
    printf("usage: %lld %lld\n", (long long)res.prompt_tokens, (long long)res.completion_tokens);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "error: %s\n", plmm_last_errmsg());
    plmm_connector_result_clear(&res);
    plmm_connector_close(conn);
    plmm_expert_inst_destroy(inst);
    plmm_engine_close(e);
    return rc;
}
