/* agent_loop.c: the agent's loop: connect to libvirt, register with yund, then report -> answer ->
 * reconcile every interval. Everything about HTTP and retries lives here; the decisions are in agent.c. */
#include "agent/agent.h"
#include "agent/agent_net.h"
#include "agent/agent_metrics.h"
#include "hv/hv_net.h"

#include <dirent.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/http_client.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define AGENT_HTTP_TIMEOUT_MS 15000
#define AGENT_BACKOFF_MIN_MS 500
#define AGENT_BACKOFF_MAX_MS 10000
#define AGENT_PROBE_LOOK_MS 10000 /* how often to look for a starter image to probe KVM with */
/* After the agent acted, things move (a guest boots and prints, a verdict changes): for this long the
 * next passes come sooner, so yund sees a state or a console line soon after it happens. */
#define AGENT_BRISK_FOR_MS 30000
#define AGENT_BRISK_INTERVAL_MS 250
#define AGENT_NET_RETRY_MS 60000 /* how often to try again to set up the guests' network */

typedef struct agent_reg {
    long long host_id;
    int interval_ms;
    char vm_dir[YUN_PATH_MAX];
    char image_dir[YUN_PATH_MAX];
    uint64_t disk_total_mib, disk_free_mib; /* what was sent */
} agent_reg;

/* While a pass is stuck in a slow hypervisor call (a libvirtd re-probing QEMU can take a minute), yund must
 * still hear from the host or it takes it for dead. This thread resends the last report every interval
 * while a reconcile runs; yund applies a report idempotently. Its answers are not acted on, except that a
 * one-shot reboot in them is kept for the next pass, so it is not lost. */
typedef struct keepalive {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* signalled on quit */
    const char *token;
    int interval_ms;
    char *url, *report; /* the last report and where it went; NULL before the first */
    int64_t busy_since; /* monotonic ms when the running reconcile began, 0 when idle */
    bool quit;
    json_t *reboots; /* uuid -> true: reboots seen in answers to resent reports */
    int sent;        /* reports resent, for the log */
} keepalive;

static void *keepalive_main(void *p)
{
    keepalive *k = p;
    pthread_mutex_lock(&k->lock);
    while (!k->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += k->interval_ms / 1000;
        ts.tv_nsec += (long)(k->interval_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&k->cond, &k->lock, &ts);
        if (k->quit || !k->busy_since || !k->report || yun_mono_ms() - k->busy_since < k->interval_ms)
            continue;
        AUTOFREE char *url = xstrdup(k->url);
        AUTOFREE char *body = xstrdup(k->report);
        pthread_mutex_unlock(&k->lock);
        http_resp r;
        yun_err e = YUN_ERR_INIT;
        json_t *ans = NULL;
        if (http_request("POST", url, k->token, "application/json", body, strlen(body), AGENT_HTTP_TIMEOUT_MS, &r,
                         &e) == 0) {
            ans = http_resp_json(&r, &e);
            http_resp_free(&r);
        }
        proto_answer a;
        bool decoded = ans && proto_answer_decode(ans, &a, &e) == 0;
        json_decref(ans);
        pthread_mutex_lock(&k->lock);
        k->sent++;
        for (size_t i = 0; decoded && i < a.n_vms; i++)
            if (a.vms[i].reboot)
                json_object_set_new(k->reboots, a.vms[i].uuid, json_true());
        if (decoded)
            proto_answer_free(&a);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

static void keepalive_start(keepalive *k, pthread_t *th, const char *token, int interval_ms)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &ca);
    pthread_condattr_destroy(&ca);
    k->token = token;
    k->interval_ms = interval_ms;
    k->reboots = json_object();
    if (pthread_create(th, NULL, keepalive_main, k) != 0)
        abort(); /* like out-of-memory */
}

static void keepalive_stop(keepalive *k, pthread_t th)
{
    pthread_mutex_lock(&k->lock);
    k->quit = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->cond);
    free(k->url);
    free(k->report);
    json_decref(k->reboots);
}

/* A reconcile begins (with the report just delivered) or ends (report NULL). On begin, the reboots the
 * keepalive saw are folded into answer. */
