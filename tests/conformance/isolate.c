/*
 * Case isolation: each case runs in a forked child that sends its
 * conf_result through a pipe and exits normally (so sanitizers check it
 * for leaks). A child that dies by a signal, exits without a result or
 * outlives its timeout is reported with the step it was in, which the
 * child writes into a shared page (conf_step).
 */
#include "conformance.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEP_SIZE 256

static char *step_page; /* shared with the children, STEP_SIZE bytes */

bool conf_isolate_init(void)
{
    void *p = mmap(NULL, STEP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    step_page = p;
    step_page[0] = '\0';
    return true;
}

void conf_step(const char *fmt, ...)
{
    va_list ap;
    if (step_page == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(step_page, STEP_SIZE, fmt, ap);
    va_end(ap);
}

void conf_result_init(conf_result *r)
{
    memset(r, 0, sizeof(*r));
    r->status = CONF_FAIL;
    r->nmse = r->max_abs = r->max_rel = NAN;
    r->perf = r->perf_ref = NAN;
}

int conf_set(conf_result *r, int status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    return status;
}

void conf_note(conf_result *r, const char *fmt, ...)
{
    va_list ap;
    size_t len = strlen(r->reason);
    if (len + 3 >= sizeof(r->reason))
        return;
    if (len > 0) {
        memcpy(r->reason + len, "; ", 2);
        len += 2;
    }
    va_start(ap, fmt);
    vsnprintf(r->reason + len, sizeof(r->reason) - len, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGKILL:
        return "SIGKILL";
    case SIGTERM:
        return "SIGTERM";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGTRAP:
        return "SIGTRAP";
    default:
        return "a signal";
    }
}

static _Noreturn void child_main(const conf_env *env, const conf_case *c, int fd)
{
    conf_result r;
    conf_result_init(&r);
    signal(SIGPIPE, SIG_DFL);
    conf_step("starting");
    c->run(env, c, &r);
    conf_step("exiting after the case");
    const char *p = (const char *)&r;
    size_t left = sizeof(r);
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    close(fd);
    exit(0);
}

/* Wait for pid until deadline; returns true with *status when it ended. */
static bool wait_until(pid_t pid, double deadline, int *status)
{
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return true;
        if (w < 0 && errno != EINTR)
            return true;
        if (now_s() >= deadline)
            return false;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static void run_child(const conf_env *env, const conf_case *c, double timeout_s, conf_result *r)
{
    int fds[2];
    conf_result_init(r);
    if (step_page != NULL)
        step_page[0] = '\0';
    if (pipe(fds) != 0) {
        conf_set(r, CONF_FAIL, "suite error: pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        conf_set(r, CONF_FAIL, "suite error: fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(env, c, fds[1]);
    }
    close(fds[1]);

    const double start = now_s(), deadline = start + timeout_s;
    conf_result got;
    size_t have = 0;
    bool timed_out = false;
    while (have < sizeof(got)) {
        double left = deadline - now_s();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000.0) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        ssize_t n = read(fds[0], (char *)&got + have, sizeof(got) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF: the child is gone */
        have += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    /* a child that reported gets a moment to exit (sanitizer leak checks) */
    if (timed_out ||
        !wait_until(pid, have == sizeof(got) ? now_s() + timeout_s : deadline, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (have == sizeof(got)) {
            *r = got;
            conf_set(r, CONF_FAIL,
                     "timeout: the case reported but the process did not exit "
                     "within %.0f s (during: %s)",
                     timeout_s, step_page ? step_page : "?");
        } else {
            conf_set(r, CONF_FAIL, "timeout: no result after %.0f s (during: %s)", timeout_s,
                     step_page ? step_page : "?");
        }
        return;
    }
    const char *step = step_page != NULL && step_page[0] ? step_page : "?";
    if (have == sizeof(got)) {
        *r = got;
        r->reason[sizeof(r->reason) - 1] = '\0';
        r->perf_unit[sizeof(r->perf_unit) - 1] = '\0';
        if (WIFSIGNALED(status))
            conf_set(r, CONF_FAIL, "crashed after the case: %s (during: %s)",
                     signal_name(WTERMSIG(status)), step);
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            conf_set(r, CONF_FAIL,
                     "the process exited with status %d after the case (a sanitizer report, "
                     "e.g. a leak, is on stderr)",
                     WEXITSTATUS(status));
        return;
    }
    if (WIFSIGNALED(status))
        conf_set(r, CONF_FAIL, "crashed: %s (during: %s)", signal_name(WTERMSIG(status)), step);
    else if (WIFEXITED(status))
        conf_set(r, CONF_FAIL,
                 "crashed: exited with status %d without a result, e.g. a sanitizer error "
                 "(during: %s)",
                 WEXITSTATUS(status), step);
    else
        conf_set(r, CONF_FAIL, "crashed: no result (during: %s)", step);
}

void conf_run_isolated(const conf_env *env, const conf_case *c, double timeout_s, conf_result *r)
{
    const double start = now_s();
    run_child(env, c, timeout_s, r);
    r->seconds = now_s() - start;
}
