/*
 * The IT expert: programming, software, operating systems, networks,
 * security and computer hardware. This file is the domain description
 * (routing vocabulary, examples, system prompt, options) and the plugin's
 * lifecycle; the answer check lives in it_check.c.
 */
#include "it.h"

#include "plmm_sdk.h"

#include <string.h>

/* ---- routing vocabulary ----
 * Weights: 3 = the word alone names the domain (a language, a tool), 2 =
 * strongly technical, 1 to 1.5 = technical in context but common elsewhere
 * ("server", "update", "library"). */
static const plmm_routing_signal signals[] = {
    /* programming */
    {"code", 1.5f, 0},
    {"coding", 2.5f, 0},
    {"program", 1.0f, 0},
    {"programming", 2.5f, 0},
    {"programmer*", 2.5f, 0},
    {"developer*", 1.5f, 0},
    {"software", 2.0f, 0},
    {"script", 1.5f, 0},
    {"scripts", 1.5f, 0},
    {"shell script*", 3.0f, 0},
    {"python", 3.0f, 0},
    {"javascript", 3.0f, 0},
    {"typescript", 3.0f, 0},
    {"java", 2.5f, 0},
    {"c++", 3.0f, 0},
    {"c#", 3.0f, 0},
    {"golang", 3.0f, 0},
    {"rust", 1.5f, 0},
    {"kotlin", 3.0f, 0},
    {"swift", 1.0f, 0},
    {"php", 3.0f, 0},
    {"ruby", 1.0f, 0},
    {"sql", 3.0f, 0},
    {"query", 1.0f, 0},
    {"regex", 3.0f, 0},
    {"regular expression*", 3.0f, 0},
    {"function", 1.0f, 0},
    {"functions", 1.0f, 0},
    {"variable*", 1.0f, 0},
    {"array*", 1.5f, 0},
    {"string", 1.0f, 0},
    {"integer*", 1.5f, 0},
    {"class", 0.5f, 0},
    {"object oriented", 3.0f, 0},
    {"loop", 1.5f, 0},
    {"for loop", 3.0f, 0},
    {"recursion", 3.0f, 0},
    {"recursive", 2.0f, 0},
    {"algorithm*", 2.0f, 0},
    {"data structure*", 3.0f, 0},
    {"linked list", 3.0f, 0},
    {"hash map", 3.0f, 0},
    {"hash table", 3.0f, 0},
    {"big o", 3.0f, 0},
    {"async", 3.0f, 0},
    {"await", 2.0f, 0},
    {"thread*", 1.0f, 0},
    {"multithread*", 3.0f, 0},
    {"mutex", 3.0f, 0},
    {"race condition", 3.0f, 0},
    {"deadlock", 3.0f, 0},
    {"compile*", 2.5f, 0},
    {"compiler", 3.0f, 0},
    {"linker", 3.0f, 0},
    {"segfault", 3.0f, 0},
    {"segmentation fault", 3.0f, 0},
    {"stack trace", 3.0f, 0},
    {"stack overflow", 2.5f, 0},
    {"null pointer", 3.0f, 0},
    {"pointer*", 1.5f, 0},
    {"memory leak*", 3.0f, 0},
    {"bug", 1.5f, 0},
    {"bugs", 1.5f, 0},
    {"debug*", 2.5f, 0},
    {"exception", 1.5f, 0},
    {"error message", 2.0f, 0},
    {"unit test*", 3.0f, 0},
    {"refactor*", 3.0f, 0},
    {"api", 2.0f, 0},
    {"apis", 2.0f, 0},
    {"rest api", 3.0f, 0},
    {"json", 3.0f, 0},
    {"yaml", 3.0f, 0},
    {"xml", 3.0f, 0},
    {"csv", 2.0f, 0},
    {"html", 3.0f, 0},
    {"css", 3.0f, 0},
    {"frontend", 2.5f, 0},
    {"backend", 2.0f, 0},
    {"react", 1.5f, 0},
    {"node js", 3.0f, 0},
    {"npm", 3.0f, 0},
    {"pip", 2.5f, 0},
    {"framework", 1.5f, 0},
    {"library", 0.5f, 0},
    {"git", 3.0f, 0},
    {"github", 3.0f, 0},
    {"merge conflict*", 3.0f, 0},
    {"commit*", 1.0f, 0},
    {"branch", 0.5f, 0},
    {"repository", 2.0f, 0},
    {"database*", 2.5f, 0},
    {"postgres*", 3.0f, 0},
    {"mysql", 3.0f, 0},
    {"sqlite", 3.0f, 0},
    {"mongodb", 3.0f, 0},
    {"index", 0.5f, 0},
    /* systems and operations */
    {"linux", 3.0f, 0},
    {"ubuntu", 3.0f, 0},
    {"debian", 3.0f, 0},
    {"windows", 1.5f, 0},
    {"macos", 3.0f, 0},
    {"operating system*", 3.0f, 0},
    {"kernel", 2.0f, 0},
    {"bash", 3.0f, 0},
    {"terminal", 2.0f, 0},
    {"command line", 3.0f, 0},
    {"command", 1.0f, 0},
    {"sudo", 3.0f, 0},
    {"chmod", 3.0f, 0},
    {"permission denied", 3.0f, 0},
    {"file permission*", 3.0f, 0},
    {"cron", 3.0f, 0},
    {"cronjob", 3.0f, 0},
    {"systemd", 3.0f, 0},
    {"process*", 0.5f, 0},
    {"docker", 3.0f, 0},
    {"container*", 1.5f, 0},
    {"kubernetes", 3.0f, 0},
    {"virtual machine*", 3.0f, 0},
    {"vm", 2.0f, 0},
    {"deploy*", 2.0f, 0},
    {"ci", 1.5f, 0},
    {"server", 1.5f, 0},
    {"servers", 1.5f, 0},
    {"nginx", 3.0f, 0},
    {"apache", 2.0f, 0},
    {"localhost", 3.0f, 0},
    {"cloud", 1.0f, 0},
    {"aws", 3.0f, 0},
    {"azure", 3.0f, 0},
    {"install", 1.5f, 0},
    {"installing", 1.5f, 0},
    {"uninstall*", 2.0f, 0},
    {"update", 0.8f, 0},
    {"upgrade", 0.8f, 0},
    {"driver*", 1.5f, 0},
    {"boot*", 1.5f, 0},
    {"reboot*", 3.0f, 0},
    {"bios", 3.0f, 0},
    {"backup*", 1.5f, 0},
    {"disk", 1.5f, 0},
    {"partition*", 2.0f, 0},
    /* networks and security */
    {"network*", 1.5f, 0},
    {"wifi", 2.5f, 0},
    {"wi fi", 2.5f, 0},
    {"router", 2.0f, 0},
    {"ip address*", 3.0f, 0},
    {"dns", 3.0f, 0},
    {"http", 2.0f, 0},
    {"https", 2.0f, 0},
    {"tls", 2.5f, 0},
    {"ssl", 2.5f, 0},
    {"ssh", 3.0f, 0},
    {"vpn", 2.5f, 0},
    {"firewall", 2.5f, 0},
    {"port", 1.0f, 0},
    {"tcp", 3.0f, 0},
    {"udp", 3.0f, 0},
    {"latency", 2.0f, 0},
    {"bandwidth", 2.5f, 0},
    {"password*", 1.5f, 0},
    {"encrypt*", 1.5f, 0},
    {"malware", 3.0f, 0},
    {"ransomware", 3.0f, 0},
    {"phishing", 2.5f, 0},
    {"antivirus", 3.0f, 0},
    {"two factor", 2.5f, 0},
    {"2fa", 3.0f, 0},
    {"hacked", 2.0f, 0},
    /* hardware and everyday computing */
    {"computer*", 2.0f, 0},
    {"laptop*", 2.0f, 0},
    {"pc", 2.0f, 0},
    {"cpu", 2.5f, 0},
    {"gpu", 2.5f, 0},
    {"ram", 2.0f, 0},
    {"ssd", 3.0f, 0},
    {"hard drive", 3.0f, 0},
    {"usb", 3.0f, 0},
    {"bluetooth", 3.0f, 0},
    {"printer", 2.5f, 0},
    {"monitor", 1.0f, 0},
    {"keyboard", 1.5f, 0},
    {"browser", 2.5f, 0},
    {"chrome", 1.5f, 0},
    {"firefox", 3.0f, 0},
    {"excel", 1.5f, 0},
    {"spreadsheet*", 1.5f, 0},
    {"formula", 0.5f, 0},
    {"app", 1.0f, 0},
    {"website", 1.5f, 0},
    {"machine learning", 2.0f, 0},
    {"neural network*", 2.0f, 0},
};