static void keepalive_busy(keepalive *k, const char *url, char *report, proto_answer *answer)
{
    pthread_mutex_lock(&k->lock);
    if (report) {
        free(k->url);
        free(k->report);
        k->url = xstrdup(url);
        k->report = report;
        k->busy_since = yun_mono_ms();
        for (size_t i = 0; i < answer->n_vms; i++)
            if (json_object_get(k->reboots, answer->vms[i].uuid))
                answer->vms[i].reboot = true;
        json_object_clear(k->reboots);
    } else {
        k->busy_since = 0;
        if (k->sent)
            log_info("agent: a slow pass: %d report(s) resent to yund meanwhile", k->sent);
        k->sent = 0;
    }
    pthread_mutex_unlock(&k->lock);
}

static bool stopping(const agent_config *cfg)
{
    return cfg->stop && atomic_load(cfg->stop);
}

/* Sleeps ms, waking early when asked to stop. */
static void nap(const agent_config *cfg, int64_t ms)
{
    int64_t end = yun_mono_ms() + ms;
    for (int64_t now = yun_mono_ms(); now < end && !stopping(cfg); now = yun_mono_ms())
        yun_sleep_ms(end - now < 100 ? end - now : 100);
}

static char *url_join(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return xasprintf("%.*s%s", (int)n, base, path);
}

/* Errors that another try cannot fix: the agent stops and says why. */
static bool fatal(const yun_err *e)
{
    return e->code == YUN_E_UNAUTHORIZED || e->code == YUN_E_FORBIDDEN || e->code == YUN_E_INVALID;
}

static int explain_fatal(const agent_config *cfg, yun_err *err)
{
    if (err->code == YUN_E_UNAUTHORIZED || err->code == YUN_E_FORBIDDEN)
        return yun_err_prefix(err,
                              "yund at %s refused this host's credential (revoked, or another host's name or "
                              "VMs: enrol again with `yun host add NAME` and --join TOKEN): ",
                              cfg->controller_url);
    return yun_err_prefix(err, "yund at %s refused the agent: ", cfg->controller_url);
}

