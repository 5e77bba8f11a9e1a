/*
 * Schema of the configuration file: one table per section. Adding a
 * section is adding a table and a line in `sections` below; the reference
 * in docs/configuration.md is generated from these tables
 * (test-config --dump-schema) and a unit test keeps the two in sync.
 *
 * A family of sections whose keys a plugin declares ([backend.NAME]) has
 * no table: its keys are checked against the plugin's schema when the
 * plugin loads. [expert.NAME] is such a family whose sections also carry
 * the keys the engine defines for every expert (plmm_config_family_keys);
 * [tmodel], [privacy], [ledger] and [server] are plain tables.
 */
#include "config.h"
#include "errors.h"

#include <math.h>
#include <string.h>

#define NO_RANGE 1, 0 /* min > max: unbounded */
#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- [engine] ---- */

static const plmm_option_schema engine_keys[] = {
    {"model", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "GGUF model file to load (relative paths are relative to this file)"},
    {"threads", PLMM_OPT_INT, 0, "0", 0, 256, NULL,
     "CPU threads for computation; 0 = one per online CPU"},
    {"backends", PLMM_OPT_STRING, 0, "cpu", NO_RANGE, NULL,
     "backend plugins to use, comma-separated, in order of preference"},
    {"fallback", PLMM_OPT_ENUM, 0, "observable", NO_RANGE, "strict|observable",
     "what to do with an operation no listed backend supports: strict = fail, "
     "observable = run it on the CPU and report it"},
    {"context", PLMM_OPT_INT, 0, "2048", 16, 1048576, NULL,
     "context length in tokens (KV cache size)"},
    {"batch", PLMM_OPT_INT, 0, "512", 1, 65536, NULL,
     "largest number of prompt tokens processed in one step"},
    {"kv_type", PLMM_OPT_ENUM, 0, "f16", NO_RANGE, "f16|f32", "element type of the KV cache"},
    {"plugin_path", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "extra plugin directories, colon-separated, searched after PLMM_PLUGIN_PATH and "
     "before the install directory (relative entries are relative to this file)"},
    {"seed", PLMM_OPT_INT, 0, NULL, NO_RANGE, NULL,
     "seed for everything random in the engine; unset = a new random seed per run"},
    {"log_level", PLMM_OPT_ENUM, 0, "warn", NO_RANGE, "error|warn|info|debug",
     "most verbose log level shown"},
    {"cache_dir", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "where compiled partition blobs of NPU backends are cached; unset = "
     "$XDG_CACHE_HOME/plmm, else ~/.cache/plmm"},
};

/* ---- [sampling] ---- */

static const plmm_option_schema sampling_keys[] = {
    {"temperature", PLMM_OPT_FLOAT, 0, "0.8", 0, 100, NULL,
     "softmax temperature; 0 = greedy (always the most likely token)"},
    {"top_k", PLMM_OPT_INT, 0, "40", 0, 2147483647, NULL,
     "keep only the k most likely tokens; 0 = off"},
    {"top_p", PLMM_OPT_FLOAT, 0, "0.95", 0, 1, NULL,
     "keep the most likely tokens whose probabilities sum to top_p; 1 = off"},
    {"min_p", PLMM_OPT_FLOAT, 0, "0.05", 0, 1, NULL,
     "drop tokens less likely than min_p times the most likely one; 0 = off"},
    {"repeat_penalty", PLMM_OPT_FLOAT, 0, "1.0", 0.01, 10, NULL,
     "penalty for tokens seen in the last repeat_last_n tokens; 1 = off"},
    {"repeat_last_n", PLMM_OPT_INT, 0, "64", 0, 1048576, NULL,
     "how many recent tokens the penalties look at; 0 = off"},
    {"frequency_penalty", PLMM_OPT_FLOAT, 0, "0.0", -2, 2, NULL,
     "subtracted from a token's logit once per earlier occurrence; 0 = off"},
    {"presence_penalty", PLMM_OPT_FLOAT, 0, "0.0", -2, 2, NULL,
     "subtracted from a token's logit if it occurred at all; 0 = off"},
    {"seed", PLMM_OPT_INT, 0, NULL, NO_RANGE, NULL,
     "sampling seed; unset = engine.seed (same seed and settings give the same text)"},
    {"n_predict", PLMM_OPT_INT, 0, "-1", -1, 1048576, NULL,
     "most tokens generated per answer; -1 = until the end of text or a full context"},
};

