/*
 * Pseudonymization: detectors (with checksum negatives), stable
 * placeholders, restore (whole and streamed in every possible split), the
 * egress scan against disguised values, the share policy and the
 * before_send hook with its audit entry.
 */
#include "plmm/plmm.h"
#include "plmm/privacy.h"
#include "test.h"

#include <unistd.h>

/* The category detected for exactly `want` inside text, or -1. */
static int category_of(plmm_privacy *p, const char *text, const char *want)
{
    plmm_pii_span *sp = NULL;
    size_t n = 0;
    int cat = -1;
    if (plmm_privacy_detect(p, text, strlen(text), &sp, &n) != PLMM_OK)
        return -2;
    const char *at = strstr(text, want);
    for (size_t i = 0; i < n && at != NULL; i++)
        if (sp[i].start == (size_t)(at - text) && sp[i].len == strlen(want))
            cat = (int)sp[i].category;
    plmm_free(sp);
    return cat;
}

static size_t n_spans(plmm_privacy *p, const char *text)
{
    plmm_pii_span *sp = NULL;
    size_t n = 0;
    if (plmm_privacy_detect(p, text, strlen(text), &sp, &n) != PLMM_OK)
        return 999;
    plmm_free(sp);
    return n;
}

#define EXPECT(p, text, want, cat)                                                                 \
    CHECK_MSG(category_of(p, text, want) == (cat), "'%s' in '%s': got %d, want %d", want, text,    \
              category_of(p, text, want), (int)(cat))
#define NOTHING(p, text) CHECK_MSG(n_spans(p, text) == 0, "false positive in '%s'", text)

static void test_detectors(void)
{
    plmm_privacy *p = NULL;
    CHECK(plmm_privacy_create(&p) == PLMM_OK);
    EXPECT(p, "write to anna.berger@example.org today", "anna.berger@example.org", PLMM_PII_EMAIL);
    EXPECT(p, "IBAN: DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00", PLMM_PII_IBAN);
    EXPECT(p, "pay GB82WEST12345698765432 now", "GB82WEST12345698765432", PLMM_PII_IBAN);
    NOTHING(p, "pay DE89 3704 0044 0532 0130 01 now"); /* bad check digits */
    EXPECT(p, "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111", PLMM_PII_CARD);
    EXPECT(p, "amex 3782-822463-10005", "3782-822463-10005", PLMM_PII_CARD);
    NOTHING(p, "card 4111 1111 1111 1112"); /* Luhn fails */
    NOTHING(p, "ISBN 978-3-16-148410-0 is the book");
    EXPECT(p, "call +49 30 1234567 please", "+49 30 1234567", PLMM_PII_PHONE);
    EXPECT(p, "ring (555) 123-4567 after six", "(555) 123-4567", PLMM_PII_PHONE);
    EXPECT(p, "mon portable: 06 12 34 56 78", "06 12 34 56 78", PLMM_PII_PHONE);
    NOTHING(p, "order number 123-456-7890 shipped");
    NOTHING(p, "released 2024-03-15 at 14:22:01");
    EXPECT(p, "server at 192.168.10.20 is down", "192.168.10.20", PLMM_PII_IP);
    NOTHING(p, "upgrade to version 1.2.3.4 first");
    NOTHING(p, "the 300.1.2.3 range is invalid");
    EXPECT(p, "ping 2001:db8::8a2e:370:7334 now", "2001:db8::8a2e:370:7334", PLMM_PII_IP);
    NOTHING(p, "meet at 12:30:45 today");
    EXPECT(p, "I was born on 12 March 1985 in Graz", "12 March 1985", PLMM_PII_DOB);
    EXPECT(p, "DOB: 1985-03-12", "1985-03-12", PLMM_PII_DOB);
    NOTHING(p, "The meeting is on 12 March 2025.");
    EXPECT(p, "my SSN is 123-45-6789", "123-45-6789", PLMM_PII_ID);
    NOTHING(p, "SSN 666-45-6789 is never issued");
    EXPECT(p, "NINO AB 12 34 56 C", "AB 12 34 56 C", PLMM_PII_ID);
    EXPECT(p, "DNI 12345678Z", "12345678Z", PLMM_PII_ID);
    NOTHING(p, "DNI 12345678A");
    EXPECT(p, "Authorization: Bearer abcDEF123456ghiJKL789", "abcDEF123456ghiJKL789",
           PLMM_PII_SECRET);
    EXPECT(p, "key sk-proj-abcdefghijklmnopqrstuvwx1234", "sk-proj-abcdefghijklmnopqrstuvwx1234",
           PLMM_PII_SECRET);
    EXPECT(p, "aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", PLMM_PII_SECRET);
    EXPECT(p, "password = hunter2!x", "hunter2!x", PLMM_PII_SECRET);
    const char *pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----";
    EXPECT(p, pem, pem, PLMM_PII_SECRET);
    plmm_privacy_destroy(p);
}

