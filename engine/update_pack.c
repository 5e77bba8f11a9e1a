/*
 * Knowledge packs: questions answered by the T-model, written as JSON lines
 * into a bundle and signed, so an expert learns without training on the
 * device.
 */
#include "errors.h"
#include "update_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_MAX_QUESTIONS 100000

static plmm_status write_line(FILE *out, const char *path, const char *q, const char *a)
{
    json_t *j = json_pack("{s:s, s:s}", "question", q, "answer", a);
    if (j == NULL)
        return plmm_err(PLMM_ERR_FORMAT, "question or answer is not valid UTF-8: '%.60s'", q);
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    if (text == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    int r = fprintf(out, "%s\n", text);
    free(text);
    if (r < 0)
        return plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_pack_build(const char *bundle_dir, const char *expert,
                                        uint64_t version, int64_t expires,
                                        const char *questions_path, plmm_pack_answer_fn answer,
                                        void *user, const char *const *secret_key_paths,
                                        uint32_t n_keys)
{
    char *text = NULL;
    size_t len;
    plmm_status st = sign_read_file(questions_path, 64u << 20, &text, &len);
    if (st != PLMM_OK)
        return st;
    st = update_pack_build_text(bundle_dir, expert, version, expires, text, questions_path, answer,
                                user, secret_key_paths, n_keys);
    free(text);
    return st;
}

plmm_status update_pack_build_text(const char *bundle_dir, const char *expert, uint64_t version,
                                   int64_t expires, char *text, const char *label,
                                   plmm_pack_answer_fn answer, void *user,
                                   const char *const *secret_key_paths, uint32_t n_keys)
{
    char files[PATH_MAX], pack[PATH_MAX], tmp[PATH_MAX], manifest[PATH_MAX];
    const char *questions_path = label;
    if (!update_valid_name(expert))
        return plmm_err(PLMM_ERR_INVALID_ARG, "expert name '%s' must be 1-64 of [a-z0-9_-]",
                        expert);
    if (n_keys > 0 && secret_key_paths == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "secret key paths missing");
    if (snprintf(files, sizeof(files), "%s/files", bundle_dir) >= (int)sizeof(files) ||
        snprintf(pack, sizeof(pack), "%s/knowledge.jsonl", files) >= (int)sizeof(pack) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", pack) >= (int)sizeof(tmp) ||
        snprintf(manifest, sizeof(manifest), "%s/manifest.json", bundle_dir) >=
            (int)sizeof(manifest))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", bundle_dir);
    plmm_status st = PLMM_OK;
    if ((mkdir(bundle_dir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(files, 0755) != 0 && errno != EEXIST)) {
        st = plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", files, strerror(errno));
        goto out_text;
    }
    FILE *out = fopen(tmp, "w");
    if (out == NULL) {
        st = plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        goto out_text;
    }
    size_t n = 0;
    char *save = NULL;
    for (char *q = strtok_r(text, "\r\n", &save); q != NULL && st == PLMM_OK;
         q = strtok_r(NULL, "\r\n", &save)) {
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '\0')
            continue;
        if (++n > PACK_MAX_QUESTIONS) {
            st = plmm_err(PLMM_ERR_RANGE, "'%s': more than %d questions", questions_path,
                          PACK_MAX_QUESTIONS);
            break;
        }
        char *a = NULL;
        if ((st = answer(user, q, &a)) != PLMM_OK) {
            plmm_err_prefix(st, "question %zu", n);
            break;
        }
        st = write_line(out, tmp, q, a ? a : "");
        free(a);
    }
    if (st == PLMM_OK && n == 0)
        st = plmm_err(PLMM_ERR_INVALID_ARG, "'%s' holds no questions", questions_path);
    if (fclose(out) != 0 && st == PLMM_OK)
        st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (st == PLMM_OK && rename(tmp, pack) != 0)
        st = plmm_err(PLMM_ERR_IO, "cannot rename '%s': %s", tmp, strerror(errno));
    if (st != PLMM_OK) {
        unlink(tmp);
        goto out_text;
    }
    if ((st = plmm_manifest_create(bundle_dir, expert, version, expires, NULL)) != PLMM_OK)
        goto out_text;
    for (uint32_t i = 0; i < n_keys && st == PLMM_OK; i++)
        st = plmm_sign_envelope(manifest, secret_key_paths[i]);
out_text:
    return st;
}
