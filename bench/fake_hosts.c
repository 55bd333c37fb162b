/* fake_hosts.c: one yund against HOSTS simulated hosts (issue "... and a thousand hosts"). Every host is a
 * thread that speaks the agent protocol as yun-agent does (src/agent/agent_loop.c): it enrols as a new host
 * does (the admin's POST /v1/hosts gives a join token, POST /v1/agent/join spends it for the host's own
 * credential), registers, then reports through the protocol's own encoders (src/proto) with the same HTTPS
 * client (util/http_client, trusting yund's CA, one kept-alive connection per host as the agent's), long-polls
 * (?since=V&wait_ms=INTERVAL, one report at once after a pass that acted), names the answer it holds (&have=,
 * as the agent does; its report is kept while its VMs do not change, and an answer the same as the one it
 * applied is not applied again) and "runs" every VM its answer assigns it at once: a running domain and the verdict
 * running; a VM wanted deleted is reported deleted. No hypervisor behind it: this measures yund, not QEMU.
 *
 * The measurements, in this order, each printed on stderr as it is taken, then one JSON line on stdout:
 *   - the fill: VMS creates through the API (POST /v1/vms as the admin, CREATORS at once), the create rate;
 *   - yund_cpu_cores: yund's CPU time (/proc/PID/stat) over WINDOW s of report load alone, / wall time;
 *   - list_p99_ms: LISTS x GET /v1/vms as the admin (every VM), each on a new connection as the CLI makes it,
 *     then (on stderr only) LISTS pages of LIST_PAGE VMs (?limit=&after=, spread over the list) the same way,
 *     while the hosts report;
 *   - create_to_agent_p99_ms: LATENCY creates one after another, each from its POST's answer to the host it
 *     went to seeing it in its desired state (a host may see it before the answer reaches the creator: then 0);
 *   - silent_host_noticed_s: one host stops reporting right after an answer (when it would send its next
 *     report); from then until GET /v1/hosts/ID shows it not "up", polled every 50 ms;
 *   - rss_mib: yund's VmRSS at the end.
 * Usage: fake_hosts URL CA_FILE ADMIN_TOKEN_FILE YUND_PID HOSTS VMS IMAGE [WINDOW_S LISTS LATENCY CREATORS]
 * CA_FILE: yund's CA (STATE/tls/ca.pem). bench/scale.sh starts yund and calls this; tests/integration/test_scale.sh runs it
 * small. Exit status 1 when something failed (said on stderr). */
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/mem.h"

#define HTTP_TIMEOUT_MS 15000 /* the agent's */
#define HOST_MEM_MIB (1024 * 1024)
#define VM_MEM "64M"
#define LIST_PAGE 100 /* VMs per page of the paged list */
#define ENROLLING 16 /* hosts enrolling and registering at once: a thousand TLS handshakes at once time out */

typedef struct fvm {
    char uuid[YUN_UUID_LEN];
    char domain[192];
    yun_vm_want want;
    int64_t cpus, mem_mib;
} fvm;

typedef struct fhost {
    int idx;
    int64_t id;
    char name[64];
    char cred[128]; /* its own credential (host_enrol) */
    http_conn *link; /* its kept-alive connection to yund, as the agent's reports use one */
    fvm *vms; /* what it runs, sorted by uuid; only its thread touches it */
    size_t n;
    char *report;     /* the report of vms (host_report), kept while they do not change: the same bytes */
    proto_held held;  /* yund's last answer, named by ?have= (docs/agent-protocol.md) */
    atomic_bool silent;      /* asked to stop reporting */
    atomic_bool stopped;     /* it did, at stopped_ms */
    _Atomic int64_t stopped_ms;
    _Atomic int64_t last_sent_ms; /* when its last report went out */
    atomic_bool registered;
    atomic_long running; /* n, for the main thread */
    pthread_t th;
} fhost;

/* A VM's timeline for create_to_agent: written by a creator (answered) and a host (seen); one lock. */
typedef struct seen_rec {
    char uuid[YUN_UUID_LEN];
    int64_t answered_us, seen_us;
} seen_rec;

