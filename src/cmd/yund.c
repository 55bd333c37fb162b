/* yund: the controller. Serves the REST API and the agent protocol, keeps the store, places VMs, watches
 * host health; with --all-in-one it also runs the agent for this machine in a thread. SIGTERM or SIGINT
 * stops it cleanly; VMs keep running (they belong to libvirt, not to this process). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/api.h"
#include "api/tls.h"
#include "api/www.h"
#include "ctl/ctl.h"
#include "hv/hv.h"
#include "hv/hv_console.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

typedef struct options {
    bool all_in_one;
    const char *state_dir;
    const char *store;     /* --store: SQLite file or PostgreSQL URI; NULL: STATE/yun.db */
    const char *listen;
    const char *libvirt_uri;
    bool fake_hv;          /* hidden: the all-in-one agent drives an in-memory hypervisor (tests, benches) */
    int fake_cores;        /* hidden: the fake hypervisor's cores (default 64), for capacity tests */
    const char *host_name; /* hidden: the all-in-one agent's host name */
    const char *www_dir;   /* the portal's files; NULL: found next to the executable or in the source tree */
    const char *migrate_addr; /* the all-in-one agent's address for incoming live migrations */
    const char *bridge;    /* the all-in-one agent's guests join this bridge (agent_config) */
    bool no_guest_network; /* ... or get no network */
    const char *tls_cert;  /* the operator's HTTPS certificate (chain) and key; NULL: yund's own (api/tls.h) */
    const char *tls_key;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: yund [--all-in-one] [--state-dir DIR] [--listen ADDR:PORT] [--libvirt-uri URI]\n"
               "  --all-in-one        also run the agent for this machine (one-machine cloud)\n"
               "  --state-dir DIR     database, images, VM disks and tokens (default ./var)\n"
               "  --store DB          the database: a SQLite file (default STATE/yun.db), or PostgreSQL as\n"
               "                      postgresql://USER@HOST/DBNAME or postgres:CONNINFO (docs/operations.md)\n"
               "  --listen ADDR:PORT  the API's address (default 127.0.0.1:8080)\n"
               "  --libvirt-uri URI   the all-in-one agent's hypervisor (default qemu:///system)\n"
               "  --www-dir DIR       the portal's files (default: www/ found beside the executable or source)\n"
               "  --migrate-addr ADDR the all-in-one agent's address other hosts live-migrate to (default none)\n"
               "  --bridge BR         the all-in-one agent's guests join the existing bridge BR instead of\n"
               "                      yun's own NAT network \"yun\" (docs/networking.md)\n"
               "  --no-guest-network  the all-in-one agent's guests get no network\n"
               "  --tls-cert FILE     serve HTTPS with this certificate (PEM, the chain after it) ...\n"
               "  --tls-key FILE      ... and its key; without both, yund makes and keeps its own CA and\n"
               "                      certificate in STATE/tls (clients trust STATE/tls/ca.pem)\n"
               "Logs go to stderr; YUN_LOG=debug|info|warn|error sets the level.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"all-in-one", no_argument, NULL, 'a'},
        {"state-dir", required_argument, NULL, 's'},
        {"store", required_argument, NULL, 'S'},
        {"listen", required_argument, NULL, 'l'},
        {"libvirt-uri", required_argument, NULL, 'u'},
        {"fake-hv", no_argument, NULL, 'F'},
        {"fake-cores", required_argument, NULL, 'C'},
        {"host-name", required_argument, NULL, 'N'},
        {"www-dir", required_argument, NULL, 'W'},
        {"migrate-addr", required_argument, NULL, 'M'},
        {"bridge", required_argument, NULL, 'B'},
        {"no-guest-network", no_argument, NULL, 'G'},
        {"tls-cert", required_argument, NULL, 'T'},
        {"tls-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.state_dir = "var", .listen = "127.0.0.1:8080", .libvirt_uri = "qemu:///system"};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'a':
            o->all_in_one = true;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'S':
            if (!*optarg) {
                fprintf(stderr, "yund: --store wants a SQLite file or a postgresql:// URI, not an empty string\n");
                return -1;
            }
            o->store = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'u':
            o->libvirt_uri = optarg;
            break;
        case 'F':
            o->fake_hv = true;
            break;
        case 'C': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (!*optarg || *end || n < 1 || n > 4096) {
                fprintf(stderr, "yund: --fake-cores wants a number of cores from 1 to 4096, not \"%s\"\n", optarg);
                return -1;
            }
            o->fake_cores = (int)n;
            break;
        }
        case 'N':
            o->host_name = optarg;
            break;
        case 'W':
            o->www_dir = optarg;
            break;
        case 'M':
            o->migrate_addr = optarg;
            break;
        case 'B':
            o->bridge = optarg;
            break;
        case 'G':
            o->no_guest_network = true;
            break;
        case 'T':
            o->tls_cert = optarg;
            break;
        case 'K':
            o->tls_key = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->bridge && (!*o->bridge || strlen(o->bridge) > 15 || strchr(o->bridge, '/'))) {
        fprintf(stderr, "yund: --bridge wants the name of an existing bridge (1-15 bytes, e.g. br0), not \"%s\"\n",
                o->bridge);
        return -1;
    }
    if (o->bridge && o->no_guest_network) {
        fprintf(stderr, "yund: --bridge and --no-guest-network exclude each other: give one\n");
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "yund: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return 0;
}

