/*
 * plmm-conformance: certifies a backend plugin against a profile (engine/profile.h).
 *
 * The parent process prepares everything that runs no plugin code (CLI,
 * registries, the case list), then runs each case in a forked child with
 * a timeout (isolate.c); the child sends one conf_result back through a
 * pipe. Cases are grouped: abi (loading, descriptor, lifecycle, invalid
 * arguments, buffers), profile, op (each op against the CPU backend's
 * scalar kernels), npu (the partition contract), e2e (real models through
 * the public API) and perf (--perf).
 */
#ifndef PLMM_CONFORMANCE_H
#define PLMM_CONFORMANCE_H

#include "config.h"
#include "plmm/backend.h"
#include "profile.h"
#include "registry.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- results ---- */

enum { CONF_PASS = 0, CONF_FAIL = 1, CONF_SKIP = 2 };

/* Where the tolerance of a numeric case came from. */
enum { TOL_NONE = 0, TOL_DEFAULT = 1, TOL_DECLARED = 2, TOL_CAPPED = 3 };

/* What a case reports; a plain struct so that the child can write it to
 * the parent through a pipe. Error fields are NaN when not measured. */
typedef struct conf_result {
    int32_t status; /* CONF_* */
    int32_t tol_source;
    double nmse, max_abs, max_rel;
    double tol_nmse, tol_max_abs;
    double perf, perf_ref; /* --perf: throughput of the backend and of the CPU backend */
    char perf_unit[16];    /* "GFLOP/s", "GB/s" */
    double seconds;        /* wall time of the case (set by the parent) */
    char reason[1024];
} conf_result;

/* ---- options and environment ---- */

#define CONF_MAX_LIST 32

typedef struct conf_options {
    const char *profile_spec;
    const char *json_path;
    const char *filter;
    const char *target;              /* backend name, or path of its .so / .plugin */
    const char *sets[CONF_MAX_LIST]; /* "backend.NAME.key=value" */
    uint32_t n_sets;
    const char *plugin_dirs[CONF_MAX_LIST];
    uint32_t n_plugin_dirs;
    double timeout_s;
    bool perf;
    bool verbose;
    uint64_t seed;
} conf_options;

/* Prepared by the parent before any case runs; read-only in children. */
typedef struct conf_env {
    conf_options opt;
    plmm_profile profile;
    char name[128];               /* the backend's plugin name */
    char manifest_path[PATH_MAX]; /* of the backend, "" when none was found */
    char target_dir[PATH_MAX];    /* path mode: the directory of the manifest, else "" */
    char plugin_path[8192];       /* engine.plugin_path for registries and engines */
    char plugin_dirs[8192];       /* the --plugin-path directories, ':'-separated */
    char env_path_target[8192];   /* PLMM_PLUGIN_PATH for engines running the backend */
    char env_path_ref[8192];      /* PLMM_PLUGIN_PATH for engines running the reference */
    bool path_mode;
    plmm_config *tcfg;   /* configuration of the backend's registry (--set) */
    plmm_registry *treg; /* registry holding the backend under test */
    plmm_config *ocfg;   /* simd = scalar, threads = 1 */
    plmm_registry *oreg; /* registry holding the reference (oracle) */
    plmm_config *pcfg;
    plmm_registry *preg;           /* --perf: the CPU backend with its default options */
    const plmm_backend_desc *desc; /* NULL until loaded */
    const plmm_manifest *manifest; /* NULL when the backend has no manifest */
    const char *oracle_library;
    const char *shared_dir; /* NULL when ../shared/models is absent */
    bool loaded;
} conf_env;

/* Flags for registries that hold the backend under test: the search path
 * is env->plugin_path only (plus, in name mode, the build and install
 * directories). */
uint32_t conf_registry_flags(const conf_env *env);

/* ---- cases ---- */

typedef struct conf_case conf_case;
typedef void (*conf_case_fn)(const conf_env *env, const conf_case *c, conf_result *r);

struct conf_case {
    char name[96];
    char group[12];
    char op[16];
    char dtype[12];
    char shape[96];
    conf_case_fn run;
    int32_t index;      /* the group's own table index */
    uint32_t dtype_id;  /* plmm_dtype for op and perf cases */
    double timeout_mul; /* multiplies --timeout (e2e, perf) */
    bool needs_load;    /* skipped when the backend did not load */
};

typedef struct conf_case_list {
    conf_case *v;
    uint32_t n, cap;
} conf_case_list;

/* Append a case; returns it (zeroed but for the fields given) or NULL on OOM. */
conf_case *conf_case_add(conf_case_list *l, const char *group, const char *name, conf_case_fn run);