typedef struct bench {
    const char *url;
    char admin_token[256];
    int cores; /* per host: VMS / HOSTS, so first-fit fills every host alike */
    int interval_ms;
    fhost *hosts;
    int n_hosts;
    atomic_bool quit;
    sem_t enrolling; /* ENROLLING */
    atomic_long reports, report_errors;
    pthread_mutex_t seen_lock; /* guards seen and n_seen */
    seen_rec *seen;
    size_t n_seen;
    atomic_bool track; /* hosts record first sights in seen */
} bench;

static bench B;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The one place a fake host authenticates: its own credential, as yun-agent sends it (docs/agent-protocol.md). */
static int agent_post(const fhost *h, const char *path, const char *body, http_resp *r, yun_err *err)
{
    AUTOFREE char *url = xasprintf("%s%s", B.url, path);
    return http_conn_request(h->link, "POST", url, h->cred, "application/json", body, strlen(body), HTTP_TIMEOUT_MS, r,
                             err);
}

static json_t *api(const char *method, const char *path, json_t *body, yun_err *err);

/* Enrols h as an operator and a new host's agent do (docs/operations.md, "Adding a host"): `yun host add NAME`
 * (POST /v1/hosts as the admin) makes a join token, the agent's join exchange (agent_enrol's, without its files) spends it for h->cred. */
static int host_enrol(fhost *h, yun_err *err)
{
    json_t *add = json_pack("{s:s}", "name", h->name);
    json_t *tok = api("POST", "/v1/hosts", add, err);
    json_decref(add);
    if (!tok)
        return yun_err_prefix(err, "POST /v1/hosts: ");
    proto_join m = {0};
    const char *t = json_string_value(json_object_get(tok, "join_token"));
    snprintf(m.token, sizeof m.token, "%s", t ? t : "");
    json_decref(tok);
    json_t *body = proto_join_encode(&m);
    AUTOFREE char *url = xasprintf("%s/v1/agent/join", B.url);
    json_t *ans = http_json("POST", url, NULL, body, HTTP_TIMEOUT_MS, err);
    json_decref(body);
    if (!ans)
        return yun_err_prefix(err, "POST /v1/agent/join: ");
    proto_joined j;
    int rc = proto_joined_decode(ans, &j, err);
    json_decref(ans);
    if (rc < 0)
        return -1;
    if (strcmp(j.name, h->name))
        return yun_err_set(err, YUN_E_INTERNAL, "joined as %s, not %s", j.name, h->name);
    snprintf(h->cred, sizeof h->cred, "%s", j.credential);
    return 0;
}

static int host_register(fhost *h)
{
    proto_register m = {.cores = B.cores, .mhz = 2400, .mem_mib = HOST_MEM_MIB, .disk_total_mib = 1 << 30,
                        .disk_free_mib = 1 << 30};
    snprintf(m.name, sizeof m.name, "%s", h->name);
    snprintf(m.hypervisor, sizeof m.hypervisor, "qemu");
    snprintf(m.accel, sizeof m.accel, "tcg");
    snprintf(m.libvirt_uri, sizeof m.libvirt_uri, "test:///%s", h->name);
    json_t *j = proto_register_encode(&m);
    AUTOFREE char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    while (!atomic_load(&B.quit)) {
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        if (agent_post(h, "/v1/agent/register", body, &r, &e) == 0) {
            json_t *ans = http_resp_json(&r, &e);
            http_resp_free(&r);
            proto_registered reg;
            if (ans && proto_registered_decode(ans, &reg, &e) == 0) {
                json_decref(ans);
                h->id = reg.host_id;
                if (reg.interval_ms > 0)
                    B.interval_ms = (int)reg.interval_ms;
                return 0;
            }
            json_decref(ans);
        }
        fprintf(stderr, "fake_hosts: %s: registering: %s; again in 1 s\n", h->name, e.msg);
        yun_sleep_ms(1000);
    }
    return -1;
}

/* The report of what h runs: a running domain and the verdict running for each VM wanted running, stopped for
 * one wanted stopped, deleted for one wanted deleted. */