static const char *const examples[] = {
    "How do I fix 'permission denied' when running a bash script on Linux?",
    "What is the difference between a process and a thread?",
    "Write a Python function that removes duplicates from a list while keeping the order.",
    "Why does my C program crash with a segmentation fault when I free a pointer twice?",
    "How do I resolve a merge conflict in git?",
    "How can I make a Docker container restart automatically after a reboot?",
    "What does a 502 Bad Gateway error from nginx mean?",
    "How do I set up SSH keys so I can log in to my server without a password?",
    "Is 16 GB of RAM enough for software development on a laptop?",
    "Write an SQL query that returns the ten customers with the highest total orders.",
    "Why is my Wi-Fi slow even though the router is next to the computer?",
    "How do I schedule a cron job that runs every day at 3 am?",
};

static const char system_prompt[] =
    "You are a senior software and systems engineer. Answer questions about programming, "
    "software, operating systems, networks, security and computer hardware precisely and "
    "practically. Prefer a short explanation followed by a working example. Put every "
    "piece of code, every command and every configuration file in a fenced Markdown code "
    "block that opens with ``` followed by a language tag (for example ```python, ```bash, "
    "```sql, ```json) and closes with ```; keep brackets, quotes and indentation correct so "
    "the code runs as written. Say which operating system or version a command is for, "
    "warn before anything destructive (deleting data, force-pushing, disabling security), "
    "and never ask for or reveal passwords or secret keys.";