/* Case builders of each group (after the backend has loaded). */
void conf_abi_cases(const conf_env *env, conf_case_list *l);
void conf_profile_cases(const conf_env *env, conf_case_list *l);
void conf_op_cases(const conf_env *env, conf_case_list *l);
void conf_npu_cases(const conf_env *env, conf_case_list *l);
void conf_e2e_cases(const conf_env *env, conf_case_list *l);
void conf_perf_cases(const conf_env *env, conf_case_list *l);
/* The abi cases that move data (cases_io.c). */
void conf_case_two_contexts(const conf_env *env, const conf_case *c, conf_result *r);
void conf_case_buffers(const conf_env *env, const conf_case *c, conf_result *r);
void conf_case_async(const conf_env *env, const conf_case *c, conf_result *r);
void conf_case_import_host(const conf_env *env, const conf_case *c, conf_result *r);
void conf_case_get_rows_range(const conf_env *env, const conf_case *c, conf_result *r);
/* The option values the registry would hand to the backend's init
 * (schema defaults and --set). out: free with plmm_option_values_free. */
plmm_status conf_option_values(const conf_env *env, plmm_option_value **vals, uint32_t *n);
/* The first case, which loads the plugin through the engine's loader. */
void conf_case_load(const conf_env *env, const conf_case *c, conf_result *r);

/* ---- result helpers ---- */

void conf_result_init(conf_result *r);
/* Set status and a formatted reason; returns status. */
int conf_set(conf_result *r, int status, const char *fmt, ...) PLMM_PRINTF(3, 4);
/* Append "; text" to the reason. */
void conf_note(conf_result *r, const char *fmt, ...) PLMM_PRINTF(2, 3);

/* ---- isolation (isolate.c) ---- */

/* Set up the page children write their progress into. */
bool conf_isolate_init(void);
/* In a child: name the step about to run, for crash and timeout reports. */
void conf_step(const char *fmt, ...) PLMM_PRINTF(1, 2);
/* Run c in a forked child with a timeout of timeout_s seconds. */
void conf_run_isolated(const conf_env *env, const conf_case *c, double timeout_s, conf_result *r);

/* ---- reports (report.c) ---- */

void conf_report_header(const conf_env *env);
void conf_report_row(const conf_case *c, const conf_result *r);
/* Returns false when the file cannot be written. */
bool conf_report_json(const conf_env *env, const conf_case *cases, const conf_result *results,
                      uint32_t n, bool certified, const char *verdict);

/* ---- tolerances (tolerance.c) ---- */

#define CONF_TOL_CAP 100.0 /* a declared tolerance may loosen a default up to this factor */

typedef struct conf_tol {
    double nmse, max_abs;
    int source; /* TOL_* */
} conf_tol;

/* The tolerance for (op, dtype): the default, loosened by a declaration
 * of the descriptor up to CONF_TOL_CAP times the default. */
void conf_tolerance(const plmm_backend_desc *desc, uint32_t op, uint32_t dtype, conf_tol *out);
/* Print the default table as Markdown. */
void conf_tolerance_print(void);

/* Compare got against ref (n values): NMSE, max abs error, max abs error
 * relative to max |ref|; then check against tol and set PASS or FAIL. */
void conf_compare(const float *ref, const float *got, int64_t n, const conf_tol *tol,
                  conf_result *r);

/* ---- random data (data.c) ---- */

typedef struct conf_rng {
    uint64_t s;
} conf_rng;

void conf_rng_seed(conf_rng *g, uint64_t seed);
uint64_t conf_rng_next(conf_rng *g);
/* Uniform in [lo, hi). */
float conf_rng_uniform(conf_rng *g, float lo, float hi);
/* FNV-1a of a string, for per-case seeds. */
uint64_t conf_hash(const char *s);

/* Fill n elements (a whole number of blocks) of dtype at dst with random
 * values of magnitude about `scale` (quantized types: random valid blocks). */
void conf_fill(conf_rng *g, uint32_t dtype, void *dst, int64_t n, float scale);
/* Element i of a row of dtype F32, F16 or BF16 as float. */
float conf_load_float(uint32_t dtype, const void *p);
void conf_store_float(uint32_t dtype, void *p, float v);

/* ---- backend instances and buffers (backend.c) ---- */

typedef struct conf_be {
    plmm_backend_inst *inst;
    const plmm_backend_desc *desc;
    const plmm_backend_vtbl *vt;
    plmm_backend_ctx *ctx;
    const plmm_host_api *host;
    uint64_t align;     /* buffer_reqs alignment (>= 1) */
    bool use_partition; /* run nodes through the partition contract */
} conf_be;

/* Create an instance of the plugin `name` in reg. Message in why. */
plmm_status conf_be_open(plmm_registry *reg, const char *name, conf_be *out, char *why,
                         size_t why_size);
