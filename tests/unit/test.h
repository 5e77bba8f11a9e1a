/* Minimal test harness: CHECK counts failures, test_main prints a summary.
 * Exit 0 = pass, 1 = failures, 77 = skipped (meson's skip code). */
#ifndef PLMM_TEST_H
#define PLMM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        test_checks++;                                                           \
        if (!(cond)) {                                                           \
            test_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                     \
    do {                                                                         \
        test_checks++;                                                           \
        if (!(cond)) {                                                           \
            test_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
        }                                                                        \
    } while (0)

/* Does the string contain the substring? (for error-message checks) */
static inline const char *test_str_or_null(const char *s)
{
    return s != NULL ? s : "(null)";
}

#define CHECK_CONTAINS(hay, needle)                                                       \
    CHECK_MSG(strstr(test_str_or_null(hay), (needle)) != NULL, "'%s' lacks '%s'", \
              test_str_or_null(hay), (needle))

static inline int test_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

/* Directory of ../shared, or NULL (then the caller skips with 77). */
static inline const char *test_shared_dir(void)
{
    const char *d = getenv("PLMM_SHARED_DIR");
    char probe[4096];
    if (d == NULL)
        return NULL;
    snprintf(probe, sizeof(probe), "%s/models", d);
    FILE *f = fopen(probe, "r");
    if (f == NULL)
        return NULL;
    fclose(f);
    return d;
}

#define TEST_SKIP(...)                        \
    do {                                      \
        printf("SKIP: " __VA_ARGS__);         \
        printf("\n");                         \
        return 77;                            \
    } while (0)

#endif
