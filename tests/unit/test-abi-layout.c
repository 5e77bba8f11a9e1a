/*
 * ABI freeze: the recorded size, alignment and field offsets of every
 * public struct in the headers of include/plmm, and the value of every
 * public enum constant and numeric macro. A change fails with a diff of recorded (-)
 * and current (+) values. The headers are also scanned (PLMM_SOURCE_DIR)
 * so that a struct, field, enumerator, macro or header added without being
 * recorded here fails too.
 *
 * A deliberate, compatible change (fields appended to a struct that carries
 * struct_size, with a new ABI minor) updates this table: run
 * `test-abi-layout --print` for the current values of the recorded entries
 * and add lines for the new ones. Anything else breaks plugins or apps
 * built against the old headers.
 */
#include "plmm/ask.h"
#include "plmm/audit.h"
#include "plmm/backend.h"
#include "plmm/expert.h"
#include "plmm/ledger.h"
#include "plmm/lora.h" /* no structs or enums: functions only */
#include "plmm/plmm.h"
#include "plmm/privacy.h"
#include "plmm/server.h"
#include "plmm/update.h"
#include "plmm/vault.h"
#include "test.h"

#include <dirent.h>

#ifndef PUBLIC_HEADERS
#error "PUBLIC_HEADERS must list the headers tests/unit/headers compiles"
#endif

/* ---- the recorded table ---- */

typedef struct layout {
    const char *type;
    const char *field;   /* NULL: the struct itself (size and alignment) */
    size_t now_a, now_b; /* offset and size, or size and alignment */
    size_t rec_a, rec_b;
} layout;

#define SIZE(T, size, align)                                                                       \
    {                                                                                              \
#T, NULL, sizeof(T), _Alignof(T), size, align                                              \
    }
#define FIELD(T, f, off, size)                                                                     \
    {                                                                                              \
#T, #f, offsetof(T, f), sizeof(((T *)0)->f), off, size                                     \
    }

