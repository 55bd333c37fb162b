/* agent_net.c: cloud networks on a host (agent_net.h). The kernel's own tools do the work: ip (iproute2),
 * bridge, ebtables (the nftables bridge family), iptables, dnsmasq; each is run by argument vector. */
#include "agent/agent_net.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/net.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/proc.h"

#define NET_CMD_TIMEOUT_MS 10000
#define NET_VXLAN_PORT "4789"
#define NET_MTU "1450" /* 1500 on the hosts' links less VXLAN's 50 bytes */

typedef struct net_have {
    int64_t vni;
    bool made;          /* set up by this process (or found and set up again) */
    char *peers, *files; /* what was last made true: the flood list and the dnsmasq files, as text */
} net_have;

struct agent_nets {
    char *dir;
    net_have *have;
    size_t n, cap;
    bool swept; /* the folder's leftovers (an earlier run's networks) were read */
};

agent_nets *agent_nets_new(const char *dir)
{
    agent_nets *an = xcalloc(1, sizeof *an);
    an->dir = xstrdup(dir);
    return an;
}

void agent_nets_free(agent_nets *an)
{
    if (!an)
        return;
    for (size_t i = 0; i < an->n; i++) {
        free(an->have[i].peers);
        free(an->have[i].files);
    }
    free(an->have);
    free(an->dir);
    free(an);
}

/* ---- pure ---- */

int agent_net_files(const proto_network *n, const char *dir, yun_buf *conf, yun_buf *dhcp_hosts, yun_buf *hosts,
                    yun_err *err)
{
    yun_subnet s;
    if (model_subnet_parse(n->subnet, &s, err) < 0)
        return -1;
    char br[16], vx[16], gw[16], net[16], mask[16];
    model_network_ifnames(n->vni, br, vx);
    model_network_gateway(&s, gw, sizeof gw);
    model_ip_format(s.net, net, sizeof net);
    model_ip_format(model_subnet_mask(s.prefix), mask, sizeof mask);
    buf_printf(conf,
               "# network %s/%s (VNI %lld), written by yun-agent from yund's answer\n"
               "interface=%s\nbind-interfaces\nexcept-interface=lo\nlisten-address=%s\n"
               "pid-file=%s/dnsmasq.pid\n"
               /* static hosts only: an address is yund's to give, never a pool's */
               "dhcp-range=%s,static,%s,1h\ndhcp-authoritative\nleasefile-ro\n"
               /* names come from yund's hosts file only: a lease's name (its dhcp-host's, or one a guest
                * sends) would outlive the VM in dnsmasq's memory */
               "dhcp-ignore-names\n"
               "dhcp-hostsfile=%s/dhcp-hosts\naddn-hosts=%s/hosts\n"
               "dhcp-option=option:router,%s\ndhcp-option=option:dns-server,%s\ndhcp-option=option:mtu,%s\n"
               "no-resolv\nno-hosts\ndomain-needed\n",
               n->owner, n->name, (long long)n->vni, br, gw, dir, net, mask, dir, dir, gw, gw, NET_MTU);
    for (size_t i = 0; i < n->n_hosts; i++) {
        buf_printf(dhcp_hosts, "%s,%s\n", n->hosts[i].mac, n->hosts[i].ip);
        buf_printf(hosts, "%s %s\n", n->hosts[i].ip, n->hosts[i].name);
    }
    return 0;
}

