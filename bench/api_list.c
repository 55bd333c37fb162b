/* api_list.c: GET /v1/vms with 10,000 VMs in the store, end to end through a real yund process.
 * Fills a store in $TMPDIR with N VMs (default 10,000) over 100 owners on one host, starts yund on it
 * (no agent: only the API is measured), then times R requests (default 1000) listing every VM as the admin
 * over one keep-alive connection (nothing changes between them, so yund answers from its rendered list), then
 * R/4 requests each after a change to one VM (a PATCH, not timed: every list is rendered anew), and R/10
 * requests each on a new connection (as the CLI makes them).
 * Prints p50/p99/max in ms, the body size, and yund's resident memory (VmRSS, and VmHWM = its peak).
 * Usage: api_list PATH/TO/yund [VMS] [REQUESTS]. yund is stopped by its pid and the folder removed. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/mem.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *ms, int n)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    int p99 = (int)(0.99 * (n - 1) + 0.5);
    printf("%-44s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d requests)\n", what, ms[n / 2], ms[p99], ms[n - 1], n);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

static long get(CURL *c, const char *url, struct curl_slist *h, yun_buf *b)
{
    b->len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

static long proc_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = strtol(line + strlen(key) + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* The CPU time (user + system) pid has used, in ms: on a shared machine this says more than wall time. */
static double proc_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state, then fields 4..13; utime and stime are fields 14 and 15 */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int fill(const char *dir, int nvms, char *admin_tok, size_t n)
{
    yun_err err = YUN_ERR_INIT;
    AUTOFREE char *db = xasprintf("%s/yun.db", dir);
    yun_store *s = store_open(db, &err);
    /* the admin and its token as yund makes them at its first start */
    ctl_ctx *ctl = ctl_new(&(ctl_config){.image_dir = "", .vm_dir = ""});
    int br = s ? api_bootstrap(ctl, s, dir, &err) : -1;
    ctl_free(ctl);
    if (br < 0) {
        fprintf(stderr, "api_list: %s\n", err.msg);
        return -1;
    }
    yun_host h = {0};
    snprintf(h.name, sizeof h.name, "bench-host");
    h.cores = 100000;
    h.mhz = 2000;
    h.mem_mib = 1ull << 30;
    h.disk_total_mib = h.disk_free_mib = 1ull << 30;
    h.last_seen_ms = yun_now_ms();
    yun_image img = {0};
    snprintf(img.name, sizeof img.name, "starter");
    snprintf(img.path, sizeof img.path, "%s/images/starter.qcow2", dir);
    img.size_mib = 64;
    img.is_public = true;
    img.owner_id = 1;
    if (store_begin(s, &err) < 0 || store_host_upsert(s, &h, &err) < 0 || store_image_create(s, &img, &err) < 0)
        goto fail;
    int64_t owners[100];
    for (int i = 0; i < 100; i++) {
        yun_user u = {0};
        snprintf(u.name, sizeof u.name, "user%02d", i);
        snprintf(u.token_hash, sizeof u.token_hash, "%064d", i);
        if (store_user_create(s, &u, &err) < 0)
            goto fail;
        owners[i] = u.id;
    }
    for (int i = 0; i < nvms; i++) {
        yun_vm vm = {0};
        snprintf(vm.name, sizeof vm.name, "vm-%05d", i);
        vm.owner_id = owners[i % 100];
        vm.image_id = img.id;
        vm.cpus = 1 + i % 4;
        vm.mem_mib = vm.max_mem_mib = 128;
        vm.disk_mib = 1024;
        vm.cpu_shares = 1024;
        vm.state = YUN_VM_RUNNING;
        vm.host_id = h.id;
        if (store_vm_create(s, &vm, &err) < 0)
            goto fail;
    }
    if (store_commit(s, &err) < 0)
        goto fail;
    store_close(s);
    AUTOFREE char *tp = xasprintf("%s/admin.token", dir);
    FILE *f = fopen(tp, "r");
    if (!f || !fgets(admin_tok, (int)n, f)) {
        fprintf(stderr, "api_list: cannot read %s\n", tp);
        return -1;
    }
    fclose(f);
    admin_tok[strcspn(admin_tok, "\n")] = '\0';
    return 0;
fail:
    fprintf(stderr, "api_list: filling the store: %s\n", err.msg);
    store_close(s);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: api_list PATH/TO/yund [VMS] [REQUESTS]\n");
        return 2;
    }
    int nvms = argc > 2 ? atoi(argv[2]) : 10000, reqs = argc > 3 ? atoi(argv[3]) : 1000;
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/yun-bench-api.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = 1;
    pid_t pid = -1;
    char tok[128];
    double t0 = yun_mono_s();
    if (fill(dir, nvms, tok, sizeof tok) < 0)
        goto out;
    printf("filled the store with %d VMs in %.1f s\n", nvms, yun_mono_s() - t0);
    int port = free_port();
    char listen[64], url[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "http://%s/v1/vms", listen);
    pid = fork();
    if (pid == 0) {
        setenv("YUN_LOG", "warn", 1);
        execl(argv[1], argv[1], "--state-dir", dir, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char auth[200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    h = curl_slist_append(h, auth);
    yun_buf b = YUN_BUF_INIT;
    long st = -1;
    for (int i = 0; i < 100 && st != 200; i++) {
        yun_sleep_ms(50);
        st = get(c, url, h, &b);
    }
    if (st != 200) {
        fprintf(stderr, "api_list: yund did not answer GET /v1/vms with 200 (got %ld)\n", st);
        goto out;
    }
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, 0, &je);
    size_t got = json_array_size(json_object_get(j, "vms"));
    json_decref(j);
    if (got != (size_t)nvms) {
        fprintf(stderr, "api_list: the list has %zu VMs, not %d\n", got, nvms);
        goto out;
    }
    printf("GET /v1/vms: %d VMs, %.2f MiB of JSON (valid)\n", nvms, (double)b.len / 1048576.0);
    double *ms = xcalloc((size_t)reqs, sizeof *ms);
    double cpu0 = proc_cpu_ms(pid);
    for (int i = 0; i < reqs; i++) {
        double s = yun_mono_s();
        if (get(c, url, h, &b) != 200) {
            fprintf(stderr, "api_list: request %d failed\n", i);
            goto out;
        }
        ms[i] = (yun_mono_s() - s) * 1000.0;
    }
    double cpu = proc_cpu_ms(pid) - cpu0;
    report("GET /v1/vms, every VM, keep-alive, unchanged", ms, reqs);
    printf("yund CPU time per request, unchanged (user + system): %.2f ms\n", cpu / reqs);
    printf("yund after the keep-alive requests: VmRSS %.1f MiB (anonymous %.1f, files %.1f)\n",
           proc_kib(pid, "VmRSS:") / 1024.0, proc_kib(pid, "RssAnon:") / 1024.0, proc_kib(pid, "RssFile:") / 1024.0);
    int changed = reqs / 4 > 0 ? reqs / 4 : 1;
    {
        char purl[160];
        snprintf(purl, sizeof purl, "%s/vm-00000?owner=user00", url);
        CURL *pc = curl_easy_init();
        struct curl_slist *ph = curl_slist_append(NULL, auth);
        ph = curl_slist_append(ph, "Content-Type: application/json");
        yun_buf pb = YUN_BUF_INIT;
        double c0 = proc_cpu_ms(pid), patch_cpu = 0;
        for (int i = 0; i < changed; i++) {
            char body[64];
            snprintf(body, sizeof body, "{\"cpu_shares\":%d}", 1000 + i % 2);
            curl_easy_setopt(pc, CURLOPT_CUSTOMREQUEST, "PATCH");
            curl_easy_setopt(pc, CURLOPT_POSTFIELDS, body);
            double p0 = proc_cpu_ms(pid);
            if (get(pc, purl, ph, &pb) != 200) {
                fprintf(stderr, "api_list: PATCH failed: %s\n", pb.data ? pb.data : "");
                goto out;
            }
            patch_cpu += proc_cpu_ms(pid) - p0;
            double s = yun_mono_s();
            if (get(c, url, h, &b) != 200) {
                fprintf(stderr, "api_list: request %d failed\n", i);
                goto out;
            }
            ms[i] = (yun_mono_s() - s) * 1000.0;
        }
        double cpu_changed = proc_cpu_ms(pid) - c0 - patch_cpu;
        report("GET /v1/vms, every VM, after a change each", ms, changed);
        printf("yund CPU time per list rendered anew: %.2f ms\n", cpu_changed / changed);
        buf_free(&pb);
        curl_slist_free_all(ph);
        curl_easy_cleanup(pc);
    }
    int fresh = reqs / 10 > 0 ? reqs / 10 : 1;
    for (int i = 0; i < fresh; i++) {
        CURL *c2 = curl_easy_init();
        double s = yun_mono_s();
        if (get(c2, url, h, &b) != 200) {
            fprintf(stderr, "api_list: request %d failed\n", i);
            goto out;
        }
        ms[i] = (yun_mono_s() - s) * 1000.0;
        curl_easy_cleanup(c2);
    }
    report("GET /v1/vms, every VM, new connection, unchanged", ms, fresh);
    char one[160];
    snprintf(one, sizeof one, "%s?owner=user07", url);
    for (int i = 0; i < fresh; i++) {
        double s = yun_mono_s();
        get(c, one, h, &b);
        ms[i] = (yun_mono_s() - s) * 1000.0;
    }
    report("GET /v1/vms?owner=user07 (1% of them)", ms, fresh);
    printf("yund at the end: VmRSS %.1f MiB (anonymous %.1f, files %.1f), peak VmHWM %.1f MiB\n",
           proc_kib(pid, "VmRSS:") / 1024.0, proc_kib(pid, "RssAnon:") / 1024.0, proc_kib(pid, "RssFile:") / 1024.0,
           proc_kib(pid, "VmHWM:") / 1024.0);
    free(ms);
    buf_free(&b);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    rc = 0;
out:
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    AUTOFREE char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "api_list: could not remove %s\n", dir);
    return rc;
}
