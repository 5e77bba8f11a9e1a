/*
 * Line-numbered INI parsing: the only interface to inih (confined to
 * config_ini.c). Used by the configuration (config.c) and by plugin
 * manifests (manifest.c).
 *
 * Syntax, as inih reads it:
 *  - `[section]` headers; `key = value` or `key: value` pairs;
 *  - whole-line comments start with ';' or '#'; an inline comment starts
 *    with ';' preceded by whitespace;
 *  - keys and values are trimmed; quotes are part of the value;
 *  - leading whitespace is ignored, so indented keys are ordinary keys and
 *    there are no multi-line (continuation) values;
 *  - a UTF-8 byte-order mark at the start is skipped; CRLF line ends work.
 *
 * Line length: Debian's libinih is built with INI_MAX_LINE = 200, a fixed
 * line buffer holding the line, its newline and a NUL. inih would silently
 * split a longer line into two; the reader here sees every line first and
 * reports it instead ("line too long"). The limit follows the buffer size
 * inih actually hands the reader, so it is PLMM_INI_MAX_LINE_DEBIAN - 2 =
 * 198 bytes (leading whitespace and the line end excluded) with that build.
 */
#ifndef PLMM_ENGINE_CONFIG_INI_H
#define PLMM_ENGINE_CONFIG_INI_H

#include "plmm/types.h"

/* INI_MAX_LINE of Debian's libinih build (bytes, including newline and NUL). */
#define PLMM_INI_MAX_LINE_DEBIAN 200

/* Configuration files larger than this are refused. */
#define PLMM_INI_MAX_FILE (4u << 20)

/*
 * Callbacks return PLMM_OK, or an error status after writing a message
 * (no file or line: the parser adds "SOURCE:LINE: ") into err (err_size
 * bytes). Only the first error of a file, by line, is reported; parsing
 * continues to the end, so callbacks must cope with calls after an error.
 */
typedef struct plmm_ini_handlers {
    /* A `[name]` header on line. Keys up to the next header belong to it;
     * after an error, they are skipped. May be NULL. */
    plmm_status (*section)(void *user, const char *name, uint32_t line, char *err, size_t err_size);
    /* One `key = value` pair inside a valid section. */
    plmm_status (*key)(void *user, const char *section, const char *key, const char *value,
                       uint32_t line, char *err, size_t err_size);
    void *user;
} plmm_ini_handlers;

/*
 * Parse len bytes of INI text (need not be NUL-terminated; a NUL byte inside
 * is an error). source names the text in messages ("plmm.ini", "<string>").
 * Errors: PLMM_ERR_CONFIG (or a callback's status) with
 * "SOURCE:LINE: message" in plmm_last_errmsg(); PLMM_ERR_NOMEM.
 */
PLMM_NODISCARD plmm_status plmm_ini_parse_buffer(const char *data, size_t len, const char *source,
                                                 const plmm_ini_handlers *h) PLMM_NONNULL(3, 4);

/* Read a whole file (at most PLMM_INI_MAX_FILE bytes) and parse it with the
 * path as source. Adds PLMM_ERR_IO ("cannot open 'path': reason"). */
PLMM_NODISCARD plmm_status plmm_ini_parse_file(const char *path, const plmm_ini_handlers *h)
    PLMM_NONNULL(1, 2);

/* Longest line the linked inih accepts, in bytes (line end excluded). */
uint32_t plmm_ini_max_line(void);

#endif