/* ---- options ---- */

static const plmm_option_schema options[] = {
    {"language_tag", PLMM_OPT_ENUM, 0, "required", 1, 0, "required|warn|off",
     "a code block without a language tag fails (required), is flagged (warn) or passes (off)"},
    {"check_brackets", PLMM_OPT_BOOL, 0, "true", 1, 0, NULL,
     "check that brackets balance in code blocks of languages with C, Python, JSON or SQL "
     "syntax"},
};

static plmm_status it_init(const plmm_host_api *host, const plmm_option_value *opts,
                           uint32_t n_opts, plmm_expert_ctx **out)
{
    plmm_expert_ctx *c = host->alloc(host->host_ctx, sizeof(*c), 16);
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->language_tag = IT_TAG_REQUIRED;
    c->check_brackets = true;
    const plmm_option_value *v = plmm_sdk_option(opts, n_opts, "language_tag");
    if (v != NULL && strcmp(v->v.s, "warn") == 0)
        c->language_tag = IT_TAG_WARN;
    else if (v != NULL && strcmp(v->v.s, "off") == 0)
        c->language_tag = IT_TAG_OFF;
    if ((v = plmm_sdk_option(opts, n_opts, "check_brackets")) != NULL)
        c->check_brackets = v->v.b;
    *out = c;
    return PLMM_OK;
}

static void it_shutdown(plmm_expert_ctx *ctx)
{
    if (ctx != NULL)
        ctx->host->free(ctx->host->host_ctx, ctx);
}

static const plmm_expert_vtbl vtbl = {
    .struct_size = sizeof(plmm_expert_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_EXPERT_ABI_MAJOR, PLMM_EXPERT_ABI_MINOR),
    .init = it_init,
    .shutdown = it_shutdown,
    .check = it_check,
};

static const plmm_expert_desc desc = {
    .struct_size = sizeof(plmm_expert_desc),
    .abi_major = PLMM_EXPERT_ABI_MAJOR,
    .abi_minor = PLMM_EXPERT_ABI_MINOR,
    .kind = PLMM_PLUGIN_EXPERT,
    .connectors = PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI,
    .name = "it",
    .version = "1.0.0",
    .summary = "programming, software, operating systems, networks, security and hardware",
    .system_prompt = system_prompt,
    .examples = examples,
    .n_examples = sizeof(examples) / sizeof(examples[0]),
    .n_signals = sizeof(signals) / sizeof(signals[0]),
    .signals = signals,
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .vtbl = &vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void);

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &desc;
}
