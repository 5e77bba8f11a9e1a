/*
 * The lexical domain match: text normalization (plugins/sdk/sdk_text.c),
 * phrase and stem matching, scores counting each signal once, the heaviest
 * hits kept in order, and the rule that picks an expert (min_score,
 * margin).
 */
#include "expert_match.h"
#include "plmm_sdk_text.h"
#include "test.h"

static void expect_norm(const char *in, size_t cap, const char *want, size_t want_n)
{
    char buf[256];
    size_t n = plmm_sdk_text_normalize(in, strlen(in), buf, cap);
    CHECK_MSG(n == want_n, "'%s': needs %zu, want %zu", in, n, want_n);
    CHECK_MSG(strcmp(buf, want) == 0, "'%s' (cap %zu):\n got  '%s'\n want '%s'", in, cap, buf,
              want);
}

static void test_normalize(void)
{
    expect_norm("Hello, World! What's C++ & C#?", 256, " hello world what s c++ c# ", 27);
    expect_norm("S&P 500 -- 401(k)", 256, " s p 500 401 k ", 15);
    expect_norm("", 256, " ", 1);
    expect_norm("   ", 256, " ", 1);
    expect_norm("Café DALÍ", 256, " café dalÍ ", 13); /* only ASCII is lowercased */
    /* too small: cut at a word boundary, the full size still reported */
    expect_norm("alpha beta gamma", 12, " alpha ", 18);
    expect_norm("alpha beta gamma", 1, "", 18);
    char z = 'x';
    CHECK(plmm_sdk_text_normalize("abc", 3, &z, 0) == 5 && z == 'x');
}

static void test_phrases(void)
{
    const char *n = " i want to invest in index funds and keep investing ";
    CHECK(plmm_sdk_phrase_count(n, "invest*") == 2);
    CHECK(plmm_sdk_phrase_count(n, "invest") == 1);
    CHECK(plmm_sdk_phrase_in(n, "index fund*"));
    CHECK(!plmm_sdk_phrase_in(n, "index fund"));
    CHECK(plmm_sdk_phrase_in(n, "funds and keep"));
    CHECK(!plmm_sdk_phrase_in(n, "funds keep"));
    CHECK(!plmm_sdk_phrase_in(n, "nvest"));       /* words match from their start */
    CHECK(!plmm_sdk_phrase_in(n, "investing x")); /* past the last word */
    CHECK(!plmm_sdk_phrase_in(n, ""));
    CHECK(plmm_sdk_phrase_count(" a a a ", "a a") == 2);
}

static const plmm_routing_signal sig[] = {
    {"stock*", 2.0f, 0}, {"index fund*", 3.0f, 0}, {"money", 1.0f, 0},
    {"bank", 1.5f, 0},   {"fund", 0.5f, 0},        {"pay", 0.25f, 0},
};

static const plmm_expert_desc fin = {
    .struct_size = sizeof(plmm_expert_desc),
    .name = "fin",
    .n_signals = sizeof(sig) / sizeof(sig[0]),
    .signals = sig,
};

static void test_scores(void)
{
    plmm_domain_score s;
    const char *q = "Money, money, MONEY: should my bank buy stocks or an Index Fund?";
    CHECK(plmm_expert_match(&fin, q, strlen(q), &s) == PLMM_OK);
    /* stock* 2 + index fund* 3 + money 1 (once) + bank 1.5 + fund 0.5 */
    CHECK_MSG(s.score == 8.0f && s.n_hits == 5, "score %g, %u hits", (double)s.score, s.n_hits);
    CHECK(s.hits[0] == &sig[1] && s.hits[1] == &sig[0] && s.hits[2] == &sig[3] &&
          s.hits[3] == &sig[2] && s.hits[4] == &sig[4]);
    CHECK(plmm_expert_match(&fin, "nothing here", 12, &s) == PLMM_OK);
    CHECK(s.score == 0.0f && s.n_hits == 0);
    /* len bounds the text: "bank" is past it */
    CHECK(plmm_expert_match(&fin, "money bank", 5, &s) == PLMM_OK && s.score == 1.0f);

    /* more hits than kept: the heaviest stay */
    static plmm_routing_signal many[12];
    static const char *const words[12] = {"a", "b", "c", "d", "e", "f",
                                          "g", "h", "i", "j", "k", "l"};
    for (int i = 0; i < 12; i++)
        many[i] = (plmm_routing_signal){words[i], (float)(i % 5) + 1.0f, 0};
    plmm_expert_desc d = fin;
    d.signals = many;
    d.n_signals = 12;
    CHECK(plmm_expert_match(&d, "a b c d e f g h i j k l", 23, &s) == PLMM_OK);
    CHECK(s.n_hits == 12);
    for (int i = 1; i < PLMM_MATCH_MAX_HITS; i++)
        CHECK(s.hits[i - 1]->weight >= s.hits[i]->weight);
    CHECK(s.hits[0]->weight == 5.0f && s.hits[PLMM_MATCH_MAX_HITS - 1]->weight == 2.0f);
}

static void test_pick(void)
{
    plmm_domain_score sc[3] = {{.score = 4.0f}, {.score = 3.0f}, {.score = 0.0f}};
    plmm_match_rule rule = {PLMM_MATCH_MIN_SCORE, PLMM_MATCH_MARGIN};
    CHECK(plmm_match_pick(sc, 3, &rule) == 0);
    sc[1].score = 3.75f; /* within the margin: no expert */
    CHECK(plmm_match_pick(sc, 3, &rule) == -1);
    sc[2].score = 6.0f;
    CHECK(plmm_match_pick(sc, 3, &rule) == 2);
    plmm_domain_score low[2] = {{.score = 1.5f}, {.score = 0.0f}};
    CHECK(plmm_match_pick(low, 2, &rule) == -1); /* below min_score */
    rule.min_score = 1.0f;
    CHECK(plmm_match_pick(low, 2, &rule) == 0);
    CHECK(plmm_match_pick(low, 0, &rule) == -1);
}

int main(void)
{
    test_normalize();
    test_phrases();
    test_scores();
    test_pick();
    return test_summary("test-expert-match");
}
