/* ctl_setting.c: the settings registry (settings.h) and the one way to change a setting (ctl.h). */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "model/net.h"
#include "ctl/settings.h"
#include "model/probe.h"
#include "place/consolidate.h"
#include "util/buf.h"
#include "util/num.h"

static int check_algorithm(const char *v, yun_err *err)
{
    return sched_algorithm_check(v, err);
}

static int check_cpu_ratio(const char *v, yun_err *err)
{
    double r;
    return sched_cpu_ratio_parse(v, &r, err);
}

/* A price: digits, optionally a point and up to 6 more digits. No sign, no exponent: it is shown as typed. */
static int check_price(const char *v, yun_err *err)
{
    size_t i = 0, ip = 0, fp = 0;
    while (v[i] >= '0' && v[i] <= '9')
        i++, ip++;
    if (v[i] == '.') {
        i++;
        while (v[i] >= '0' && v[i] <= '9')
            i++, fp++;
    }
    if (v[i] || ip == 0 || ip > 12 || fp > 6)
        return yun_err_set(err, YUN_E_INVALID,
                           "price \"%.32s\" is not a decimal such as 4 or 0.25 (at most 6 decimals)", v);
    return 0;
}

static int check_currency(const char *v, yun_err *err)
{
    bool plain = strlen(v) <= 8;
    for (const char *p = v; *p && plain; p++)
        plain = (unsigned char)*p >= 0x20 && *p != '<' && *p != '>' && *p != '&';
    if (!plain)
        return yun_err_set(err, YUN_E_INVALID, "price.currency \"%.32s\" must be at most 8 plain characters", v);
    return 0;
}

static int check_probe_hosts(const char *v, yun_err *err)
{
    if (strcmp(v, "on") && strcmp(v, "off"))
        return yun_err_set(err, YUN_E_INVALID,
                           MODEL_PROBE_ALLOW_HOSTS_KEY
                           " \"%.32s\" must be off (probes reach only their VM's own address, the "
                           "default) or on (any host)",
                           v);
    return 0;
}

/* backup.dir: yund and every host's agent open the same files by this path (a local folder on one machine, a
 * mount of the same share everywhere else), so only an absolute path without . or .. means one folder */
static int check_backup_dir(const char *v, yun_err *err)
{
    if (!*v)
        return 0;
    if (v[0] != '/' || strstr(v, "/../") || strstr(v, "/./") || strlen(v) > 300 ||
        (strlen(v) >= 3 && !strcmp(v + strlen(v) - 3, "/..")))
        return yun_err_set(err, YUN_E_INVALID,
                           "backup.dir \"%.64s\" must be an absolute path of at most 300 bytes without . or .. "
                           "(e.g. /srv/yun-backups), or \"\" for none",
                           v);
    return 0;
}

/* net.pool: the block users' default networks are cut from, a /8 to a /24 (room for at least one /24) */
static int check_net_pool(const char *v, yun_err *err)
{
    if (!*v)
        return 0;
    yun_subnet p;
    if (model_subnet_parse(v, &p, err) < 0)
        return -1;
    if (p.prefix < 8 || p.prefix > 24)
        return yun_err_set(err, YUN_E_INVALID,
                           "net.pool %s must be a /8 to a /24: each user's default network is a /24 cut from it "
                           "(e.g. 10.96.0.0/12), or \"\" for none",
                           v);
    return 0;
}

static int check_policy(const char *v, yun_err *err)
{
    cons_policy p;
    return consolidate_policy_parse(v, &p, err);
}

/* The largest VM allowed (vm.max_*): 0 is no limit. */
#define VM_LIMIT_MAX 1000000000LL

