/*
 * Routing evaluation: routes every question of a labelled set
 * (tests/router/questions.tsv) with the domain match of the finance, IT
 * and art expert plugins and the lexical rule (engine/expert_match.c), and
 * reports accuracy, per-domain precision and recall and the confusion
 * matrix. As a test it fails when accuracy drops below the regression bar
 * recorded in docs/experts.md.
 *
 *   test-router-eval [--markdown] [--misrouted] [--sweep]
 *                    [--min-score X] [--margin Y] [--router MODEL [--weight W]] [FILE]
 *
 * With --router the questions go through the router itself
 * (plmm_router_decide over MODEL as the P-model, the three experts
 * configured, [router] embedding_weight = W): its combined decision, the
 * lexical score plus W times the embedding similarity. As a test (with
 * --router and no other option but --weight 0) the router's decisions must
 * equal the lexical rule's, question by question.
 */
#include "errors.h"
#include "expert_match.h"
#include "plmm/ask.h"
#include "plmm_sdk_text.h"
#include "registry.h"
#include "test.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef EXPERT_BUILD_DIRS
#error "EXPERT_BUILD_DIRS must list the build directories of experts/*"
#endif

/* Regression bars: measured values (docs/experts.md) minus a small margin,
 * so a change that makes routing clearly worse fails. */
#define BAR_ACCURACY 0.90 /* measured 0.934 (170/182) */
#define BAR_RECALL 0.85   /* lowest measured: it, 0.889 (40/45) */

#define N_EXPERTS 3
#define N_LABELS (N_EXPERTS + 1) /* + general */
#define MAX_Q 1024

static const char *const labels[N_LABELS] = {"finance", "it", "art", "general"};

typedef struct question {
    int label;
    bool ambiguous;
    char *text;
} question;

typedef struct dataset {
    question q[MAX_Q];
    uint32_t n;
} dataset;

static int label_index(const char *s)
{
    for (int i = 0; i < N_LABELS; i++)
        if (strcmp(s, labels[i]) == 0)
            return i;
    return -1;
}

static bool load(const char *path, dataset *d)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    uint32_t lineno = 0;
    if (f == NULL) {
        fprintf(stderr, "cannot open '%s'\n", path);
        return false;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 != NULL ? strchr(t1 + 1, '\t') : NULL;
        if (t2 == NULL || d->n == MAX_Q) {
            fprintf(stderr, "%s:%u: expected label<TAB>kind<TAB>question\n", path, lineno);
            fclose(f);
            return false;
        }
        *t1 = *t2 = '\0';
        int label = label_index(line);
        bool amb = strcmp(t1 + 1, "ambiguous") == 0;
        if (label < 0 || (!amb && strcmp(t1 + 1, "clear") != 0) || t2[1] == '\0') {
            fprintf(stderr, "%s:%u: bad label '%s' or kind '%s'\n", path, lineno, line, t1 + 1);
            fclose(f);
            return false;
        }
        d->q[d->n].label = label;
        d->q[d->n].ambiguous = amb;
        d->q[d->n].text = strdup(t2 + 1);
        if (d->q[d->n].text == NULL) {
            fclose(f);
            return false;
        }
        d->n++;
    }
    fclose(f);
    return true;
}

typedef struct result {
    uint32_t confusion[N_LABELS][N_LABELS]; /* [true][predicted] */
    uint32_t correct, total, correct_clear, total_clear, correct_amb, total_amb;
} result;

static int route(const plmm_expert_desc *const *experts, const char *text,
                 const plmm_match_rule *rule, plmm_domain_score *scores)
{
    char norm[4200];
    size_t len = strlen(text);
    if (2 * len + 3 > sizeof(norm))
        len = (sizeof(norm) - 3) / 2;
    plmm_sdk_text_normalize(text, len, norm, sizeof(norm));
    for (int e = 0; e < N_EXPERTS; e++)
        plmm_expert_match_normalized(experts[e], norm, &scores[e]);
    int pick = plmm_match_pick(scores, N_EXPERTS, rule);
    return pick < 0 ? N_EXPERTS : pick;
}