/* LP64 (x86_64, aarch64, riscv64, ppc64le, s390x) */
static const layout layouts[] = {
    /* plmm_tensor (types.h) */
    SIZE(plmm_tensor, 112, 8),
    FIELD(plmm_tensor, dtype, 0, 4),
    FIELD(plmm_tensor, flags, 4, 4),
    FIELD(plmm_tensor, ne, 8, 32),
    FIELD(plmm_tensor, nb, 40, 32),
    FIELD(plmm_tensor, buffer, 72, 8),
    FIELD(plmm_tensor, offset, 80, 8),
    FIELD(plmm_tensor, data, 88, 8),
    FIELD(plmm_tensor, name, 96, 8),
    FIELD(plmm_tensor, id, 104, 4),
    FIELD(plmm_tensor, reserved, 108, 4),
    /* plmm_node (types.h) */
    SIZE(plmm_node, 112, 8),
    FIELD(plmm_node, op, 0, 4),
    FIELD(plmm_node, flags, 4, 4),
    FIELD(plmm_node, dst, 8, 8),
    FIELD(plmm_node, src, 16, 32),
    FIELD(plmm_node, ip, 48, 32),
    FIELD(plmm_node, fp, 80, 32),
    /* plmm_graph (types.h) */
    SIZE(plmm_graph, 16, 8),
    FIELD(plmm_graph, struct_size, 0, 4),
    FIELD(plmm_graph, n_nodes, 4, 4),
    FIELD(plmm_graph, nodes, 8, 8),
    /* plmm_option_schema (types.h) */
    SIZE(plmm_option_schema, 56, 8),
    FIELD(plmm_option_schema, key, 0, 8),
    FIELD(plmm_option_schema, type, 8, 4),
    FIELD(plmm_option_schema, flags, 12, 4),
    FIELD(plmm_option_schema, default_value, 16, 8),
    FIELD(plmm_option_schema, min, 24, 8),
    FIELD(plmm_option_schema, max, 32, 8),
    FIELD(plmm_option_schema, choices, 40, 8),
    FIELD(plmm_option_schema, help, 48, 8),
    /* plmm_option_value (types.h) */
    SIZE(plmm_option_value, 24, 8),
    FIELD(plmm_option_value, key, 0, 8),
    FIELD(plmm_option_value, type, 8, 4),
    FIELD(plmm_option_value, reserved, 12, 4),
    FIELD(plmm_option_value, v, 16, 8),
    FIELD(plmm_option_value, v.b, 16, 1),
    FIELD(plmm_option_value, v.i, 16, 8),
    FIELD(plmm_option_value, v.f, 16, 8),
    FIELD(plmm_option_value, v.s, 16, 8),
    /* plmm_host_api (types.h) */
    SIZE(plmm_host_api, 72, 8),
    FIELD(plmm_host_api, struct_size, 0, 4),
    FIELD(plmm_host_api, abi_version, 4, 4),
    FIELD(plmm_host_api, host_ctx, 8, 8),
    FIELD(plmm_host_api, log, 16, 8),
    FIELD(plmm_host_api, set_error, 24, 8),
    FIELD(plmm_host_api, alloc, 32, 8),
    FIELD(plmm_host_api, free, 40, 8),
    FIELD(plmm_host_api, now_ns, 48, 8),
    FIELD(plmm_host_api, cpu_features, 56, 8),
    FIELD(plmm_host_api, n_cpus, 64, 4),
    FIELD(plmm_host_api, reserved, 68, 4),
    /* plmm_plugin_header (backend.h) */
    SIZE(plmm_plugin_header, 16, 4),
    FIELD(plmm_plugin_header, struct_size, 0, 4),
    FIELD(plmm_plugin_header, abi_major, 4, 2),
    FIELD(plmm_plugin_header, abi_minor, 6, 2),
    FIELD(plmm_plugin_header, kind, 8, 4),
    FIELD(plmm_plugin_header, reserved, 12, 4),
    /* plmm_device_props (backend.h) */
    SIZE(plmm_device_props, 232, 8),
    FIELD(plmm_device_props, struct_size, 0, 4),
    FIELD(plmm_device_props, type, 4, 4),
    FIELD(plmm_device_props, name, 8, 128),
    FIELD(plmm_device_props, driver, 136, 64),
    FIELD(plmm_device_props, memory_total, 200, 8),
    FIELD(plmm_device_props, memory_free, 208, 8),
    FIELD(plmm_device_props, flags, 216, 4),
    FIELD(plmm_device_props, subgroup_size, 220, 4),
    FIELD(plmm_device_props, compute_units, 224, 4),
    FIELD(plmm_device_props, reserved, 228, 4),
    /* plmm_op_caps (backend.h) */
    SIZE(plmm_op_caps, 48, 8),
    FIELD(plmm_op_caps, op, 0, 4),
    FIELD(plmm_op_caps, flags, 4, 4),
    FIELD(plmm_op_caps, dtypes, 8, 8),
    FIELD(plmm_op_caps, max_ne, 16, 32),
    /* plmm_tolerance (backend.h) */
    SIZE(plmm_tolerance, 24, 8),
    FIELD(plmm_tolerance, op, 0, 4),
    FIELD(plmm_tolerance, dtype, 4, 4),
    FIELD(plmm_tolerance, nmse, 8, 8),
    FIELD(plmm_tolerance, max_abs, 16, 8),
    /* plmm_buffer_reqs (backend.h) */
    SIZE(plmm_buffer_reqs, 24, 8),
    FIELD(plmm_buffer_reqs, struct_size, 0, 4),
    FIELD(plmm_buffer_reqs, flags, 4, 4),
    FIELD(plmm_buffer_reqs, alignment, 8, 8),
    FIELD(plmm_buffer_reqs, max_size, 16, 8),
    /* plmm_partition (backend.h) */
    SIZE(plmm_partition, 48, 8),
    FIELD(plmm_partition, struct_size, 0, 4),
    FIELD(plmm_partition, bucket, 4, 4),
    FIELD(plmm_partition, n_nodes, 8, 4),
    FIELD(plmm_partition, n_inputs, 12, 4),
    FIELD(plmm_partition, n_outputs, 16, 4),
    FIELD(plmm_partition, reserved, 20, 4),
    FIELD(plmm_partition, nodes, 24, 8),
    FIELD(plmm_partition, inputs, 32, 8),
    FIELD(plmm_partition, outputs, 40, 8),
    /* plmm_backend_vtbl (backend.h) */
    SIZE(plmm_backend_vtbl, 168, 8),
    FIELD(plmm_backend_vtbl, struct_size, 0, 4),
    FIELD(plmm_backend_vtbl, abi_version, 4, 4),
    FIELD(plmm_backend_vtbl, init, 8, 8),
    FIELD(plmm_backend_vtbl, shutdown, 16, 8),
    FIELD(plmm_backend_vtbl, device_count, 24, 8),
    FIELD(plmm_backend_vtbl, device_props, 32, 8),
    FIELD(plmm_backend_vtbl, buffer_reqs, 40, 8),
    FIELD(plmm_backend_vtbl, buffer_alloc, 48, 8),
    FIELD(plmm_backend_vtbl, buffer_free, 56, 8),
    FIELD(plmm_backend_vtbl, buffer_map, 64, 8),
    FIELD(plmm_backend_vtbl, buffer_write, 72, 8),
    FIELD(plmm_backend_vtbl, buffer_read, 80, 8),
    FIELD(plmm_backend_vtbl, buffer_import_host, 88, 8),
    FIELD(plmm_backend_vtbl, synchronize, 96, 8),
    FIELD(plmm_backend_vtbl, supports_node, 104, 8),
    FIELD(plmm_backend_vtbl, graph_compute, 112, 8),
    FIELD(plmm_backend_vtbl, partition_claim, 120, 8),
    FIELD(plmm_backend_vtbl, compat_key, 128, 8),
    FIELD(plmm_backend_vtbl, partition_compile, 136, 8),
    FIELD(plmm_backend_vtbl, blob_load, 144, 8),
    FIELD(plmm_backend_vtbl, compiled_execute, 152, 8),
    FIELD(plmm_backend_vtbl, compiled_free, 160, 8),
    /* plmm_backend_desc (backend.h) */
    SIZE(plmm_backend_desc, 96, 8),
    FIELD(plmm_backend_desc, struct_size, 0, 4),
    FIELD(plmm_backend_desc, abi_major, 4, 2),
    FIELD(plmm_backend_desc, abi_minor, 6, 2),
    FIELD(plmm_backend_desc, kind, 8, 4),
    FIELD(plmm_backend_desc, device_type, 12, 4),
    FIELD(plmm_backend_desc, name, 16, 8),
    FIELD(plmm_backend_desc, version, 24, 8),
    FIELD(plmm_backend_desc, description, 32, 8),
    FIELD(plmm_backend_desc, contracts, 40, 4),
    FIELD(plmm_backend_desc, n_options, 44, 4),
    FIELD(plmm_backend_desc, options, 48, 8),
    FIELD(plmm_backend_desc, n_caps, 56, 4),
    FIELD(plmm_backend_desc, n_tolerances, 60, 4),
    FIELD(plmm_backend_desc, caps, 64, 8),
    FIELD(plmm_backend_desc, tolerances, 72, 8),
    FIELD(plmm_backend_desc, score, 80, 8),
    FIELD(plmm_backend_desc, vtbl, 88, 8),
    /* plmm_engine_params (plmm.h) */
    SIZE(plmm_engine_params, 48, 8),
    FIELD(plmm_engine_params, struct_size, 0, 4),
    FIELD(plmm_engine_params, n_overrides, 4, 4),
    FIELD(plmm_engine_params, config_path, 8, 8),
    FIELD(plmm_engine_params, overrides, 16, 8),
    FIELD(plmm_engine_params, log, 24, 8),
    FIELD(plmm_engine_params, log_user, 32, 8),
    FIELD(plmm_engine_params, log_level, 40, 4),
    /* plmm_model_desc (plmm.h) */
    SIZE(plmm_model_desc, 208, 8),
    FIELD(plmm_model_desc, struct_size, 0, 4),
    FIELD(plmm_model_desc, n_vocab, 4, 4),
    FIELD(plmm_model_desc, n_ctx_train, 8, 4),
    FIELD(plmm_model_desc, n_embd, 12, 4),
    FIELD(plmm_model_desc, n_layer, 16, 4),
    FIELD(plmm_model_desc, n_head, 20, 4),
    FIELD(plmm_model_desc, n_head_kv, 24, 4),
    FIELD(plmm_model_desc, n_ff, 28, 4),
    FIELD(plmm_model_desc, n_params, 32, 8),
    FIELD(plmm_model_desc, file_size, 40, 8),
    FIELD(plmm_model_desc, arch, 48, 32),
    FIELD(plmm_model_desc, name, 80, 128),
    /* plmm_chat_message (plmm.h) */
    SIZE(plmm_chat_message, 16, 8),
    FIELD(plmm_chat_message, role, 0, 8),
    FIELD(plmm_chat_message, content, 8, 8),
    /* plmm_session_params (plmm.h) */
    SIZE(plmm_session_params, 16, 4),
    FIELD(plmm_session_params, struct_size, 0, 4),
    FIELD(plmm_session_params, n_ctx, 4, 4),
    FIELD(plmm_session_params, kv_type, 8, 4),
    FIELD(plmm_session_params, n_batch, 12, 4),
    /* plmm_sampling (plmm.h) */
    SIZE(plmm_sampling, 48, 8),
    FIELD(plmm_sampling, struct_size, 0, 4),
    FIELD(plmm_sampling, temperature, 4, 4),
    FIELD(plmm_sampling, top_k, 8, 4),
    FIELD(plmm_sampling, top_p, 12, 4),
    FIELD(plmm_sampling, min_p, 16, 4),
    FIELD(plmm_sampling, repeat_penalty, 20, 4),
    FIELD(plmm_sampling, repeat_last_n, 24, 4),
    FIELD(plmm_sampling, frequency_penalty, 28, 4),
    FIELD(plmm_sampling, n_predict, 36, 4),
    FIELD(plmm_sampling, presence_penalty, 32, 4),
    FIELD(plmm_sampling, seed, 40, 8),
    /* plmm_timings (plmm.h) */
    SIZE(plmm_timings, 56, 8),
    FIELD(plmm_timings, struct_size, 0, 4),
    FIELD(plmm_timings, reserved, 4, 4),
    FIELD(plmm_timings, load_ms, 8, 8),
    FIELD(plmm_timings, n_prompt, 16, 8),
    FIELD(plmm_timings, prompt_ms, 24, 8),
    FIELD(plmm_timings, n_decode, 32, 8),
    FIELD(plmm_timings, decode_ms, 40, 8),
    FIELD(plmm_timings, sample_ms, 48, 8),
    /* plmm_vault_secret (vault.h) */
    SIZE(plmm_vault_secret, 32, 8),
    FIELD(plmm_vault_secret, struct_size, 0, 4),
    FIELD(plmm_vault_secret, kdf, 4, 4),
    FIELD(plmm_vault_secret, passphrase, 8, 8),
    FIELD(plmm_vault_secret, passphrase_len, 16, 8),
    FIELD(plmm_vault_secret, key_file, 24, 8),
    /* plmm_vault_item (vault.h) */
    SIZE(plmm_vault_item, 40, 8),
    FIELD(plmm_vault_item, struct_size, 0, 4),
    FIELD(plmm_vault_item, kind, 4, 4),
    FIELD(plmm_vault_item, category, 8, 4),
    FIELD(plmm_vault_item, reserved, 12, 4),
    FIELD(plmm_vault_item, updated, 16, 8),
    FIELD(plmm_vault_item, key, 24, 8),
    FIELD(plmm_vault_item, value, 32, 8),
    /* plmm_pii_counts (audit.h) */
    SIZE(plmm_pii_counts, 64, 4),
    FIELD(plmm_pii_counts, n, 0, 64),
    /* plmm_audit_report (audit.h) */
    SIZE(plmm_audit_report, 352, 8),
    FIELD(plmm_audit_report, struct_size, 0, 4),
    FIELD(plmm_audit_report, ok, 4, 4),
    FIELD(plmm_audit_report, n_entries, 8, 8),
    FIELD(plmm_audit_report, first_bad, 16, 8),
    FIELD(plmm_audit_report, root_hex, 24, 65),
    FIELD(plmm_audit_report, message, 89, 256),
    /* plmm_pii_span (privacy.h) */
    SIZE(plmm_pii_span, 24, 8),
    FIELD(plmm_pii_span, category, 0, 4),
    FIELD(plmm_pii_span, known, 4, 4),
    FIELD(plmm_pii_span, start, 8, 8),
    FIELD(plmm_pii_span, len, 16, 8),
    /* plmm_privacy_guard (privacy.h) */
    SIZE(plmm_privacy_guard, 88, 8),
    FIELD(plmm_privacy_guard, struct_size, 0, 4),
    FIELD(plmm_privacy_guard, share, 4, 4),
    FIELD(plmm_privacy_guard, privacy, 8, 8),
    FIELD(plmm_privacy_guard, audit, 16, 8),
    FIELD(plmm_privacy_guard, counts, 24, 64),
    /* plmm_routing_signal (expert.h) */
    SIZE(plmm_routing_signal, 16, 8),
    FIELD(plmm_routing_signal, phrase, 0, 8),
    FIELD(plmm_routing_signal, weight, 8, 4),
    FIELD(plmm_routing_signal, reserved, 12, 4),
    /* plmm_check_result (expert.h) */
    SIZE(plmm_check_result, 264, 4),
    FIELD(plmm_check_result, struct_size, 0, 4),
    FIELD(plmm_check_result, verdict, 4, 4),
    FIELD(plmm_check_result, message, 8, 256),
    /* plmm_expert_vtbl (expert.h) */
    SIZE(plmm_expert_vtbl, 32, 8),
    FIELD(plmm_expert_vtbl, struct_size, 0, 4),
    FIELD(plmm_expert_vtbl, abi_version, 4, 4),
    FIELD(plmm_expert_vtbl, init, 8, 8),
    FIELD(plmm_expert_vtbl, shutdown, 16, 8),
    FIELD(plmm_expert_vtbl, check, 24, 8),
    /* plmm_expert_desc (expert.h) */
    SIZE(plmm_expert_desc, 96, 8),
    FIELD(plmm_expert_desc, struct_size, 0, 4),
    FIELD(plmm_expert_desc, abi_major, 4, 2),
    FIELD(plmm_expert_desc, abi_minor, 6, 2),
    FIELD(plmm_expert_desc, kind, 8, 4),
    FIELD(plmm_expert_desc, connectors, 12, 4),
    FIELD(plmm_expert_desc, name, 16, 8),
    FIELD(plmm_expert_desc, version, 24, 8),
    FIELD(plmm_expert_desc, summary, 32, 8),
    FIELD(plmm_expert_desc, system_prompt, 40, 8),
    FIELD(plmm_expert_desc, examples, 48, 8),
    FIELD(plmm_expert_desc, n_examples, 56, 4),
    FIELD(plmm_expert_desc, n_signals, 60, 4),
    FIELD(plmm_expert_desc, signals, 64, 8),
    FIELD(plmm_expert_desc, options, 72, 8),
    FIELD(plmm_expert_desc, n_options, 80, 4),
    FIELD(plmm_expert_desc, reserved, 84, 4),
    FIELD(plmm_expert_desc, vtbl, 88, 8),
    /* plmm_server_params (server.h) */
    SIZE(plmm_server_params, 40, 8),
    FIELD(plmm_server_params, struct_size, 0, 4),
    FIELD(plmm_server_params, port, 4, 4),
    FIELD(plmm_server_params, host, 8, 8),
    FIELD(plmm_server_params, model_id, 16, 8),
    FIELD(plmm_server_params, receipt, 24, 8),
    FIELD(plmm_server_params, receipt_user, 32, 8),
    /* plmm_ask_result (ask.h) */
    SIZE(plmm_ask_result, 416, 8),
    FIELD(plmm_ask_result, struct_size, 0, 4),
    FIELD(plmm_ask_result, route, 4, 4),
    FIELD(plmm_ask_result, wanted, 8, 4),
    FIELD(plmm_ask_result, n_fallbacks, 12, 4),
    FIELD(plmm_ask_result, expert, 16, 64),
    FIELD(plmm_ask_result, reason, 80, 256),
    FIELD(plmm_ask_result, domain_score, 336, 4),
    FIELD(plmm_ask_result, domain_margin, 340, 4),
    FIELD(plmm_ask_result, lexical_score, 344, 4),
    FIELD(plmm_ask_result, embedding_score, 348, 4),
    FIELD(plmm_ask_result, mean_logprob, 352, 4),
    FIELD(plmm_ask_result, mean_entropy, 356, 4),
    FIELD(plmm_ask_result, draft_tokens, 360, 4),
    FIELD(plmm_ask_result, reserved, 364, 4),
    FIELD(plmm_ask_result, prompt_tokens, 368, 8),
    FIELD(plmm_ask_result, completion_tokens, 376, 8),
    FIELD(plmm_ask_result, cost, 384, 8),
    FIELD(plmm_ask_result, answer, 392, 8),
    FIELD(plmm_ask_result, notices, 400, 8),
    FIELD(plmm_ask_result, explain, 408, 8),
    /* plmm_updater_params (update.h) */
    SIZE(plmm_updater_params, 48, 8),
    FIELD(plmm_updater_params, struct_size, 0, 4),
    FIELD(plmm_updater_params, reserved, 4, 4),
    FIELD(plmm_updater_params, root_path, 8, 8),
    FIELD(plmm_updater_params, install_dir, 16, 8),
    FIELD(plmm_updater_params, ca_file, 24, 8),
    FIELD(plmm_updater_params, now, 32, 8),
    FIELD(plmm_updater_params, max_file_size, 40, 8),
    /* plmm_ledger_params (ledger.h) */
    SIZE(plmm_ledger_params, 48, 8),
    FIELD(plmm_ledger_params, struct_size, 0, 4),
    FIELD(plmm_ledger_params, reserved, 4, 4),
    FIELD(plmm_ledger_params, path, 8, 8),
    FIELD(plmm_ledger_params, device_key_path, 16, 8),
    FIELD(plmm_ledger_params, key, 24, 8),
    FIELD(plmm_ledger_params, key_path, 32, 8),
    FIELD(plmm_ledger_params, now, 40, 8),
    /* plmm_distill_params (update.h) */
    SIZE(plmm_distill_params, 88, 8),
    FIELD(plmm_distill_params, struct_size, 0, 4),
    FIELD(plmm_distill_params, n_keys, 4, 4),
    FIELD(plmm_distill_params, section, 8, 8),
    FIELD(plmm_distill_params, bundle_dir, 16, 8),
    FIELD(plmm_distill_params, expert, 24, 8),
    FIELD(plmm_distill_params, version, 32, 8),
    FIELD(plmm_distill_params, expires, 40, 8),
    FIELD(plmm_distill_params, questions_path, 48, 8),
    FIELD(plmm_distill_params, questions, 56, 8),
    FIELD(plmm_distill_params, secret_key_paths, 64, 8),
    FIELD(plmm_distill_params, vault, 72, 8),
    FIELD(plmm_distill_params, audit_path, 80, 8),
    /* plmm_ledger_rates (ledger.h) */
    SIZE(plmm_ledger_rates, 64, 8),
    FIELD(plmm_ledger_rates, struct_size, 0, 4),
    FIELD(plmm_ledger_rates, reserved, 4, 4),
    FIELD(plmm_ledger_rates, counterparty, 8, 8),
    FIELD(plmm_ledger_rates, currency, 16, 8),
    FIELD(plmm_ledger_rates, in_per_1k, 24, 8),
    FIELD(plmm_ledger_rates, out_per_1k, 32, 8),
    FIELD(plmm_ledger_rates, rating, 40, 8),
    FIELD(plmm_ledger_rates, correction, 48, 8),
    FIELD(plmm_ledger_rates, example, 56, 8),
    /* plmm_ledger_usage (ledger.h) */
    SIZE(plmm_ledger_usage, 64, 8),
    FIELD(plmm_ledger_usage, struct_size, 0, 4),
    FIELD(plmm_ledger_usage, reserved, 4, 4),
    FIELD(plmm_ledger_usage, expert, 8, 8),
    FIELD(plmm_ledger_usage, connector, 16, 8),
    FIELD(plmm_ledger_usage, model, 24, 8),
    FIELD(plmm_ledger_usage, tokens_in, 32, 8),
    FIELD(plmm_ledger_usage, tokens_out, 40, 8),
    FIELD(plmm_ledger_usage, receipt_json, 48, 8),
    FIELD(plmm_ledger_usage, receipt_key_path, 56, 8),
};