static const ctl_setting_def table[SET_COUNT] = {
    {SET_PLACEMENT_ALGORITHM, "placement.algorithm", SET_T_CUSTOM, SCHED_DEFAULT_ALGORITHM,
     "how the scheduler picks a host for a new VM (docs/placement.md)", NULL, 0, 0, NULL, check_algorithm},
    {SET_PLACEMENT_CPU_RATIO, SCHED_CPU_RATIO_KEY, SET_T_CUSTOM, "1",
     "vCPUs per physical core (1 = no overcommit; e.g. 4); reserved MHz are never overcommitted", NULL, 0, 0, NULL,
     check_cpu_ratio},
    {SET_AGENT_INTERVAL_MS, "agent.interval_ms", SET_T_INT, "2000",
     "how often agents report, in ms (unset: yund's --agent-interval)", NULL, 200, 60000, NULL, NULL},
    {SET_MIGRATION_CONCURRENCY, "migration.concurrency", SET_T_INT, "2", "live migrations a host drain runs at once",
     "live migrations a drain runs at once per host", 1, 16, NULL, NULL},
    {SET_METRICS_INTERVAL_MS, "metrics.interval_ms", SET_T_INT, "5000", "how often agents sample hosts and VMs, in ms",
     NULL, 200, 600000, NULL, NULL},
    {SET_METRICS_POWER_MODEL, "metrics.power_model", SET_T_ENUM, "hp-ml110-g5",
     "hosts' estimated watts: hp-ml110-g4, hp-ml110-g5 (SPECpower) or none", NULL, 0, 0, "hp-ml110-g4|hp-ml110-g5|none",
     NULL},
    {SET_PROBE_ALLOW_HOSTS, MODEL_PROBE_ALLOW_HOSTS_KEY, SET_T_ENUM, "off",
     "may a VM's probe name a host (on), or only reach its VM's own address (off)", NULL, 0, 0, "off|on",
     check_probe_hosts},
    {SET_PORTAL_REGISTRATION, "portal.registration", SET_T_ENUM, "on",
     "on or off: may people create their own accounts?", NULL, 0, 0, "on|off", NULL},
    {SET_ADMISSION_THRESHOLD_PCT, "admission.threshold_pct", SET_T_INT, "100",
     "refuse new VMs while CPU or memory use is above this % (100 = never)", "100: no threshold", 1, 100, NULL, NULL},
    {SET_VM_MAX_CPUS, "vm.max_cpus", SET_T_INT, "0", "largest VM: cpus (0 = no limit)", "0: no limit", 0, VM_LIMIT_MAX,
     NULL, NULL},
    {SET_VM_MAX_MEMORY_MIB, "vm.max_memory_mib", SET_T_INT, "0", "largest VM: memory in MiB (0 = no limit)",
     "0: no limit", 0, VM_LIMIT_MAX, NULL, NULL},
    {SET_VM_MAX_DISK_MIB, "vm.max_disk_mib", SET_T_INT, "0", "largest VM: disk in MiB (0 = no limit)", "0: no limit", 0,
     VM_LIMIT_MAX, NULL, NULL},
    {SET_PRICE_CPU, "price.cpu", SET_T_CUSTOM, "0", "price of one core (one vCPU when overcommitted) per month", NULL,
     0, 0, NULL, check_price},
    {SET_PRICE_MEMORY, "price.memory", SET_T_CUSTOM, "0", "price of one GiB of memory per month", NULL, 0, 0, NULL,
     check_price},
    {SET_PRICE_DISK, "price.disk", SET_T_CUSTOM, "0", "price of one GiB of disk per month", NULL, 0, 0, NULL,
     check_price},
    {SET_PRICE_CURRENCY, "price.currency", SET_T_CUSTOM, "EUR", "shown after prices", NULL, 0, 0, NULL, check_currency},
    {SET_DISPATCH_MODE, "dispatch.mode", SET_T_ENUM, "advise",
     "the live dispatcher: off, advise (plans and shows its moves) or auto (makes them)", NULL, 0, 0, "off|advise|auto",
     NULL},
    {SET_DISPATCH_POLICY, "dispatch.policy", SET_T_CUSTOM, "yun",
     "the consolidation policy it runs, as yun-sim names them (yun, lr-mmt-1.2, thr-mmt-0.8, ...)", NULL, 0, 0, NULL,
     check_policy},
    {SET_DISPATCH_INTERVAL_MS, "dispatch.interval_ms", SET_T_INT, "60000", "how often the dispatcher plans, in ms",
     NULL, 1000, 86400000, NULL, NULL},
    {SET_DISPATCH_COOLDOWN_MS, "dispatch.cooldown_ms", SET_T_INT, "900000",
     "a VM the dispatcher moved stays put this long, and a woken host stays on this long, in ms", NULL, 0, 86400000, NULL, NULL},
    {SET_DISPATCH_MAX_MIGRATIONS, "dispatch.max_migrations", SET_T_INT, "2",
     "live migrations under way in the cloud beyond which the dispatcher starts none", NULL, 1, 64, NULL, NULL},
    {SET_DISPATCH_OBJECTIVE, "dispatch.objective", SET_T_ENUM, "pack",
     "pack (few hosts on, the policy's evacuations, standby) or spread (load even: no evacuations, no standby)", NULL,
     0, 0, "pack|spread", NULL},
    {SET_DISPATCH_BALANCE_THRESHOLD_PCT, "dispatch.balance_threshold_pct", SET_T_INT, "85",
     "a host above this % CPU for the hold time sheds a VM to a cooler host", NULL, 1, 100, NULL, NULL},
    {SET_DISPATCH_BALANCE_HOLD_MS, "dispatch.balance_hold_ms", SET_T_INT, "300000",
     "how long a host must stay above the balancing threshold before it sheds a VM, in ms", NULL, 0, 86400000, NULL,
     NULL},
    {SET_POWER_HEADROOM_HOSTS, "power.headroom_hosts", SET_T_INT, "1",
     "hosts' worth of room the hosts left on keep when the dispatcher puts one on standby (1: N+1)", NULL, 0, 64,
     NULL, NULL},
    {SET_POWER_WAKE_TIMEOUT_MS, "power.wake_timeout_ms", SET_T_INT, "600000",
     "a waking host whose agent has not reported after this long is marked suspect, in ms", NULL, 10000, 86400000,
     NULL, NULL},
    {SET_HA_SUSPECT_MS, "ha.suspect_ms", SET_T_INT, "6000",
     "a host whose agent is silent this long is suspect (its VMs show unknown), in ms", NULL, 1000, 3600000, NULL,
     NULL},
    {SET_HA_DEAD_MS, "ha.dead_ms", SET_T_INT, "15000",
     "a host silent this long is judged: fenced and its VMs restarted elsewhere, or its agent lost, in ms", NULL,
     2000, 3600000, NULL, NULL},
    {SET_HA_LEASE_MS, "ha.lease_ms", SET_T_INT, "0",
     "hosts no power driver can fence: an agent without an answer this long destroys its VMs, which then restart "
     "elsewhere, in ms (0: off; keep it below ha.dead_ms)",
     "0: off", 0, 3600000, NULL, NULL},
    {SET_BACKUP_DIR, "backup.dir", SET_T_CUSTOM, "",
     "the backup store: a folder at this absolute path on yund's machine and every host; \"\": no backups", NULL, 0, 0,
     NULL, check_backup_dir},
    {SET_NET_POOL, "net.pool", SET_T_CUSTOM, "",
     "the block each user's default cloud network (a /24) is cut from, e.g. 10.96.0.0/12; \"\": VMs created "
     "without --network join their host's NAT network",
     NULL, 0, 0, NULL, check_net_pool},
    {SET_LOGIN_DELAY_AFTER, "login.delay_after", SET_T_INT, "5",
     "from this many failed logins (per user name, and per client address) each further try waits, twice as long "
     "each time",
     NULL, 1, 1000, NULL, NULL},
    {SET_LOGIN_DELAY_MS, "login.delay_ms", SET_T_INT, "1000", "the first of those waits, in ms", NULL, 1, 3600000,
     NULL, NULL},
    {SET_LOGIN_LOCK_AFTER, "login.lock_after", SET_T_INT, "10",
     "after this many failed logins the name (or address) is locked for login.lock_ms", NULL, 1, 1000, NULL, NULL},
    {SET_LOGIN_LOCK_MS, "login.lock_ms", SET_T_INT, "900000",
     "how long a lock lasts, in ms; failures older than this are forgotten", NULL, 1000, 604800000, NULL, NULL},
    {SET_AUDIT_RETENTION_DAYS, "audit.retention_days", SET_T_INT, "90",
     "the audit log keeps this many days of changes; older entries are pruned", NULL, 1, 36500, NULL, NULL},
};