static void evaluate(const plmm_expert_desc *const *experts, const dataset *d,
                     const plmm_match_rule *rule, bool print_misrouted, result *r)
{
    memset(r, 0, sizeof(*r));
    for (uint32_t i = 0; i < d->n; i++) {
        plmm_domain_score scores[N_EXPERTS];
        int got = route(experts, d->q[i].text, rule, scores);
        int want = d->q[i].label;
        r->confusion[want][got]++;
        r->total++;
        r->correct += got == want;
        if (d->q[i].ambiguous) {
            r->total_amb++;
            r->correct_amb += got == want;
        } else {
            r->total_clear++;
            r->correct_clear += got == want;
        }
        if (print_misrouted && got != want) {
            printf("  %-8s -> %-8s [%.1f %.1f %.1f] %s%s\n", labels[want], labels[got],
                   (double)scores[0].score, (double)scores[1].score, (double)scores[2].score,
                   d->q[i].ambiguous ? "(ambiguous) " : "", d->q[i].text);
        }
    }
}

/* The router's decisions: got[i] = label index. */
static bool route_with_router(const char *model, float weight, const plmm_match_rule *rule,
                              const dataset *d, int *got)
{
    char ini[256], abs_model[4096];
    if (realpath(model, abs_model) == NULL) {
        fprintf(stderr, "cannot find the model '%s'\n", model);
        return false;
    }
    model = abs_model;
    snprintf(ini, sizeof(ini), "/tmp/plmm-router-eval-%ld.ini", (long)getpid());
    FILE *f = fopen(ini, "w");
    if (f == NULL)
        return false;
    fprintf(f,
            "[engine]\nmodel = %s\nplugin_path = %s\nthreads = 1\n"
            "[router]\nembedding_weight = %g\nmin_score = %g\nmargin = %g\ndraft_tokens = 0\n",
            model, EXPERT_BUILD_DIRS, (double)weight, (double)rule->min_score,
            (double)rule->margin);
    for (int e = 0; e < N_EXPERTS; e++)
        fprintf(f,
                "[expert.%s]\nconnector = openai\nendpoint = http://127.0.0.1:9/v1\n"
                "share = full\n",
                labels[e]);
    fclose(f);
    plmm_engine_params ep = {.struct_size = sizeof(ep), .config_path = ini, .log_level = -1};
    plmm_engine *eng = NULL;
    plmm_model *m = NULL;
    plmm_router *r = NULL;
    plmm_status st = plmm_engine_open(&ep, &eng);
    if (st == PLMM_OK)
        st = plmm_model_load(eng, NULL, &m);
    if (st == PLMM_OK)
        st = plmm_router_open(eng, m, &r);
    plmm_ask_result res = {.struct_size = sizeof(res)};
    for (uint32_t i = 0; st == PLMM_OK && i < d->n; i++) {
        st = plmm_router_decide(r, d->q[i].text, &res);
        got[i] = N_EXPERTS;
        if (st == PLMM_OK && res.route == PLMM_ROUTE_EXPERT)
            got[i] = label_index(res.expert);
        plmm_ask_result_clear(&res);
    }
    CHECK_MSG(st == PLMM_OK, "router: %s", plmm_last_errmsg());
    plmm_router_close(r);
    plmm_model_free(m);
    plmm_engine_close(eng);
    remove(ini);
    return st == PLMM_OK;
}

static void tally(const dataset *d, const int *got, result *r)
{
    memset(r, 0, sizeof(*r));
    for (uint32_t i = 0; i < d->n; i++) {
        int want = d->q[i].label;
        r->confusion[want][got[i]]++;
        r->total++;
        r->correct += got[i] == want;
        if (d->q[i].ambiguous) {
            r->total_amb++;
            r->correct_amb += got[i] == want;
        } else {
            r->total_clear++;
            r->correct_clear += got[i] == want;
        }
    }
}

