/*
 * plmm — the audit log of everything that left the device.
 *
 * One line per outgoing request, appended and fsync'd before the request
 * is sent: sequence number, UTC time, destination (scheme://host[:port]/path;
 * credentials and query strings are never written), what the privacy layer
 * replaced (category=count), whether the request was sent or refused, the
 * length and SHA-256 of the exact bytes, and a hash chain:
 *
 *   leaf_i  = SHA-256(0x00 || line_i without its last field)      (RFC 6962 leaf)
 *   chain_i = SHA-256(0x01 || chain_{i-1} || leaf_i), chain_0 = 32 zero bytes
 *
 * A companion file "PATH.head" records the entry count, the last chain
 * hash and the Merkle tree root (RFC 6962) of all leaves, so deleting
 * entries at the end is detected too. plmm_audit_verify() recomputes
 * everything and names the first bad entry; the root it prints can be kept
 * elsewhere and compared later (plmm audit verify --root HEX). Nothing in
 * the log is secret: bodies are recorded by hash only.
 */
#ifndef PLMM_AUDIT_H
#define PLMM_AUDIT_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_audit plmm_audit;

/* Categories replaced in one request, indexed by plmm_pii (vault.h). */
typedef struct plmm_pii_counts {
    uint32_t n[16];
} plmm_pii_counts;

#define PLMM_AUDIT_SENT 0u    /* the request left the device */
#define PLMM_AUDIT_REFUSED 1u /* the final scan (or a policy) stopped it */

/* Open (creating when absent) the log at path for appending. Several
 * handles and processes may append to one log: each entry is written under
 * an exclusive lock (flock) and continues the chain as it is on disk. A log
 * whose last line is cut short (a crash during an append) is refused with
 * PLMM_ERR_FORMAT. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_audit_open(const char *path, plmm_audit **out);
/* NULL is ignored. */
PLMM_EXPORT void plmm_audit_close(plmm_audit *audit);

/* Record one request: destination URL (reduced as described above), the
 * counts (may be NULL), outcome PLMM_AUDIT_SENT or PLMM_AUDIT_REFUSED and
 * the len bytes of the body. The entry is on disk (fsync'd) on return. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_audit_append(plmm_audit *audit, const char *destination,
                                                         const plmm_pii_counts *counts,
                                                         uint32_t outcome, const void *body,
                                                         size_t len);

/* Result of a verification. */
typedef struct plmm_audit_report {
    uint32_t struct_size; /* set by the caller */
    uint32_t ok;          /* 1 when every check passed */
    uint64_t n_entries;   /* entries read */
    uint64_t first_bad;   /* 1-based line of the first bad entry (0 when ok or when only the head is
                             bad) */
    char root_hex[65];    /* Merkle root of the good prefix, hex */
    char message[256];    /* what is wrong ("" when ok) */
} plmm_audit_report;

/* Check the log at path: line syntax, sequence numbers, every leaf and
 * chain hash, and the head file. expected_root (may be NULL) is a Merkle
 * root recorded earlier: it must equal the root of the first n leaves
 * for some n (the log only grew since). Returns PLMM_OK when the report
 * could be made (then report->ok tells the verdict), an error when the
 * log cannot be read. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_audit_verify(const char *path,
                                                         const char *expected_root,
                                                         plmm_audit_report *report);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_AUDIT_H */