static char *host_report(const fhost *h)
{
    proto_domain *doms = xcalloc(h->n + 1, sizeof *doms);
    proto_verdict *vs = xcalloc(h->n + 1, sizeof *vs);
    size_t nd = 0;
    for (size_t i = 0; i < h->n; i++) {
        const fvm *v = &h->vms[i];
        proto_verdict *pv = &vs[i];
        memcpy(pv->uuid, v->uuid, sizeof pv->uuid);
        pv->deleted = v->want == YUN_WANT_DELETED;
        pv->state = v->want == YUN_WANT_RUNNING ? YUN_VM_RUNNING : YUN_VM_STOPPED;
        pv->total_ms = pv->downtime_ms = -1;
        if (v->want != YUN_WANT_RUNNING)
            continue;
        proto_domain *d = &doms[nd++];
        memcpy(d->uuid, v->uuid, sizeof d->uuid);
        memcpy(d->name, v->domain, sizeof d->name);
        snprintf(d->state, sizeof d->state, "running");
        d->yun_owned = true;
        d->cpus = v->cpus;
        d->mem_mib = d->max_mem_mib = v->mem_mib;
        d->cpu_shares = 1024;
    }
    proto_report r = {.has_disk_free = true, .disk_free_mib = 1 << 30, .domains = doms, .n_domains = nd,
                      .vms = vs, .n_vms = h->n};
    json_t *j = proto_report_encode(&r);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(doms);
    free(vs);
    return body;
}

static int cmp_fvm(const void *a, const void *b)
{
    return strcmp(((const fvm *)a)->uuid, ((const fvm *)b)->uuid);
}

static void seen_note(const char *uuid, bool answered, int64_t t)
{
    pthread_mutex_lock(&B.seen_lock);
    size_t i = 0;
    while (i < B.n_seen && strcmp(B.seen[i].uuid, uuid))
        i++;
    if (i == B.n_seen) {
        B.seen = xrealloc(B.seen, (B.n_seen + 1) * sizeof *B.seen);
        memset(&B.seen[i], 0, sizeof B.seen[i]);
        snprintf(B.seen[i].uuid, sizeof B.seen[i].uuid, "%s", uuid);
        B.n_seen++;
    }
    if (answered)
        B.seen[i].answered_us = t;
    else if (!B.seen[i].seen_us)
        B.seen[i].seen_us = t;
    pthread_mutex_unlock(&B.seen_lock);
}

/* Takes the answer's VMs assigned here as what h runs. Returns whether anything changed (the agent acted). */
static bool host_apply(fhost *h, const proto_answer *a)
{
    fvm *next = xcalloc(a->n_vms + 1, sizeof *next);
    size_t n = 0;
    for (size_t i = 0; i < a->n_vms; i++) {
        const proto_desired *d = &a->vms[i];
        if (!d->here)
            continue; /* never here: no VM of a fake host is assigned elsewhere */
        fvm *v = &next[n++];
        memcpy(v->uuid, d->uuid, sizeof v->uuid);
        memcpy(v->domain, d->domain, sizeof v->domain);
        v->want = d->want;
        v->cpus = d->cpus;
        v->mem_mib = d->mem_mib;
    }
    qsort(next, n, sizeof *next, cmp_fvm);
    bool changed = n != h->n;
    bool track = atomic_load(&B.track);
    int64_t t = now_us();
    for (size_t i = 0; i < n; i++) {
        fvm *old = h->n ? bsearch(&next[i], h->vms, h->n, sizeof *h->vms, cmp_fvm) : NULL;
        if (!old && track)
            seen_note(next[i].uuid, false, t);
        changed |= !old || old->want != next[i].want || old->cpus != next[i].cpus ||
                   old->mem_mib != next[i].mem_mib || strcmp(old->domain, next[i].domain);
    }
    free(h->vms);
    h->vms = next;
    h->n = n;
    if (changed) {
        free(h->report);
        h->report = NULL;
    }
    atomic_store(&h->running, (long)n);
    return changed;
}

