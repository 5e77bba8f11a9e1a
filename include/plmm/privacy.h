/*
 * plmm — pseudonymization of personal data before text leaves the device.
 *
 * A plmm_privacy object belongs to one conversation. It finds personal
 * data with validated detectors (e-mail, phone numbers, IBAN with its
 * mod-97 check, card numbers with Luhn and a known issuer prefix, IPv4/6,
 * dates of birth, national IDs, secrets such as API keys, bearer tokens
 * and private keys) and with the values the user is known by (every vault
 * item whose category is not NONE: names, places, organisations, street
 * addresses, ...), and replaces each with a placeholder "<CATEGORY_n>":
 * the same value gets the same placeholder for the whole conversation.
 * Answers are restored locally, also when streamed in pieces that split a
 * placeholder.
 *
 * Before bytes leave, plmm_privacy_scan() looks through the exact request
 * body (JSON escapes decoded, case and Unicode look-alikes folded) for any
 * known or already replaced value and refuses the send if one is there.
 *
 * Errors: plmm_status, detail in plmm_last_errmsg(); messages name a
 * category and a byte offset, never the personal value.
 */
#ifndef PLMM_PRIVACY_H
#define PLMM_PRIVACY_H

#include "plmm/audit.h"
#include "plmm/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_privacy plmm_privacy;

/* One detected piece of personal data: bytes [start, start + len). */
typedef struct plmm_pii_span {
    uint32_t category; /* plmm_pii */
    uint32_t known;    /* 1 when it matched a known (vault) value */
    size_t start;
    size_t len;
} plmm_pii_span;

PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_create(plmm_privacy **out);
/* Wipes every value and mapping. NULL is ignored. */
PLMM_EXPORT void plmm_privacy_destroy(plmm_privacy *privacy);

/* Teach a value the user is known by (category != NONE). Person names
 * also make their parts (given name, family name) known. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_add_known(plmm_privacy *privacy,
                                                              uint32_t category, const char *value);
/* add_known for every vault item whose category is not NONE. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_add_vault(plmm_privacy *privacy,
                                                              const plmm_vault *vault);

/* All personal data in len bytes of text, non-overlapping, in order.
 * *spans: owned, free with plmm_free (NULL when *n is 0). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_detect(const plmm_privacy *privacy,
                                                           const char *text, size_t len,
                                                           plmm_pii_span **spans, size_t *n);

/* Replace personal data by placeholders. *out: owned, NUL-terminated, free
 * with plmm_free. counts (may be NULL) receives what was replaced. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_pseudonymize(plmm_privacy *privacy,
                                                                 const char *text, size_t len,
                                                                 char **out,
                                                                 plmm_pii_counts *counts);
/* Put the original values back for the placeholders of this conversation
 * (also "<email_1>" and "<EMAIL_1 >" forms a model may write). Unknown
 * placeholders stay as they are. *out: owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_restore(const plmm_privacy *privacy,
                                                            const char *text, size_t len,
                                                            char **out);
/* Forget the placeholders (a new conversation); known values stay. */
PLMM_EXPORT void plmm_privacy_reset(plmm_privacy *privacy);

/* Final egress check of the exact bytes of a request body: PLMM_OK, or
 * PLMM_ERR_DENIED when a known or replaced value is present (hit, may be
 * NULL, then says where, as an offset in body). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_scan(const plmm_privacy *privacy,
                                                         const char *body, size_t len,
                                                         plmm_pii_span *hit);

/* ---- share policy ---- */

/* What an expert or the T-model may receive ([expert.NAME] share). */
typedef enum plmm_share {
    PLMM_SHARE_NONE = 0, /* nothing personal: data is replaced by "<CATEGORY>" (not restorable) */
    PLMM_SHARE_PSEUDONYMIZED = 1, /* personal data as restorable placeholders */
    PLMM_SHARE_FULL = 2,          /* everything as typed; needs explicit opt-in */
} plmm_share;

PLMM_EXPORT const char *plmm_share_name(uint32_t share);
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_share_parse(const char *name, uint32_t *out);

/*
 * The text to send to a destination with the given share policy:
 *   NONE            every detected value becomes "<CATEGORY>";
 *   PSEUDONYMIZED   plmm_privacy_pseudonymize();
 *   FULL            text unchanged, only when full_opt_in is true (else
 *                   PLMM_ERR_DENIED).
 * *out: owned, free with plmm_free; counts (may be NULL) what was replaced.
 * With NONE the caller may skip the destination when counts are non-zero.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_outgoing(plmm_privacy *privacy, uint32_t share,
                                                             bool full_opt_in, const char *text,
                                                             size_t len, char **out,
                                                             plmm_pii_counts *counts);

/* ---- streaming restore ---- */

typedef struct plmm_restorer plmm_restorer;

/* privacy is borrowed and must outlive the restorer. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_restorer_create(const plmm_privacy *privacy,
                                                            plmm_restorer **out);
PLMM_EXPORT void plmm_restorer_destroy(plmm_restorer *restorer);
/* Feed one streamed piece; *out and *out_len receive the restored text that
 * is ready (a possible placeholder prefix at the end is held back).
 * *out is borrowed until the next call. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_restorer_feed(plmm_restorer *restorer,
                                                          const char *piece, size_t len,
                                                          const char **out, size_t *out_len);
/* End of stream: whatever was held back, restored. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_restorer_finish(plmm_restorer *restorer,
                                                            const char **out, size_t *out_len);

/* ---- egress hook ---- */

/* State for plmm_privacy_before_send(): one per destination and request. */
typedef struct plmm_privacy_guard {
    uint32_t struct_size;   /* sizeof(plmm_privacy_guard) */
    uint32_t share;         /* plmm_share of the destination */
    plmm_privacy *privacy;  /* borrowed */
    plmm_audit *audit;      /* borrowed, may be NULL (no audit entry) */
    plmm_pii_counts counts; /* what the caller replaced in this request (for the audit) */
} plmm_privacy_guard;

/* Matches the connector's before_send hook. user points to a
 * plmm_privacy_guard, or to a struct whose first member is one (so the same
 * pointer can serve the connector's other hooks):
 * scans body unless share is FULL, appends an audit entry (sent or
 * refused), and returns PLMM_ERR_DENIED when the scan hit. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_privacy_before_send(void *guard, const char *url,
                                                                const char *body, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_PRIVACY_H */