typedef struct value {
    const char *name;
    long long now, rec;
} value;

#define VALUE(name, v)                                                                             \
    {                                                                                              \
#name, (long long)(name), v                                                                \
    }

static const value values[] = {
    /* enums */
    VALUE(PLMM_OK, 0),
    VALUE(PLMM_ROUTE_LOCAL, 0),
    VALUE(PLMM_ROUTE_EXPERT, 1),
    VALUE(PLMM_ROUTE_TMODEL, 2),
    VALUE(PLMM_ASK_NAME_MAX, 64),
    VALUE(PLMM_ASK_REASON_MAX, 256),
    VALUE(PLMM_ERR_INVALID_ARG, -1),
    VALUE(PLMM_ERR_NOMEM, -2),
    VALUE(PLMM_ERR_IO, -3),
    VALUE(PLMM_ERR_FORMAT, -4),
    VALUE(PLMM_ERR_UNSUPPORTED, -5),
    VALUE(PLMM_ERR_ABI, -6),
    VALUE(PLMM_ERR_NOT_FOUND, -7),
    VALUE(PLMM_ERR_CONFIG, -8),
    VALUE(PLMM_ERR_BACKEND, -9),
    VALUE(PLMM_ERR_RANGE, -10),
    VALUE(PLMM_ERR_PLUGIN, -11),
    VALUE(PLMM_ERR_INTERNAL, -12),
    VALUE(PLMM_ERR_TIMEOUT, -13),
    VALUE(PLMM_ERR_CANCELLED, -14),
    VALUE(PLMM_ERR_AUTH, -15),
    VALUE(PLMM_ERR_NETWORK, -16),
    VALUE(PLMM_ERR_DENIED, -17),
    VALUE(PLMM_DTYPE_F32, 0),
    VALUE(PLMM_DTYPE_F16, 1),
    VALUE(PLMM_DTYPE_Q4_0, 2),
    VALUE(PLMM_DTYPE_Q4_1, 3),
    VALUE(PLMM_DTYPE_Q5_0, 6),
    VALUE(PLMM_DTYPE_Q5_1, 7),
    VALUE(PLMM_DTYPE_Q8_0, 8),
    VALUE(PLMM_DTYPE_Q8_1, 9),
    VALUE(PLMM_DTYPE_Q2_K, 10),
    VALUE(PLMM_DTYPE_Q3_K, 11),
    VALUE(PLMM_DTYPE_Q4_K, 12),
    VALUE(PLMM_DTYPE_Q5_K, 13),
    VALUE(PLMM_DTYPE_Q6_K, 14),
    VALUE(PLMM_DTYPE_Q8_K, 15),
    VALUE(PLMM_DTYPE_I8, 24),
    VALUE(PLMM_DTYPE_I16, 25),
    VALUE(PLMM_DTYPE_I32, 26),
    VALUE(PLMM_DTYPE_I64, 27),
    VALUE(PLMM_DTYPE_F64, 28),
    VALUE(PLMM_DTYPE_BF16, 30),
    VALUE(PLMM_DTYPE_COUNT, 40),
    VALUE(PLMM_OP_NONE, 0),
    VALUE(PLMM_OP_GET_ROWS, 1),
    VALUE(PLMM_OP_RMS_NORM, 2),
    VALUE(PLMM_OP_ADD, 3),
    VALUE(PLMM_OP_MUL, 4),
    VALUE(PLMM_OP_MUL_MAT, 5),
    VALUE(PLMM_OP_ROPE, 6),
    VALUE(PLMM_OP_SOFTMAX, 7),
    VALUE(PLMM_OP_ATTENTION, 8),
    VALUE(PLMM_OP_SILU, 9),
    VALUE(PLMM_OP_SWIGLU, 10),
    VALUE(PLMM_OP_CPY, 11),
    VALUE(PLMM_OP_SCALE, 12),
    VALUE(PLMM_OP_COUNT, 13),
    VALUE(PLMM_OPT_BOOL, 1),
    VALUE(PLMM_OPT_INT, 2),
    VALUE(PLMM_OPT_FLOAT, 3),
    VALUE(PLMM_OPT_STRING, 4),
    VALUE(PLMM_OPT_ENUM, 5),
    VALUE(PLMM_OPT_PATH, 6),
    VALUE(PLMM_LOG_ERROR, 0),
    VALUE(PLMM_LOG_WARN, 1),
    VALUE(PLMM_LOG_INFO, 2),
    VALUE(PLMM_LOG_DEBUG, 3),
    VALUE(PLMM_PLUGIN_BACKEND, 1),
    VALUE(PLMM_PLUGIN_EXPERT, 2),
    VALUE(PLMM_DEVICE_CPU, 1),
    VALUE(PLMM_DEVICE_GPU, 2),
    VALUE(PLMM_DEVICE_NPU, 3),
    VALUE(PLMM_DEVICE_ACCEL, 4),
    VALUE(PLMM_CHECK_PASS, 0),
    VALUE(PLMM_CHECK_WARN, 1),
    VALUE(PLMM_CHECK_FAIL, 2),
    VALUE(PLMM_LEDGER_PERIOD_TOTAL, 0),
    VALUE(PLMM_LEDGER_PERIOD_DAY, 1),
    VALUE(PLMM_LEDGER_PERIOD_MONTH, 2),
    /* numeric macros */
    VALUE(PLMM_MAX_DIMS, 4),
    VALUE(PLMM_MAX_SRC, 4),
    VALUE(PLMM_MAX_PARAMS, 8),
    VALUE(PLMM_KEYID_SIZE, 17),
    VALUE(PLMM_LEDGER_KEY_BYTES, 32),
    VALUE(PLMM_LEDGER_KEY_FILE, 0),
    VALUE(PLMM_LEDGER_KEY_VAULT, 1),
    VALUE(PLMM_TENSOR_WEIGHT, 1),
    VALUE(PLMM_TENSOR_INPUT, 2),
    VALUE(PLMM_TENSOR_OUTPUT, 4),
    VALUE(PLMM_TENSOR_VIEW, 8),
    VALUE(PLMM_TENSOR_STATE, 16),
    VALUE(PLMM_CPU_SSE42, 1),
    VALUE(PLMM_CPU_AVX, 2),
    VALUE(PLMM_CPU_AVX2, 4),
    VALUE(PLMM_CPU_FMA, 8),
    VALUE(PLMM_CPU_F16C, 16),
    VALUE(PLMM_CPU_AVX512F, 32),
    VALUE(PLMM_CPU_AVX512BW, 64),
    VALUE(PLMM_CPU_AVX512VL, 128),
    VALUE(PLMM_CPU_AVX512VNNI, 256),
    VALUE(PLMM_CPU_NEON, 65536),
    VALUE(PLMM_CPU_DOTPROD, 131072),
    VALUE(PLMM_CPU_FP16, 262144),
    VALUE(PLMM_BACKEND_ABI_MAJOR, 1),
    VALUE(PLMM_BACKEND_ABI_MINOR, 0),
    VALUE(PLMM_DEVICE_UNIFIED_MEMORY, 1),
    VALUE(PLMM_DEVICE_FP16, 2),
    VALUE(PLMM_DEVICE_INT8, 4),
    VALUE(PLMM_DEVICE_SOFTWARE, 8),
    VALUE(PLMM_CAP_NONCONTIG, 1),
    VALUE(PLMM_CAP_INPLACE, 2),
    VALUE(PLMM_BUFFER_WEIGHTS, 1),
    VALUE(PLMM_BUFFER_ACTIVATIONS, 2),
    VALUE(PLMM_BUFFER_STATE, 4),
    VALUE(PLMM_BUFFER_HOST_VISIBLE, 8),
    VALUE(PLMM_BUFREQ_HOST_VISIBLE, 1),
    VALUE(PLMM_BUFREQ_IMPORT_HOST, 2),
    VALUE(PLMM_COPY_ASYNC, 1),
    VALUE(PLMM_CONTRACT_GRAPH, 1),
    VALUE(PLMM_CONTRACT_PARTITION, 2),
    VALUE(PLMM_TOKENIZE_ADD_SPECIAL, 1),
    VALUE(PLMM_TOKENIZE_PARSE_SPECIAL, 2),
    VALUE(PLMM_EVAL_ALL_LOGITS, 1),
    /* vault.h, privacy.h, audit.h */
    VALUE(PLMM_PII_NONE, 0),
    VALUE(PLMM_PII_PERSON, 1),
    VALUE(PLMM_PII_PLACE, 2),
    VALUE(PLMM_PII_ORG, 3),
    VALUE(PLMM_PII_ADDRESS, 4),
    VALUE(PLMM_PII_EMAIL, 5),
    VALUE(PLMM_PII_PHONE, 6),
    VALUE(PLMM_PII_IBAN, 7),
    VALUE(PLMM_PII_CARD, 8),
    VALUE(PLMM_PII_IP, 9),
    VALUE(PLMM_PII_DOB, 10),
    VALUE(PLMM_PII_ID, 11),
    VALUE(PLMM_PII_SECRET, 12),
    VALUE(PLMM_PII_OTHER, 13),
    VALUE(PLMM_PII_COUNT, 14),
    VALUE(PLMM_VAULT_FACT, 1),
    VALUE(PLMM_VAULT_MEMORY, 2),
    VALUE(PLMM_VAULT_HISTORY, 3),
    VALUE(PLMM_VAULT_KDF_MODERATE, 0),
    VALUE(PLMM_VAULT_KDF_INTERACTIVE, 1),
    VALUE(PLMM_VAULT_KDF_SENSITIVE, 2),
    VALUE(PLMM_VAULT_KDF_TEST, 3),
    VALUE(PLMM_VAULT_SUBKEY_BYTES, 32),
    VALUE(PLMM_SHARE_NONE, 0),
    VALUE(PLMM_SHARE_PSEUDONYMIZED, 1),
    VALUE(PLMM_SHARE_FULL, 2),
    VALUE(PLMM_VAULT_WRITE, 1),
    VALUE(PLMM_AUDIT_SENT, 0),
    VALUE(PLMM_AUDIT_REFUSED, 1),
    VALUE(PLMM_EXPERT_ABI_MAJOR, 1),
    VALUE(PLMM_EXPERT_ABI_MINOR, 0),
    VALUE(PLMM_EXPERT_CONNECTOR_LOCAL, 1),
    VALUE(PLMM_EXPERT_CONNECTOR_OPENAI, 2),
    VALUE(PLMM_CHECK_MESSAGE_MAX, 256),
};

