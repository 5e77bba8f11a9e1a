#include "chat_template.h"
#include "errors.h"
#include "test.h"

#include <stdint.h>

/* ---- conversations ---- */

enum { CONV_SINGLE, CONV_MULTI, CONV_NOSYS, CONV_SPACES, CONV_BLANK, CONV_COUNT };

static const plmm_chat_message conv_single[] = {{"user", "Hello"}};
static const plmm_chat_message conv_multi[] = {
    {"system", "You are terse."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "2+2?"},
};
static const plmm_chat_message conv_spaces[] = {
    {"system", " S "},
    {"user", "  Hi \n"},
    {"assistant", "\tA\xc2\xa0 "}, /* trailing U+00A0 NO-BREAK SPACE */
    {"user", "\xe3\x80\x80U"},     /* leading U+3000 IDEOGRAPHIC SPACE */
};
static const plmm_chat_message conv_blank[] = {{"system", "S"}, {"user", " \n "}};

static const struct {
    const plmm_chat_message *msgs;
    size_t n;
} convs[CONV_COUNT] = {
    [CONV_SINGLE] = {conv_single, 1},   [CONV_MULTI] = {conv_multi, 4},
    [CONV_NOSYS] = {conv_multi + 1, 3}, [CONV_SPACES] = {conv_spaces, 4},
    [CONV_BLANK] = {conv_blank, 2},
};

/*
 * Expected renderings. The families with a Jinja template were checked
 * against the official templates rendered by Jinja2 (bos/eos as in the
 * family defaults); mistral-with-system and plain are plmm's own rules
 * (see chat_template.h).
 */