/* ---- [chat] ---- */

static const plmm_option_schema chat_keys[] = {
    {"template", PLMM_OPT_ENUM, 0, "auto", NO_RANGE,
     "auto|chatml|llama2|llama3|zephyr|phi3|gemma|plain",
     "chat prompt format; auto = detect from the model's metadata"},
    {"system", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "system prompt placed before every conversation; unset = none"},
};

/* ---- [privacy] ---- */

static const plmm_option_schema privacy_keys[] = {
    {"vault", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "encrypted personal store; unset = $XDG_DATA_HOME/plmm/vault.plmm "
     "(~/.local/share/plmm/vault.plmm)"},
    {"key_file", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "unlock the vault with this 32-byte key file (mode 600) instead of a passphrase"},
    {"kdf", PLMM_OPT_ENUM, 0, "moderate", NO_RANGE, "moderate|interactive|sensitive",
     "Argon2id cost for a new passphrase: moderate = 3 passes/256 MiB, interactive = "
     "2/64 MiB, sensitive = 4/1 GiB"},
    {"audit_log", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "log of every request that leaves the device; unset = $XDG_DATA_HOME/plmm/audit.log"},
    {"personalise", PLMM_OPT_BOOL, 0, "false", NO_RANGE, NULL,
     "give the personal model the vault items relevant to each question (chosen locally) "
     "as context"},
    {"context_items", PLMM_OPT_INT, 0, "8", 1, 64, NULL,
     "most vault items added as context per question"},
    {"context_bytes", PLMM_OPT_INT, 0, "2048", 64, 65536, NULL,
     "most bytes of vault context per question"},
    {"remember_history", PLMM_OPT_BOOL, 0, "false", NO_RANGE, NULL,
     "with personalise: store each chat turn (question and answer) in the vault as history, "
     "so later questions can draw on it"},
};

/* ---- [server] ---- */

static const plmm_option_schema server_keys[] = {
    {"host", PLMM_OPT_STRING, 0, "127.0.0.1", NO_RANGE, NULL,
     "address `plmm serve` listens on (an IPv4 or IPv6 address or a host name); "
     "0.0.0.0 exposes the server to the network"},
    {"port", PLMM_OPT_INT, 0, "8080", 0, 65535, NULL,
     "TCP port; 0 = any free port (the chosen one is printed)"},
    {"slots", PLMM_OPT_INT, 0, "1", 1, 64, NULL,
     "requests generated in parallel, each with its own session (KV cache)"},
    {"queue", PLMM_OPT_INT, 0, "16", 0, 4096, NULL,
     "requests that may wait for a free slot; more get 503"},
    {"ctx", PLMM_OPT_INT, 0, "0", 0, 1048576, NULL,
     "context length of each slot in tokens (prompt + answer); 0 = engine.context"},
    {"max_tokens", PLMM_OPT_INT, 0, "512", 1, 1048576, NULL,
     "most tokens one request may generate, and the default when it gives no max_tokens"},
    {"max_body_bytes", PLMM_OPT_INT, 0, "1048576", 256, 1073741824, NULL,
     "largest request body accepted; larger ones get 413"},
    {"max_connections", PLMM_OPT_INT, 0, "64", 2, 65536, NULL,
     "open connections at most; must exceed slots + queue"},
    {"idle_timeout", PLMM_OPT_INT, 0, "60", 0, 86400, NULL,
     "seconds a connection may stay silent before it is closed; 0 = never"},
    {"api_key", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "when set, every /v1 request needs the header 'Authorization: Bearer KEY'"},
    {"model_id", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "model name in /v1/models and responses; unset = the model file's name without .gguf"},
    {"request_log", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "append one JSON line per request to this file (time, remote, method, path, status, "
     "model, token counts, duration); unset = no log"},
    {"log_bodies", PLMM_OPT_BOOL, 0, "false", NO_RANGE, NULL,
     "also write each request body into the request log"},
    {"bundles_dir", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "directory of update bundles served read-only at GET /v1/bundles/NAME; unset = none"},
    {"receipt_key", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "Ed25519 secret key (plmm-sign keygen) that signs a usage receipt for every answer, "
     "added to it as \"plmm_receipt\" (docs/ledger.md); unset = no receipts"},
    {"receipt_name", PLMM_OPT_STRING, 0, "plmm", NO_RANGE, NULL,
     "the server's name in its receipts, e.g. the expert developer's"},
    {"shutdown_grace_ms", PLMM_OPT_INT, 0, "5000", 0, 600000, NULL,
     "on SIGINT/SIGTERM, how long running requests may finish before they are cancelled"},
    {"token_delay_ms", PLMM_OPT_INT, 0, "0", 0, 60000, NULL,
     "pause after each generated token, to play a slow server when testing clients; 0 = off"},
};