#define N_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))
#define N_VALUES (sizeof(values) / sizeof(values[0]))

/* ---- comparison ---- */

static bool lp64(void)
{
    return sizeof(void *) == 8 && sizeof(long) == 8 && _Alignof(uint64_t) == 8;
}

static void describe(const layout *l, bool now, char *buf, size_t size)
{
    size_t a = now ? l->now_a : l->rec_a, b = now ? l->now_b : l->rec_b;
    if (l->field == NULL)
        snprintf(buf, size, "%s: size %zu, align %zu", l->type, a, b);
    else
        snprintf(buf, size, "%s.%s: offset %zu, size %zu", l->type, l->field, a, b);
}

static void check_recorded(void)
{
    int changed = 0;
    char rec[256], now[256];
    if (lp64()) {
        for (size_t i = 0; i < N_LAYOUTS; i++) {
            const layout *l = &layouts[i];
            test_checks++;
            if (l->now_a == l->rec_a && l->now_b == l->rec_b)
                continue;
            if (changed++ == 0)
                fprintf(stderr, "ABI layout changed (- recorded, + now):\n");
            describe(l, false, rec, sizeof(rec));
            describe(l, true, now, sizeof(now));
            fprintf(stderr, "- %s\n+ %s\n", rec, now);
        }
    } else {
        printf("not an LP64 target: struct layouts not compared\n");
    }
    for (size_t i = 0; i < N_VALUES; i++) {
        test_checks++;
        if (values[i].now == values[i].rec)
            continue;
        if (changed++ == 0)
            fprintf(stderr, "ABI values changed (- recorded, + now):\n");
        fprintf(stderr, "- %s = %lld\n+ %s = %lld\n", values[i].name, values[i].rec, values[i].name,
                values[i].now);
    }
    if (changed > 0) {
        test_failures += changed;
        fprintf(stderr,
                "%d ABI change(s). Plugins and applications built against the recorded "
                "headers break. If this is a deliberate, compatible change (fields "
                "appended with a new ABI minor), update tests/unit/test-abi-layout.c "
                "(test-abi-layout --print gives the current values).\n",
                changed);
    }
}

