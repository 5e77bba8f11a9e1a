/*
 * Publishing: a built bundle (BUNDLE/manifest.json, BUNDLE/files/PATH)
 * copied into a flat, content-addressed source directory that a plain web
 * server or `plmm serve` ([server] bundles_dir) can serve as it is.
 */
#include "errors.h"
#include "update_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy src to dst (atomically, through a temp file) checking size and hash. */
static plmm_status copy_checked(const char *src, const char *dst, const update_file *uf)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", dst, (long)getpid()) >= (int)sizeof(tmp))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", dst);
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        return plmm_err(PLMM_ERR_IO, "cannot open '%s': %s", src, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fclose(in);
        return plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    }
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    uint8_t buf[65536];
    uint64_t total = 0;
    size_t r;
    plmm_status st = PLMM_OK;
    while (st == PLMM_OK && (r = fread(buf, 1, sizeof(buf), in)) > 0) {
        crypto_hash_sha256_update(&h, buf, r);
        total += r;
        if (write(fd, buf, r) != (ssize_t)r)
            st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    if (st == PLMM_OK && ferror(in))
        st = plmm_err(PLMM_ERR_IO, "cannot read '%s'", src);
    fclose(in);
    uint8_t got[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, got);
    if (st == PLMM_OK && (total != uf->size || sodium_memcmp(got, uf->sha256, sizeof(got)) != 0))
        st = plmm_err(PLMM_ERR_AUTH,
                      "'%s' changed since the manifest was made (size or SHA-256 "
                      "differs); make and sign the manifest again",
                      src);
    if (st == PLMM_OK && fsync(fd) != 0)
        st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == PLMM_OK)
        st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (st == PLMM_OK && rename(tmp, dst) != 0)
        st = plmm_err(PLMM_ERR_IO, "cannot rename '%s': %s", tmp, strerror(errno));
    if (st != PLMM_OK)
        unlink(tmp);
    return st;
}

PLMM_EXPORT plmm_status plmm_bundle_publish(const char *bundle_dir, const char *source_dir)
{
    char path[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], hex[2 * crypto_hash_sha256_BYTES + 1];
    char *text;
    size_t len;
    sign_envelope env;
    update_manifest m;
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    if (snprintf(path, sizeof(path), "%s/manifest.json", bundle_dir) >= (int)sizeof(path))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", bundle_dir);
    if ((st = sign_read_file(path, UPDATE_MANIFEST_MAX, &text, &len)) != PLMM_OK)
        return st;
    if ((st = sign_envelope_parse(text, len, path, &env)) != PLMM_OK)
        goto out_text;
    st = update_manifest_parse(&env, path, &m);
    bool unsigned_manifest = json_array_size(env.sigs) == 0;
    sign_envelope_free(&env);
    if (st != PLMM_OK)
        goto out_text;
    if (unsigned_manifest) {
        st = plmm_err(PLMM_ERR_AUTH, "'%s' is not signed; sign it before publishing", path);
        goto out_manifest;
    }
    if (mkdir(source_dir, 0755) != 0 && errno != EEXIST) {
        st = plmm_err(PLMM_ERR_IO, "cannot create directory '%s': %s", source_dir, strerror(errno));
        goto out_manifest;
    }
    for (uint32_t i = 0; i < m.n_files && st == PLMM_OK; i++) {
        sign_hex(m.files[i].sha256, sizeof(m.files[i].sha256), hex);
        if (snprintf(src, sizeof(src), "%s/files/%s", bundle_dir, m.files[i].path) >=
                (int)sizeof(src) ||
            snprintf(dst, sizeof(dst), "%s/sha256-%s", source_dir, hex) >= (int)sizeof(dst)) {
            st = plmm_err(PLMM_ERR_INVALID_ARG, "path too long under '%s'", bundle_dir);
            break;
        }
        st = copy_checked(src, dst, &m.files[i]);
    }
    if (st != PLMM_OK)
        goto out_manifest;
    /* The manifest last: a client never sees it before its files. */
    if (snprintf(dst, sizeof(dst), "%s/%s.manifest.json", source_dir, m.expert) >=
        (int)sizeof(dst)) {
        st = plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", source_dir);
        goto out_manifest;
    }
    st = sign_write_atomic(dst, text, len, 0644);
out_manifest:
    update_manifest_free(&m);
out_text:
    free(text);
    return st;
}
