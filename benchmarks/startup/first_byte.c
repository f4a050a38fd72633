/*
 * first_byte: start-up timer for benchmarks/startup/run.sh.  Starts a command
 * with its stdout on a pipe and reports, in one line,
 *
 *   first_ms exit_ms user_ms sys_ms maxrss_kib status
 *
 * first_ms  from just before fork() to the moment MARKER has appeared in the
 *           child's stdout (an empty MARKER: the first byte)
 * exit_ms   from just before fork() to the child's exit (wait4)
 * user_ms, sys_ms, maxrss_kib  the child's rusage from wait4 (including its
 *           own reaped children, e.g. the JVM started by the vmm launcher)
 * status    exit status, or 128+signal
 * first_ms is -1 when the marker never appeared.  The child's stdout is copied to
 * OUTFILE; its stderr is inherited.
 *
 *   first_byte OUTFILE MARKER command [args...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s OUTFILE MARKER command [args...]\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 2;
    }
    const char *marker = argv[2];
    size_t mlen = strlen(marker);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("pipe");
        return 2;
    }

    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (dup2(p[1], 1) < 0 || devnull < 0 || dup2(devnull, 0) < 0)
            _exit(127);
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }
    close(p[1]);

    /* Keep only the tail needed to spot a marker split across reads. */
    char buf[65536], tail[256 + 65536];
    size_t tlen = 0;
    double first = -1;
    for (;;) {
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (first < 0) {
            if (mlen == 0) {
                first = now_ms();
            } else {
                memcpy(tail + tlen, buf, (size_t)n);
                tlen += (size_t)n;
                if (memmem(tail, tlen, marker, mlen))
                    first = now_ms();
                else if (tlen > mlen) {
                    memmove(tail, tail + tlen - mlen, mlen);
                    tlen = mlen;
                }
            }
        }
        fwrite(buf, 1, (size_t)n, out);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("wait4");
            return 2;
        }
    double end = now_ms();
    fclose(out);
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    printf("%.1f %.1f %.0f %.0f %ld %d\n", first < 0 ? -1 : first - t0, end - t0,
           ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3, ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3,
           ru.ru_maxrss, status);
    return 0;
}
