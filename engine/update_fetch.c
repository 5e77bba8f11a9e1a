/*
 * Fetch bundle resources from a local directory or an HTTP(S) URL,
 * streaming the bytes to a sink (which hashes and writes them) and stopping
 * as soon as more arrives than the manifest declared.
 */
#include "errors.h"
#include "update_impl.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static bool is_url(const char *source)
{
    return strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0;
}

typedef struct http_state {
    update_sink_fn sink;
    void *user;
    uint64_t got, max;
    plmm_status st; /* first sink or size error */
} http_state;

static size_t http_write(char *data, size_t size, size_t nmemb, void *userp)
{
    http_state *s = userp;
    size_t n = size * nmemb;
    if (s->got + n > s->max) {
        s->st = plmm_err(PLMM_ERR_AUTH, "more data than the %llu bytes declared",
                         (unsigned long long)s->max);
        return 0;
    }
    s->got += n;
    plmm_status st = s->sink(s->user, (const uint8_t *)data, n);
    if (st != PLMM_OK) {
        s->st = st;
        return 0;
    }
    return n;
}

static plmm_status fetch_http(const char *url, const char *ca_file, uint64_t max,
                              update_sink_fn sink, void *user)
{
    http_state s = {sink, user, 0, max, PLMM_OK};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    if (c == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot start an HTTP transfer");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "plmm/" PLMM_VERSION);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 0L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (s.st != PLMM_OK)
        return plmm_err_prefix(s.st, "'%s'", url);
    if (rc != CURLE_OK)
        return plmm_err(PLMM_ERR_NETWORK, "cannot fetch '%s': %s", url,
                        errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (code == 404)
        return plmm_err(PLMM_ERR_NOT_FOUND, "'%s': HTTP 404 not found", url);
    if (code != 200)
        return plmm_err(PLMM_ERR_NETWORK, "'%s': HTTP status %ld", url, code);
    return PLMM_OK;
}

static plmm_status fetch_file(const char *path, uint64_t max, update_sink_fn sink, void *user)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return plmm_err(errno == ENOENT ? PLMM_ERR_NOT_FOUND : PLMM_ERR_IO, "cannot open '%s': %s",
                        path, strerror(errno));
    uint8_t buf[65536];
    uint64_t got = 0;
    size_t r;
    plmm_status st = PLMM_OK;
    while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (got + r > max) {
            st = plmm_err(PLMM_ERR_AUTH, "'%s': more data than the %llu bytes declared", path,
                          (unsigned long long)max);
            break;
        }
        got += r;
        if ((st = sink(user, buf, r)) != PLMM_OK)
            break;
    }
    if (st == PLMM_OK && ferror(f))
        st = plmm_err(PLMM_ERR_IO, "cannot read '%s'", path);
    fclose(f);
    return st;
}

plmm_status update_fetch(const char *source, const char *rel, const char *ca_file, uint64_t max,
                         update_sink_fn sink, void *user)
{
    char where[PATH_MAX + 64];
    size_t n = strlen(source);
    while (n > 1 && source[n - 1] == '/')
        n--;
    if (snprintf(where, sizeof(where), "%.*s/%s", (int)n, source, rel) >= (int)sizeof(where))
        return plmm_err(PLMM_ERR_INVALID_ARG, "source path too long: '%s'", source);
    if (is_url(source))
        return fetch_http(where, ca_file, max, sink, user);
    if (strncmp(source, "file://", 7) == 0)
        return fetch_file(where + 7, max, sink, user);
    if (strstr(source, "://") != NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "source '%s': use a directory or an http:// or https:// URL", source);
    return fetch_file(where, max, sink, user);
}

typedef struct mem_sink {
    char *buf;
    size_t len, cap;
} mem_sink;

static plmm_status mem_write(void *user, const uint8_t *data, size_t len)
{
    mem_sink *m = user;
    if (m->len + len + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + len + 1)
            cap *= 2;
        char *p = realloc(m->buf, cap);
        if (p == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        m->buf = p;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    m->buf[m->len] = '\0';
    return PLMM_OK;
}

plmm_status update_fetch_mem(const char *source, const char *rel, const char *ca_file, size_t max,
                             char **out, size_t *len)
{
    mem_sink m = {NULL, 0, 0};
    plmm_status st = update_fetch(source, rel, ca_file, max, mem_write, &m);
    if (st == PLMM_OK && m.buf == NULL)
        st = mem_write(&m, (const uint8_t *)"", 0);
    if (st != PLMM_OK) {
        free(m.buf);
        return st;
    }
    *out = m.buf;
    *len = m.len;
    return PLMM_OK;
}