static double ratio(uint32_t a, uint32_t b)
{
    return b > 0 ? (double)a / b : 0.0;
}

static void print_report(const result *r, const plmm_match_rule *rule, bool markdown)
{
    printf("%s lexical routing, min_score %.2f, margin %.2f: %u questions\n\n",
           markdown ? "####" : "", (double)rule->min_score, (double)rule->margin, r->total);
    printf("| | all | clear | ambiguous |\n|---|---|---|---|\n");
    printf("| accuracy | %.3f (%u/%u) | %.3f (%u/%u) | %.3f (%u/%u) |\n\n",
           ratio(r->correct, r->total), r->correct, r->total,
           ratio(r->correct_clear, r->total_clear), r->correct_clear, r->total_clear,
           ratio(r->correct_amb, r->total_amb), r->correct_amb, r->total_amb);
    printf("| true \\ routed to |");
    for (int j = 0; j < N_LABELS; j++)
        printf(" %s |", labels[j]);
    printf(" recall |\n|---|");
    for (int j = 0; j <= N_LABELS; j++)
        printf("---|");
    printf("\n");
    for (int i = 0; i < N_LABELS; i++) {
        uint32_t row = 0;
        for (int j = 0; j < N_LABELS; j++)
            row += r->confusion[i][j];
        printf("| **%s** |", labels[i]);
        for (int j = 0; j < N_LABELS; j++)
            printf(" %u |", r->confusion[i][j]);
        printf(" %.3f |\n", ratio(r->confusion[i][i], row));
    }
    printf("| precision |");
    for (int j = 0; j < N_LABELS; j++) {
        uint32_t col = 0;
        for (int i = 0; i < N_LABELS; i++)
            col += r->confusion[i][j];
        printf(" %.3f |", ratio(r->confusion[j][j], col));
    }
    printf(" |\n\n");
}

static double recall(const result *r, int i)
{
    uint32_t row = 0;
    for (int j = 0; j < N_LABELS; j++)
        row += r->confusion[i][j];
    return ratio(r->confusion[i][i], row);
}