void conf_be_close(conf_be *b);
/* Does the descriptor declare op for dtype (a capability entry of any shape)? */
bool conf_declares(const plmm_backend_desc *d, uint32_t op, uint32_t dtype);
/* PLMM_CAP_* flags of the capability entries that declare op for dtype. */
uint32_t conf_declared_flags(const plmm_backend_desc *d, uint32_t op, uint32_t dtype);
/* Forget the plugin's last error text. */
void conf_be_clear_error(conf_be *b);
/* The plugin's last error text, or the status text. */
const char *conf_be_errmsg(const conf_be *b, plmm_status st);

/* A buffer with guard regions before and after `storage` bytes. */
typedef struct conf_buf {
    plmm_buffer *buf;
    uint64_t size;    /* guard + storage + guard */
    uint64_t base;    /* offset of the storage inside the buffer */
    uint64_t storage; /* bytes */
    void *map;        /* host address of the buffer, or NULL */
} conf_buf;

#define CONF_GUARD_MIN 256

plmm_status conf_buf_alloc(conf_be *be, uint64_t storage, uint32_t usage, conf_buf *out, char *why,
                           size_t why_size);
void conf_buf_free(conf_be *be, conf_buf *b);
/* Write guards and the storage image (storage bytes) to the buffer. */
plmm_status conf_buf_upload(conf_be *be, conf_buf *b, const uint8_t *image, char *why,
                            size_t why_size);
/* Read the whole buffer (b->size bytes) into dst. */
plmm_status conf_buf_download(conf_be *be, conf_buf *b, uint8_t *dst, char *why, size_t why_size);
/* The guard byte at position i of a guard region. */
uint8_t conf_guard_byte(uint64_t i);

/* ---- single-node cases (backend.c) ---- */

enum { CT_INPUT = 0, CT_WEIGHT = 1, CT_OUTPUT = 2 };

/* One operand: a view (ne, nb, offset) into its own storage. */
typedef struct conf_operand {
    uint32_t dtype;
    int kind; /* CT_* */
    int64_t ne[PLMM_MAX_DIMS];
    uint64_t nb[PLMM_MAX_DIMS];
    uint64_t offset;  /* of element 0 inside the storage */
    uint64_t storage; /* bytes of the storage */
    uint8_t *image;   /* host copy of the storage: data of inputs, prefill of outputs */
} conf_operand;

/* A node over operands: op[0] is dst, op[1 + i] is src[i]. */
typedef struct conf_node {
    uint32_t op;
    int32_t ip[PLMM_MAX_PARAMS];
    float fp[PLMM_MAX_PARAMS];
    conf_operand t[1 + PLMM_MAX_SRC];
    bool used[1 + PLMM_MAX_SRC];
    bool inplace;    /* dst is src0 (same tensor) */
    uint32_t bucket; /* tokens: the static shape for the partition contract */
} conf_node;

/* Dense operand of dtype and shape (nb from ne); image allocated and zeroed. */
bool conf_operand_dense(conf_operand *o, uint32_t dtype, int kind, int64_t ne0, int64_t ne1,
                        int64_t ne2, int64_t ne3);
/* Operand viewing a larger storage with explicit strides and offset. */
bool conf_operand_view(conf_operand *o, uint32_t dtype, int kind, const int64_t ne[4],
                       const uint64_t nb[4], uint64_t offset, uint64_t storage);
void conf_node_free(conf_node *n);
/* Elements of the dst view. */
int64_t conf_operand_nelements(const conf_operand *o);

/*
 * Run a node on a backend and return dst's elements as floats (*out,
 * malloc'ed, n values in ne order). With checks, also verify that nothing
 * outside dst's elements changed (guards, gaps of strided views) and that
 * inputs are unchanged; a violation is PLMM_ERR_INTERNAL with the detail
 * in why. Backend errors return the backend's status and message.
 */
plmm_status conf_node_run(conf_be *be, const conf_node *cn, bool checks, float **out, int64_t *n,
                          char *why, size_t why_size);

/* A node with its operands uploaded into buffers of a backend, ready to run
 * repeatedly (graph contract). */
typedef struct conf_prepared {
    conf_buf bufs[1 + PLMM_MAX_SRC];
    plmm_tensor ts[1 + PLMM_MAX_SRC];
    plmm_node node;
} conf_prepared;

plmm_status conf_node_prepare(conf_be *be, const conf_node *cn, conf_prepared *p, char *why,
                              size_t why_size);
/* graph_compute + synchronize. */
plmm_status conf_prepared_compute(conf_be *be, conf_prepared *p, char *why, size_t why_size);
void conf_prepared_free(conf_be *be, conf_prepared *p);

/* Fill the node's input and weight images with seeded random values. */
void conf_node_randomize(conf_node *cn, conf_rng *g, float scale);

#endif