static void *host_main(void *p)
{
    fhost *h = p;
    sem_wait(&B.enrolling);
    yun_err ee = YUN_ERR_INIT;
    int tries = 0;
    while (host_enrol(h, &ee) < 0) {
        /* a transport failure (a timeout on a loaded machine) is tried again; a join answer lost that way
         * leaves the host enrolled (409): its credential is revoked for a new join token */
        if (++tries == 10 || (ee.code != YUN_E_UNAVAILABLE && ee.code != YUN_E_CONFLICT)) {
            fprintf(stderr, "fake_hosts: %s: enrolling: %s\n", h->name, ee.msg);
            atomic_store(&B.quit, true); /* the main thread stops waiting for registrations */
            sem_post(&B.enrolling);
            return NULL;
        }
        if (ee.code == YUN_E_CONFLICT) {
            AUTOFREE char *rpath = xasprintf("/v1/hosts/%s/revoke", h->name);
            json_decref(api("POST", rpath, NULL, &ee));
        }
        ee = (yun_err)YUN_ERR_INIT;
        yun_sleep_ms(1000);
    }
    int reg = host_register(h);
    sem_post(&B.enrolling);
    if (reg < 0)
        return NULL;
    atomic_store(&h->registered, true);
    uint64_t since = 0;
    bool hold = false, last_immediate = false, old_yund = false;
    AUTOFREE char *path = xasprintf("/v1/agent/hosts/%lld/report", (long long)h->id);
    while (!atomic_load(&B.quit)) {
        if (atomic_load(&h->silent)) { /* falls silent when it would send its next report */
            atomic_store(&h->stopped_ms, yun_mono_ms());
            atomic_store(&h->stopped, true);
            break;
        }
        if (!h->report)
            h->report = host_report(h);
        const char *body = h->report;
        AUTOFREE char *post = proto_report_url(path, hold, since, B.interval_ms, &h->held);
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        json_t *ans = NULL;
        bool unchanged = false; /* the answer applied last time again: nothing to do */
        atomic_store(&h->last_sent_ms, yun_mono_ms());
        if (agent_post(h, post, body, &r, &e) == 0) {
            ans = http_resp_json(&r, &e);
            if (ans) {
                bool had = h->held.answer != NULL;
                uint64_t prev = h->held.hash;
                ans = proto_answer_take(&h->held, ans, r.body, r.len);
                unchanged = had && h->held.hash == prev;
            }
            http_resp_free(&r);
        }
        if (unchanged) {
            json_decref(ans);
            atomic_fetch_add(&B.reports, 1);
            last_immediate = false;
            hold = !old_yund;
            if (old_yund)
                yun_sleep_ms(B.interval_ms);
            continue;
        }
        proto_answer a;
        bool got = ans && proto_answer_decode(ans, &a, &e) == 0;
        json_decref(ans);
        atomic_fetch_add(&B.reports, 1);
        if (!got) {
            proto_held_drop(&h->held); /* not applied */
            atomic_fetch_add(&B.report_errors, 1);
            if (yun_err_not_found(&e) && host_register(h) < 0)
                break;
            if (!yun_err_not_found(&e)) {
                fprintf(stderr, "fake_hosts: %s: reporting: %s\n", h->name, e.msg);
                yun_sleep_ms(B.interval_ms);
            }
            hold = false;
            continue;
        }
        bool acted = host_apply(h, &a);
        since = a.version >= 0 ? (uint64_t)a.version : 0;
        bool immediate = acted && !last_immediate; /* as the agent: never two in a row */
        last_immediate = immediate;
        old_yund = a.version < 0;
        hold = !old_yund && !immediate;
        proto_answer_free(&a);
        if (old_yund)
            yun_sleep_ms(B.interval_ms);
    }
    free(h->report);
    h->report = NULL;
    proto_held_drop(&h->held);
    return NULL;
}

/* ---- the API side ---- */

static json_t *api(const char *method, const char *path, json_t *body, yun_err *err)
{
    AUTOFREE char *url = xasprintf("%s%s", B.url, path);
    return http_json(method, url, B.admin_token, body, HTTP_TIMEOUT_MS, err);
}

typedef struct creators {
    const char *image;
    const char *prefix;
    atomic_int next;
    int total;
    atomic_int failed;
    atomic_int retried; /* creates sent again after a timeout */
} creators;

static int create_vm(const char *image, const char *name, char uuid[YUN_UUID_LEN], int64_t *answered_us, yun_err *err)
{
    json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "name", name, "image", image, "cpus", 1, "memory", VM_MEM);
    json_t *ans = api("POST", "/v1/vms", body, err);
    *answered_us = now_us();
    json_decref(body);
    if (!ans)
        return -1;
    const char *u = json_string_value(json_object_get(json_object_get(ans, "vm"), "uuid"));
    snprintf(uuid, YUN_UUID_LEN, "%s", u ? u : "");
    json_decref(ans);
    return 0;
}