/* ---- [tmodel] ---- */

/* The same key names as the engine's keys of [expert.NAME]: both configure an
 * E-model connector (experts/connectors/connector.h, docs/connectors.md). */
static const plmm_option_schema tmodel_keys[] = {
    {"enabled", PLMM_OPT_BOOL, 0, "true", NO_RANGE, NULL,
     "escalate to the T-model when needed (false keeps the section but never uses it)"},
    {"connector", PLMM_OPT_ENUM, 0, NULL, NO_RANGE, "local|openai",
     "how the T-model is reached: local = a GGUF model or LoRA adapter run by this engine, "
     "openai = an OpenAI-compatible server; required"},
    {"model", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL, "local: the T-model's GGUF file"},
    {"lora", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "local: a GGUF LoRA adapter applied to the P-model instead of a second model"},
    {"lora_scale", PLMM_OPT_FLOAT, 0, "1.0", 0, 4, NULL, "local: scale of the LoRA adapter"},
    {"context", PLMM_OPT_INT, 0, "0", 0, 1048576, NULL,
     "local: context of the connector's session in tokens; 0 = [engine] context"},
    {"endpoint", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "openai: base URL including /v1, e.g. https://api.example.com/v1"},
    {"model_name", PLMM_OPT_STRING, 0, "", NO_RANGE, NULL,
     "openai: model id sent with each request; empty = the server's default"},
    {"api_key_env", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "openai: environment variable holding the API key, sent as a Bearer token"},
    {"api_key", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "openai: the API key itself, used when api_key_env is unset or empty; prefer "
     "api_key_env (an INI file is easily copied)"},
    {"ca_file", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "openai: extra CA bundle (PEM); TLS verification is always on"},
    {"share", PLMM_OPT_ENUM, 0, "pseudonymized", NO_RANGE, "none|pseudonymized|full",
     "what the T-model may receive: none = only questions with no personal data, "
     "pseudonymized = personal data replaced by placeholders, full = as typed"},
    {"price_per_1k_tokens", PLMM_OPT_FLOAT, 0, "0", 0, 1e6, NULL,
     "price of 1000 tokens (prompt + completion), metered per request"},
    {"budget", PLMM_OPT_FLOAT, 0, "-1", -1, 1e9, NULL,
     "most the T-model may cost per engine run, in the unit of the price; -1 = unlimited, "
     "0 = never used"},
    {"timeout", PLMM_OPT_FLOAT, 0, "60", 0.1, 3600, NULL,
     "seconds a whole request may take, retries and waits included"},
    {"connect_timeout", PLMM_OPT_FLOAT, 0, "10", 0.1, 600, NULL,
     "openai: seconds to establish the connection"},
    {"read_timeout", PLMM_OPT_FLOAT, 0, "0", 0, 3600, NULL,
     "openai: longest silence while waiting for or receiving the answer; 0 = only timeout"},
    {"max_retries", PLMM_OPT_INT, 0, "2", 0, 10, NULL,
     "openai: retries on 429, 5xx and connection errors, with backoff (Retry-After honoured)"},
    {"max_tokens", PLMM_OPT_INT, 0, "512", 1, 1048576, NULL, "most tokens of one answer"},
    {"stream", PLMM_OPT_BOOL, 0, "true", NO_RANGE, NULL,
     "stream the answer as it is produced (SSE for openai)"},
};

/* ---- [router] ---- */

