/*
 * Minimal embedding of plmm: open an engine, load a model, generate a
 * continuation of a prompt with a streaming callback, print timings.
 *
 *   embed MODEL.gguf [PROMPT]
 *
 * Backend plugins are found through PLMM_PLUGIN_PATH or the install directory.
 */
#include <plmm/plmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool print_piece(void *user, int32_t id, const char *piece, size_t len)
{
    (void)user;
    (void)id;
    fwrite(piece, 1, len, stdout);
    return fflush(stdout) == 0; /* false stops generation */
}

int main(int argc, char **argv)
{
    const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
    plmm_engine_params ep = {.struct_size = sizeof(ep), .log_level = -1};
    plmm_engine *engine = NULL;
    plmm_model *model = NULL;
    plmm_session *session = NULL;
    int32_t ids[512];
    size_t n_ids = 0;
    plmm_timings t = {.struct_size = sizeof(t)};
    plmm_status st;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [PROMPT]\n", argv[0]);
        return 2;
    }
    if ((st = plmm_engine_open(&ep, &engine)) != PLMM_OK ||
        (st = plmm_model_load(engine, argv[1], &model)) != PLMM_OK ||
        (st = plmm_session_create(model, NULL, &session)) != PLMM_OK ||
        (st = plmm_tokenize(model, prompt, strlen(prompt), PLMM_TOKENIZE_ADD_SPECIAL, ids,
                            sizeof(ids) / sizeof(ids[0]), &n_ids)) != PLMM_OK ||
        (st = plmm_session_generate(session, ids, n_ids, 32, print_piece, NULL, NULL)) != PLMM_OK ||
        (st = plmm_session_timings(session, &t)) != PLMM_OK)
        goto out;
    printf("\n%llu prompt tokens in %.1f ms, %llu generated in %.1f ms\n",
           (unsigned long long)t.n_prompt, t.prompt_ms, (unsigned long long)t.n_decode,
           t.decode_ms);
out:
    if (st != PLMM_OK)
        fprintf(stderr, "error: %s: %s\n", plmm_status_str(st), plmm_last_errmsg());
    plmm_session_free(session);
    plmm_model_free(model);
    plmm_engine_close(engine);
    return st == PLMM_OK ? 0 : 1;
}