static void *creator_main(void *p)
{
    creators *cr = p;
    for (int i; (i = atomic_fetch_add(&cr->next, 1)) < cr->total && !atomic_load(&B.quit);) {
        char name[64], uuid[YUN_UUID_LEN];
        int64_t t;
        snprintf(name, sizeof name, "%s%d", cr->prefix, i);
        yun_err e = YUN_ERR_INIT;
        int rc = create_vm(cr->image, name, uuid, &t, &e);
        /* a create whose answer timed out (a loaded machine) is sent again: a 409 then says the first went in */
        for (int again = 0; rc < 0 && e.code == YUN_E_UNAVAILABLE && again < 3; again++) {
            atomic_fetch_add(&cr->retried, 1);
            e = (yun_err)YUN_ERR_INIT;
            rc = create_vm(cr->image, name, uuid, &t, &e);
            if (rc < 0 && e.code == YUN_E_CONFLICT)
                rc = 0;
        }
        if (rc < 0) {
            if (atomic_fetch_add(&cr->failed, 1) < 5)
                fprintf(stderr, "fake_hosts: creating %s: %s\n", name, e.msg);
        } else if (i && i % 5000 == 0) {
            fprintf(stderr, "fake_hosts: %d VMs created\n", i);
        }
    }
    return NULL;
}