static int make_dir(const char *path, yun_err *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return yun_err_sys(err, YUN_E_IO, errno, "creating %s", path);
    return 0;
}

typedef struct agent_thread {
    pthread_t tid;
    agent_config cfg;
    yun_err err;
    int rc;
} agent_thread;

static void *agent_main(void *p)
{
    agent_thread *t = p;
    t->rc = agent_run(&t->cfg, &t->err);
    if (t->rc < 0) {
        log_error("the all-in-one agent cannot run: %s", t->err.msg);
        /* a cloud without its only host is no use: wake the main thread so yund stops with an error */
        kill(getpid(), SIGUSR1);
    }
    return NULL;
}

/* The host part of an "ADDR:PORT" listen address. */
static char *listen_host(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    return xstrndup(listen, colon ? (size_t)(colon - listen) : strlen(listen));
}

/* The URL the in-process agent reaches the API at: the listen address, with a wildcard made loopback. */
static char *self_url(const char *listen, uint16_t port)
{
    AUTOFREE char *host = listen_host(listen);
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "") || !strcmp(host, "[::]") || !strcmp(host, "::"))
        return xasprintf("https://127.0.0.1:%u", port);
    return xasprintf("https://%s:%u", host, port);
}

static int run(const options *o)
{
    yun_err err = YUN_ERR_INIT;
    if (make_dir(o->state_dir, &err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    AUTOFREE char *state = realpath(o->state_dir, NULL);
    if (!state) {
        log_error("resolving --state-dir %s: %s", o->state_dir, strerror(errno));
        return 1;
    }
    /* One yund per state: a second one would place VMs from a store another process also writes. The lock
     * goes with the process, so a restart after kill -9 finds it free. */
    AUTOFREE char *lock_path = xasprintf("%s/yund.lock", state);
    AUTOCLOSE int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        if (lock_fd >= 0) {
            ssize_t r = pread(lock_fd, pid, sizeof pid - 1, 0);
            pid[r > 0 ? r : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
        }
        log_error("another yund runs on %s%s%s: stop it first (%s)", state, pid[0] ? " as pid " : "", pid, lock_path);
        return 1;
    }
    char pidline[32];
    int pl = snprintf(pidline, sizeof pidline, "%d\n", (int)getpid());
    if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, pidline, (size_t)pl, 0) != pl)
        log_warn("could not write the pid into %s", lock_path);
    AUTOFREE char *image_dir = xasprintf("%s/images", state);
    AUTOFREE char *vm_dir = xasprintf("%s/vms", state);
    AUTOFREE char *db = o->store ? xstrdup(o->store) : xasprintf("%s/yun.db", state);
    if (make_dir(image_dir, &err) < 0 || make_dir(vm_dir, &err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    yun_store *store = store_open(db, &err);
    if (!store) {
        log_error("opening the store %s: %s", db, err.msg);
        return 1;
    }
    ctl_ctx *ctl = ctl_new(&(ctl_config){.image_dir = image_dir,
                                         .vm_dir = vm_dir,
                                         .started_ms = yun_now_ms(),
                                         .libvirt_probe = hv_libvirt_answers});
    if (api_bootstrap(ctl, store, state, &err) < 0) {
        log_error("%s", err.msg);
        ctl_free(ctl);
        store_close(store);
        return 1;
    }
    char exe[4096];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[el > 0 ? el : 0] = '\0';
    AUTOFREE char *starter = api_find_starter_script(exe);
    if (!starter)
        log_warn("scripts/build-starter.sh not found: POST /v1/images/build-starter will answer 503");
    /* portal: www/ beside the executable or in the source tree, or --www-dir */
    AUTOFREE char *www = o->www_dir ? realpath(o->www_dir, NULL) : www_find_root(exe);
    if (o->www_dir && !www)
        log_warn("--www-dir %s: %s; the portal will answer 404", o->www_dir, strerror(errno));
    else if (!www)
        log_warn("the portal's files (www/) were not found: pass --www-dir DIR to serve the portal");

    /* Signals go to this thread only, where sigtimedwait takes them between health ticks. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1); /* from the all-in-one agent's thread when it cannot run */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* HTTPS only (api/tls.h). The all-in-one agent in this process trusts this very key (its pin), which holds
     * for the operator's certificate too, whatever CA signed it. */
    api_tls tls;
    AUTOFREE char *tls_dir = xasprintf("%s/tls", state);
    AUTOFREE char *lhost = listen_host(o->listen);
    if (api_tls_load(tls_dir, o->tls_cert, o->tls_key, lhost, &tls, &err) < 0) {
        log_error("%s", err.msg);
        ctl_free(ctl);
        store_close(store);
        return 1;
    }
    http_global_trust(NULL, tls.pin);
    api_config ac = {.listen = o->listen,
                     .tls_cert_pem = tls.cert_pem,
                     .tls_key_pem = tls.key_pem,
                     .store_path = db,
                     .state_dir = state,
                     .ctl = ctl,
                     .disk_import = hv_disk_import,
                     .backup_files = {.sha256 = hv_disk_sha256, .flatten = hv_disk_flatten},
                     .starter_script = starter,
                     .www_dir = www};
    api_server *srv = api_start(&ac, &err);
    if (!srv) {
        log_error("%s", err.msg);
        api_tls_free(&tls);
        ctl_free(ctl);
        store_close(store);
        return 1;
    }
    api_share_writes(srv, store); /* the loops' writes queue with the requests' (store.h, store_pool_join) */
    log_info("yund listening on https://%s (port %u), state in %s; clients trust %s, or pin %s", o->listen,
             api_port(srv), state, tls.ca_path, tls.pin);

    atomic_bool stop = false;
    agent_thread *at = NULL;
    char agent_token[128];
    char self_name[256] = "";
    AUTOFREE char *url = self_url(o->listen, api_port(srv));
    yun_hv *fake = NULL;
    int rc = 0;
    if (o->all_in_one) {
        /* the agent inside yund enrols without a join token: it is yund's own; its name is the one it will
         * register under: --host-name, else the hypervisor's hostname, as a yun-agent's default was */
        if (o->fake_hv)
            fake = hv_fake_open(o->fake_cores ? o->fake_cores : 64, 2000, 262144);
        if (o->host_name) {
            snprintf(self_name, sizeof self_name, "%s", o->host_name);
        } else {
            yun_hv *hv = fake ? fake : hv_libvirt_open(o->libvirt_uri, &err);
            hv_node_info ni;
            int hr = hv ? hv_node_info_get(hv, &ni, &err) : -1;
            if (hv != fake)
                hv_close(hv);
            if (hr < 0) {
                log_error("stopping: --all-in-one needs its agent, and its agent libvirt (check --libvirt-uri %s): "
                          "reading the host's name: %s",
                          o->libvirt_uri, err.msg);
                rc = 1;
                goto out;
            }
            snprintf(self_name, sizeof self_name, "%s", ni.hostname);
        }
        /* kept beside admin.token (0600), for the admin's own tools: it is host self_name's, nothing more */
        AUTOFREE char *cred_path = xasprintf("%s/host.credential", state);
        if (api_host_local_credential(ctl, store, self_name, agent_token, sizeof agent_token, &err) < 0 ||
            fs_write_secret(cred_path, agent_token, &err) < 0) {
            log_error("the all-in-one agent's credential: %s", err.msg);
            rc = 1;
            goto out;
        }
        at = xcalloc(1, sizeof *at);
        at->cfg = (agent_config){.controller_url = url,
                                 .token = agent_token,
                                 .libvirt_uri = o->libvirt_uri,
                                 .host_name = self_name,
                                 .migrate_addr = o->migrate_addr,
                                 .bridge = o->bridge,
                                 .no_guest_network = o->no_guest_network,
                                 .hv = fake,
                                 .stop = &stop};
        log_info("all-in-one: starting the agent for %s against %s", fake ? "a fake hypervisor" : o->libvirt_uri, url);
        if (pthread_create(&at->tid, NULL, agent_main, at) != 0) {
            log_error("cannot start the all-in-one agent thread");
            free(at);
            at = NULL;
            rc = 1;
            goto out;
        }
    }

    int leading = -1; /* this yund runs the loops (store_lead: several yund may share a PostgreSQL store); -1 unknown */
    for (;;) {
        int interval = ctl_interval_ms(ctl, store);
        struct timespec ts = {.tv_sec = interval / 1000, .tv_nsec = (long)(interval % 1000) * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("got %s: stopping (VMs keep running)", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig == SIGUSR1) {
            log_error("stopping: --all-in-one needs its agent (check --libvirt-uri %s)", o->libvirt_uri);
            rc = 1;
            break;
        }
        yun_err le = YUN_ERR_INIT;
        bool lead = false;
        if (ctl_lead(ctl, store, yun_now_ms(), &lead, &le) < 0)
            log_warn("leadership: %s", le.msg);
        if ((int)lead != leading)
            log_info(lead ? "leading: this yund runs health, HA, drains, the dispatcher and scheduled backups"
                          : "not leading: another yund on this store runs the loops; serving the API only");
        leading = lead;
        if (!lead)
            continue;
        yun_err he = YUN_ERR_INIT;
        if (ctl_health_tick(ctl, store, yun_now_ms(), &he) < 0)
            log_warn("host health check: %s", he.msg);
        yun_err de = YUN_ERR_INIT;
        if (ctl_drain_tick(ctl, store, &de) < 0)
            log_warn("host drain: %s", de.msg);
        yun_err xe = YUN_ERR_INIT;
        if (ctl_dispatch_tick(ctl, store, yun_now_ms(), &xe) < 0)
            log_warn("dispatcher: %s", xe.msg);
        yun_err be = YUN_ERR_INIT;
        if (ctl_backup_tick(ctl, store, yun_now_ms(), &be) < 0)
            log_warn("scheduled backups: %s", be.msg);
        yun_err ae = YUN_ERR_INIT; /* audit.retention_days and old failed-login counts: a DELETE on an index */
        if (ctl_audit_prune(ctl, store, yun_now_ms(), NULL, &ae) < 0)
            log_warn("audit log pruning: %s", ae.msg);
        yun_err ce = YUN_ERR_INIT;
        if (ctl_cluster_tick(ctl, store, &ce) < 0)
            log_warn("cluster deletion: %s", ce.msg);
    }
out:
    atomic_store(&stop, true);
    /* agents' reports held in long-poll answer now, so neither the agent thread nor the server waits out a hold */
    ctl_vms_changed(ctl);
    if (at) {
        pthread_join(at->tid, NULL);
        free(at);
    }
    api_stop(srv);
    api_tls_free(&tls);
    hv_close(fake);
    ctl_free(ctl);
    store_close(store);
    log_info("yund stopped");
    return rc;
}

int main(int argc, char **argv)
{
    yun_log_init("yund");
    /* Rendering the VM list at 10,000 VMs takes ~13 MiB of scratch (the store's array, the JSON). From 4 MiB up
     * allocations are mmapped, so they go back to the system when freed instead of fragmenting the heap around
     * the cached list (measured: 27 MiB RSS instead of 55 MiB); the price is page faults on each render, which
     * the list cache makes rare. One arena: connection threads do not each keep a heap of their own. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_ARENA_MAX, 1);
    options o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    /* every agent holds a connection (a descriptor) while its report waits: a thousand hosts pass the usual soft
     * limit of 1024 descriptors, so take the hard limit the administrator allows */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
            log_warn("raising the limit of open files to %llu: %s", (unsigned long long)nofile.rlim_max,
                     strerror(errno));
    }
    http_global_init();
    return run(&o);
}