int agent_enrol(const char *controller_url, const char *state_dir, const char *join_token, char *cred, size_t cn,
                char *name, size_t nn, yun_err *err)
{
    AUTOFREE char *cred_path = xasprintf("%s/credential", state_dir);
    AUTOFREE char *name_path = xasprintf("%s/name", state_dir);
    if (join_token && *join_token) {
        proto_join m = {0};
        snprintf(m.token, sizeof m.token, "%s", join_token);
        json_t *body = proto_join_encode(&m);
        AUTOFREE char *url = url_join(controller_url, "/v1/agent/join");
        json_t *ans = http_json("POST", url, NULL, body, AGENT_HTTP_TIMEOUT_MS, err);
        json_decref(body);
        if (!ans)
            return yun_err_prefix(err, "enrolling with yund at %s: ", controller_url);
        proto_joined j;
        int rc = proto_joined_decode(ans, &j, err);
        json_decref(ans);
        if (rc < 0)
            return yun_err_prefix(err, "yund's answer to join is not what docs/agent-protocol.md says: ");
        if (fs_mkdir_p(state_dir, 0700, err) < 0 || fs_write_secret(cred_path, j.credential, err) < 0 ||
            fs_write_secret(name_path, j.name, err) < 0)
            return yun_err_prefix(err, "saving this host's credential: ");
        log_info("enrolled as host %s; its credential is in %s", j.name, cred_path);
    }
    int rc = fs_read_secret(cred_path, cred, cn, err);
    if (rc > 0)
        rc = fs_read_secret(name_path, name, nn, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return yun_err_set(err, YUN_E_INVALID,
                           "this host has not enrolled (no credential in %s): on yund's side run `yun host add NAME`, "
                           "then start the agent once with --join TOKEN",
                           state_dir);
    return 0;
}

/* One registration attempt. disk_dir is where the VMs' files live (or ".", before yund said where). */
static int register_once(const agent_config *cfg, yun_hv *hv, const char *disk_dir, agent_reg *reg, yun_err *err)
{
    hv_node_info ni;
    if (hv_node_info_get(hv, &ni, err) < 0)
        return yun_err_prefix(err, "reading the host's capacity: ");
    uint64_t total = 0, avail = 0;
    if (agent_disk_mib(disk_dir, &total, &avail, NULL) < 0 && agent_disk_mib(".", &total, &avail, err) < 0)
        return -1; /* vm_dir is made after the first registration: until then the guess is "." */
    if (cfg->cores > 0 && cfg->cores < ni.cores)
        ni.cores = cfg->cores; /* --cores: the rest stay for the host's own work */
    proto_register m = {.cores = ni.cores,
                        .mhz = ni.mhz,
                        .mem_mib = (int64_t)ni.mem_mib,
                        .disk_total_mib = (int64_t)total,
                        .disk_free_mib = (int64_t)avail};
    snprintf(m.name, sizeof m.name, "%s", cfg->host_name && *cfg->host_name ? cfg->host_name : ni.hostname);
    snprintf(m.hypervisor, sizeof m.hypervisor, "%s", ni.hypervisor);
    snprintf(m.accel, sizeof m.accel, "%s", ni.accel);
    snprintf(m.libvirt_uri, sizeof m.libvirt_uri, "%s", cfg->libvirt_uri ? cfg->libvirt_uri : "");
    snprintf(m.migrate_addr, sizeof m.migrate_addr, "%s", cfg->migrate_addr ? cfg->migrate_addr : "");
    /* sent only when set (proto.c): a yund from before it would refuse the unknown field */
    snprintf(m.mgmt_addr, sizeof m.mgmt_addr, "%s", cfg->mgmt_addr ? cfg->mgmt_addr : "");
    json_t *body = proto_register_encode(&m);
    AUTOFREE char *url = url_join(cfg->controller_url, "/v1/agent/register");
    json_t *ans = http_json("POST", url, cfg->token, body, AGENT_HTTP_TIMEOUT_MS, err);
    json_decref(body);
    if (!ans)
        return -1;
    proto_registered r;
    int rc = proto_registered_decode(ans, &r, err);
    json_decref(ans);
    if (rc < 0)
        return yun_err_prefix(err, "yund's answer to register is not what docs/agent-protocol.md says: ");
    reg->host_id = r.host_id;
    reg->interval_ms = r.interval_ms > 0 && r.interval_ms <= INT32_MAX ? (int)r.interval_ms : AGENT_DEFAULT_INTERVAL_MS;
    snprintf(reg->vm_dir, sizeof reg->vm_dir, "%s", r.vm_dir);
    snprintf(reg->image_dir, sizeof reg->image_dir, "%s", r.image_dir);
    reg->disk_total_mib = total;
    reg->disk_free_mib = avail;
    return 0;
}

/* Registers, retrying with backoff while yund is unreachable or failing; a refusal is final. Then, since
 * the disk figures must be those of vm_dir, which only yund's answer names, registers once more when the
 * first guess was another file system. -1 on a fatal error or when asked to stop. */
static int register_host(const agent_config *cfg, yun_hv *hv, agent_reg *reg, yun_err *err)
{
    int64_t backoff = AGENT_BACKOFF_MIN_MS;
    const char *dir = reg->vm_dir[0] ? reg->vm_dir : ".";
    for (;;) {
        yun_err e = YUN_ERR_INIT;
        if (register_once(cfg, hv, dir, reg, &e) == 0)
            break;
        if (fatal(&e)) {
            *err = e;
            return explain_fatal(cfg, err);
        }
        log_warn("agent: registering with %s: %s; trying again in %lld ms", cfg->controller_url, e.msg,
                 (long long)backoff);
        nap(cfg, backoff);
        if (stopping(cfg))
            return yun_err_set(err, YUN_E_UNAVAILABLE, "stopped before yund at %s answered", cfg->controller_url);
        backoff = backoff * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS : backoff * 2;
    }
    uint64_t total = 0, avail = 0;
    if (strcmp(dir, reg->vm_dir) != 0 && agent_disk_mib(reg->vm_dir, &total, &avail, NULL) == 0 &&
        total != reg->disk_total_mib)
        return register_host(cfg, hv, reg, err);
    log_info("agent: registered with %s as host %lld; VMs in %s", cfg->controller_url, reg->host_id, reg->vm_dir);
    return 0;
}

/* The starter image to probe KVM with: the configured files, else the newest IMAGE_DIR/starter-N that has
 * both (yund builds each starter into a new folder). false when there is none yet. */
static bool probe_files(const agent_config *cfg, const agent_reg *reg, char *kernel, char *initrd, size_t n)
{
    if (cfg->probe_kernel && cfg->probe_initrd) {
        snprintf(kernel, n, "%s", cfg->probe_kernel);
        snprintf(initrd, n, "%s", cfg->probe_initrd);
        return access(kernel, R_OK) == 0 && access(initrd, R_OK) == 0;
    }
    DIR *d = reg->image_dir[0] ? opendir(reg->image_dir) : NULL;
    if (!d)
        return false;
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "starter", 7) != 0 || strlen(e->d_name) >= sizeof best)
            continue;
        AUTOFREE char *k = xasprintf("%s/%s/vmlinuz", reg->image_dir, e->d_name);
        AUTOFREE char *i = xasprintf("%s/%s/initrd.img", reg->image_dir, e->d_name);
        /* starter-<ms since the epoch>: the longest, then the greatest name is the newest */
        bool newer =
            strlen(e->d_name) > strlen(best) || (strlen(e->d_name) == strlen(best) && strcmp(e->d_name, best) > 0);
        if (newer && access(k, R_OK) == 0 && access(i, R_OK) == 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (!best[0])
        return false;
    snprintf(kernel, n, "%s/%s/vmlinuz", reg->image_dir, best);
    snprintf(initrd, n, "%s/%s/initrd.img", reg->image_dir, best);
    return true;
}