static void test_known(void)
{
    plmm_privacy *p = NULL;
    CHECK(plmm_privacy_create(&p) == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PERSON, "Anna Berger") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_ORG, "Hofer & Partner") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_ADDRESS, "Lindenweg 7, 8010 Graz") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PLACE, "Graz") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_NONE, "x") == PLMM_ERR_INVALID_ARG);
    EXPECT(p, "Ask ANNA  BERGER about it", "ANNA  BERGER", PLMM_PII_PERSON);
    EXPECT(p, "Mrs. Berger called", "Berger", PLMM_PII_PERSON);
    EXPECT(p, "I work at Hofer & Partner.", "Hofer & Partner", PLMM_PII_ORG);
    EXPECT(p, "ship it to Lindenweg 7 please", "Lindenweg 7", PLMM_PII_ADDRESS);
    EXPECT(p, "I live in Graz.", "Graz", PLMM_PII_PLACE);
    NOTHING(p, "Grazing sheep and an annabergite crystal");
    plmm_privacy_destroy(p);
}

static void test_placeholders(void)
{
    plmm_privacy *p = NULL;
    CHECK(plmm_privacy_create(&p) == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PERSON, "Anna Berger") == PLMM_OK);
    const char *q = "I am Anna Berger, mail anna@example.org or ANNA@EXAMPLE.ORG, "
                    "IBAN DE89 3704 0044 0532 0130 00 (also DE89370400440532013000), "
                    "boss bob@example.com.";
    char *out = NULL;
    plmm_pii_counts c;
    CHECK(plmm_privacy_pseudonymize(p, q, strlen(q), &out, &c) == PLMM_OK);
    CHECK_CONTAINS(out, "I am <PERSON_1>, mail <EMAIL_1> or <EMAIL_1>, IBAN <IBAN_1> (also "
                        "<IBAN_1>), boss <EMAIL_2>.");
    CHECK(c.n[PLMM_PII_EMAIL] == 3 && c.n[PLMM_PII_IBAN] == 2 && c.n[PLMM_PII_PERSON] == 1);
    /* the mapping is stable across messages of the conversation */
    char *out2 = NULL;
    const char *q2 = "Forward it to bob@example.com";
    CHECK(plmm_privacy_pseudonymize(p, q2, strlen(q2), &out2, NULL) == PLMM_OK);
    CHECK(strcmp(out2, "Forward it to <EMAIL_2>") == 0);
    plmm_free(out2);
    const char *ans = "Dear <PERSON_1>, I wrote to <email_1> and < EMAIL_2 >; <EMAIL_9> stays.";
    char *back = NULL;
    CHECK(plmm_privacy_restore(p, ans, strlen(ans), &back) == PLMM_OK);
    CHECK(strcmp(back, "Dear Anna Berger, I wrote to anna@example.org and bob@example.com; "
                       "<EMAIL_9> stays.") == 0);
    plmm_free(back);

    /* streaming: every split of the answer into three pieces restores the same text */
    const char *a = "Hi <PERSON_1>! Your IBAN <IBAN_1> and <EMAIL_2>. <x <EMAIL_";
    char *want = NULL;
    CHECK(plmm_privacy_restore(p, a, strlen(a), &want) == PLMM_OK);
    size_t n = strlen(a);
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            plmm_restorer *r = NULL;
            if (plmm_restorer_create(p, &r) != PLMM_OK) {
                bad++;
                continue;
            }
            char got[512] = "";
            size_t gl = 0;
            const char *o;
            size_t ol;
            size_t cuts[4] = {0, i, j, n};
            for (int k = 0; k < 3; k++) {
                if (plmm_restorer_feed(r, a + cuts[k], cuts[k + 1] - cuts[k], &o, &ol) != PLMM_OK)
                    bad++;
                memcpy(got + gl, o, ol);
                gl += ol;
            }
            if (plmm_restorer_finish(r, &o, &ol) != PLMM_OK)
                bad++;
            memcpy(got + gl, o, ol);
            gl += ol;
            got[gl] = '\0';
            if (strcmp(got, want) != 0 && bad++ < 3)
                fprintf(stderr, "split %zu/%zu: '%s'\n", i, j, got);
            plmm_restorer_destroy(r);
        }
    }
    CHECK_MSG(bad == 0, "%d streamed splits restored wrongly", bad);
    plmm_free(want);

    /* share policies */
    char *none = NULL;
    CHECK(plmm_privacy_outgoing(p, PLMM_SHARE_NONE, false, q2, strlen(q2), &none, &c) == PLMM_OK);
    CHECK(strcmp(none, "Forward it to <EMAIL>") == 0 && c.n[PLMM_PII_EMAIL] == 1);
    plmm_free(none);
    CHECK(plmm_privacy_outgoing(p, PLMM_SHARE_FULL, false, q2, strlen(q2), &none, NULL) ==
          PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(), "opt-in");
    CHECK(plmm_privacy_outgoing(p, PLMM_SHARE_FULL, true, q2, strlen(q2), &none, NULL) == PLMM_OK);
    CHECK(strcmp(none, q2) == 0);
    plmm_free(none);
    uint32_t sh;
    CHECK(plmm_share_parse("pseudonymized", &sh) == PLMM_OK && sh == PLMM_SHARE_PSEUDONYMIZED);
    CHECK(plmm_share_parse("some", &sh) == PLMM_ERR_CONFIG);
    plmm_privacy_reset(p);
    CHECK(plmm_privacy_pseudonymize(p, q2, strlen(q2), &out2, NULL) == PLMM_OK);
    CHECK(strcmp(out2, "Forward it to <EMAIL_1>") == 0); /* new conversation, new numbering */
    plmm_free(out2);
    plmm_free(out);
    plmm_privacy_destroy(p);
}