static void print_table(void)
{
    const char *last = "";
    for (size_t i = 0; i < N_LAYOUTS; i++) {
        const layout *l = &layouts[i];
        if (l->field == NULL) {
            if (strcmp(last, l->type) != 0)
                printf("    /* %s */\n", l->type);
            printf("    SIZE(%s, %zu, %zu),\n", l->type, l->now_a, l->now_b);
        } else {
            printf("    FIELD(%s, %s, %zu, %zu),\n", l->type, l->field, l->now_a, l->now_b);
        }
        last = l->type;
    }
    for (size_t i = 0; i < N_VALUES; i++)
        printf("    VALUE(%s, %lld),\n", values[i].name, values[i].now);
}

/* ---- scanning the headers ---- */

#define MAX_NAMES 1024

typedef struct names {
    char v[MAX_NAMES][96]; /* "type", "type.field", "ENUMERATOR" or "MACRO" */
    bool is_type[MAX_NAMES];
    size_t n;
} names;

static names found;

static void add_name(const char *a, size_t la, const char *b, size_t lb, bool is_type)
{
    if (found.n == MAX_NAMES) {
        CHECK_MSG(0, "too many names in the public headers; raise MAX_NAMES");
        return;
    }
    if (b != NULL)
        snprintf(found.v[found.n], sizeof(found.v[0]), "%.*s.%.*s", (int)la, a, (int)lb, b);
    else
        snprintf(found.v[found.n], sizeof(found.v[0]), "%.*s", (int)la, a);
    found.is_type[found.n] = is_type;
    found.n++;
}