static const struct {
    const char *family;
    int conv;
    bool gen;
    bool has_bos;
    const char *want;
} cases[] = {
    {"chatml", CONV_SINGLE, true, false,
     "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"},
    {"chatml", CONV_SINGLE, false, false, "<|im_start|>user\nHello<|im_end|>\n"},
    {"chatml", CONV_MULTI, true, false,
     "<|im_start|>system\nYou are "
     "terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|"
     "im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"},
    {"chatml", CONV_MULTI, false, false,
     "<|im_start|>system\nYou are "
     "terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|"
     "im_start|>user\n2+2?<|im_end|>\n"},
    {"chatml", CONV_NOSYS, true, false,
     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+"
     "2?<|im_end|>\n<|im_start|>assistant\n"},
    {"chatml", CONV_NOSYS, false, false,
     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+"
     "2?<|im_end|>\n"},
    {"chatml", CONV_SPACES, true, false,
     "<|im_start|>system\n S <|im_end|>\n<|im_start|>user\n  Hi "
     "\n<|im_end|>\n<|im_start|>assistant\n\tA\xc2"
     "\xa0"
     " <|im_end|>\n<|im_start|>user\n\xe3"
     "\x80"
     "\x80"
     "U<|im_end|>\n<|im_start|>assistant\n"},
    {"chatml", CONV_SPACES, false, false,
     "<|im_start|>system\n S <|im_end|>\n<|im_start|>user\n  Hi "
     "\n<|im_end|>\n<|im_start|>assistant\n\tA\xc2"
     "\xa0"
     " <|im_end|>\n<|im_start|>user\n\xe3"
     "\x80"
     "\x80"
     "U<|im_end|>\n"},
    {"chatml", CONV_BLANK, true, false,
     "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n \n <|im_end|>\n<|im_start|>assistant\n"},
    {"chatml", CONV_BLANK, false, false,
     "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n \n <|im_end|>\n"},
    {"llama2", CONV_SINGLE, true, true, "<s>[INST] Hello [/INST]"},
    {"llama2", CONV_MULTI, true, true,
     "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST]"},
    {"llama2", CONV_NOSYS, true, true, "<s>[INST] Hi [/INST] Hello! </s><s>[INST] 2+2? [/INST]"},
    {"llama2", CONV_SPACES, true, true,
     "<s>[INST] <<SYS>>\n S \n<</SYS>>\n\n  Hi [/INST] A </s><s>[INST] U [/INST]"},
    {"llama2", CONV_BLANK, true, true, "<s>[INST] <<SYS>>\nS\n<</SYS>> [/INST]"},
    {"mistral", CONV_SINGLE, true, true, "<s>[INST] Hello [/INST]"},
    {"mistral", CONV_NOSYS, true, true, "<s>[INST] Hi [/INST]Hello!</s>[INST] 2+2? [/INST]"},
    {"llama3", CONV_SINGLE, true, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_"
     "id|>assistant<|end_header_id|>\n\n"},
    {"llama3", CONV_SINGLE, false, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"},
    {"llama3", CONV_MULTI, true, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are "
     "terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+"
     "2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"llama3", CONV_MULTI, false, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are "
     "terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+"
     "2?<|eot_id|>"},
    {"llama3", CONV_NOSYS, true, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+"
     "2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"llama3", CONV_NOSYS, false, true,
     "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+"
     "2?<|eot_id|>"},
    {"llama3", CONV_SPACES, true, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>"
     "user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_"
     "id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_"
     "header_id|>\n\n"},
    {"llama3", CONV_SPACES, false, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>"
     "user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_"
     "id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"},
    {"llama3", CONV_BLANK, true, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>"
     "user<|end_header_id|>\n\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"llama3", CONV_BLANK, false, true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>"
     "user<|end_header_id|>\n\n<|eot_id|>"},
    {"zephyr", CONV_SINGLE, true, false, "<|user|>\nHello</s>\n<|assistant|>\n"},
    {"zephyr", CONV_SINGLE, false, false, "<|user|>\nHello</s>\n"},
    {"zephyr", CONV_MULTI, true, false,
     "<|system|>\nYou are "
     "terse.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\n2+2?</"
     "s>\n<|assistant|>\n"},
    {"zephyr", CONV_MULTI, false, false,
     "<|system|>\nYou are "
     "terse.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\n2+2?</s>\n"},
    {"zephyr", CONV_NOSYS, true, false,
     "<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\n2+2?</s>\n<|assistant|>\n"},
    {"zephyr", CONV_NOSYS, false, false,
     "<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\n2+2?</s>\n"},
    {"zephyr", CONV_SPACES, true, false,
     "<|system|>\n S </s>\n<|user|>\n  Hi \n</s>\n<|assistant|>\n\tA\xc2"
     "\xa0"
     " </s>\n<|user|>\n\xe3"
     "\x80"
     "\x80"
     "U</s>\n<|assistant|>\n"},
    {"zephyr", CONV_SPACES, false, false,
     "<|system|>\n S </s>\n<|user|>\n  Hi \n</s>\n<|assistant|>\n\tA\xc2"
     "\xa0"
     " </s>\n<|user|>\n\xe3"
     "\x80"
     "\x80"
     "U</s>\n"},
    {"zephyr", CONV_BLANK, true, false, "<|system|>\nS</s>\n<|user|>\n \n </s>\n<|assistant|>\n"},
    {"zephyr", CONV_BLANK, false, false, "<|system|>\nS</s>\n<|user|>\n \n </s>\n"},
    {"phi3", CONV_SINGLE, true, false, "<|user|>\nHello<|end|>\n<|assistant|>\n"},
    {"phi3", CONV_SINGLE, false, false, "<|user|>\nHello<|end|>\n<|endoftext|>"},
    {"phi3", CONV_MULTI, true, false,
     "<|system|>\nYou are "
     "terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n2+2?<|end|>\n<|"
     "assistant|>\n"},
    {"phi3", CONV_MULTI, false, false,
     "<|system|>\nYou are "
     "terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n2+2?<|end|>\n<|"
     "endoftext|>"},
    {"phi3", CONV_NOSYS, true, false,
     "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n2+2?<|end|>\n<|assistant|>\n"},
    {"phi3", CONV_NOSYS, false, false,
     "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n2+2?<|end|>\n<|endoftext|>"},
    {"phi3", CONV_SPACES, true, false,
     "<|system|>\n S <|end|>\n<|user|>\n  Hi \n<|end|>\n<|assistant|>\n\tA\xc2"
     "\xa0"
     " <|end|>\n<|user|>\n\xe3"
     "\x80"
     "\x80"
     "U<|end|>\n<|assistant|>\n"},
    {"phi3", CONV_SPACES, false, false,
     "<|system|>\n S <|end|>\n<|user|>\n  Hi \n<|end|>\n<|assistant|>\n\tA\xc2"
     "\xa0"
     " <|end|>\n<|user|>\n\xe3"
     "\x80"
     "\x80"
     "U<|end|>\n<|endoftext|>"},
    {"phi3", CONV_BLANK, true, false,
     "<|system|>\nS<|end|>\n<|user|>\n \n <|end|>\n<|assistant|>\n"},
    {"phi3", CONV_BLANK, false, false,
     "<|system|>\nS<|end|>\n<|user|>\n \n <|end|>\n<|endoftext|>"},
    {"gemma", CONV_SINGLE, true, true,
     "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n"},
    {"gemma", CONV_SINGLE, false, true, "<bos><start_of_turn>user\nHello<end_of_turn>\n"},
    {"gemma", CONV_MULTI, true, true,
     "<bos><start_of_turn>user\nYou are "
     "terse.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\n2+"
     "2?<end_of_turn>\n<start_of_turn>model\n"},
    {"gemma", CONV_MULTI, false, true,
     "<bos><start_of_turn>user\nYou are "
     "terse.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\n2+"
     "2?<end_of_turn>\n"},
    {"gemma", CONV_NOSYS, true, true,
     "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_"
     "of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n"},
    {"gemma", CONV_NOSYS, false, true,
     "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_"
     "of_turn>user\n2+2?<end_of_turn>\n"},
    {"gemma", CONV_SPACES, true, true,
     "<bos><start_of_turn>user\n S "
     "\n\nHi<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n<start_of_turn>user\nU<end_of_"
     "turn>\n<start_of_turn>model\n"},
    {"gemma", CONV_SPACES, false, true,
     "<bos><start_of_turn>user\n S "
     "\n\nHi<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n<start_of_turn>user\nU<end_of_"
     "turn>\n"},
    {"gemma", CONV_BLANK, true, true,
     "<bos><start_of_turn>user\nS\n\n<end_of_turn>\n<start_of_turn>model\n"},
    {"gemma", CONV_BLANK, false, true, "<bos><start_of_turn>user\nS\n\n<end_of_turn>\n"},
    /* plmm's own rules */
    {"mistral", CONV_MULTI, true, true,
     "<s>[INST] You are terse.\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]"},
    {"plain", CONV_SINGLE, true, false, "User: Hello\nAssistant:"},
    {"plain", CONV_SINGLE, false, false, "User: Hello\n"},
    {"plain", CONV_MULTI, true, false,
     "System: You are terse.\nUser: Hi\nAssistant: Hello!\nUser: 2+2?\nAssistant:"},
    {"plain", CONV_MULTI, false, false,
     "System: You are terse.\nUser: Hi\nAssistant: Hello!\nUser: 2+2?\n"},
};

/* Format into a fresh buffer; returns a static copy or NULL on error. */
static const char *render(const plmm_chat_template *t, const plmm_chat_message *m, size_t n,
                          bool gen, bool *has_bos)
{
    static char buf[4096];
    size_t needed = 0;
    plmm_status st = plmm_chat_template_format(t, m, n, gen, buf, sizeof(buf), &needed, has_bos);
    CHECK_MSG(st == PLMM_OK, "format: %s", plmm_last_errmsg());
    if (st != PLMM_OK)
        return NULL;
    CHECK(needed == strlen(buf) + 1);
    return buf;
}

#define CHECK_STR(got, want)                                                                       \
    CHECK_MSG((got) != NULL && strcmp((got), (want)) == 0, "\n  got  '%s'\n  want '%s'",           \
              (got) ? (got) : "(null)", (want))

static void test_families(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        plmm_chat_template t;
        plmm_status st = plmm_chat_template_init(&t, cases[i].family, NULL);
        CHECK_MSG(st == PLMM_OK, "init %s: %s", cases[i].family, plmm_last_errmsg());
        bool has_bos = !cases[i].has_bos;
        const char *got =
            render(&t, convs[cases[i].conv].msgs, convs[cases[i].conv].n, cases[i].gen, &has_bos);
        CHECK_MSG(got != NULL && strcmp(got, cases[i].want) == 0,
                  "case %zu (%s conv %d gen %d)\n  got  '%s'\n  want '%s'", i, cases[i].family,
                  cases[i].conv, (int)cases[i].gen, got ? got : "(null)", cases[i].want);
        CHECK_MSG(has_bos == cases[i].has_bos, "case %zu (%s): has_bos %d", i, cases[i].family,
                  (int)has_bos);
    }
}