static void test_scan(void)
{
    plmm_privacy *p = NULL;
    CHECK(plmm_privacy_create(&p) == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PERSON, "Jürgen Müller") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PHONE, "+49 170 1234567") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PERSON, "Анна Петрова") == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PERSON, "Łukasz Wójcik") == PLMM_OK);
    char *out = NULL;
    const char *q = "write to zed@example.net";
    CHECK(plmm_privacy_pseudonymize(p, q, strlen(q), &out, NULL) == PLMM_OK);
    plmm_free(out);
    const char *clean = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi <PERSON_1>\"}]}";
    CHECK(plmm_privacy_scan(p, clean, strlen(clean), NULL) == PLMM_OK);
    const char *leaks[] = {
        "{\"content\":\"J\\u00fcrgen M\\u00fcller\"}",               /* JSON escapes */
        "{\"content\":\"JÜRGEN MÜLLER\"}",                           /* case */
        "{\"content\":\"J\xc3\xbcrgen\xe2\x80\x8b M\xc3\xbcller\"}", /* zero-width space */
        "{\"content\":\"call 0170 123 4567\"}",             /* national form of the phone */
        "{\"content\":\"z\xd0\xb5\x64@example.net\"}",      /* Cyrillic e in a replaced e-mail */
        "{\"content\":\"zed\\u0040example.net\"}",          /* escaped @ */
        "{\"content\":\"DE89370400440532013000\"}",         /* an IBAN never seen before */
        "{\"content\":\"АННА ПЕТРОВА\"}",                   /* Cyrillic, upper case */
        "{\"content\":\"\\u0410\\u043d\\u043d\\u0430 x\"}", /* Cyrillic, escaped */
        "{\"content\":\"Hi Петрова\"}",                     /* a part of the name */
        "{\"content\":\"ŁUKASZ WÓJCIK\"}",                  /* Latin Extended-A, upper case */
    };
    for (size_t i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++) {
        plmm_pii_span hit = {0};
        plmm_status s = plmm_privacy_scan(p, leaks[i], strlen(leaks[i]), &hit);
        CHECK_MSG(s == PLMM_ERR_DENIED, "leak %zu not caught: %s", i, leaks[i]);
        CHECK(strstr(plmm_last_errmsg(), "ller") == NULL &&
              strstr(plmm_last_errmsg(), "zed") == NULL);
        CHECK(hit.start < strlen(leaks[i]) && hit.start + hit.len <= strlen(leaks[i]));
    }
    plmm_privacy_destroy(p);
}