static bool is_ident(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Blank comments and preprocessor lines (keeping line structure); record
 * numeric PLMM_* macros first. */
static void strip(char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '/' && i + 1 < n && t[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < n && !(t[j] == '*' && t[j + 1] == '/'))
                j++;
            for (size_t k = i; k < j + 2 && k < n; k++)
                if (t[k] != '\n')
                    t[k] = ' ';
            i = j + 1;
        } else if (t[i] == '/' && i + 1 < n && t[i + 1] == '/') {
            while (i < n && t[i] != '\n')
                t[i++] = ' ';
        }
    }
    for (size_t i = 0; i < n;) {
        size_t eol = i;
        while (eol < n && t[eol] != '\n')
            eol++;
        const char *p = skip_space(t + i, t + eol);
        if (p < t + eol && *p == '#') {
            if (strncmp(p, "#define PLMM_", 13) == 0) {
                const char *name = p + 8, *e = name;
                while (e < t + eol && is_ident(*e))
                    e++;
                const char *v = skip_space(e, t + eol);
                bool object_like = e < t + eol && (*e == ' ' || *e == '\t');
                if (object_like && *v == '(')
                    v++;
                if (object_like && ((*v >= '0' && *v <= '9') || strncmp(v, "UINT64_C(", 9) == 0))
                    add_name(name, (size_t)(e - name), NULL, 0, false);
            }
            /* blank the directive and its continuation lines */
            for (;;) {
                bool cont = eol > i && t[eol - 1] == '\\';
                for (size_t k = i; k < eol; k++)
                    t[k] = ' ';
                if (!cont || eol >= n)
                    break;
                i = eol + 1;
                eol = i;
                while (eol < n && t[eol] != '\n')
                    eol++;
            }
        }
        i = eol + 1;
    }
}