void agent_net_fdb_peers(const char *text, yun_buf *out)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char l[256], mac[32], dst[16], addr[64];
        if (len < sizeof l) {
            memcpy(l, line, len);
            l[len] = 0;
            if (sscanf(l, "%31s %15s %63s", mac, dst, addr) == 3 && !strcmp(mac, "00:00:00:00:00:00") &&
                !strcmp(dst, "dst"))
                buf_printf(out, "%s\n", addr);
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* ---- running the tools ---- */

/* Runs argv; 0 when it exited 0, else -1 with err naming the command and what it printed (quiet: no log). */
static int run(const char *const argv[], const char *package, yun_err *err)
{
    yun_buf out = {0}, errt = {0};
    buf_puts(&out, "");
    buf_puts(&errt, "");
    int rc = proc_run((char *const *)argv, NULL, NET_CMD_TIMEOUT_MS, &out, &errt, package, err);
    if (rc > 0) {
        yun_buf cmd = {0};
        for (size_t i = 0; argv[i]; i++)
            buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
        char *e = errt.data;
        size_t el = strlen(e);
        while (el && (e[el - 1] == '\n' || e[el - 1] == ' '))
            e[--el] = 0;
        yun_err_set(err, YUN_E_IO, "%s: %s (exit %d)", cmd.data, el ? e : "no message", rc);
        buf_free(&cmd);
    }
    buf_free(&out);
    buf_free(&errt);
    return rc == 0 ? 0 : -1;
}
#define RUN(pkg, err, ...) run((const char *const[]){__VA_ARGS__, NULL}, pkg, err)

static bool link_exists(const char *dev)
{
    char p[64];
    snprintf(p, sizeof p, "/sys/class/net/%s", dev);
    return access(p, F_OK) == 0;
}

static void write_proc(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(value, f);
        fclose(f);
    }
}

static int write_file(const char *path, const char *text, yun_err *err)
{
    AUTOFREE char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "writing %s", tmp);
    bool ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return yun_err_sys(err, YUN_E_IO, errno, "writing %s", path);
    }
    return 0;
}

static char *read_small(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return xstrdup(buf);
}

/* The pid in the network's dnsmasq.pid when that process is a live dnsmasq, else 0. */
static pid_t dnsmasq_pid(const char *dir)
{
    AUTOFREE char *path = xasprintf("%s/dnsmasq.pid", dir);
    AUTOFREE char *s = read_small(path);
    pid_t pid = s ? (pid_t)atoi(s) : 0;
    if (pid <= 0 || kill(pid, 0) < 0)
        return 0;
    AUTOFREE char *cp = xasprintf("/proc/%d/comm", (int)pid);
    AUTOFREE char *comm = read_small(cp);
    return comm && !strcmp(comm, "dnsmasq") ? pid : 0;
}

/* The gateway's ARP and DHCP never cross the tunnel: each host's bridge answers for the gateway (the same
 * address and MAC everywhere) and each host's dnsmasq serves its own guests. op: "-A" or "-D". */
static int ebtables_rules(const char *op, const char *vx, const char *gw, yun_err *err)
{
    int r = 0;
    r |= RUN("iptables", err, "ebtables", op, "FORWARD", "-o", vx, "-p", "ARP", "--arp-ip-dst", gw, "-j", "DROP");
    r |= RUN("iptables", err, "ebtables", op, "FORWARD", "-i", vx, "-p", "ARP", "--arp-ip-dst", gw, "-j", "DROP");
    r |= RUN("iptables", err, "ebtables", op, "INPUT", "-i", vx, "-p", "ARP", "--arp-ip-dst", gw, "-j", "DROP");
    r |= RUN("iptables", err, "ebtables", op, "OUTPUT", "-o", vx, "-p", "ARP", "--arp-ip-src", gw, "-j", "DROP");
    r |= RUN("iptables", err, "ebtables", op, "FORWARD", "-o", vx, "-p", "IPv4", "--ip-proto", "udp", "--ip-dport",
             "67:68", "-j", "DROP");
    r |= RUN("iptables", err, "ebtables", op, "OUTPUT", "-o", vx, "-p", "IPv4", "--ip-proto", "udp", "--ip-dport",
             "67:68", "-j", "DROP");
    r |= RUN("iptables", err, "ebtables", op, "INPUT", "-i", vx, "-p", "IPv4", "--ip-proto", "udp", "--ip-dport",
             "67:68", "-j", "DROP");
    return r ? -1 : 0;
}

/* No routing from this network into another cloud network on this host (isolation: separate bridges and
 * VNIs keep layer 2 apart, this keeps layer 3 apart), and its guests' way out masqueraded. op: "-I"/"-D". */
static int iptables_rules(const char *op, const char *br, const char *subnet, yun_err *err)
{
    int r = 0;
    r |= RUN("iptables", err, "iptables", op, "FORWARD", "-i", br, "-o", "ynb+", "!", "-d", subnet, "-j", "DROP");
    r |= RUN("iptables", err, "iptables", "-t", "nat", op, "POSTROUTING", "-s", subnet, "!", "-d", subnet, "-j",
             "MASQUERADE");
    return r ? -1 : 0;
}