const ctl_setting_def *ctl_settings(size_t *n)
{
    *n = SET_COUNT;
    return table;
}

const ctl_setting_def *ctl_setting_def_of(ctl_setting_id id)
{
    return id < SET_COUNT ? &table[id] : NULL;
}

const ctl_setting_def *ctl_setting_find(const char *key, yun_err *err)
{
    for (size_t i = 0; i < SET_COUNT; i++)
        if (key && !strcmp(table[i].key, key))
            return &table[i];
    /* every key, those of one group together ("dispatch.{mode,policy}"); when that no longer fits a message,
     * every group by name and, in full, the group the unknown key names (its likely misspelling) */
    const char *kdot = key ? strchr(key, '.') : NULL;
    size_t kpl = kdot ? (size_t)(kdot - key) + 1 : 0;
    yun_buf b = YUN_BUF_INIT, groups = YUN_BUF_INIT, mine = YUN_BUF_INIT;
    for (size_t i = 0; i < SET_COUNT;) {
        const char *dot = strchr(table[i].key, '.');
        size_t pl = dot ? (size_t)(dot - table[i].key) + 1 : 0, j = i + 1;
        while (pl && j < SET_COUNT && !strncmp(table[j].key, table[i].key, pl))
            j++;
        yun_buf g = YUN_BUF_INIT;
        if (j - i == 1) {
            buf_puts(&g, table[i].key);
        } else {
            buf_printf(&g, "%.*s{", (int)pl, table[i].key);
            for (size_t k = i; k < j; k++)
                buf_printf(&g, "%s%s", k > i ? "," : "", table[k].key + pl);
            buf_puts(&g, "}");
        }
        buf_printf(&b, "%s%s", i ? ", " : "", g.data);
        buf_printf(&groups, "%s%.*s", i ? ", " : "", (int)(pl ? pl - 1 : strlen(table[i].key)), table[i].key);
        if (kpl && kpl == pl && !strncmp(key, table[i].key, pl))
            buf_puts(&mine, g.data);
        buf_free(&g);
        i = j;
    }
    if (b.len + 64 < sizeof err->msg)
        yun_err_set(err, YUN_E_INVALID, "unknown setting \"%.32s\"; the settings: %s", key ? key : "", b.data);
    else
        yun_err_set(err, YUN_E_INVALID, "unknown setting \"%.32s\"; %s%sthe groups: %s (GET /v1/settings lists every key)",
                    key ? key : "", mine.len ? mine.data : "", mine.len ? "; " : "", groups.data);
    buf_free(&groups);
    buf_free(&mine);
    buf_free(&b);
    return NULL;
}