/* The last identifier in [s, e), ignoring [...] parts. */
static void last_ident(const char *s, const char *e, const char **id, size_t *len)
{
    int depth = 0;
    *id = NULL;
    *len = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
        else if (depth == 0 && is_ident(*p) && (p == s || !is_ident(p[-1]))) {
            const char *q = p;
            while (q < e && is_ident(*q))
                q++;
            *id = p;
            *len = (size_t)(q - p);
        }
    }
}

static void struct_fields(const char *type, size_t tl, const char *s, const char *e)
{
    const char *start = s;
    int depth = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '(' || *p == '{' || *p == '[')
            depth++;
        else if (*p == ')' || *p == '}' || *p == ']')
            depth--;
        if (*p != ';' || depth != 0)
            continue;
        const char *d = skip_space(start, p), *id = NULL;
        size_t len = 0;
        const char *fp = strstr(d, "(*");
        const char *brace = memchr(d, '{', (size_t)(p - d));
        if (fp != NULL && fp < p) {
            id = skip_space(fp + 2, p);
            while (id + len < p && is_ident(id[len]))
                len++;
            add_name(type, tl, id, len, false);
        } else if (brace != NULL) {
            const char *close = p;
            while (close > d && *close != '}')
                close--;
            last_ident(close, p, &id, &len);
            add_name(type, tl, id, len, false);
        } else if (d < p) {
            /* "double min, max" declares two fields */
            const char *part = d;
            int pd = 0;
            for (const char *q = d; q <= p; q++) {
                if (q < p && (*q == '(' || *q == '['))
                    pd++;
                else if (q < p && (*q == ')' || *q == ']'))
                    pd--;
                if (q == p || (*q == ',' && pd == 0)) {
                    last_ident(part, q, &id, &len);
                    if (id != NULL)
                        add_name(type, tl, id, len, false);
                    part = q + 1;
                }
            }
        }
        start = p + 1;
    }
}