int main(int argc, char **argv)
{
    bool markdown = false, misrouted = false, sweep = false, as_test = true;
    plmm_match_rule rule = {PLMM_MATCH_MIN_SCORE, PLMM_MATCH_MARGIN};
    const char *path = NULL, *router_model = NULL;
    float weight = 0.0f;
    char default_path[4096];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0)
            markdown = true;
        else if (strcmp(argv[i], "--misrouted") == 0)
            misrouted = true;
        else if (strcmp(argv[i], "--sweep") == 0)
            sweep = true;
        else if (strcmp(argv[i], "--min-score") == 0 && i + 1 < argc)
            rule.min_score = strtof(argv[++i], NULL), as_test = false;
        else if (strcmp(argv[i], "--margin") == 0 && i + 1 < argc)
            rule.margin = strtof(argv[++i], NULL), as_test = false;
        else if (strcmp(argv[i], "--router") == 0 && i + 1 < argc)
            router_model = argv[++i];
        else if (strcmp(argv[i], "--weight") == 0 && i + 1 < argc)
            weight = strtof(argv[++i], NULL), as_test = as_test && weight == 0.0f;
        else if (argv[i][0] != '-')
            path = argv[i], as_test = false;
        else {
            fprintf(stderr,
                    "usage: %s [--markdown] [--misrouted] [--sweep] [--min-score X] "
                    "[--margin Y] [--router MODEL [--weight W]] [FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (path == NULL) {
        const char *src = getenv("PLMM_SOURCE_DIR");
        snprintf(default_path, sizeof(default_path), "%s/tests/router/questions.tsv",
                 src != NULL ? src : ".");
        path = default_path;
    }
    static dataset d;
    if (!load(path, &d))
        return 1;

    plmm_config *cfg = NULL;
    char text[4096];
    snprintf(text, sizeof(text), "[engine]\nplugin_path = %s\n", EXPERT_BUILD_DIRS);
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg, text, "eval.ini") == PLMM_OK);
    plmm_registry *reg = NULL;
    plmm_registry_opts o = {.config = cfg,
                            .flags = PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR};
    CHECK(plmm_registry_create(&o, &reg) == PLMM_OK);
    const plmm_expert_desc *experts[N_EXPERTS] = {NULL};
    for (int e = 0; e < N_EXPERTS && reg != NULL; e++) {
        const plmm_plugin_info *info = NULL;
        CHECK_MSG(plmm_registry_load(reg, labels[e], &info) == PLMM_OK, "%s", plmm_last_errmsg());
        experts[e] = info != NULL ? info->expert : NULL;
    }
    if (reg == NULL || experts[0] == NULL || experts[1] == NULL || experts[2] == NULL)
        return test_summary("test-router-eval");

    result r;
    evaluate(experts, &d, &rule, false, &r);
    if (router_model != NULL) {
        static int got[MAX_Q], lex[MAX_Q];
        for (uint32_t i = 0; i < d.n; i++) {
            plmm_domain_score sc[N_EXPERTS];
            lex[i] = route(experts, d.q[i].text, &rule, sc);
        }
        if (route_with_router(router_model, weight, &rule, &d, got)) {
            uint32_t same = 0;
            for (uint32_t i = 0; i < d.n; i++)
                same += got[i] == lex[i];
            result rr;
            tally(&d, got, &rr);
            printf("router (embedding_weight %.2f): %u of %u decisions as the lexical rule's\n",
                   (double)weight, same, d.n);
            print_report(&rr, &rule, markdown);
            if (as_test)
                CHECK_MSG(same == d.n,
                          "with embedding_weight 0 the router decided %u of %u "
                          "questions unlike the lexical rule",
                          d.n - same, d.n);
        }
        plmm_registry_destroy(reg);
        plmm_config_destroy(cfg);
        for (uint32_t i = 0; i < d.n; i++)
            free(d.q[i].text);
        return test_summary("test-router-eval");
    }
    print_report(&r, &rule, markdown);
    if (misrouted) {
        printf("misrouted (true -> routed [finance it art scores]):\n");
        evaluate(experts, &d, &rule, true, &r);
        printf("\n");
    }
    if (sweep) {
        printf("| min_score \\ margin | 0 | 0.5 | 1 | 1.5 | 2 |\n|---|---|---|---|---|---|\n");
        for (float ms = 1.0f; ms <= 4.01f; ms += 0.5f) {
            printf("| %.1f |", (double)ms);
            for (float mg = 0.0f; mg <= 2.01f; mg += 0.5f) {
                plmm_match_rule sr = {ms, mg};
                result s;
                evaluate(experts, &d, &sr, false, &s);
                printf(" %.3f |", ratio(s.correct, s.total));
            }
            printf("\n");
        }
        printf("\n");
    }

    if (as_test) {
        uint32_t per_label[N_LABELS] = {0};
        for (uint32_t i = 0; i < d.n; i++)
            per_label[d.q[i].label]++;
        CHECK_MSG(d.n >= 150, "the labelled set has %u questions, want at least 150", d.n);
        for (int i = 0; i < N_LABELS; i++) {
            CHECK_MSG(per_label[i] >= 35, "only %u questions labelled %s", per_label[i], labels[i]);
            CHECK_MSG(recall(&r, i) >= BAR_RECALL, "recall of %s %.3f is below the bar %.3f",
                      labels[i], recall(&r, i), BAR_RECALL);
        }
        CHECK_MSG(ratio(r.correct, r.total) >= BAR_ACCURACY,
                  "routing accuracy %.3f is below the regression bar %.3f",
                  ratio(r.correct, r.total), BAR_ACCURACY);
    }
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
    for (uint32_t i = 0; i < d.n; i++)
        free(d.q[i].text);
    return test_summary("test-router-eval");
}