/* ---- detection ---- */

/* Short but realistic templates, one per family. */
static const char tmpl_chatml[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";
/* Qwen2-Instruct, as tools/make-bench-gguf.py stores it (real newlines). */
static const char tmpl_qwen2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
/* Qwen2.5 style: the default sits in an else branch, escapes left as \n. */
static const char tmpl_qwen25[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "{%- else %}\n"
    "    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}{%- if message.role != 'system' %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
static const char tmpl_llama2[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
    "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
    "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + "
    "eos_token }}{% endif %}{% endfor %}";
static const char tmpl_mistral[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}";
static const char tmpl_llama3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
    "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";
static const char tmpl_zephyr[] =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}";
static const char tmpl_phi3[] =
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + "
    "'<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
static const char tmpl_gemma[] =
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {{- message['content'] | trim }}{{ '<end_of_turn>\\n' }}\n{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{'<start_of_turn>model\\n'}}{%- endif -%}\n";
/* Vicuna: no family plmm knows. */
static const char tmpl_vicuna[] =
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'USER: ' + message['content'] + '\\n' }}{% else %}{{ 'ASSISTANT: ' + "
    "message['content'] + eos_token + '\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

static void test_detect(void)
{
    static const struct {
        const char *jinja;
        plmm_chat_family want;
        bool bos_prefix;
    } d[] = {
        {tmpl_chatml, PLMM_CHAT_CHATML, false},
        {tmpl_qwen2, PLMM_CHAT_CHATML, false},
        {tmpl_qwen25, PLMM_CHAT_CHATML, false},
        {tmpl_llama2, PLMM_CHAT_LLAMA2, true},
        {tmpl_mistral, PLMM_CHAT_MISTRAL, true},
        {tmpl_llama3, PLMM_CHAT_LLAMA3, true},
        {tmpl_zephyr, PLMM_CHAT_ZEPHYR, false},
        {tmpl_phi3, PLMM_CHAT_PHI3, false},
        {tmpl_gemma, PLMM_CHAT_GEMMA, true},
        {tmpl_vicuna, PLMM_CHAT_PLAIN, false},
        {"", PLMM_CHAT_PLAIN, false},
    };
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        CHECK_MSG(plmm_chat_template_detect(d[i].jinja) == d[i].want, "detect %zu: got %s", i,
                  plmm_chat_family_name(plmm_chat_template_detect(d[i].jinja)));
        plmm_chat_template t;
        CHECK(plmm_chat_template_init(&t, "auto", d[i].jinja) == PLMM_OK);
        CHECK(t.family == d[i].want);
        CHECK_MSG(t.bos_prefix == d[i].bos_prefix, "detect %zu: bos_prefix %d", i,
                  (int)t.bos_prefix);
    }
    CHECK(plmm_chat_template_detect(NULL) == PLMM_CHAT_PLAIN);

    /* NULL name means auto */
    plmm_chat_template t;
    CHECK(plmm_chat_template_init(&t, NULL, tmpl_llama3) == PLMM_OK);
    CHECK(t.family == PLMM_CHAT_LLAMA3);
    CHECK(strcmp(t.bos, "<|begin_of_text|>") == 0);
    /* an explicit name wins over the template */
    CHECK(plmm_chat_template_init(&t, "zephyr", tmpl_llama3) == PLMM_OK);
    CHECK(t.family == PLMM_CHAT_ZEPHYR);
    /* auto without a template: plain */
    CHECK(plmm_chat_template_init(&t, "auto", NULL) == PLMM_OK);
    CHECK(t.family == PLMM_CHAT_PLAIN);

    /* names round-trip */
    for (int f = PLMM_CHAT_AUTO; f <= PLMM_CHAT_GEMMA; f++) {
        plmm_chat_family back = (plmm_chat_family)-1;
        CHECK(plmm_chat_family_from_name(plmm_chat_family_name((plmm_chat_family)f), &back) ==
              PLMM_OK);
        CHECK(back == (plmm_chat_family)f);
    }
    CHECK(strcmp(plmm_chat_family_name((plmm_chat_family)99), "unknown") == 0);
}

/* Default system turns of ChatML templates. */
static void test_default_system(void)
{
    plmm_chat_template t;
    CHECK(plmm_chat_template_init(&t, "auto", tmpl_qwen2) == PLMM_OK);
    CHECK(strcmp(t.default_system, "You are a helpful assistant.") == 0);
    const char *got = render(&t, conv_single, 1, true, NULL);
    CHECK_STR(got, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
    got = render(&t, conv_multi, 4, false, NULL); /* has its own system turn */
    CHECK_STR(got, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n");
    got = render(&t, NULL, 0, true, NULL); /* the template's loop never runs */
    CHECK_STR(got, "<|im_start|>assistant\n");

    CHECK(plmm_chat_template_init(&t, "auto", tmpl_qwen25) == PLMM_OK);
    CHECK_STR(t.default_system,
              "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");

    CHECK(plmm_chat_template_init(&t, "auto", tmpl_chatml) == PLMM_OK);
    CHECK(t.default_system[0] == '\0');
    /* explicit name: no template, no default */
    CHECK(plmm_chat_template_init(&t, "chatml", tmpl_qwen2) == PLMM_OK);
    CHECK(t.default_system[0] == '\0');
}

/* ---- templates from real GGUF files ---- */

/* The tokenizer.chat_template string of a GGUF file, found by scanning for
 * the key (GGUF stores a key as u64 length + bytes, then the u32 type 8 =
 * string, then u64 length + bytes). Caller frees. NULL if absent. */
static char *gguf_chat_template(const char *path)
{
    static const char key[] = "tokenizer.chat_template";
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *data = NULL, *out = NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        goto done;
    long size = ftell(f);
    if (size <= 0 || fseek(f, 0, SEEK_SET) != 0)
        goto done;
    data = malloc((size_t)size);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size)
        goto done;
    for (size_t i = 8; i + sizeof(key) - 1 + 12 <= (size_t)size; i++) {
        if (memcmp(data + i, key, sizeof(key) - 1) != 0)
            continue;
        uint64_t klen = 0, vlen = 0;
        uint32_t type = 0;
        memcpy(&klen, data + i - 8, 8);
        if (klen != sizeof(key) - 1)
            continue;
        size_t p = i + sizeof(key) - 1;
        memcpy(&type, data + p, 4);
        memcpy(&vlen, data + p + 4, 8);
        if (type != 8 || vlen > (uint64_t)size - (p + 12))
            break;
        out = malloc(vlen + 1);
        if (out != NULL) {
            memcpy(out, data + p + 12, vlen);
            out[vlen] = '\0';
        }
        break;
    }
done:
    free(data);
    fclose(f);
    return out;
}

static void test_real_files(void)
{
    const char *shared = test_shared_dir();
    if (shared == NULL) {
        printf("SKIP: real GGUF templates: PLMM_SHARED_DIR/models not found\n");
        return;
    }
    char path[4096];

    /* The synthetic Qwen2 model's ChatML template (the F16 file is built on
     * demand, see shared/models/README.md). */
    snprintf(path, sizeof(path), "%s/models/synth-qwen2-14M-F16.gguf", shared);
    char *j = gguf_chat_template(path);
    if (j == NULL) {
        printf("SKIP: %s absent: ChatML checked with the built-in Qwen2 snippet only\n", path);
    } else {
        plmm_chat_template t;
        CHECK(plmm_chat_template_detect(j) == PLMM_CHAT_CHATML);
        CHECK(plmm_chat_template_init(&t, "auto", j) == PLMM_OK);
        CHECK_STR(t.default_system, "You are a helpful assistant.");
        free(j);
    }

    /* Phi-3-mini's first template (in llama.cpp's vocab file): it starts
     * with bos_token and always adds the assistant header after a user
     * turn, so plmm's phi3 rendering with BOS matches it exactly. */
    snprintf(path, sizeof(path), "%s/models/vocab/ggml-vocab-phi-3.gguf", shared);
    j = gguf_chat_template(path);
    if (j == NULL) {
        printf("SKIP: %s absent or without a chat template\n", path);
        return;
    }
    plmm_chat_template t;
    CHECK(plmm_chat_template_detect(j) == PLMM_CHAT_PHI3);
    CHECK(plmm_chat_template_init(&t, "auto", j) == PLMM_OK);
    CHECK(t.bos_prefix);
    bool has_bos = false;
    const char *got = render(&t, conv_single, 1, true, &has_bos);
    CHECK_STR(got, "<s><|user|>\nHello<|end|>\n<|assistant|>\n");
    CHECK(has_bos);
    got = render(&t, conv_multi + 1, 3, true, &has_bos);
    CHECK_STR(got, "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\n2+2?<|end|>\n"
                   "<|assistant|>\n");
    free(j);
}

/* ---- BOS handling ---- */

static void test_bos(void)
{
    plmm_chat_template t;
    bool has_bos = false;
    /* llama3 with the vocabulary's own BOS text */
    CHECK(plmm_chat_template_init(&t, "llama3", NULL) == PLMM_OK);
    CHECK(plmm_chat_template_set_tokens(&t, "<|begin_of_text|>", NULL) == PLMM_OK);
    const char *got = render(&t, conv_single, 1, false, &has_bos);
    CHECK(has_bos);
    CHECK(got != NULL && strncmp(got, "<|begin_of_text|><|start_header_id|>", 36) == 0);
    /* a template that writes BOS with an empty BOS text cannot report it */
    CHECK(plmm_chat_template_set_tokens(&t, "", NULL) == PLMM_OK);
    got = render(&t, conv_single, 1, false, &has_bos);
    CHECK(!has_bos);
    CHECK(got != NULL && strncmp(got, "<|start_header_id|>", 19) == 0);
    /* zephyr never writes BOS; a template starting with bos_token does */
    CHECK(plmm_chat_template_init(&t, "zephyr", NULL) == PLMM_OK);
    got = render(&t, conv_single, 1, true, &has_bos);
    CHECK(!has_bos);
    static const char z_bos[] = "{{- bos_token -}}{% for message in messages %}"
                                "{{ '<|user|>\\n' + message['content'] + eos_token }}{% endfor %}";
    CHECK(plmm_chat_template_init(&t, "auto", z_bos) == PLMM_OK);
    CHECK(t.family == PLMM_CHAT_ZEPHYR && t.bos_prefix);
    CHECK(plmm_chat_template_set_tokens(&t, "<|bos|>", "<|eos|>") == PLMM_OK);
    got = render(&t, conv_single, 1, true, &has_bos);
    CHECK_STR(got, "<|bos|><|user|>\nHello<|eos|>\n<|assistant|>\n");
    CHECK(has_bos);
    /* gemma: BOS even with no messages */
    CHECK(plmm_chat_template_init(&t, "gemma", NULL) == PLMM_OK);
    got = render(&t, NULL, 0, true, &has_bos);
    CHECK_STR(got, "<bos><start_of_turn>model\n");
    CHECK(has_bos);
}

/* ---- errors ---- */

static void test_errors(void)
{
    plmm_chat_template t;
    char buf[256];
    size_t needed = 0;

    CHECK(plmm_chat_template_init(&t, "vicuna", NULL) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "'vicuna'");
    plmm_chat_family f;
    CHECK(plmm_chat_family_from_name("ChatML", &f) == PLMM_ERR_INVALID_ARG);

    /* unknown roles, in every family */
    static const plmm_chat_message tool[] = {{"user", "hi"}, {"tool", "42"}};
    for (int fam = PLMM_CHAT_PLAIN; fam <= PLMM_CHAT_GEMMA; fam++) {
        CHECK(plmm_chat_template_init(&t, plmm_chat_family_name((plmm_chat_family)fam), NULL) ==
              PLMM_OK);
        CHECK(plmm_chat_template_format(&t, tool, 2, true, buf, sizeof(buf), &needed, NULL) ==
              PLMM_ERR_INVALID_ARG);
        CHECK_CONTAINS(plmm_last_errmsg(), "'tool'");
    }
    static const plmm_chat_message null_content[] = {{"user", NULL}};
    CHECK(plmm_chat_template_format(&t, null_content, 1, true, buf, sizeof(buf), &needed, NULL) ==
          PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "content");
    CHECK(plmm_chat_template_format(&t, NULL, 1, true, buf, sizeof(buf), &needed, NULL) ==
          PLMM_ERR_INVALID_ARG);

    /* alternation, for the templates that demand it */
    static const plmm_chat_message two_users[] = {{"user", "a"}, {"user", "b"}};
    static const plmm_chat_message late_system[] = {{"user", "a"}, {"system", "s"}};
    static const plmm_chat_message starts_assistant[] = {{"system", "s"}, {"assistant", "a"}};
    const char *strict[] = {"llama2", "mistral", "gemma"};
    for (int i = 0; i < 3; i++) {
        CHECK(plmm_chat_template_init(&t, strict[i], NULL) == PLMM_OK);
        CHECK(plmm_chat_template_format(&t, two_users, 2, true, buf, sizeof(buf), &needed, NULL) ==
              PLMM_ERR_INVALID_ARG);
        CHECK_CONTAINS(plmm_last_errmsg(), "alternate");
        CHECK(plmm_chat_template_format(&t, late_system, 2, true, buf, sizeof(buf), &needed,
                                        NULL) == PLMM_ERR_INVALID_ARG);
        CHECK(plmm_chat_template_format(&t, starts_assistant, 2, true, buf, sizeof(buf), &needed,
                                        NULL) == PLMM_ERR_INVALID_ARG);
    }
    /* the others take any order */
    CHECK(plmm_chat_template_init(&t, "chatml", NULL) == PLMM_OK);
    CHECK(plmm_chat_template_format(&t, two_users, 2, true, buf, sizeof(buf), &needed, NULL) ==
          PLMM_OK);

    /* buffer sizes */
    const char *want = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    size_t len = strlen(want);
    CHECK(plmm_chat_template_format(&t, conv_single, 1, true, NULL, 0, &needed, NULL) ==
          PLMM_ERR_RANGE);
    CHECK(needed == len + 1);
    memset(buf, 'x', sizeof(buf));
    CHECK(plmm_chat_template_format(&t, conv_single, 1, true, buf, len, &needed, NULL) ==
          PLMM_ERR_RANGE);
    CHECK(needed == len + 1);
    CHECK(buf[0] == '\0');
    CHECK(buf[len] == 'x'); /* nothing written past capacity */
    CHECK_CONTAINS(plmm_last_errmsg(), "too small");
    CHECK(plmm_chat_template_format(&t, conv_single, 1, true, buf, len + 1, &needed, NULL) ==
          PLMM_OK);
    CHECK(strcmp(buf, want) == 0);
    CHECK(buf[len + 1] == 'x');
    CHECK(plmm_chat_template_format(&t, conv_single, 1, true, NULL, 5, &needed, NULL) ==
          PLMM_ERR_INVALID_ARG);

    /* token texts */
    char longtok[PLMM_CHAT_TOKEN_MAX + 1];
    memset(longtok, 'a', sizeof(longtok) - 1);
    longtok[sizeof(longtok) - 1] = '\0';
    CHECK(plmm_chat_template_set_tokens(&t, longtok, NULL) == PLMM_ERR_RANGE);
    CHECK(plmm_chat_template_set_tokens(&t, NULL, longtok) == PLMM_ERR_RANGE);
    CHECK(strcmp(t.bos, "<s>") == 0); /* unchanged on error */

    /* a template that was never initialised */
    plmm_chat_template z;
    memset(&z, 0, sizeof(z));
    CHECK(plmm_chat_template_format(&z, conv_single, 1, true, buf, sizeof(buf), &needed, NULL) ==
          PLMM_ERR_INVALID_ARG);
}

int main(void)
{
    test_families();
    test_detect();
    test_default_system();
    test_real_files();
    test_bos();
    test_errors();
    return test_summary("chat-template");
}