static const plmm_option_schema router_keys[] = {
    {"min_score", PLMM_OPT_FLOAT, 0, "2.0", 0, 1e6, NULL,
     "domain score the best expert needs before a question goes to it (sum of the weights "
     "of its routing signals found in the question)"},
    {"margin", PLMM_OPT_FLOAT, 0, "0.5", 0, 1e6, NULL,
     "how far the best expert's score must lead the runner-up's"},
    {"embedding_weight", PLMM_OPT_FLOAT, 0, "0", 0, 100, NULL,
     "weight of the embedding similarity (the question's pooled P-model embedding against "
     "each expert's example questions, best cosine) added to the lexical score; 0 = off "
     "(the examples are embedded when the router opens)"},
    {"draft_tokens", PLMM_OPT_INT, 0, "8", 0, 256, NULL,
     "tokens of the P-model's greedy draft whose probabilities measure its confidence; "
     "0 = no confidence check (questions no expert matches stay local)"},
    {"draft_prompt", PLMM_OPT_ENUM, 0, "auto", NO_RANGE, "auto|chat|raw",
     "what the P-model drafts from: chat = the question as a user turn of the chat "
     "template, raw = the question as text to continue (base models), auto = chat when the "
     "model has a chat template or [chat] template is set, else raw"},
    {"min_logprob", PLMM_OPT_FLOAT, 0, "-2.5", -100, 0, NULL,
     "the P-model is unsure when the mean log-probability of its draft tokens is below this"},
    {"max_entropy", PLMM_OPT_FLOAT, 0, "3.0", 0, 100, NULL,
     "the P-model is unsure when the mean entropy (nats) of its draft distributions is "
     "above this; an unsure P-model escalates to the T-model when one is configured"},
    {"max_tokens", PLMM_OPT_INT, 0, "256", 1, 1048576, NULL,
     "most tokens of an answer of the P-model"},
};

/* ---- [expert.NAME]: the engine's keys of every expert ---- */

static const plmm_option_schema expert_keys[] = {
    {"enabled", PLMM_OPT_BOOL, 0, "true", NO_RANGE, NULL,
     "consult this expert (false keeps the section but routes around it)"},
    {"connector", PLMM_OPT_ENUM, 0, NULL, NO_RANGE, "local|openai",
     "how the E-model is reached: local = a GGUF model or LoRA adapter run by "
     "this engine, openai = an OpenAI-compatible server; required"},
    {"model", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL, "local: the E-model's GGUF file"},
    {"lora", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "local: a GGUF LoRA adapter applied to the P-model instead of a second model"},
    {"lora_scale", PLMM_OPT_FLOAT, 0, "1.0", 0, 4, NULL, "local: scale of the LoRA adapter"},
    {"context", PLMM_OPT_INT, 0, "0", 0, 1048576, NULL,
     "local: context of the connector's session in tokens; 0 = [engine] context"},
    {"endpoint", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "openai: base URL including /v1, e.g. http://127.0.0.1:8081/v1"},
    {"model_name", PLMM_OPT_STRING, 0, "", NO_RANGE, NULL,
     "openai: model id sent with each request; empty = the server's default"},
    {"api_key_env", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "openai: environment variable holding the API key, sent as a Bearer token"},
    {"api_key", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "openai: the API key itself, used when api_key_env is unset or empty; prefer "
     "api_key_env (an INI file is easily copied)"},
    {"ca_file", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "openai: extra CA bundle; TLS verification is always on"},
    {"share", PLMM_OPT_ENUM, 0, "pseudonymized", NO_RANGE, "none|pseudonymized|full",
     "what the E-model may receive: none = only questions with no personal data, "
     "pseudonymized = personal data replaced by placeholders, full = as typed"},
    {"price_per_1k_tokens", PLMM_OPT_FLOAT, 0, "0", 0, 1e6, NULL,
     "price of 1000 tokens (prompt + completion), metered per consultation"},
    {"budget", PLMM_OPT_FLOAT, 0, "-1", -1, 1e9, NULL,
     "most this expert may cost per engine run, in the unit of the price; "
     "-1 = unlimited, 0 = never consulted"},
    {"timeout", PLMM_OPT_FLOAT, 0, "60", 0.1, 3600, NULL, "seconds a whole consultation may take"},
    {"connect_timeout", PLMM_OPT_FLOAT, 0, "10", 0.1, 600, NULL,
     "openai: seconds to establish the connection"},
    {"read_timeout", PLMM_OPT_FLOAT, 0, "0", 0, 3600, NULL,
     "openai: longest silence while waiting for or receiving the answer; 0 = only timeout"},
    {"max_retries", PLMM_OPT_INT, 0, "2", 0, 10, NULL,
     "openai: retries on 429, 5xx and connection errors, with backoff"},
    {"max_tokens", PLMM_OPT_INT, 0, "512", 1, 1048576, NULL, "most tokens of one answer"},
    {"stream", PLMM_OPT_BOOL, 0, "true", NO_RANGE, NULL,
     "stream the answer as it is produced (SSE for openai)"},
};

