#include "util/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/clock.h"

int proc_run(char *const argv[], char *const env[], int timeout_ms, yun_buf *out, yun_buf *errtext, const char *package,
             yun_err *err)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "running %s: pipe", argv[0]);
    if (pipe2(pe, O_CLOEXEC) < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return yun_err_sys(err, YUN_E_IO, e, "running %s: pipe", argv[0]);
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        return yun_err_sys(err, YUN_E_IO, e, "running %s: fork", argv[0]);
    }
    if (pid == 0) {
        setpgid(0, 0); /* its own group: a timeout stops what it started too (a shell's children) */
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execvp(argv[0], argv);
        static const char m[] = "exec failed\n";
        ssize_t r = write(2, m, sizeof m - 1);
        (void)r;
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    yun_buf *sinks[2] = {out, errtext};
    int open_fds = 2;
    bool timed_out = false;
    int64_t end = timeout_ms > 0 ? yun_mono_ms() + timeout_ms : 0;
    while (open_fds > 0) {
        int wait = -1;
        if (end) {
            int64_t left = end - yun_mono_ms();
            if (left <= 0) {
                kill(-pid, SIGKILL); /* the group: its pipes close with it */
                timed_out = true;
                end = 0;
                continue;
            }
            wait = (int)left;
        }
        int pr = poll(fds, 2, wait);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pr == 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t r = read(fds[i].fd, chunk, sizeof chunk);
            if (r > 0) {
                if (sinks[i])
                    buf_append(sinks[i], chunk, (size_t)r);
            } else if (r == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return yun_err_sys(err, YUN_E_IO, errno, "waiting for %s", argv[0]);
    if (timed_out)
        return yun_err_set(err, YUN_E_UNAVAILABLE, "%s did not finish within %.1f s: stopped", argv[0],
                           timeout_ms / 1000.0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && errtext &&
        strstr(errtext->data ? errtext->data : "", "exec failed"))
        return yun_err_set(err, YUN_E_IO, "cannot run %s: is it installed (Debian package %s)?", argv[0],
                           package ? package : argv[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