static double proc_cpu_s(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    char buf[2048] = "";
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *q = strrchr(buf, ')'); /* the command may hold spaces; fields 14 and 15 are utime, stime */
    unsigned long long ut = 0, st = 0;
    if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_rss_mib(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    double v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtod(line + 6, NULL) / 1024.0;
    if (f)
        fclose(f);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double p99(double *v, int n)
{
    if (n <= 0)
        return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(int)(0.99 * (n - 1) + 0.5)];
}

static void load_note(const char *what)
{
    double l[3] = {0};
    if (getloadavg(l, 3) == 3)
        fprintf(stderr, "fake_hosts: %s (load average %.2f %.2f %.2f)\n", what, l[0], l[1], l[2]);
}

static int read_token(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)n, f)) {
        if (f)
            fclose(f);
        fprintf(stderr, "fake_hosts: cannot read the token in %s\n", path);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: fake_hosts URL CA_FILE ADMIN_TOKEN_FILE YUND_PID HOSTS VMS IMAGE "
                        "[WINDOW_S LISTS LATENCY CREATORS]\n");
        return 2;
    }
    http_global_init();
    http_global_trust(argv[2], NULL);
    B.url = argv[1];
    if (read_token(argv[3], B.admin_token, sizeof B.admin_token) < 0)
        return 1;
    long pid = strtol(argv[4], NULL, 10);
    B.n_hosts = atoi(argv[5]);
    int vms = atoi(argv[6]);
    const char *image = argv[7];
    int window_s = argc > 8 ? atoi(argv[8]) : 30;
    int lists = argc > 9 ? atoi(argv[9]) : 200;
    int latency = argc > 10 ? atoi(argv[10]) : 200;
    int ncreators = argc > 11 ? atoi(argv[11]) : 8;
    if (B.n_hosts < 1 || vms < B.n_hosts || window_s < 1 || lists < 1 || latency < 1 || ncreators < 1) {
        fprintf(stderr, "fake_hosts: HOSTS >= 1, VMS >= HOSTS, and the counts positive\n");
        return 2;
    }
    /* room for the fill and for the LATENCY creates after it, spread by first-fit */
    B.cores = (vms + latency + B.n_hosts - 1) / B.n_hosts;
    B.interval_ms = 2000;
    pthread_mutex_init(&B.seen_lock, NULL);
    sem_init(&B.enrolling, 0, ENROLLING);
    B.hosts = xcalloc((size_t)B.n_hosts, sizeof *B.hosts);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < B.n_hosts; i++) {
        fhost *h = &B.hosts[i];
        h->idx = i;
        snprintf(h->name, sizeof h->name, "sim%04d", i + 1);
        h->link = http_conn_new();
        if (pthread_create(&h->th, &attr, host_main, h) != 0) {
            fprintf(stderr, "fake_hosts: cannot start host thread %d\n", i);
            return 1;
        }
    }
    int rc = 1;
    AUTOFREE char *lurl = xasprintf("%s/v1/vms", B.url); /* here: a goto out must not skip a cleanup's start */
    AUTOFREE char *hpath = NULL;
    AUTOFREE pthread_t *ct = NULL;
    AUTOFREE double *ms = NULL, *lat = NULL;
    AUTOFREE char(*uuids)[YUN_UUID_LEN] = NULL;
    for (int i = 0; i < B.n_hosts; i++)
        while (!atomic_load(&B.hosts[i].registered) && !atomic_load(&B.quit))
            yun_sleep_ms(50);
    if (atomic_load(&B.quit))
        goto out;
    load_note("every host registered");

    /* the fill */
    double t0 = yun_mono_s();
    creators cr = {.image = image, .prefix = "s", .total = vms};
    ct = xcalloc((size_t)ncreators, sizeof *ct);
    for (int i = 0; i < ncreators; i++)
        pthread_create(&ct[i], NULL, creator_main, &cr);
    for (int i = 0; i < ncreators; i++)
        pthread_join(ct[i], NULL);
    double fill_s = yun_mono_s() - t0;
    fprintf(stderr,
            "fake_hosts: created %d VMs in %.1f s (%.1f per s, %d creators), %d failed, %d sent again after a timeout\n",
            vms, fill_s, vms / fill_s, ncreators, atomic_load(&cr.failed), atomic_load(&cr.retried));
    load_note("fill done");
    if (atomic_load(&cr.failed))
        goto out;
    /* every VM reached its host, and the hosts' next reports said it runs: then the load is steady */
    for (;;) {
        long running = 0;
        for (int i = 0; i < B.n_hosts; i++)
            running += atomic_load(&B.hosts[i].running);
        if (running >= vms)
            break;
        yun_sleep_ms(200);
    }
    yun_sleep_ms(2 * B.interval_ms + 500);

    /* yund's CPU under the report load alone */
    long r0 = atomic_load(&B.reports);
    double c0 = proc_cpu_s(pid), w0 = yun_mono_s();
    yun_sleep_ms(window_s * 1000);
    double c1 = proc_cpu_s(pid), w1 = yun_mono_s();
    double cores = (c1 - c0) / (w1 - w0);
    fprintf(stderr, "fake_hosts: yund used %.3f cores over %.1f s; %.0f reports per s\n", cores, w1 - w0,
            (double)(atomic_load(&B.reports) - r0) / (w1 - w0));
    load_note("cpu window done");

    /* GET /v1/vms, every VM, under the report load */
    ms = xcalloc((size_t)lists, sizeof *ms);
    size_t body_len = 0;
    for (int i = 0; i < lists; i++) {
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        double a = yun_mono_s();
        if (http_request("GET", lurl, B.admin_token, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r, &e) < 0 || r.status != 200) {
            fprintf(stderr, "fake_hosts: GET /v1/vms: %s\n", e.msg[0] ? e.msg : "not 200");
            goto out;
        }
        ms[i] = (yun_mono_s() - a) * 1000;
        body_len = r.len;
        http_resp_free(&r);
    }
    double list_p99 = p99(ms, lists);
    fprintf(stderr, "fake_hosts: GET /v1/vms (%zu bytes): p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d\n", body_len,
            ms[lists / 2], list_p99, ms[lists - 1], lists);
    load_note("lists done");
    /* a page of it, as a screen shows it: GET /v1/vms?limit=PAGE&after=ID, starting anywhere (on stderr) */
    for (int i = 0; i < lists; i++) {
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        AUTOFREE char *purl = xasprintf("%s?limit=%d&after=%d", lurl, LIST_PAGE, (int)((long)i * vms / lists));
        double a = yun_mono_s();
        if (http_request("GET", purl, B.admin_token, NULL, NULL, 0, HTTP_TIMEOUT_MS, &r, &e) < 0 || r.status != 200) {
            fprintf(stderr, "fake_hosts: GET /v1/vms?limit=%d: %s\n", LIST_PAGE, e.msg[0] ? e.msg : "not 200");
            goto out;
        }
        ms[i] = (yun_mono_s() - a) * 1000;
        body_len = r.len;
        http_resp_free(&r);
    }
    double page_p99 = p99(ms, lists);
    fprintf(stderr, "fake_hosts: GET /v1/vms?limit=%d (%zu bytes): p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d\n",
            LIST_PAGE, body_len, ms[lists / 2], page_p99, ms[lists - 1], lists);
    load_note("pages done");

    /* create -> the host sees it */
    atomic_store(&B.track, true);
    uuids = xcalloc((size_t)latency, sizeof *uuids);
    for (int i = 0; i < latency; i++) {
        char name[64];
        int64_t t;
        snprintf(name, sizeof name, "lat%d", i);
        yun_err e = YUN_ERR_INIT;
        if (create_vm(image, name, uuids[i], &t, &e) < 0) {
            fprintf(stderr, "fake_hosts: creating %s: %s\n", name, e.msg);
            goto out;
        }
        seen_note(uuids[i], true, t);
        yun_sleep_ms(20);
    }
    lat = xcalloc((size_t)latency, sizeof *lat);
    int nl = 0;
    for (int tries = 0; tries < 200 && nl < latency; tries++) {
        nl = 0;
        pthread_mutex_lock(&B.seen_lock);
        for (size_t i = 0; i < B.n_seen; i++)
            if (B.seen[i].answered_us && B.seen[i].seen_us) {
                double d = (double)(B.seen[i].seen_us - B.seen[i].answered_us) / 1000.0;
                lat[nl++] = d > 0 ? d : 0;
            }
        pthread_mutex_unlock(&B.seen_lock);
        if (nl < latency)
            yun_sleep_ms(100);
    }
    if (nl < latency) {
        fprintf(stderr, "fake_hosts: only %d of %d new VMs reached their host\n", nl, latency);
        goto out;
    }
    double c2a = p99(lat, nl);
    fprintf(stderr, "fake_hosts: create -> agent: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d\n", lat[nl / 2], c2a,
            lat[nl - 1], nl);
    load_note("create latency done");

    /* one host falls silent */
    fhost *sh = &B.hosts[B.n_hosts / 2];
    atomic_store(&sh->silent, true);
    while (!atomic_load(&sh->stopped))
        yun_sleep_ms(5);
    int64_t quiet_from = atomic_load(&sh->stopped_ms);
    hpath = xasprintf("/v1/hosts/%lld", (long long)sh->id);
    double noticed = -1;
    while (yun_mono_ms() - quiet_from < 120000) {
        yun_err e = YUN_ERR_INIT;
        json_t *j = api("GET", hpath, NULL, &e);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && strcmp(st, "up")) {
            noticed = (double)(yun_mono_ms() - quiet_from) / 1000.0;
            fprintf(stderr, "fake_hosts: host %s silent -> %s after %.2f s (%.2f s after its last report went out)\n",
                    sh->name, st, noticed, (double)(yun_mono_ms() - atomic_load(&sh->last_sent_ms)) / 1000.0);
            json_decref(j);
            break;
        }
        json_decref(j);
        yun_sleep_ms(50);
    }
    if (noticed < 0) {
        fprintf(stderr, "fake_hosts: host %s still up 120 s after falling silent\n", sh->name);
        goto out;
    }
    double rss = proc_rss_mib(pid);
    load_note("done");
    printf("{\"hosts\": %d, \"vms\": %d, \"yund_cpu_cores\": %.3f, \"rss_mib\": %.1f, \"list_p99_ms\": %.2f, "
           "\"create_to_agent_p99_ms\": %.2f, \"silent_host_noticed_s\": %.2f}\n",
           B.n_hosts, vms, cores, rss, list_p99, c2a, noticed);
    fflush(stdout);
    rc = 0;
out:
    atomic_store(&B.quit, true);
    /* the hosts' held reports end within an interval */
    for (int i = 0; i < B.n_hosts; i++) {
        pthread_join(B.hosts[i].th, NULL);
        free(B.hosts[i].vms);
        http_conn_free(B.hosts[i].link);
    }
    free(B.hosts);
    free(B.seen);
    return rc;
}
