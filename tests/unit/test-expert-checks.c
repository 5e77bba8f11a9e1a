/*
 * The answer checks of the finance, IT and art expert plugins, through the
 * plugin ABI as the router calls them: for each check, answers that must
 * pass and answers that must fail (or warn) with the exact message, and
 * the plugins' own options changing the verdict. Also the routing
 * vocabulary of each plugin passes the registry's descriptor checks.
 */
#include "errors.h"
#include "expert_host.h"
#include "registry.h"
#include "test.h"

#ifndef EXPERT_BUILD_DIRS
#error "EXPERT_BUILD_DIRS must list the build directories of experts/*"
#endif

typedef struct fixture {
    plmm_config *cfg;
    plmm_registry *reg;
    plmm_expert_inst *inst;
} fixture;

static bool open_expert(fixture *f, const char *name, const char *options)
{
    char text[2048];
    memset(f, 0, sizeof(*f));
    snprintf(text, sizeof(text),
             "[engine]\nplugin_path = %s\n[expert.%s]\nconnector = local\nmodel = e.gguf\n%s",
             EXPERT_BUILD_DIRS, name, options);
    CHECK(plmm_config_create(&f->cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_string(f->cfg, text, "t.ini") == PLMM_OK, "%s", plmm_last_errmsg());
    plmm_registry_opts o = {.config = f->cfg,
                            .flags = PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR};
    CHECK(plmm_registry_create(&o, &f->reg) == PLMM_OK);
    if (f->reg == NULL)
        return false;
    plmm_status s = plmm_expert_inst_create(f->reg, f->cfg, name, &f->inst);
    CHECK_MSG(s == PLMM_OK, "%s: %s", name, plmm_last_errmsg());
    return s == PLMM_OK;
}

static void close_expert(fixture *f)
{
    plmm_expert_inst_destroy(f->inst);
    plmm_registry_destroy(f->reg);
    plmm_config_destroy(f->cfg);
}

/* want_msg NULL: any message; "" for a pass: empty message */
static void expect(fixture *f, int line, const char *q, const char *a, uint32_t want,
                   const char *want_msg)
{
    plmm_check_result r;
    if (f->inst == NULL)
        return;
    plmm_status s = plmm_expert_inst_check(f->inst, q, a, &r);
    CHECK_MSG(s == PLMM_OK, "line %d: %s", line, plmm_last_errmsg());
    CHECK_MSG(r.verdict == want, "line %d: verdict %u, want %u (%s)", line, (unsigned)r.verdict,
              (unsigned)want, r.message);
    if (want_msg != NULL)
        CHECK_MSG(strcmp(r.message, want_msg) == 0, "line %d:\n got  '%s'\n want '%s'", line,
                  r.message, want_msg);
}

#define PASS(f, q, a) expect(f, __LINE__, q, a, PLMM_CHECK_PASS, "")
#define FAIL(f, q, a, msg) expect(f, __LINE__, q, a, PLMM_CHECK_FAIL, msg)
#define WARN(f, q, a, msg) expect(f, __LINE__, q, a, PLMM_CHECK_WARN, msg)

#define DISCLAIMER                                                                                 \
    "\n\nThis is general information, not financial advice; investments can lose value."

/* ---- finance ---- */

static void test_finance(void)
{
    fixture f;
    const char *q = "How much will 10,000 grow at 5% a year?";
    if (open_expert(&f, "finance", "")) {
        const plmm_expert_desc *d = plmm_expert_inst_desc(f.inst);
        CHECK(d->n_signals >= 100 && d->n_examples >= 10 && strlen(d->system_prompt) > 200);

        PASS(&f, q,
             "After one year: 10,000 × 1.05 = 10,500. After two: 10,500 × 1.05 = "
             "11,025." DISCLAIMER);
        PASS(&f, q, "10,000 x 1.05 = 10,500 x 1.05 = 11,025 after two years." DISCLAIMER);
        PASS(&f, q, "Fees: $1,200 + $800 = $2,000 in total, and 5% × 200 = 10." DISCLAIMER);
        PASS(&f, q,
             "Splitting 1,000 three ways: 1,000 / 3 ≈ 333 each; 60% + 40% = 100%." DISCLAIMER);
        PASS(&f, q, "A 1% fee on 50,000 costs 500 a year: 1% of 50,000 is 500." DISCLAIMER);
        PASS(&f, q, "Past performance does not guarantee future results: 2 + 2 = 4.");
        PASS(&f, q,
             "A classic portfolio allocation:\n- Stocks: 60%\n- Bonds: 30%\n- Cash: "
             "10%\n" DISCLAIMER);
        /* rates listed side by side are not an allocation */
        PASS(&f, q,
             "Where to keep your portfolio's cash:\n- Savings account: 4% APY\n- CD: 5%\n"
             "- Treasury bills: 5.2%\n" DISCLAIMER);
        /* dates and ranges are not calculations */
        PASS(&f, q, "From 2010-2020 the index returned about 13% a year." DISCLAIMER);

        FAIL(&f, q, "After one year: 10,000 × 1.05 = 11,500." DISCLAIMER,
             "calculation '10,000 × 1.05 = 11,500' is wrong: it gives 10500");
        PASS(&f, q, "In euros: 1,5 + 2,25 = 3,75 and 12,5 × 2 = 25." DISCLAIMER);
        FAIL(&f, q, "In euros: 1,5 + 2 = 4,5." DISCLAIMER,
             "calculation '1,5 + 2 = 4,5' is wrong: it gives 3.5");
        FAIL(&f, q, "Total: $1,200 + $800 = $2,200." DISCLAIMER,
             "calculation '$1,200 + $800 = $2,200' is wrong: it gives 2000");
        FAIL(&f, q, "Interest: 1,000 * 0.04 = 4.5" DISCLAIMER,
             "calculation '1,000 * 0.04 = 4.5' is wrong: it gives 40.0");
        FAIL(&f, q, "A 5% return on 2,000 gives 5% of 2,000 is 150." DISCLAIMER,
             "'5% of 2,000 is 150' is wrong: it is 100.00");
        FAIL(&f, q, "Suggested allocation:\n1. Stocks 60%\n2. Bonds 30%\n3. Gold 5%\n" DISCLAIMER,
             "the allocation of 3 items adds up to 95%, not 100%");
        FAIL(&f, q, "10,000 × 1.05 = 10,500 after a year, and it keeps compounding.",
             "no risk disclaimer (say it is not financial advice and that investments can lose "
             "value)");
        close_expert(&f);
    }
    if (open_expert(&f, "finance", "disclaimer = warn\ntolerance = 0.1\n")) {
        WARN(&f, q, "10,000 × 1.05 = 10,500.", NULL);
        PASS(&f, q, "10,000 × 1.05 = 11,000, roughly." DISCLAIMER); /* within 10% */
        close_expert(&f);
    }
    if (open_expert(&f, "finance", "disclaimer = off\n")) {
        PASS(&f, q, "10,000 × 1.05 = 10,500.");
        close_expert(&f);
    }
}

/* ---- IT ---- */

static void test_it(void)
{
    fixture f;
    const char *q = "How do I make a script executable?";
    if (open_expert(&f, "it", "")) {
        const plmm_expert_desc *d = plmm_expert_inst_desc(f.inst);
        CHECK(d->n_signals >= 100 && d->n_examples >= 10 && strlen(d->system_prompt) > 200);

        PASS(&f, q, "Run:\n\n```bash\nchmod +x run.sh\n./run.sh\n```\n\nThen it runs.");
        PASS(&f, q, "No code needed: right-click the file and tick 'executable'.");
        PASS(&f, q, "```python\ns = \"(\"  # ) in a comment\nprint(s, [1, 2], {'a': (3)})\n```");
        PASS(&f, q, "```c\nint main(void) { /* } */ char c = '}'; return 0; }\n```");
        PASS(&f, q, "```js\nconst t = `a ${x} )`;\nf(t);\n```");
        PASS(&f, q, "```rust\nfn f<'a>(x: &'a str) -> &'a str { x }\n```");
        PASS(&f, q, "~~~sql\nSELECT name FROM t WHERE note = ':)' -- (\n;\n~~~");
        PASS(&f, q, "````markdown\n```bash\nls\n```\n````");
        PASS(&f, q, "Use ```ls``` inline, which is not a fence.");
        PASS(&f, q, "1. Make it executable:\n\n    ```bash\n    chmod +x run.sh\n    ```\n");
        PASS(&f, q, "            ```\n            twelve spaces: a code line, not a fence\n");
        PASS(&f, q, "```python\ndef f():\n    return \"\"\"a ( b\"\"\"\n```");

        FAIL(&f, q, "Run:\n\n```\nchmod +x run.sh\n```",
             "code block 1 (line 3) has no language tag");
        FAIL(&f, q, "```bash\nls\n```\n\nthen\n\n```python\nprint('hi')\n",
             "code block 2 (line 7) is not closed");
        FAIL(&f, q, "1. Run:\n   ```bash\n   ls\n2. Done.", "code block 1 (line 2) is not closed");
        FAIL(&f, q, "```python!\nprint(1)\n```",
             "code block 1 (line 1) has an invalid language tag 'python!'");
        FAIL(&f, q, "```python\ndef f(x:\n    return x\n```",
             "code block 1 (python): '(' opened on line 2 is never closed");
        FAIL(&f, q, "Config:\n```json\n{\"a\": [1, 2}\n```",
             "code block 1 (json): '}' on line 3 closes '[' opened on line 3");
        FAIL(&f, q, "```c\nint main(void) { return 0; }}\n```",
             "code block 1 (c): unmatched '}' on line 2");
        WARN(&f, q, "```bash\n```", "code block 1 (line 1) is empty");
        close_expert(&f);
    }
    if (open_expert(&f, "it", "language_tag = warn\ncheck_brackets = false\n")) {
        WARN(&f, q, "```\nls\n```", "code block 1 (line 1) has no language tag");
        PASS(&f, q, "```python\ndef f(x:\n```");
        close_expert(&f);
    }
    if (open_expert(&f, "it", "language_tag = off\n")) {
        PASS(&f, q, "```\nls\n```");
        close_expert(&f);
    }
}

/* ---- art ---- */

static void test_art(void)
{
    fixture f;
    const char *baroque = "What techniques did Caravaggio use in his Baroque paintings?";
    if (open_expert(&f, "art", "")) {
        const plmm_expert_desc *d = plmm_expert_inst_desc(f.inst);
        CHECK(d->n_signals >= 100 && d->n_examples >= 10 && strlen(d->system_prompt) > 200);

        PASS(&f, baroque,
             "Caravaggio (1571-1610), the boldest Baroque painter, used tenebrism: a dark "
             "ground and a single raking light. In The Calling of Saint Matthew (1599-1600) "
             "he painted directly on the canvas without preparatory drawings.");
        PASS(&f, "Who was Hokusai?", "A Japanese printmaker of the Edo period, born in 1760.");
        PASS(&f, "How do I keep my watercolors from getting muddy?",
             "Let each watercolor wash dry before glazing, use fewer pigments per mix and "
             "clean water.");
        PASS(&f, "How did 17th century Dutch painters paint light?",
             "Painters such as Vermeer (1632-1675) built light with thin glazes; his painting "
             "The Milkmaid dates from about 1658.");
        /* comparisons mention other periods briefly */
        PASS(&f, "How is Baroque sculpture different from Renaissance sculpture?",
             "Renaissance sculpture seeks balance; Baroque sculpture, as in Bernini's marble "
             "Apollo and Daphne (1622-1625), seeks motion. Both carve marble.");

        FAIL(&f, baroque,
             "Impressionism was about light: Monet painted outdoors in 1872 and Renoir "
             "painted dappled light in 1876.",
             "the answer never mentions the baroque period the question asks about");
        FAIL(&f, "How is a woodcut made?",
             "You choose a theme, think about composition and color, and work slowly.",
             "the answer never mentions printmaking, the medium the question asks about");
        FAIL(&f, "What defined Baroque architecture?",
             "Baroque ideas returned in architecture in 1850, in 1890 and again in 1925 "
             "with new facades.",
             "3 of the 3 years in the answer fall outside the baroque (1600-1750)");
        FAIL(&f, "How did 17th century Dutch painters paint light?",
             "Painters in 1880 and 1890 painted light outdoors.",
             "2 of the 2 years in the answer fall outside the 1600s (1600-1699)");
        WARN(&f, "Tell me about Renaissance sculpture.",
             "Renaissance painting used perspective; painters painted frescoes and oil "
             "paintings on canvas, and Donatello made a bronze.",
             "the answer drifts to painting (7 mentions) from the asked medium (1)");
        WARN(&f, "What was Surrealism about?",
             "Surrealism grew out of Dada; Dada artists, the Dadaists, and Dada's anti-art "
             "shaped it.",
             "the answer drifts to dada (4 mentions) from the asked period (1)");
        close_expert(&f);
    }
    if (open_expert(&f, "art", "drift = fail\n")) {
        FAIL(&f, "Tell me about Renaissance sculpture.",
             "Renaissance painting used perspective; painters painted frescoes and oil "
             "paintings on canvas, and Donatello made a bronze.",
             "the answer drifts to painting (7 mentions) from the asked medium (1)");
        close_expert(&f);
    }
}

/* ---- hostile answers ----
 * Every check must return a verdict (never crash, never an error) on
 * random bytes, invalid UTF-8, very long answers and pathological shapes;
 * run under AddressSanitizer this also catches reads past the text. */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static void hostile(fixture *f, const char *name)
{
    static const char alphabet[] = "0123456789 ,.%$=+-*/x()[]{}\"'`~#\n\t;:abcXYZ\xc3\x97\xe2\x89";
    size_t n = 1 << 20;
    char *buf = malloc(n + 1);
    plmm_check_result r;
    if (buf == NULL || f->inst == NULL) {
        free(buf);
        return;
    }
    for (int round = 0; round < 6; round++) {
        for (size_t i = 0; i < n; i++) {
            switch (round) {
            case 0: /* random bytes (no NUL) */
                buf[i] = (char)(rnd() % 255 + 1);
                break;
            case 1: /* the characters the checks look at */
                buf[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
                break;
            case 2: /* one deep bracket nest inside a json block */
                buf[i] = i < 8 ? "```json\n"[i] : (i < n / 2 ? '[' : ']');
                break;
            case 3: /* a long calculation chain */
                buf[i] = "1 + "[i % 4];
                break;
            case 4: /* fences only */
                buf[i] = "```\n"[i % 4];
                break;
            default: /* a truncated UTF-8 sequence at the very end */
                buf[i] = i + 1 < n ? 'a' : '\xe2';
                break;
            }
        }
        buf[n] = '\0';
        plmm_status s = plmm_expert_inst_check(f->inst, buf + n / 2, buf, &r);
        CHECK_MSG(s == PLMM_OK && r.verdict <= PLMM_CHECK_FAIL, "%s round %d: status %d", name,
                  round, s);
    }
    free(buf);
}

static void test_hostile(void)
{
    static const char *const names[] = {"finance", "it", "art"};
    for (int i = 0; i < 3; i++) {
        fixture f;
        if (open_expert(&f, names[i], "")) {
            hostile(&f, names[i]);
            close_expert(&f);
        }
    }
}

int main(void)
{
    test_finance();
    test_it();
    test_art();
    test_hostile();
    return test_summary("test-expert-checks");
}