/* Everything of network vni on this host goes, whatever part of it exists. */
static void teardown(agent_nets *an, int64_t vni)
{
    char br[16], vx[16];
    model_network_ifnames(vni, br, vx);
    AUTOFREE char *dir = xasprintf("%s/%lld", an->dir, (long long)vni);
    AUTOFREE char *sp = xasprintf("%s/subnet", dir);
    AUTOFREE char *subnet = read_small(sp);
    pid_t pid = dnsmasq_pid(dir);
    if (pid > 0) /* the dnsmasq this agent started for it */
        kill(pid, SIGTERM);
    yun_subnet s;
    yun_err e = YUN_ERR_INIT;
    if (subnet && model_subnet_parse(subnet, &s, NULL) == 0) {
        char gw[16];
        model_network_gateway(&s, gw, sizeof gw);
        while (ebtables_rules("-D", vx, gw, &e) == 0) /* once each; a rule added twice goes too */
            ;
        while (iptables_rules("-D", br, subnet, &e) == 0)
            ;
    }
    if (link_exists(vx))
        RUN("iproute2", &e, "ip", "link", "del", vx);
    if (link_exists(br))
        RUN("iproute2", &e, "ip", "link", "del", br);
    const char *files[] = {"subnet", "dnsmasq.conf", "dhcp-hosts", "hosts", "dnsmasq.pid"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        AUTOFREE char *f = xasprintf("%s/%s", dir, files[i]);
        unlink(f);
    }
    rmdir(dir);
    log_info("agent: network VNI %lld (%s) taken down: bridge %s, vxlan %s and its dnsmasq are gone", (long long)vni,
             subnet ? subnet : "?", br, vx);
}

static int setup(agent_nets *an, const proto_network *n, yun_err *err)
{
    char br[16], vx[16], gw[16], cidr[24], mac[18];
    yun_subnet s;
    if (model_subnet_parse(n->subnet, &s, err) < 0)
        return -1;
    model_network_ifnames(n->vni, br, vx);
    model_network_gateway(&s, gw, sizeof gw);
    snprintf(cidr, sizeof cidr, "%s/%d", gw, s.prefix);
    model_mac_of_ip(s.net + 1, mac);
    AUTOFREE char *dir = xasprintf("%s/%lld", an->dir, (long long)n->vni);
    AUTOFREE char *sp = xasprintf("%s/subnet", dir);
    AUTOFREE char *vni = xasprintf("%lld", (long long)n->vni);
    if (fs_mkdir_p(dir, 0755, err) < 0 || write_file(sp, n->subnet, err) < 0)
        return -1;
    if (!link_exists(br) && RUN("iproute2", err, "ip", "link", "add", br, "type", "bridge") < 0)
        return -1;
    /* one gateway MAC on every host: a guest that moves keeps a valid ARP entry for its gateway; and no IPv6 on
     * the bridge, whose link-local address would then be the same on every host */
    AUTOFREE char *v6 = xasprintf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", br);
    write_proc(v6, "1");
    if (RUN("iproute2", err, "ip", "link", "set", "dev", br, "address", mac) < 0 ||
        RUN("iproute2", err, "ip", "addr", "replace", cidr, "dev", br) < 0 ||
        RUN("iproute2", err, "ip", "link", "set", "dev", br, "up") < 0)
        return -1;
    if (!link_exists(vx) && RUN("iproute2", err, "ip", "link", "add", vx, "type", "vxlan", "id", vni, "dstport",
                                NET_VXLAN_PORT) < 0)
        return -1;
    if (RUN("iproute2", err, "ip", "link", "set", "dev", vx, "master", br, "up") < 0)
        return -1;
    yun_err ignore = YUN_ERR_INIT;
    while (ebtables_rules("-D", vx, gw, &ignore) == 0) /* an earlier run's, so each rule is there once */
        ;
    while (iptables_rules("-D", br, n->subnet, &ignore) == 0)
        ;
    if (ebtables_rules("-A", vx, gw, err) < 0 || iptables_rules("-I", br, n->subnet, err) < 0)
        return -1;
    write_proc("/proc/sys/net/ipv4/ip_forward", "1");
    return 0;
}

