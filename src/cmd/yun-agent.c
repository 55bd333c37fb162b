/* yun-agent: the host agent as a program. Parses its flags, then runs agent_run until SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "model/model.h"
#include "util/http_client.h"
#include "util/log.h"
#include "util/mem.h"

static atomic_bool agent_stop; /* set by the signal handler, read by the loop */

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&agent_stop, true);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: yun-agent --controller URL[,URL...] [--join TOKEN] [options]\n"
               "  --controller URL      yund's address, e.g. https://127.0.0.1:8080; several yund on one\n"
               "                        PostgreSQL: their URLs, comma-separated, tried in turn when one fails\n"
               "  --ca FILE             trust yund's certificate through this CA (yund's STATE/tls/ca.pem);\n"
               "                        also YUN_CA\n"
               "  --pin sha256//...     or trust exactly yund's key (yund logs it at start); also YUN_PIN\n"
               "  --join TOKEN          enrol this host with the one-time join token `yun host add NAME`\n"
               "                        printed (also YUN_AGENT_JOIN); its own credential is saved in the\n"
               "                        state folder and used from then on\n"
               "  --state DIR           the agent's state folder (default /var/lib/yun-agent)\n"
               "  --libvirt-uri URI     the hypervisor (default qemu:///system)\n"
               "  --name NAME           the host's name in yun (default: the one it enrolled as)\n"
               "  --migrate-addr ADDR   address other hosts live-migrate to (default none)\n"
               "  --mgmt-addr ADDR      this host's management address, the one yund reaches: the guests'\n"
               "                        VNC servers listen there for yund's console proxy (an IPv4/IPv6\n"
               "                        literal, never 0.0.0.0 or ::: VNC has no password; default\n"
               "                        127.0.0.1, for yund on this machine)\n"
               "  --cores N             cores yun may give guests (default: all the host's); the rest stay\n"
               "                        for the host's own work, and the dispatcher counts only these\n"
               "  --interval MS         pass interval (default: what yund says, 2000)\n"
               "  --shutdown-timeout MS how long a guest has to obey an ACPI shutdown (default 30000)\n"
               "  --bridge BR           guests join the host's existing bridge BR (e.g. br0 on the LAN)\n"
               "                        instead of yun's own NAT network \"yun\" (docs/networking.md)\n"
               "  --no-guest-network    guests get no network (an unconnected tap)\n"
               "Runs until SIGTERM or SIGINT; the guests keep running.\n");
}

/* A whole number of what (e.g. "milliseconds") from lo to hi for flag, or -1 with a message on stderr. */
static int parse_int(const char *s, const char *flag, long lo, long hi, const char *what, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi) {
        fprintf(stderr, "yun-agent: %s wants %s from %ld to %ld, not '%s'\n", flag, what, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_CONTROLLER = 1, O_JOIN, O_STATE, O_URI, O_NAME, O_MIGRATE, O_MGMT, O_INTERVAL, O_SHUTDOWN, O_BRIDGE,
           O_NO_NET, O_CORES, O_CA, O_PIN, O_HELP };
    static const struct option opts[] = {
        {"controller", required_argument, NULL, O_CONTROLLER},
        {"join", required_argument, NULL, O_JOIN},
        {"state", required_argument, NULL, O_STATE},
        {"libvirt-uri", required_argument, NULL, O_URI},
        {"name", required_argument, NULL, O_NAME},
        {"migrate-addr", required_argument, NULL, O_MIGRATE},
        {"mgmt-addr", required_argument, NULL, O_MGMT},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"shutdown-timeout", required_argument, NULL, O_SHUTDOWN},
        {"bridge", required_argument, NULL, O_BRIDGE},
        {"no-guest-network", no_argument, NULL, O_NO_NET},
        {"cores", required_argument, NULL, O_CORES},
        {"ca", required_argument, NULL, O_CA},
        {"pin", required_argument, NULL, O_PIN},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    agent_config cfg = {.libvirt_uri = "qemu:///system", .stop = &agent_stop};
    const char *join = getenv("YUN_AGENT_JOIN"), *state_dir = "/var/lib/yun-agent";
    const char *ca = getenv("YUN_CA"), *pin = getenv("YUN_PIN");
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_CONTROLLER: cfg.controller_url = optarg; break;
        case O_JOIN: join = optarg; break;
        case O_STATE: state_dir = optarg; break;
        case O_URI: cfg.libvirt_uri = optarg; break;
        case O_NAME: cfg.host_name = optarg; break;
        case O_MIGRATE: cfg.migrate_addr = optarg; break;
        case O_MGMT: cfg.mgmt_addr = optarg; break;
        case O_INTERVAL:
            if (parse_int(optarg, "--interval", 1, 3600000, "milliseconds", &cfg.interval_ms) < 0)
                return 2;
            break;
        case O_SHUTDOWN:
            if (parse_int(optarg, "--shutdown-timeout", 1, 3600000, "milliseconds", &cfg.shutdown_timeout_ms) < 0)
                return 2;
            break;
        case O_BRIDGE: cfg.bridge = optarg; break;
        case O_NO_NET: cfg.no_guest_network = true; break;
        case O_CORES:
            if (parse_int(optarg, "--cores", 1, YUN_HOST_MAX_CORES, "a whole number of cores", &cfg.cores) < 0)
                return 2;
            break;
        case O_CA: ca = optarg; break;
        case O_PIN: pin = optarg; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yun-agent: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (cfg.bridge && (!*cfg.bridge || strlen(cfg.bridge) > 15 || strchr(cfg.bridge, '/'))) {
        fprintf(stderr, "yun-agent: --bridge wants the name of an existing bridge (1-15 bytes, e.g. br0), not '%s'\n",
                cfg.bridge);
        return 2;
    }
    if (cfg.bridge && cfg.no_guest_network) {
        fprintf(stderr, "yun-agent: --bridge and --no-guest-network exclude each other: give one\n");
        return 2;
    }
    if (!cfg.controller_url) {
        fprintf(stderr, "yun-agent: give --controller URL (yund's address, e.g. https://127.0.0.1:8080)\n");
        return 2;
    }
    yun_err aerr = YUN_ERR_INIT;
    if (cfg.mgmt_addr && hv_vnc_listen_check(cfg.mgmt_addr, "--mgmt-addr", &aerr) < 0) {
        fprintf(stderr, "yun-agent: %s\n", aerr.msg);
        return 2;
    }
    AUTOFREE char *first_url = NULL; /* several controllers: URLs are built on the first, requests fail over */
    if (http_global_controllers(cfg.controller_url, &first_url, &aerr) < 0) {
        fprintf(stderr, "yun-agent: --controller: %s\n", aerr.msg);
        return 2;
    }
    cfg.controller_url = first_url;
    yun_log_init("yun-agent");
    http_global_init();
    http_global_trust(ca, pin);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    yun_err err = YUN_ERR_INIT;
    char cred[256], name[256];
    if (agent_enrol(cfg.controller_url, state_dir, join, cred, sizeof cred, name, sizeof name, &err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    if (cfg.host_name && strcmp(cfg.host_name, name) != 0) {
        log_error("--name %s: this host enrolled as %s, and its credential speaks for that name only (leave "
                  "--name out, or enrol again as %s)",
                  cfg.host_name, name, cfg.host_name);
        return 2;
    }
    cfg.host_name = name;
    cfg.token = cred;
    if (agent_run(&cfg, &err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    log_info("agent: stopped");
    return 0;
}