static int check_enum(const ctl_setting_def *d, const char *v, yun_err *err)
{
    char vals[128];
    snprintf(vals, sizeof vals, "%s", d->values);
    const char *opt[8];
    size_t n = 0;
    for (char *p = vals, *save = NULL, *t; n < 8 && (t = strtok_r(p, "|", &save)); p = NULL)
        opt[n++] = t;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(opt[i], v))
            return 0;
    if (d->check) /* a message of its own */
        return d->check(v, err);
    char list[160] = ""; /* "a, b or c" */
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(list);
        snprintf(list + k, sizeof list - k, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "), opt[i]);
    }
    if (n == 2)
        return yun_err_set(err, YUN_E_INVALID, "%s \"%.64s\" must be %s", d->key, v, list);
    return yun_err_set(err, YUN_E_INVALID, "%s \"%.64s\" is not one of %s", d->key, v, list);
}

int ctl_setting_check(const ctl_setting_def *d, const char *v, yun_err *err)
{
    if (!v)
        return yun_err_set(err, YUN_E_INVALID, "setting %s needs a value", d->key);
    switch (d->type) {
    case SET_T_INT: {
        char what[160];
        if (d->hint)
            snprintf(what, sizeof what, "%s (%s)", d->key, d->hint);
        else
            snprintf(what, sizeof what, "%s", d->key);
        int64_t n;
        return num_parse_i64(v, what, d->min, d->max, &n, err);
    }
    case SET_T_ENUM:
        return check_enum(d, v, err);
    case SET_T_CUSTOM:
        return d->check(v, err);
    }
    return yun_err_set(err, YUN_E_INTERNAL, "setting %s has no rule", d->key);
}

int ctl_setting_get(yun_store *s, ctl_setting_id id, char *out, size_t n, yun_err *err)
{
    const ctl_setting_def *d = ctl_setting_def_of(id);
    yun_err e = YUN_ERR_INIT;
    if (store_setting_get(s, d->key, out, n, &e) == 0) {
        if (ctl_setting_check(d, out, NULL) == 0)
            return 1;
    } else if (!yun_err_not_found(&e)) {
        if (err)
            *err = e;
        snprintf(out, n, "%s", d->def);
        return -1;
    }
    snprintf(out, n, "%s", d->def);
    return 0;
}

int ctl_setting_i64(yun_store *s, ctl_setting_id id, int64_t *out, yun_err *err)
{
    char v[64];
    int r = ctl_setting_get(s, id, v, sizeof v, err);
    *out = 0;
    num_parse_i64(v, ctl_setting_def_of(id)->key, INT64_MIN, INT64_MAX, out, NULL);
    return r;
}

int64_t ctl_setting_i64_or_default(yun_store *s, ctl_setting_id id)
{
    int64_t v;
    ctl_setting_i64(s, id, &v, NULL);
    return v;
}

bool ctl_setting_on(yun_store *s, ctl_setting_id id)
{
    char v[8];
    ctl_setting_get(s, id, v, sizeof v, NULL);
    return !strcmp(v, "on");
}

int ctl_setting_set(ctl_ctx *c, yun_store *s, const char *key, const char *value, yun_err *err)
{
    const ctl_setting_def *d = ctl_setting_find(key, err);
    if (!d || ctl_setting_check(d, value, err) < 0 || store_setting_set(s, d->key, value, err) < 0)
        return -1;
    /* answers to agents carry settings (ha.lease_ms, dispatch.mode's caps): each host looks again at once */
    ctl_vms_changed(c);
    return 0;
}