/* The flood list of vx made exactly the peers of n. */
static int sync_peers(const proto_network *n, const char *vx, yun_err *err)
{
    yun_buf out = {0}, errt = {0}, have = {0};
    buf_puts(&have, "");
    int rc = proc_run((char *const *)(const char *const[]){"bridge", "fdb", "show", "dev", vx, NULL}, NULL, NET_CMD_TIMEOUT_MS,
                      &out, &errt, "iproute2", err);
    buf_free(&errt);
    if (rc != 0) {
        buf_free(&out);
        buf_free(&have);
        return rc < 0 ? -1 : yun_err_set(err, YUN_E_IO, "bridge fdb show dev %s failed", vx);
    }
    agent_net_fdb_peers(out.data ? out.data : "", &have);
    buf_free(&out);
    int r = 0;
    AUTOFREE char *lines = xasprintf("\n%s", have.data); /* each far end between two newlines */
    for (size_t i = 0; i < n->n_peers; i++) {
        char line[80];
        snprintf(line, sizeof line, "\n%s\n", n->peers[i].addr);
        bool present = strstr(lines, line) != NULL;
        if (!present && RUN("iproute2", err, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vx,
                            "dst", n->peers[i].addr) < 0)
            r = -1;
    }
    for (char *p = have.data, *nl; p && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        bool wanted = false;
        for (size_t i = 0; i < n->n_peers && !wanted; i++)
            wanted = !strcmp(n->peers[i].addr, p);
        if (!wanted && RUN("iproute2", err, "bridge", "fdb", "del", "00:00:00:00:00:00", "dev", vx, "dst", p) < 0)
            r = -1;
    }
    buf_free(&have);
    return r;
}

/* Whether every line of text a is a line of text b. */
static bool lines_within(const char *a, const char *b)
{
    for (const char *l = a; *l;) {
        size_t n = strcspn(l, "\n");
        bool found = false;
        for (const char *m = b; *m && !found;) {
            size_t k = strcspn(m, "\n");
            found = k == n && !memcmp(l, m, n);
            m += k + (m[k] == '\n');
        }
        if (!found && n)
            return false;
        l += n + (l[n] == '\n');
    }
    return true;
}

/* dnsmasq's files written, and dnsmasq started, or told to read them again. */
static int sync_dnsmasq(agent_nets *an, const proto_network *n, net_have *h, yun_err *err)
{
    AUTOFREE char *dir = xasprintf("%s/%lld", an->dir, (long long)n->vni);
    yun_buf conf = {0}, dh = {0}, hosts = {0}, all = {0};
    buf_puts(&conf, "");
    buf_puts(&dh, "");
    buf_puts(&hosts, "");
    int r = agent_net_files(n, dir, &conf, &dh, &hosts, err);
    buf_printf(&all, "%s%s%s", conf.data, dh.data, hosts.data);
    pid_t pid = dnsmasq_pid(dir);
    bool same = h->files && !strcmp(h->files, all.data);
    if (r == 0 && !(same && pid > 0)) {
        AUTOFREE char *cp = xasprintf("%s/dnsmasq.conf", dir);
        AUTOFREE char *dp = xasprintf("%s/dhcp-hosts", dir);
        AUTOFREE char *hp = xasprintf("%s/hosts", dir);
        /* a VM gone from the network: after a SIGHUP dnsmasq still answered its name (test_cloud_net; most
         * likely from the lease it gave it, named from addn-hosts, which outlives the reload), so it starts anew
         * (its leases are in memory only, and every guest's address is static: a renewal gets the same one) */
        AUTOFREE char *old_hosts = pid > 0 ? fs_read_all(hp, 1 << 20, NULL, NULL) : NULL;
        bool gone = old_hosts && !lines_within(old_hosts, hosts.data);
        if (write_file(dp, dh.data, err) < 0 || write_file(hp, hosts.data, err) < 0 ||
            write_file(cp, conf.data, err) < 0)
            r = -1;
        else if (pid > 0 && !gone && h->files && strncmp(h->files, conf.data, conf.len) == 0) {
            kill(pid, SIGHUP); /* re-reads dhcp-hostsfile and addn-hosts */
        } else {
            if (pid > 0) { /* its configuration changed (or an earlier run's): start it anew */
                kill(pid, SIGTERM);
                for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
                    usleep(20000);
            }
            AUTOFREE char *arg = xasprintf("--conf-file=%s", cp);
            r = RUN("dnsmasq", err, "dnsmasq", arg);
        }
        if (r == 0) {
            free(h->files);
            h->files = buf_steal(&all);
        }
    }
    buf_free(&conf);
    buf_free(&dh);
    buf_free(&hosts);
    buf_free(&all);
    return r;
}