/* Probes KVM when a starter image is there. Returns true once the question is settled (probed, or
 * nothing to probe with that will ever change), with the verdict in accel. */
static bool probe_accel(const agent_config *cfg, const agent_reg *reg, char accel[8])
{
    char kernel[1024], initrd[1024]; /* image_dir + a folder name + a file name */
    if (!probe_files(cfg, reg, kernel, initrd, sizeof kernel))
        return false;
    AUTOFREE char *cache = cfg->accel_cache ? xstrdup(cfg->accel_cache) : xasprintf("%s/.accel", reg->vm_dir);
    hv_probe_opts o = {.kernel = kernel, .initrd = initrd, .cache_path = cache};
    char detail[256] = "";
    yun_err e = YUN_ERR_INIT;
    if (hv_accel_probe(&o, accel, detail, sizeof detail, &e) < 0) {
        log_warn("agent: cannot probe KVM: %s; guests run under TCG", e.msg);
        snprintf(accel, 8, "tcg");
    } else {
        log_info("agent: accel %s: %s", accel, detail);
    }
    return true;
}

/* The guests' network (src/hv/hv_net.h): what domains defined from now on join. Returns true when settled;
 * false when yun's NAT network cannot be set up now: then guests get an unconnected tap, the reason and the
 * fixes are logged (once per distinct reason, in last_fail), and the caller tries again later. */
static bool net_setup(const agent_config *cfg, yun_hv *hv, agent_state *st, char *last_fail, size_t n)
{
    if (cfg->no_guest_network) {
        agent_state_set_network(st, NULL, NULL);
        log_info("agent: guests get no network (--no-guest-network)");
        return true;
    }
    if (cfg->bridge && *cfg->bridge) {
        agent_state_set_network(st, NULL, cfg->bridge);
        log_info("agent: guests join the host's bridge %s (--bridge)", cfg->bridge);
        return true;
    }
    hv_net_info ni;
    yun_err e = YUN_ERR_INIT;
    if (hv_network_ensure(hv, HV_NET_NAME, &ni, &e) < 0) {
        agent_state_set_network(st, NULL, NULL);
        if (strcmp(last_fail, e.msg) != 0)
            log_error("agent: guests get no network until this works: %s. yun's NAT network needs dnsmasq-base "
                      "and iptables on the host (apt-get install dnsmasq-base iptables, or scripts/deps.sh); or "
                      "give the agent --bridge BR to put guests on an existing bridge, or --no-guest-network. "
                      "Trying again every %d s",
                      e.msg, AGENT_NET_RETRY_MS / 1000);
        snprintf(last_fail, n, "%s", e.msg);
        return false;
    }
    agent_state_set_network(st, ni.name, NULL);
    log_info("agent: guests join network %s (%s, bridge %s, NAT)%s", ni.name, ni.subnet[0] ? ni.subnet : "-",
             ni.bridge[0] ? ni.bridge : "-",
             ni.created   ? ": defined it"
             : ni.started ? ": started it"
                          : "");
    return true;
}

