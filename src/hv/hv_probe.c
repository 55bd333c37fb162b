/* hv_probe.c: does KVM really run a guest here? See hv_accel_probe in hv.h for the method and why. */
#include "hv/hv_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/mem.h"

#define PROBE_MARKER "YUN-PROBE-OK"
#define PROBE_TIMEOUT_MS 15000

static void say(char *detail, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *detail, size_t n, const char *fmt, ...)
{
    if (!detail || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, n, fmt, ap);
    va_end(ap);
}

static void boot_id(char out[64])
{
    out[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return;
    if (fgets(out, 64, f))
        out[strcspn(out, "\n")] = 0;
    fclose(f);
}

/* The cached verdict for this boot into accel; 0 when found. */
static int cache_read(const char *path, const char *boot, char accel[8])
{
    if (!path || !*boot)
        return -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char id[64] = "", verdict[8] = "";
    int n = fscanf(f, "%63s %7s", id, verdict);
    fclose(f);
    if (n != 2 || strcmp(id, boot) != 0 || (strcmp(verdict, "kvm") != 0 && strcmp(verdict, "tcg") != 0))
        return -1;
    memcpy(accel, verdict, sizeof verdict);
    return 0;
}

/* Best effort: a cache that cannot be written only costs another probe. */
static void cache_write(const char *path, const char *boot, const char *accel)
{
    if (!path || !*boot)
        return;
    AUTOFREE char *tmp = xasprintf("%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    fprintf(f, "%s %s\n", boot, accel);
    if (fclose(f) != 0 || chmod(tmp, 0644) < 0 || rename(tmp, path) < 0)
        unlink(tmp);
}

/* Boots the probe guest under KVM. Returns 1 when the marker came, 0 when not (detail says why). */
static int boot_under_kvm(const hv_probe_opts *o, int timeout_ms, char *detail, size_t detail_n)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        say(detail, detail_n, "cannot run the probe: pipe: %s", strerror(errno));
        return 0;
    }
    const char *qemu = o->qemu && *o->qemu ? o->qemu : "qemu-system-x86_64";
    /* -no-reboot turns the guest's power-off (or a panic) into QEMU's exit; the serial port is our pipe. */
    char *argv[] = {(char *)qemu,
                    "-accel",
                    "kvm",
                    "-cpu",
                    "host",
                    "-m",
                    "128",
                    "-smp",
                    "1",
                    "-nodefaults",
                    "-no-user-config",
                    "-display",
                    "none",
                    "-no-reboot",
                    "-serial",
                    "stdio",
                    "-kernel",
                    (char *)o->kernel,
                    "-initrd",
                    (char *)o->initrd,
                    "-append",
                    "console=ttyS0 yun.probe=1 panic=-1 quiet",
                    NULL};
    int64_t t0 = yun_mono_ms();
    pid_t pid = fork();
    if (pid < 0) {
        say(detail, detail_n, "cannot run the probe: fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return 0;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2); /* QEMU's own complaint ("failed to initialize kvm") lands in the same stream */
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    yun_buf out = YUN_BUF_INIT;
    bool marker = false, eof = false;
    while (!marker && !eof) {
        int64_t left = timeout_ms - (yun_mono_ms() - t0);
        if (left <= 0)
            break;
        struct pollfd p = {pfd[0], POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        char chunk[4096];
        ssize_t n = read(pfd[0], chunk, sizeof chunk);
        if (n > 0) {
            /* Keep the tail only: the marker and QEMU's last words are all that matter. */
            buf_append(&out, chunk, (size_t)n);
            marker = strstr(out.data, PROBE_MARKER) != NULL;
            if (out.len > 65536) {
                memmove(out.data, out.data + out.len - 4096, 4096);
                out.len = 4096;
                out.data[out.len] = 0;
            }
        } else if (n == 0 || errno != EINTR) {
            eof = true;
        }
    }
    int64_t took = yun_mono_ms() - t0;
    close(pfd[0]);
    /* Whatever state it is in (powered off, hung, still printing), this QEMU is ours to end. */
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (marker) {
        say(detail, detail_n, "KVM works: a guest kernel booted to user space under KVM in %.1f s", took / 1000.0);
    } else if (eof) {
        const char *text = out.data ? out.data : "";
        while (out.len && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == '\r'))
            out.data[--out.len] = 0;
        const char *last = out.len ? strrchr(text, '\n') : NULL;
        say(detail, detail_n, "KVM does not work: %s exited without the guest's answer%s%s", qemu, out.len ? ": " : "",
            last ? last + 1 : text);
    } else {
        say(detail, detail_n,
            "KVM does not work: a guest under KVM did not reach user space within %.1f s (a nested or "
            "paravirtual KVM that cannot run ordinary guests?)",
            timeout_ms / 1000.0);
    }
    buf_free(&out);
    return marker;
}

int hv_accel_probe(const hv_probe_opts *o, char accel[8], char *detail, size_t detail_n, yun_err *err)
{
    snprintf(accel, 8, "tcg");
    say(detail, detail_n, "not probed");
    if (!o || !o->kernel || !*o->kernel || !o->initrd || !*o->initrd)
        return yun_err_set(err, YUN_E_INVALID,
                           "the KVM probe needs the starter image's kernel and initrd "
                           "(build them with scripts/build-starter.sh)");
    struct stat st;
    if (stat(o->kernel, &st) < 0)
        return yun_err_sys(err, YUN_E_INVALID, errno, "probe kernel %s", o->kernel);
    if (stat(o->initrd, &st) < 0)
        return yun_err_sys(err, YUN_E_INVALID, errno, "probe initrd %s", o->initrd);
    const char *kvm_dev = o->kvm_dev && *o->kvm_dev ? o->kvm_dev : "/dev/kvm";
    int fd = open(kvm_dev, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        say(detail, detail_n, "KVM is not available: %s: %s", kvm_dev, strerror(errno));
        return 0;
    }
    close(fd);
    char boot[64];
    boot_id(boot);
    if (cache_read(o->cache_path, boot, accel) == 0) {
        say(detail, detail_n, "%s, as probed earlier in this boot (cached in %s)", accel, o->cache_path);
        return 0;
    }
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : PROBE_TIMEOUT_MS;
    snprintf(accel, 8, "%s", boot_under_kvm(o, timeout, detail, detail_n) ? "kvm" : "tcg");
    cache_write(o->cache_path, boot, accel);
    return 0;
}