static net_have *have_get(agent_nets *an, int64_t vni)
{
    for (size_t i = 0; i < an->n; i++)
        if (an->have[i].vni == vni)
            return &an->have[i];
    xgrow((void **)&an->have, &an->cap, an->n + 1, sizeof *an->have);
    net_have *h = &an->have[an->n++];
    memset(h, 0, sizeof *h);
    h->vni = vni;
    return h;
}

/* What an earlier run of this agent left: every VNI folder is a network it made. */
static void sweep(agent_nets *an)
{
    an->swept = true;
    DIR *d = opendir(an->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end = NULL;
        long long v = strtoll(de->d_name, &end, 10);
        if (de->d_name[0] && !*end && v > 0 && v <= YUN_NET_VNI_MAX)
            have_get(an, v);
    }
    closedir(d);
}

int agent_nets_reconcile(agent_nets *an, const proto_answer *a)
{
    int changes = 0;
    if (!an->swept)
        sweep(an);
    for (size_t i = 0; i < a->n_networks; i++) {
        const proto_network *n = &a->networks[i];
        net_have *h = have_get(an, n->vni);
        char br[16], vx[16];
        model_network_ifnames(n->vni, br, vx);
        yun_err e = YUN_ERR_INIT;
        if (!h->made || !link_exists(br) || !link_exists(vx)) {
            if (setup(an, n, &e) < 0) {
                log_warn("agent: network %s/%s (%s, VNI %lld) cannot be set up; its guests get no network until it "
                         "is (trying again next pass): %s",
                         n->owner, n->name, n->subnet, (long long)n->vni, e.msg);
                continue;
            }
            h->made = true;
            free(h->peers);
            h->peers = NULL;
            free(h->files);
            h->files = NULL;
            changes++;
            log_info("agent: network %s/%s (%s, VNI %lld) set up: bridge %s, vxlan %s", n->owner, n->name, n->subnet,
                     (long long)n->vni, br, vx);
        }
        yun_buf pk = {0};
        buf_puts(&pk, "");
        for (size_t k = 0; k < n->n_peers; k++)
            buf_printf(&pk, "%s\n", n->peers[k].addr);
        if (!h->peers || strcmp(h->peers, pk.data) != 0) {
            if (sync_peers(n, vx, &e) < 0)
                log_warn("agent: network %s/%s: its VXLAN peers: %s", n->owner, n->name, e.msg);
            else {
                log_info("agent: network %s/%s: VXLAN peers now %s", n->owner, n->name,
                         n->n_peers ? pk.data : "none\n");
                free(h->peers);
                h->peers = buf_steal(&pk);
                changes++;
            }
        }
        buf_free(&pk);
        char *before = h->files ? xstrdup(h->files) : NULL;
        yun_err de = YUN_ERR_INIT;
        if (sync_dnsmasq(an, n, h, &de) < 0)
            log_warn("agent: network %s/%s: its DHCP and DNS (dnsmasq): %s", n->owner, n->name, de.msg);
        else if (!before || strcmp(before, h->files) != 0)
            changes++;
        free(before);
    }
    size_t k = 0;
    for (size_t i = 0; i < an->n; i++) {
        bool wanted = false;
        for (size_t j = 0; j < a->n_networks && !wanted; j++)
            wanted = a->networks[j].vni == an->have[i].vni;
        if (wanted) {
            an->have[k++] = an->have[i];
            continue;
        }
        teardown(an, an->have[i].vni);
        free(an->have[i].peers);
        free(an->have[i].files);
        changes++;
    }
    an->n = k;
    return changes;
}