/* Tells yund that this host's libvirt does not answer (proto_report.libvirt_error): a report without domains
 * or verdicts. 0 when yund took it. */
static int report_libvirt_down(const agent_config *cfg, int64_t host_id, const char *why)
{
    proto_report r = {0};
    snprintf(r.libvirt_error, sizeof r.libvirt_error, "%s", why && *why ? why : "it does not answer");
    json_t *j = proto_report_encode(&r);
    AUTOFREE char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    AUTOFREE char *path = xasprintf("/v1/agent/hosts/%lld/report", (long long)host_id);
    AUTOFREE char *url = url_join(cfg->controller_url, path);
    http_resp resp;
    yun_err e = YUN_ERR_INIT;
    if (http_request("POST", url, cfg->token, "application/json", body, strlen(body), AGENT_HTTP_TIMEOUT_MS, &resp,
                     &e) < 0)
        return -1;
    json_t *ans = http_resp_json(&resp, &e); /* NULL for a status that is not 2xx */
    http_resp_free(&resp);
    json_decref(ans);
    return ans ? 0 : -1;
}

int agent_run(const agent_config *cfg, yun_err *err)
{
    if (!cfg->controller_url || !*cfg->controller_url)
        return yun_err_set(err, YUN_E_INVALID, "no controller URL: give --controller http://HOST:PORT");
    if (!cfg->token || !*cfg->token)
        return yun_err_set(err, YUN_E_INVALID,
                           "no credential: enrol the host (`yun host add NAME`, then yun-agent --join TOKEN)");
    /* refused before anything starts: a wildcard would put every guest's screen on every network */
    if (cfg->mgmt_addr && *cfg->mgmt_addr && hv_vnc_listen_check(cfg->mgmt_addr, "--mgmt-addr", err) < 0)
        return -1;
    yun_hv *hv = cfg->hv;
    bool own_hv = !hv;
    if (own_hv && !(hv = hv_libvirt_open(cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system", err)))
        return yun_err_prefix(err, "connecting to libvirt: ");
    hv_node_info ni;
    agent_reg reg = {0};
    AUTOFREE char *net_dir = NULL; /* before the first goto out: its cleanup runs there */
    int rc = -1;
    if (hv_node_info_get(hv, &ni, err) < 0) {
        yun_err_prefix(err, "reading the host's capacity: ");
        goto out;
    }
    if (register_host(cfg, hv, &reg, err) < 0) {
        rc = stopping(cfg) ? 0 : -1;
        goto out;
    }
    agent_state *st = agent_state_new(reg.vm_dir, ni.accel, cfg->shutdown_timeout_ms);
    /* cloud networks (agent_net.h), made on a real host only: an in-memory hypervisor has no bridges. Each host
     * its own folder, since vm_dir may be shared */
    net_dir = xasprintf("%s/.net/host-%lld", reg.vm_dir, (long long)reg.host_id);
    agent_nets *nets = cfg->hv ? NULL : agent_nets_new(net_dir);
    char net_fail[sizeof err->msg] = "";
    bool net_ok = net_setup(cfg, hv, st, net_fail, sizeof net_fail);
    int64_t net_tried = yun_mono_ms();
    agent_state_set_vnc_listen(st, cfg->mgmt_addr, NULL); /* checked above */
    /* metrics: the sampler thread (agent_metrics.h), apart from this loop so it never slows it */
    agent_metrics *am = agent_metrics_start(
        cfg, reg.host_id, cfg->host_name && *cfg->host_name ? cfg->host_name : ni.hostname, reg.vm_dir);
    int interval = cfg->interval_ms > 0 ? cfg->interval_ms : reg.interval_ms;
    char last_fail[sizeof err->msg] = "";
    int64_t backoff = interval;
    bool probed = !own_hv; /* a hypervisor handed in (hv_fake) is not probed */
    /* the reports' one kept-alive connection: a report every interval would otherwise cost yund a TCP and TLS
     * handshake each (docs/PERFORMANCE.md, "A thousand hosts") */
    http_conn *link = http_conn_new();
    keepalive ka;
    pthread_t ka_th;
    keepalive_start(&ka, &ka_th, cfg->token, interval);
    int64_t probe_looked = 0;
    int64_t last_action = INT64_MIN / 2;            /* monotonic ms of the last pass that acted */
    uint64_t since = 0;                             /* the version of yund's last answer */
    bool hold = false;                              /* ask yund to hold the next answer */
    bool last_immediate = false;                    /* the last report went out at once, after a pass that acted */
    int64_t lease_ms = 0, answered = yun_mono_ms(); /* HA's lease from the last answer, and when it came */
    bool fenced = false;
    proto_held held = {0}; /* yund's last answer, named by ?have= so that the same one is not sent again */
    rc = 0;
    while (!stopping(cfg)) {
        int64_t t0 = yun_mono_ms();
        yun_err e = YUN_ERR_INIT;
        if (!probed && t0 - probe_looked >= AGENT_PROBE_LOOK_MS) {
            char accel[8];
            probe_looked = t0;
            if ((probed = probe_accel(cfg, &reg, accel)) && strcmp(accel, ni.accel) != 0) {
                /* tell yund, which shows it in `yun host list`; the host keeps its id */
                hv_accel_set(hv, accel);
                agent_state_set_accel(st, accel);
                snprintf(ni.accel, sizeof ni.accel, "%s", accel);
                if (register_host(cfg, hv, &reg, err) < 0) {
                    rc = stopping(cfg) ? 0 : -1;
                    break;
                }
            }
        }
        if (!net_ok && t0 - net_tried >= AGENT_NET_RETRY_MS) {
            net_tried = t0;
            net_ok = net_setup(cfg, hv, st, net_fail, sizeof net_fail);
        }
        proto_report report;
        if (agent_report(st, hv, &report, &e) < 0) {
            if (strcmp(last_fail, e.msg))
                log_warn("agent: listing the host's domains: %s", e.msg);
            snprintf(last_fail, sizeof last_fail, "%s", e.msg);
            /* yund hears it (state libvirt-down; HA fences the host if it lasts), and the lease is kept */
            if (report_libvirt_down(cfg, reg.host_id, e.msg) == 0)
                answered = yun_mono_ms();
            if (own_hv) { /* libvirtd may have restarted: a new connection, next pass */
                yun_hv *nh = hv_libvirt_open(cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system", &e);
                if (nh) {
                    hv_close(hv);
                    hv = nh;
                }
            }
            nap(cfg, interval);
            continue;
        }
        AUTOFREE char *path = xasprintf("/v1/agent/hosts/%lld/report", reg.host_id);
        AUTOFREE char *url = url_join(cfg->controller_url, path);
        /* long-poll (docs/agent-protocol.md): yund holds the answer until something changed or an interval
         * passed, which paces the loop; right after a pass that acted, the new state goes out at once */
        AUTOFREE char *post_url = proto_report_url(url, hold, since, interval, &held);
        bool console_moved = report.n_consoles > 0;
        json_t *jreport = proto_report_encode(&report);
        proto_report_free(&report);
        char *body = json_dumps(jreport, JSON_COMPACT);
        json_decref(jreport);
        json_t *janswer = NULL;
        http_resp resp;
        long status = 0;
        if (http_conn_request(link, "POST", post_url, cfg->token, "application/json", body, strlen(body),
                              AGENT_HTTP_TIMEOUT_MS, &resp, &e) == 0) {
            status = resp.status;
            janswer = http_resp_json(&resp, &e);
            if (janswer) /* a 2xx: the answer, or "the same" as the one held */
                janswer = proto_answer_take(&held, janswer, resp.body, resp.len);
            http_resp_free(&resp);
        }
        proto_answer answer;
        bool got = janswer && proto_answer_decode(janswer, &answer, &e) == 0;
        if (janswer && !got) {
            e.code = YUN_E_UNAVAILABLE; /* an answer that is not what the protocol says: tried again */
            proto_held_drop(&held);
        }
        json_decref(janswer);
        if (!got) {
            free(body);
            if (e.code == YUN_E_UNAUTHORIZED || e.code == YUN_E_FORBIDDEN) {
                *err = e;
                explain_fatal(cfg, err);
                rc = -1;
                break;
            }
            if (yun_err_not_found(&e)) { /* yund lost or forgot this host: register again */
                log_warn("agent: yund does not know host %lld: registering again", reg.host_id);
                if (register_host(cfg, hv, &reg, err) < 0) {
                    rc = stopping(cfg) ? 0 : -1;
                    break;
                }
                continue;
            }
            if (strcmp(last_fail, e.msg))
                log_warn("agent: reporting to yund: %s; trying again (every %lld ms at most)", e.msg,
                         (long long)AGENT_BACKOFF_MAX_MS);
            snprintf(last_fail, sizeof last_fail, "%s", e.msg);
            if (lease_ms > 0 && !fenced && yun_mono_ms() - answered > lease_ms) {
                /* yund judges this host dead soon after and starts its VMs elsewhere: they must not run here */
                yun_err fe = YUN_ERR_INIT;
                int k = agent_self_fence(st, hv, &fe);
                if (k < 0)
                    log_error("agent: no answer from yund for %lld ms, beyond the lease of %lld ms; self-fencing "
                              "failed: %s",
                              (long long)(yun_mono_ms() - answered), (long long)lease_ms, fe.msg);
                else
                    log_warn("agent: no answer from yund for %lld ms, beyond the lease of %lld ms: self-fenced, "
                             "destroyed %d running VM(s); they start again here only if yund says so",
                             (long long)(yun_mono_ms() - answered), (long long)lease_ms, k);
                fenced = k >= 0;
            }
            if (lease_ms > 0 && backoff > lease_ms / 4)
                backoff = lease_ms / 4 > interval ? lease_ms / 4 : interval; /* the lease is watched closely */
            nap(cfg, backoff);
            /* a 503 is yund answering that its store is out of reach for now (a database failover): it is there,
             * and hears again at each interval, so the host is not silent a moment longer than the outage */
            backoff = status == 503                        ? interval
                      : backoff * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS
                                                           : backoff * 2;
            continue;
        }
        if (last_fail[0])
            log_info("agent: reporting to yund works again");
        last_fail[0] = 0;
        answered = yun_mono_ms();
        lease_ms = answer.lease_ms;
        fenced = false;
        backoff = interval;
        keepalive_busy(&ka, url, body, &answer);
        /* the networks first: a guest's bridge is there before the guest is defined */
        int acted = nets ? agent_nets_reconcile(nets, &answer) : 0;
        int vacted = agent_reconcile(st, hv, &answer, yun_mono_ms(), &e);
        acted = vacted < 0 ? vacted : acted + vacted;
        if (acted > 0)
            last_action = yun_mono_ms();
        if (acted < 0)
            log_warn("agent: %s", e.msg);
        keepalive_busy(&ka, NULL, NULL, NULL);
        bool can_hold = answer.version >= 0;
        since = can_hold ? (uint64_t)answer.version : 0;
        /* one immediate report after acting (never two in a row, so passes that keep acting cannot spin);
         * while a console moves in the 30 s after acting (a guest booting), report every 250 ms without
         * holding, so its lines reach yund promptly; otherwise hold, which paces the loop */
        bool immediate = acted > 0 && !last_immediate;
        last_immediate = immediate;
        bool brisk = !immediate && console_moved && yun_mono_ms() - last_action < AGENT_BRISK_FOR_MS;
        hold = can_hold && !immediate && !brisk;
        proto_answer_free(&answer);
        int64_t spent = yun_mono_ms() - t0;
        int64_t wait = immediate ? 0 : brisk ? AGENT_BRISK_INTERVAL_MS : hold ? 0 : interval;
        if (wait > interval)
            wait = interval;
        if (spent < wait) /* a yund without long-poll is paced by sleeping */
            nap(cfg, wait - spent);
    }
    keepalive_stop(&ka, ka_th);
    proto_held_drop(&held);
    http_conn_free(link);
    agent_metrics_stop(am);
    agent_state_free(st);
    agent_nets_free(nets);
out:
    if (own_hv)
        hv_close(hv);
    return rc;
}