static void enum_values(const char *s, const char *e)
{
    const char *p = s;
    while (p < e) {
        p = skip_space(p, e);
        const char *q = p;
        while (q < e && is_ident(*q))
            q++;
        if (q > p)
            add_name(p, (size_t)(q - p), NULL, 0, false);
        while (q < e && *q != ',')
            q++;
        p = q + 1;
    }
}

static void scan_header(char *t, size_t n)
{
    strip(t, n);
    const char *end = t + n;
    for (const char *p = t; (p = strstr(p, "typedef")) != NULL; p += 7) {
        const char *q = skip_space(p + 7, end);
        bool is_struct = strncmp(q, "struct", 6) == 0 && !is_ident(q[6]);
        bool is_enum = strncmp(q, "enum", 4) == 0 && !is_ident(q[4]);
        if (!is_struct && !is_enum)
            continue;
        const char *name = skip_space(q + (is_struct ? 6 : 4), end), *ne = name;
        while (ne < end && is_ident(*ne))
            ne++;
        const char *brace = skip_space(ne, end);
        if (brace >= end || *brace != '{')
            continue; /* opaque handle */
        int depth = 0;
        const char *close = brace;
        for (; close < end; close++) {
            if (*close == '{')
                depth++;
            else if (*close == '}' && --depth == 0)
                break;
        }
        if (is_struct) {
            add_name(name, (size_t)(ne - name), NULL, 0, true);
            struct_fields(name, (size_t)(ne - name), brace + 1, close);
        } else {
            enum_values(brace + 1, close);
        }
    }
}

static bool recorded(const char *name, bool is_type)
{
    char buf[128];
    if (is_type) {
        for (size_t i = 0; i < N_LAYOUTS; i++)
            if (layouts[i].field == NULL && strcmp(layouts[i].type, name) == 0)
                return true;
        return false;
    }
    for (size_t i = 0; i < N_LAYOUTS; i++) {
        if (layouts[i].field == NULL)
            continue;
        snprintf(buf, sizeof(buf), "%s.%s", layouts[i].type, layouts[i].field);
        if (strcmp(buf, name) == 0)
            return true;
    }
    for (size_t i = 0; i < N_VALUES; i++)
        if (strcmp(values[i].name, name) == 0)
            return true;
    return false;
}

static bool was_found(const char *type, const char *field)
{
    char buf[128];
    if (field == NULL)
        snprintf(buf, sizeof(buf), "%s", type);
    else
        snprintf(buf, sizeof(buf), "%s.%.*s", type, (int)strcspn(field, "."), field);
    for (size_t i = 0; i < found.n; i++)
        if (strcmp(found.v[i], buf) == 0)
            return true;
    return false;
}

static bool listed(const char *header)
{
    const char *list = PUBLIC_HEADERS;
    size_t n = strlen(header);
    for (const char *p = list; *p != '\0';) {
        size_t m = strcspn(p, ",");
        if (m == n && strncmp(p, header, n) == 0)
            return true;
        p += m;
        if (*p == ',')
            p++;
    }
    return false;
}

static void check_coverage(const char *src)
{
    char dirpath[4096], path[4200];
    snprintf(dirpath, sizeof(dirpath), "%s/include/plmm", src);
    DIR *d = opendir(dirpath);
    CHECK_MSG(d != NULL, "cannot open %s", dirpath);
    if (d == NULL)
        return;
    size_t n_headers = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len < 3 || strcmp(de->d_name + len - 2, ".h") != 0)
            continue;
        n_headers++;
        CHECK_MSG(listed(de->d_name),
                  "include/plmm/%s is not compiled alone by tests/unit/headers/meson.build: add "
                  "it to public_headers there",
                  de->d_name);
        snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
        FILE *f = fopen(path, "rb");
        CHECK_MSG(f != NULL, "cannot read %s", path);
        if (f == NULL)
            continue;
        static char text[1 << 18];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        scan_header(text, n);
    }
    closedir(d);
    size_t n_listed = 1;
    for (const char *p = PUBLIC_HEADERS; *p != '\0'; p++)
        n_listed += *p == ',';
    CHECK_MSG(n_listed == n_headers,
              "tests/unit/headers/meson.build lists %zu headers, "
              "include/plmm has %zu",
              n_listed, n_headers);

    /* everything in the headers is recorded ... */
    for (size_t i = 0; i < found.n; i++)
        CHECK_MSG(recorded(found.v[i], found.is_type[i]),
                  "%s %s is in the public headers but not recorded in test-abi-layout.c",
                  found.is_type[i] ? "struct" : "name", found.v[i]);
    /* ... and everything recorded is still there */
    for (size_t i = 0; i < N_LAYOUTS; i++)
        CHECK_MSG(was_found(layouts[i].type, layouts[i].field),
                  "%s%s%s is recorded but gone from the public headers (an ABI break)",
                  layouts[i].type, layouts[i].field ? "." : "",
                  layouts[i].field ? layouts[i].field : "");
    for (size_t i = 0; i < N_VALUES; i++)
        CHECK_MSG(was_found(values[i].name, NULL),
                  "%s is recorded but gone from the public headers (an ABI break)", values[i].name);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        print_table();
        return 0;
    }
    check_recorded();
    const char *src = getenv("PLMM_SOURCE_DIR");
    if (src != NULL)
        check_coverage(src);
    else
        printf("PLMM_SOURCE_DIR not set: header coverage not checked\n");
    return test_summary("abi-layout");
}