/* ---- [update] ---- */

static const plmm_option_schema update_keys[] = {
    {"root", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "the publisher's signed root (root.json): the keys and threshold that bundles must "
     "carry; used until the experts directory holds a trusted root of its own"},
    {"experts_dir", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "where experts are installed (versioned directories, trust state); unset = "
     "$XDG_DATA_HOME/plmm/experts"},
    {"source", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "where bundles are published: a directory or an http(s):// URL (plmm serve: "
     "http://HOST:PORT/v1/bundles)"},
    {"ca_file", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "extra CA bundle for HTTPS sources; TLS verification is always on"},
    {"distill_consent", PLMM_OPT_BOOL, 0, "false", NO_RANGE, NULL,
     "consent to `plmm update distill` reading the questions an expert was weak on from the "
     "vault's history and sending them, pseudonymized, to the T-model (else --consent)"},
};

/* ---- [ledger] ---- */

static const plmm_option_schema ledger_keys[] = {
    {"path", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "the ledger file; unset = $XDG_DATA_HOME/plmm/ledger/usage.ledger"},
    {"device_key", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "Ed25519 secret key that signs entries and statements (created with KEY.pub when "
     "absent); unset = device.key beside the ledger"},
    {"key_source", PLMM_OPT_ENUM, 0, "auto", NO_RANGE, "auto|vault|file",
     "where the ledger's encryption key comes from: vault = derived from the vault's master "
     "secret ([privacy] vault, opened with [privacy] key_file or the passphrase), file = "
     "key_file; auto = vault when there is a [privacy] section, its vault exists and "
     "key_file is unset, else file"},
    {"key_file", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
     "32-byte encryption key of the ledger in file mode (created when absent); unset = "
     "ledger.key beside the ledger"},
    {"budgets", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL,
     "spending limits per expert, e.g. finance=5.00,it=1.50 (in each expert's currency); "
     "a consultation that would exceed one is refused and the router falls back"},
    {"budget_period", PLMM_OPT_ENUM, 0, "month", NO_RANGE, "total|day|month",
     "period over which budgets are counted (UTC calendar day or month)"},
};

/* ---- all sections ---- */

static const plmm_config_section_def sections[] = {
    {"engine", "The model, the hardware it runs on and the engine's resources.", engine_keys,
     COUNT(engine_keys)},
    {"sampling",
     "How the next token is chosen: penalties first, then top-k, temperature, "
     "top-p and min-p, then a random draw (temperature 0 skips all but the "
     "penalties and takes the most likely token).",
     sampling_keys, COUNT(sampling_keys)},
    {"chat", "How conversations are turned into a prompt.", chat_keys, COUNT(chat_keys)},
    {"privacy",
     "The encrypted personal store (vault), personalisation and the audit log "
     "(see docs/privacy.md).",
     privacy_keys, COUNT(privacy_keys)},
    {"server",
     "The OpenAI-compatible HTTP server of `plmm serve` (docs/server.md): address, "
     "parallel slots, the request queue, limits, authentication and the request log.",
     server_keys, COUNT(server_keys)},
    {"tmodel",
     "The T-model: a large general model consulted when neither the P-model nor an expert "
     "should answer. Configured like an expert's E-model, with the same connector kinds and "
     "keys (docs/connectors.md).",
     tmodel_keys, COUNT(tmodel_keys)},
    {"router",
     "How `plmm ask` and `plmm chat` decide who answers a question: an expert whose "
     "routing signals match it, else the T-model when the P-model is unsure of its draft, "
     "else the P-model (docs/experts.md).",
     router_keys, COUNT(router_keys)},
    {"update",
     "Signed update bundles for experts: the trusted root, the install directory and "
     "where bundles are published (see docs/updates.md).",
     update_keys, COUNT(update_keys)},
    {"ledger",
     "The economic ledger: where it is stored, the keys that sign and encrypt it, and "
     "per-expert budgets (see docs/ledger.md).",
     ledger_keys, COUNT(ledger_keys)},
    {"backend.",
     "Options of one backend plugin; NAME is the plugin's name (`plmm backends` lists the "
     "plugins and their options). The keys are declared by the plugin and checked when it "
     "loads; a key the plugin does not declare is an error.",
     NULL, 0},
    {"expert.",
     "One expert domain; NAME is the expert plugin's name (`plmm experts` lists them). An "
     "expert is consulted only when its section exists and `enabled` is true. The keys below "
     "are the engine's and exist for every expert; a plugin may declare more, checked when it "
     "loads. API keys are read from the environment variable `api_key_env` names.",
     NULL, 0},
};