static void test_before_send(void)
{
    char dir[256], log[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/plmm-privacy-XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(log, sizeof(log), "%s/audit.log", dir);
    plmm_privacy *p = NULL;
    plmm_audit *a = NULL;
    CHECK(plmm_privacy_create(&p) == PLMM_OK);
    CHECK(plmm_privacy_add_known(p, PLMM_PII_PERSON, "Anna Berger") == PLMM_OK);
    CHECK(plmm_audit_open(log, &a) == PLMM_OK);
    plmm_privacy_guard g = {sizeof(g), PLMM_SHARE_PSEUDONYMIZED, p, a, {{0}}};
    g.counts.n[PLMM_PII_PERSON] = 1;
    const char *ok = "{\"content\":\"<PERSON_1> asks\"}";
    const char *bad = "{\"content\":\"Anna Berger asks\"}";
    CHECK(plmm_privacy_before_send(&g, "https://user:pw@api.example.com/v1/chat?key=K", ok,
                                   strlen(ok)) == PLMM_OK);
    CHECK(plmm_privacy_before_send(&g, "https://api.example.com/v1/chat", bad, strlen(bad)) ==
          PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(), "PERSON");
    g.share = PLMM_SHARE_FULL;
    CHECK(plmm_privacy_before_send(&g, "https://api.example.com/v1/chat", bad, strlen(bad)) ==
          PLMM_OK);
    plmm_audit_close(a);
    FILE *f = fopen(log, "r");
    char buf[4096] = "";
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f != NULL)
        fclose(f);
    CHECK_CONTAINS(buf, "\tsent\t");
    CHECK_CONTAINS(buf, "\trefused\t");
    CHECK_CONTAINS(buf, "https://api.example.com/v1/chat\tPERSON=1");
    CHECK(strstr(buf, "user:pw") == NULL && strstr(buf, "key=K") == NULL &&
          strstr(buf, "Anna") == NULL);
    plmm_audit_report r = {.struct_size = sizeof(r)};
    CHECK(plmm_audit_verify(log, NULL, &r) == PLMM_OK && r.ok && r.n_entries == 3);
    plmm_privacy_destroy(p);
    char head[320];
    snprintf(head, sizeof(head), "%s.head", log);
    unlink(log);
    unlink(head);
    rmdir(dir);
}

int main(void)
{
    test_detectors();
    test_known();
    test_placeholders();
    test_scan();
    test_before_send();
    return test_summary("test-privacy");
}
