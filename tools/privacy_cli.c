/*
 * Secrets and paths for the privacy commands.
 */
#include "privacy_cli.h"

#include "plmm/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define MAX_PASS 1024

void cli_no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &rl);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void cli_secret_clear(cli_secret *s)
{
    if (s->passphrase != NULL) {
        explicit_bzero(s->passphrase, MAX_PASS + 1);
        munlock(s->passphrase, MAX_PASS + 1);
        free(s->passphrase);
    }
    s->passphrase = NULL;
    s->passphrase_len = 0;
    memset(&s->secret, 0, sizeof(s->secret));
}

/* Strip one trailing "\n" or "\r\n". */
static size_t chomp(char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\n')
        n--;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    p[n] = '\0';
    return n;
}

/* Read one line from the terminal without echo into buf. */
static int read_tty(const char *prompt, char *buf, size_t *len)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return cli_error("no passphrase: set PLMM_VAULT_PASSPHRASE, give --passphrase-file or "
                         "--key-file, or run on a terminal");
    struct termios old, quiet;
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        (void)tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!write(fd, prompt, strlen(prompt));
    size_t n = 0;
    while (n < MAX_PASS) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    if (restore)
        (void)tcsetattr(fd, TCSAFLUSH, &old);
    (void)!write(fd, "\n", 1);
    close(fd);
    *len = chomp(buf, n);
    return CLI_EXIT_OK;
}

int cli_secret_get(cli_secret *s)
{
    memset(&s->secret, 0, sizeof(s->secret));
    s->secret.struct_size = sizeof(s->secret);
    s->secret.kdf = s->kdf;
    if (s->key_file != NULL) {
        s->secret.key_file = s->key_file;
        return CLI_EXIT_OK;
    }
    s->passphrase = calloc(1, MAX_PASS + 1);
    if (s->passphrase == NULL)
        return cli_error("out of memory");
    (void)mlock(s->passphrase, MAX_PASS + 1);
    size_t n = 0;
    const char *env = s->env_name != NULL ? getenv(s->env_name) : NULL;
    if (s->passphrase_file != NULL) {
        FILE *f = fopen(s->passphrase_file, "r");
        if (f == NULL)
            return cli_error("cannot open passphrase file '%s': %s", s->passphrase_file,
                             strerror(errno));
        if (fgets(s->passphrase, MAX_PASS + 1, f) == NULL)
            s->passphrase[0] = '\0';
        fclose(f);
        n = chomp(s->passphrase, strlen(s->passphrase));
    } else if (env != NULL) {
        n = strlen(env);
        if (n > MAX_PASS)
            return cli_error("%s is longer than %d bytes", s->env_name, MAX_PASS);
        memcpy(s->passphrase, env, n + 1);
    } else {
        int code = read_tty(s->prompt, s->passphrase, &n);
        if (code != CLI_EXIT_OK)
            return code;
        if (s->confirm) {
            char *again = malloc(MAX_PASS + 1);
            size_t m = 0;
            if (again == NULL)
                return cli_error("out of memory");
            code = read_tty("repeat it: ", again, &m);
            bool same = code == CLI_EXIT_OK && m == n && memcmp(again, s->passphrase, n) == 0;
            explicit_bzero(again, MAX_PASS + 1);
            free(again);
            if (code != CLI_EXIT_OK)
                return code;
            if (!same)
                return cli_error("the passphrases differ");
        }
    }
    if (n == 0)
        return cli_error("empty passphrase");
    s->passphrase_len = n;
    s->secret.passphrase = s->passphrase;
    s->secret.passphrase_len = n;
    return CLI_EXIT_OK;
}

const char *cli_config_value(cli_ctx *x, const char *key)
{
    const char *v = NULL;
    if (x->engine == NULL || plmm_engine_config_get(x->engine, key, &v) != PLMM_OK)
        return NULL;
    return v;
}

int cli_privacy_path(cli_ctx *x, const char *given, const char *key, const char *default_name,
                     bool create_dir, char *out, size_t size)
{
    const char *v = given != NULL ? given : cli_config_value(x, key);
    if (v != NULL && v[0] != '\0') {
        snprintf(out, size, "%s", v);
        return CLI_EXIT_OK;
    }
    plmm_status st = plmm_data_path(default_name, create_dir, out, size);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

int cli_open_vault(cli_ctx *x, const char *vault_opt, cli_secret *sec, uint32_t flags,
                   plmm_vault **out)
{
    char path[4096];
    int code =
        cli_privacy_path(x, vault_opt, "privacy.vault", "vault.plmm", false, path, sizeof(path));
    if (code != CLI_EXIT_OK)
        return code;
    if (sec->key_file == NULL)
        sec->key_file = cli_config_value(x, "privacy.key_file");
    if ((code = cli_secret_get(sec)) != CLI_EXIT_OK)
        return code;
    plmm_status st = plmm_vault_open(path, &sec->secret, flags, out);
    cli_secret_clear(sec);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

int cli_ledger_key(cli_ctx *x, uint8_t *key, bool *from_vault)
{
    uint32_t source = PLMM_LEDGER_KEY_FILE;
    *from_vault = false;
    plmm_status st = plmm_ledger_config_key_source(x->engine, &source);
    if (st != PLMM_OK)
        return cli_api_error(st);
    if (source != PLMM_LEDGER_KEY_VAULT)
        return CLI_EXIT_OK;
    cli_secret sec = {.env_name = "PLMM_VAULT_PASSPHRASE", .prompt = "vault passphrase: "};
    plmm_vault *v = NULL;
    cli_no_core_dumps();
    int code = cli_open_vault(x, NULL, &sec, 0, &v);
    if (code != CLI_EXIT_OK)
        return code;
    st = plmm_ledger_vault_key(v, key);
    plmm_vault_close(v);
    if (st != PLMM_OK)
        return cli_api_error(st);
    *from_vault = true;
    return CLI_EXIT_OK;
}