const plmm_config_section_def *plmm_config_schema(uint32_t *n)
{
    *n = COUNT(sections);
    return sections;
}

const plmm_option_schema *plmm_config_family_keys(const char *family, uint32_t *n)
{
    if (strcmp(family, "expert.") == 0) {
        *n = COUNT(expert_keys);
        return expert_keys;
    }
    *n = 0;
    return NULL;
}

const plmm_config_section_def *plmm_config_section_lookup(const char *section)
{
    for (uint32_t i = 0; i < COUNT(sections); i++) {
        const char *name = sections[i].name;
        size_t len = strlen(name);
        if (len > 0 && name[len - 1] == '.') {
            if (strncmp(section, name, len) == 0)
                return &sections[i];
        } else if (strcmp(section, name) == 0) {
            return &sections[i];
        }
    }
    return NULL;
}

/* ---- reference documentation ---- */

static void write_number(FILE *out, double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        fprintf(out, "%.0f", x);
    else
        fprintf(out, "%g", x);
}

/* Table cells must not contain '|'. */
static void write_cell(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else
            fputc(*s, out);
    }
}

static void write_key(FILE *out, const plmm_option_schema *k)
{
    fprintf(out, "| `%s` | %s | ", k->key, plmm_option_type_name(k->type));
    if (k->default_value != NULL)
        fprintf(out, "`%s`", k->default_value);
    else
        fputs("unset", out);
    fputs(" | ", out);
    if (k->type == PLMM_OPT_ENUM && k->choices != NULL) {
        for (const char *c = k->choices; *c != '\0';) {
            size_t n = strcspn(c, "|");
            fprintf(out, "`%.*s`", (int)n, c);
            c += n;
            if (*c == '|') {
                fputs(", ", out);
                c++;
            }
        }
    } else if ((k->type == PLMM_OPT_INT || k->type == PLMM_OPT_FLOAT) && k->min <= k->max) {
        write_number(out, k->min);
        fputs(" to ", out);
        write_number(out, k->max);
    }
    fputs(" | ", out);
    write_cell(out, k->help != NULL ? k->help : "");
    fputs(" |\n", out);
}

plmm_status plmm_config_write_reference(FILE *out)
{
    for (uint32_t i = 0; i < COUNT(sections); i++) {
        const plmm_config_section_def *s = &sections[i];
        size_t len = strlen(s->name);
        if (s->name[len - 1] == '.')
            fprintf(out, "### `[%sNAME]`\n\n%s\n\n", s->name, s->help);
        else
            fprintf(out, "### `[%s]`\n\n%s\n\n", s->name, s->help);
        uint32_t n_keys = s->n_keys;
        const plmm_option_schema *keys =
            s->keys != NULL ? s->keys : plmm_config_family_keys(s->name, &n_keys);
        if (keys == NULL)
            continue;
        fputs("| key | type | default | allowed | meaning |\n", out);
        fputs("|-----|------|---------|---------|---------|\n", out);
        for (uint32_t k = 0; k < n_keys; k++)
            write_key(out, &keys[k]);
        fputs("\n", out);
    }
    if (ferror(out))
        return plmm_err(PLMM_ERR_IO, "cannot write the configuration reference");
    return PLMM_OK;
}
