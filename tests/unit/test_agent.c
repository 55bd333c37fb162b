/* test_agent.c: the agent's decision table, driven against hv_fake with canned answers from yund.
 * Disks are real qcow2 files (qemu-img) in a temporary folder, so cleanup is checked on the file system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "fake_http.h"
#include "hv/hv_net.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/http_client.h"
#include "util/mem.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define U3 "33333333-3333-4333-8333-333333333333"
#define T0 1000000 /* a monotonic "now" for the first pass */

typedef struct fixture {
    char dir[64];
    char vm_dir[128];
    char base[128];
    yun_hv *hv;
    agent_state *st;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/yun-test-agent-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->vm_dir, sizeof f->vm_dir, "%s/vms", f->dir);
    snprintf(f->base, sizeof f->base, "%s/base.qcow2", f->dir);
    AUTOFREE char *cmd = xasprintf("qemu-img create -q -f qcow2 '%s' 64M", f->base);
    if (system(cmd) != 0)
        return -1;
    f->hv = hv_fake_open(4, 2400, 8192);
    f->st = agent_state_new(f->vm_dir, "tcg", 30000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    agent_state_free(f->st);
    hv_close(f->hv);
    AUTOFREE char *cmd = xasprintf("rm -rf '%s'", f->dir);
    int r = system(cmd);
    (void)r;
    free(f);
    return 0;
}

static char *vm_file(fixture *f, const char *uuid, const char *ext)
{
    return xasprintf("%s/%s.%s", f->vm_dir, uuid, ext);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* One VM as yund would list it. */
static json_t *vm(fixture *f, const char *uuid, const char *name, const char *want, bool here)
{
    AUTOFREE char *disk = vm_file(f, uuid, "qcow2");
    AUTOFREE char *console = vm_file(f, uuid, "log");
    AUTOFREE char *domain = xasprintf("yun-alice-%s", name);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, "
                     "s:{s:s, s:s, s:s, s:s}}",
                     "uuid", uuid, "name", name, "owner", "alice", "domain", domain, "want", want, "here", here,
                     "target_host", here ? 0 : 2, "cpus", 1, "mem_mib", 128, "max_mem_mib", 256, "disk_mib", 128,
                     "cpu_shares", 1024, "cpu_cap", 0, "disk", disk, "console", console, "image", "path", f->base,
                     "kernel", "", "initrd", "", "cmdline", "");
}

/* {"vms": [args...]}, taking the references. */
static json_t *answer(int n, ...)
{
    json_t *a = json_array();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        json_array_append_new(a, va_arg(ap, json_t *));
    va_end(ap);
    return json_pack("{s:o}", "vms", a);
}

/* Reconciles desired (consumed) at now; returns the number of actions. */
static int pass(fixture *f, json_t *desired, int64_t now)
{
    yun_err err = YUN_ERR_INIT;
    proto_answer a;
    assert_int_equal(proto_answer_decode(desired, &a, &err), 0);
    int n = agent_reconcile(f->st, f->hv, &a, now, &err);
    proto_answer_free(&a);
    json_decref(desired);
    assert_true(n >= 0);
    return n;
}

static json_t *report(fixture *f)
{
    yun_err err = YUN_ERR_INIT;
    proto_report pr;
    assert_int_equal(agent_report(f->st, f->hv, &pr, &err), 0);
    json_t *r = proto_report_encode(&pr); /* the report as it goes on the wire */
    proto_report_free(&pr);
    return r;
}

static json_t *find_uuid(json_t *arr, const char *uuid)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "uuid")), uuid))
            return v;
    }
    return NULL;
}

/* The agent's verdict on uuid in a fresh report ("" when it gives none); error copied into err_out. */
static void verdict(fixture *f, const char *uuid, char *state_out, size_t n, char *err_out, size_t en)
{
    json_t *r = report(f);
    json_t *v = find_uuid(json_object_get(r, "vms"), uuid);
    snprintf(state_out, n, "%s", v ? json_string_value(json_object_get(v, "state")) : "");
    if (err_out) {
        const char *e = v ? json_string_value(json_object_get(v, "error")) : NULL;
        snprintf(err_out, en, "%s", e ? e : "");
    }
    json_decref(r);
}

static void assert_verdict(fixture *f, const char *uuid, const char *want_state)
{
    char s[32];
    verdict(f, uuid, s, sizeof s, NULL, 0);
    assert_string_equal(s, want_state);
}

static hv_domain_info dom(fixture *f, const char *uuid)
{
    hv_domain_info d;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_domain_get(f->hv, uuid, &d, &err), 0);
    return d;
}

static bool dom_exists(fixture *f, const char *uuid)
{
    hv_domain_info d;
    return hv_domain_get(f->hv, uuid, &d, NULL) == 0;
}

static void start_web1(fixture *f)
{
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 3);
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
}

static const char *report_address(fixture *f, const char *uuid, char *out, size_t n)
{
    json_t *r = report(f);
    const char *a = json_string_value(json_object_get(find_uuid(json_object_get(r, "vms"), uuid), "address"));
    snprintf(out, n, "%s", a ? a : "");
    json_decref(r);
    return out;
}

/* The guest's address goes into the verdict once the hypervisor knows it, and goes away when it stops. */
static void test_report_address(void **state)
{
    fixture *f = *state;
    agent_state_set_network(f->st, HV_NET_NAME, NULL);
    start_web1(f);
    char net[64], br[32], a[HV_ADDR_MAX];
    assert_true(hv_fake_domain_net(f->hv, U1, net, sizeof net, br, sizeof br));
    assert_string_equal(net, HV_NET_NAME);
    /* no lease yet: no address; asked again after AGENT_ADDR_ASK_MS, not every report */
    assert_string_equal(report_address(f, U1, a, sizeof a), "");
    hv_fake_set_address(f->hv, U1, "10.203.0.9");
    assert_string_equal(report_address(f, U1, a, sizeof a), "");
    yun_sleep_ms(AGENT_ADDR_ASK_MS + 50);
    assert_string_equal(report_address(f, U1, a, sizeof a), "10.203.0.9");
    /* a known address is kept between rechecks */
    hv_fake_set_address(f->hv, U1, "10.203.0.10");
    assert_string_equal(report_address(f, U1, a, sizeof a), "10.203.0.9");
    /* stopped: none; started again: learnt afresh at once */
    hv_fake_set_state(f->hv, U1, HV_DOM_SHUTOFF);
    assert_string_equal(report_address(f, U1, a, sizeof a), "");
    hv_fake_set_state(f->hv, U1, HV_DOM_RUNNING);
    assert_string_equal(report_address(f, U1, a, sizeof a), "10.203.0.10");
    /* the domain disappeared behind the agent's back: no address, no error */
    assert_int_equal(hv_domain_undefine(f->hv, U1, NULL), 0);
    hv_fake_set_state(f->hv, U1, HV_DOM_SHUTOFF);
    assert_string_equal(report_address(f, U1, a, sizeof a), "");
}

/* A guest that goes without an address past the fast period (no DHCP, no network) is asked less often, so 50
 * of them do not cost libvirt four calls each per second; its next start asks every second again. */
static void test_address_backoff(void **state)
{
    fixture *f = *state;
    agent_state_set_network(f->st, HV_NET_NAME, NULL);
    agent_state_set_address_backoff(f->st, 300, 5000); /* fast for 0.3 s, then every 5 s */
    start_web1(f);
    char a[HV_ADDR_MAX];
    assert_string_equal(report_address(f, U1, a, sizeof a), ""); /* first ask */
    yun_sleep_ms(AGENT_ADDR_ASK_MS + 50); /* past the fast period: the next ask is 5 s after the last */
    hv_fake_set_address(f->hv, U1, "10.203.0.7");
    assert_string_equal(report_address(f, U1, a, sizeof a), ""); /* fast would have asked: slow does not */
    yun_sleep_ms(AGENT_ADDR_ASK_MS + 50);
    assert_string_equal(report_address(f, U1, a, sizeof a), ""); /* nor a second later */
    /* a restart is a new boot: fast again, so the lease is learnt at once */
    hv_fake_set_state(f->hv, U1, HV_DOM_SHUTOFF);
    assert_string_equal(report_address(f, U1, a, sizeof a), "");
    hv_fake_set_state(f->hv, U1, HV_DOM_RUNNING);
    assert_string_equal(report_address(f, U1, a, sizeof a), "10.203.0.7");
}

/* yes | running | no: overlay, define, start; then nothing more (idempotence). */
static void test_create_defines_and_starts(void **state)
{
    fixture *f = *state;
    start_web1(f);
    assert_string_equal(agent_last_actions(f->st), "create-disk " U1 "\ndefine " U1 "\nstart " U1 "\n");
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_true(exists(disk));
    hv_domain_info d = dom(f, U1);
    assert_string_equal(d.name, "yun-alice-web1");
    assert_true(d.yun_owned);
    assert_string_equal(d.owner, "alice");
    assert_int_equal(d.mem_mib, 128);
    assert_int_equal(d.max_mem_mib, 256);
    assert_verdict(f, U1, "running");
    /* the same answer again: nothing to do, and never a second start */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 2000), 0);
    assert_string_equal(agent_last_actions(f->st), "");
    assert_int_equal(hv_fake_start_count(f->hv, U1), 1);
    json_t *r = report(f);
    json_t *jd = find_uuid(json_object_get(r, "domains"), U1);
    assert_non_null(jd);
    assert_string_equal(json_string_value(json_object_get(jd, "state")), "running");
    assert_true(json_is_true(json_object_get(jd, "yun_owned")));
    assert_true(json_integer_value(json_object_get(r, "disk_free_mib")) > 0);
    json_decref(r);
}

/* kill -9 of the agent: a new agent_state knows nothing, yet starts nothing twice. */
static void test_restart_rederives(void **state)
{
    fixture *f = *state;
    start_web1(f);
    agent_state_free(f->st);
    f->st = agent_state_new(f->vm_dir, "tcg", 30000);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 0);
    assert_int_equal(hv_fake_start_count(f->hv, U1), 1);
    assert_verdict(f, U1, "running");
    /* and a domain that is defined but shut off is started, not defined as a second VM */
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_SHUTOFF), 0);
    assert_verdict(f, U1, "starting");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 2);
    assert_string_equal(agent_last_actions(f->st), "define " U1 "\nstart " U1 "\n");
    assert_int_equal(hv_fake_start_count(f->hv, U1), 2);
    hv_domain_info *doms = NULL;
    size_t n = 0;
    assert_int_equal(hv_domain_list(f->hv, &doms, &n, NULL), 0);
    assert_int_equal(n, 1);
    free(doms);
}

/* yes | running | yes: shares, cap and memory follow yund, live, only when they differ. */
static void test_running_enforces_allocation(void **state)
{
    fixture *f = *state;
    start_web1(f);
    json_t *v = vm(f, U1, "web1", "running", true);
    json_object_set_new(v, "cpu_shares", json_integer(512));
    json_object_set_new(v, "cpu_cap", json_integer(50));
    json_object_set_new(v, "mem_mib", json_integer(96));
    json_incref(v);
    assert_int_equal(pass(f, answer(1, v), T0 + 2000), 2);
    assert_string_equal(agent_last_actions(f->st), "set-sched " U1 "\nset-memory " U1 "\n");
    hv_domain_info d = dom(f, U1);
    assert_int_equal(d.cpu_shares, 512);
    assert_int_equal(d.cpu_cap, 50);
    assert_int_equal(d.mem_mib, 96);
    assert_int_equal(pass(f, answer(1, v), T0 + 4000), 0);
    assert_verdict(f, U1, "running");
}

/* Memory above the running domain's maximum cannot be ballooned: an error beside a running VM. */
static void test_memory_above_max_is_reported(void **state)
{
    fixture *f = *state;
    start_web1(f);
    json_t *v = vm(f, U1, "web1", "running", true);
    json_object_set_new(v, "mem_mib", json_integer(512));
    assert_int_equal(pass(f, answer(1, v), T0 + 2000), 0);
    char s[32], e[512];
    verdict(f, U1, s, sizeof s, e, sizeof e);
    assert_string_equal(s, "running");
    assert_non_null(strstr(e, "maximum of 256 MiB"));
    assert_int_equal(dom(f, U1).mem_mib, 128);
}

/* yes | stopped | yes: ACPI first; a guest that ignores it is asked again, then powered off at the timeout,
 * and no pass waits for it. */
static void test_stop_acpi_then_destroy(void **state)
{
    fixture *f = *state;
    start_web1(f);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0), 1);
    assert_string_equal(agent_last_actions(f->st), "shutdown " U1 "\n");
    /* the fake obeys at once; make it a guest that ignores ACPI */
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_RUNNING), 0);
    assert_verdict(f, U1, "stopping");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0 + 2000), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0 + 6000), 1);
    assert_string_equal(agent_last_actions(f->st), "shutdown " U1 "\n");
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_RUNNING), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0 + 8000), 0);
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0 + 30000), 1);
    assert_string_equal(agent_last_actions(f->st), "destroy " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_SHUTOFF);
    assert_verdict(f, U1, "stopped");
    /* yes | stopped | no: nothing, again and again */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0 + 32000), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0 + 99000), 0);
    assert_true(dom_exists(f, U1)); /* stopped, not deleted: the domain and disk stay */
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_true(exists(disk));
    /* and started again */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 100000), 2);
    assert_string_equal(agent_last_actions(f->st), "define " U1 "\nstart " U1 "\n");
}

/* A refused ACPI request goes straight to a power-off. */
static void test_stop_refused_acpi_powers_off(void **state)
{
    fixture *f = *state;
    start_web1(f);
    hv_fake_fail_next(f->hv, "shutdown", "no ACPI");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0), 2);
    assert_string_equal(agent_last_actions(f->st), "shutdown " U1 "\ndestroy " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_SHUTOFF);
}

/* yes | stopped | no, never defined: nothing is made. */
static void test_stopped_never_defined_makes_nothing(void **state)
{
    fixture *f = *state;
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0), 0);
    assert_false(dom_exists(f, U1));
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_false(exists(disk));
    assert_verdict(f, U1, "stopped");
}

/* no | running | yes: stays (live migration comes later); no | any | no: nothing; no | stopped | yes: shut down. */
static void test_assigned_elsewhere(void **state)
{
    fixture *f = *state;
    start_web1(f);
    /* no | running | yes: migrate; a target without a libvirt URI cannot take it: the failure is the source's
     * verdict (state running, migrate_error), and the domain runs on here */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", false)), T0), 1);
    assert_string_equal(agent_last_actions(f->st), "migrate " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    json_t *r = report(f);
    json_t *v = find_uuid(json_object_get(r, "vms"), U1);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "running");
    assert_non_null(strstr(json_string_value(json_object_get(v, "migrate_error")), "no libvirt URI"));
    json_decref(r);
    /* the failure was delivered: forgotten, and not retried before the backoff */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", false)), T0 + 100), 0);
    assert_verdict(f, U1, "");
    /* no | any | no: nothing */
    assert_int_equal(pass(f, answer(1, vm(f, U2, "web2", "running", false)), T0), 0);
    assert_false(dom_exists(f, U2));
    assert_int_equal(pass(f, answer(1, vm(f, U2, "web2", "stopped", false)), T0), 0);
    /* no | stopped | yes: shut it down; once off, its definition goes (the assigned host defines its own) */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", false)), T0), 1);
    assert_string_equal(agent_last_actions(f->st), "shutdown " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_SHUTOFF);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", false)), T0), 1);
    assert_string_equal(agent_last_actions(f->st), "undefine " U1 "\n");
    assert_false(dom_exists(f, U1));
    /* the disk stays: it belongs to the assigned host's VM */
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_true(exists(disk));
}

/* HA: a copy of a VM that was started on another host after this one was judged dead is destroyed, never
 * migrated (evict), then undefined once off; the disk stays (the VM runs on it there). */
static void test_evicted_copy_destroyed(void **state)
{
    fixture *f = *state;
    start_web1(f);
    json_t *j = vm(f, U1, "web1", "running", false);
    json_object_set_new(j, "evict", json_true());
    json_object_set_new(j, "target_libvirt_uri", json_string("fake://h2"));
    assert_int_equal(pass(f, answer(1, j), T0), 1);
    assert_string_equal(agent_last_actions(f->st), "evict " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_SHUTOFF);
    assert_int_equal(agent_migrations_active(f->st), 0);
    j = vm(f, U1, "web1", "running", false);
    json_object_set_new(j, "evict", json_true());
    assert_int_equal(pass(f, answer(1, j), T0 + 10), 1);
    assert_string_equal(agent_last_actions(f->st), "undefine " U1 "\n");
    assert_false(dom_exists(f, U1));
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_true(exists(disk));
}

/* HA's self-fencing: the running domains of the VMs the last answer put here are destroyed; others (assigned
 * elsewhere, or strangers) are left alone. */
static void test_self_fence(void **state)
{
    fixture *f = *state;
    assert_int_equal(pass(f, answer(2, vm(f, U1, "web1", "running", true), vm(f, U2, "web2", "stopped", true)), T0), 3);
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(agent_self_fence(f->st, f->hv, &err), 1);
    assert_int_equal(dom(f, U1).state, HV_DOM_SHUTOFF);
    assert_int_equal(agent_self_fence(f->st, f->hv, &err), 0);
    /* the next answer that still puts it here starts it again */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 10), 2);
    assert_string_equal(agent_last_actions(f->st), "define " U1 "\nstart " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
}

/* One VM as the source of a live migration sees it: assigned to host 2, which the fake reaches as
 * fake://h2 and streams to at tcp://10.0.0.2. */
static json_t *vm_to_h2(fixture *f, const char *uuid, const char *name, const char *want)
{
    json_t *j = vm(f, uuid, name, want, false);
    json_object_set_new(j, "target_libvirt_uri", json_string("fake://h2"));
    json_object_set_new(j, "migrate_uri", json_string("tcp://10.0.0.2"));
    json_object_set_new(j, "target_vnc_listen", json_string("192.168.7.2"));
    return j;
}

static const char *mig_field(json_t *r, const char *uuid, const char *key)
{
    json_t *v = find_uuid(json_object_get(r, "vms"), uuid);
    json_t *x = v ? json_object_get(v, key) : NULL;
    return x ? json_string_value(x) : NULL;
}

/* no | running | yes with a reachable target: the migration runs in a worker thread while passes go on and
 * report "migrating"; then "migrated" with its figures, once; the domain is on the target, running, not
 * started again, and gone here. */
static void test_migrate_out(void **state)
{
    fixture *f = *state;
    yun_hv *h2 = hv_fake_open(4, 2400, 8192);
    hv_fake_add_peer(f->hv, "fake://h2", h2);
    start_web1(f);
    /* long enough that the next pass and report see it still under way on a loaded machine (300 ms was not) */
    hv_fake_set_migrate_ms(f->hv, 2000);
    assert_int_equal(pass(f, answer(1, vm_to_h2(f, U1, "web1", "running")), T0), 1);
    assert_string_equal(agent_last_actions(f->st), "migrate " U1 "\n");
    assert_int_equal(agent_migrations_active(f->st), 1);
    /* the loop is not held up: another pass, with another VM to start, acts at once */
    assert_int_equal(
        pass(f, answer(2, vm_to_h2(f, U1, "web1", "running"), vm(f, U2, "web2", "running", true)), T0 + 10), 3);
    assert_string_equal(agent_last_actions(f->st), "create-disk " U2 "\ndefine " U2 "\nstart " U2 "\n");
    json_t *r = report(f);
    assert_string_equal(mig_field(r, U1, "state"), "migrating");
    json_decref(r);
    agent_migrations_join(f->st);
    assert_int_equal(agent_migrations_active(f->st), 0);
    r = report(f);
    assert_string_equal(mig_field(r, U1, "state"), "migrated");
    assert_int_equal(json_integer_value(json_object_get(find_uuid(json_object_get(r, "vms"), U1), "total_ms")), 2000);
    json_decref(r);
    assert_false(dom_exists(f, U1));
    hv_domain_info d;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_domain_get(h2, U1, &d, &err), 0);
    assert_int_equal(d.state, HV_DOM_RUNNING);
    assert_int_equal(hv_fake_start_count(h2, U1), 0);
    /* its XML there has the target's VNC address (was 127.0.0.1 here) and appends to the console log */
    AUTOFREE char *x = hv_fake_domain_xml(h2, U1);
    assert_non_null(x);
    assert_non_null(strstr(x, "listen=\"192.168.7.2\""));
    assert_null(strstr(x, "127.0.0.1"));
    assert_non_null(strstr(x, "append=\"on\""));
    /* the report was answered: the outcome is forgotten; yund no longer lists the VM here */
    assert_int_equal(pass(f, answer(1, vm(f, U2, "web2", "running", true)), T0 + 20), 0);
    assert_verdict(f, U1, "");
    agent_state_free(f->st); /* before h2 goes */
    f->st = agent_state_new(f->vm_dir, "tcg", 30000);
    hv_close(h2);
}

/* A migration that fails (libvirt's error injected) leaves the VM running here; the verdict carries the
 * message once; a yund that still asks gets a retry only after the backoff. */
static void test_migrate_out_fails(void **state)
{
    fixture *f = *state;
    yun_hv *h2 = hv_fake_open(4, 2400, 8192);
    hv_fake_add_peer(f->hv, "fake://h2", h2);
    start_web1(f);
    hv_fake_fail_next(f->hv, "migrate", "operation failed: job 'migration out' failed: connection reset");
    assert_int_equal(pass(f, answer(1, vm_to_h2(f, U1, "web1", "running")), T0), 1);
    agent_migrations_join(f->st);
    json_t *r = report(f);
    assert_string_equal(mig_field(r, U1, "state"), "running");
    const char *me = mig_field(r, U1, "migrate_error");
    assert_non_null(me);
    assert_non_null(strstr(me, "connection reset"));
    assert_non_null(strstr(me, "fake://h2"));
    json_decref(r);
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    hv_domain_info d;
    assert_int_equal(hv_domain_get(h2, U1, &d, NULL), -1);
    /* delivered; yund (an old one) asks again at once: backing off */
    assert_int_equal(pass(f, answer(1, vm_to_h2(f, U1, "web1", "running")), T0 + 100), 0);
    assert_int_equal(pass(f, answer(1, vm_to_h2(f, U1, "web1", "running")), T0 + 1000), 0);
    /* after 2 s it tries again, and this time it works */
    assert_int_equal(pass(f, answer(1, vm_to_h2(f, U1, "web1", "running")), T0 + 2200), 1);
    agent_migrations_join(f->st);
    assert_false(dom_exists(f, U1));
    /* a yund that put it back here (the usual answer to a failure) makes it a normal VM of this host */
    agent_state_free(f->st);
    f->st = agent_state_new(f->vm_dir, "tcg", 30000);
    hv_close(h2);
}

/* yes | running | no, migrating in ("incoming"): the agent neither defines nor starts it, says "migrating"
 * while the domain is absent or paused, and treats it as its own once it runs. */
static void test_migrate_in_waits(void **state)
{
    fixture *f = *state;
    json_t *in = vm(f, U1, "web1", "running", true);
    json_object_set_new(in, "incoming", json_true());
    assert_int_equal(pass(f, answer(1, json_deep_copy(in)), T0), 0);
    assert_false(dom_exists(f, U1));
    assert_verdict(f, U1, "migrating");
    /* the source's libvirt brings it, paused at first */
    yun_hv *src = hv_fake_open(4, 2400, 8192);
    hv_fake_add_peer(src, "fake://here", f->hv);
    hv_domain_spec s = {.uuid = U1,
                        .name = "yun-alice-web1",
                        .owner = "alice",
                        .cpus = 1,
                        .mem_mib = 128,
                        .max_mem_mib = 256,
                        .disk_path = "/x.qcow2"};
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(hv_domain_define(src, &s, &err), 0);
    assert_int_equal(hv_domain_start(src, U1, &err), 0);
    assert_int_equal(hv_domain_migrate(src, U1, &(hv_migrate_opts){.dest_uri = "fake://here"}, NULL, &err), 0);
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_PAUSED), 0);
    assert_int_equal(pass(f, answer(1, json_deep_copy(in)), T0 + 10), 0);
    assert_verdict(f, U1, "migrating");
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_RUNNING), 0);
    assert_int_equal(pass(f, answer(1, in), T0 + 20), 0);
    assert_verdict(f, U1, "running");
    assert_int_equal(hv_fake_start_count(f->hv, U1), 0);
    hv_close(src);
}

/* unknown to yund: reported, never touched; a stranger carrying a listed uuid is not touched either. */
/* ---- jobs (agent_job.h) ---- */

static void write_file(const char *path, const char *mode, const void *data, size_t n);

/* answer with web1 running here and one job (references taken) */
static json_t *with_job(fixture *f, json_t *job)
{
    json_t *a = answer(1, vm(f, U1, "web1", "running", true));
    json_object_set_new(a, "jobs", json_pack("[o]", job));
    return a;
}

static json_t *job_verdict(fixture *f, int64_t id)
{
    json_t *r = report(f);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "jobs"), i, v) if (json_integer_value(json_object_get(v, "id")) == id)
    {
        json_incref(v);
        json_decref(r);
        return v;
    }
    json_decref(r);
    return NULL;
}

/* A backup runs in a worker (the loop goes on), says running, then done with the file's size and sha256; an
 * incremental one that names a checkpoint the domain does not have fails with the hypervisor's reason. */
static void test_job_backup(void **state)
{
    fixture *f = *state;
    start_web1(f);
    hv_fake_set_backup_ms(f->hv, 200);
    AUTOFREE char *path = xasprintf("%s/bk/%s/1.qcow2", f->dir, U1);
    json_t *job = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "uuid", U1, "id", 1, "kind", "backup", "state",
                            "pending", "domain", "yun-alice-web1", "name", "yun-1", "path", path);
    assert_int_equal(pass(f, with_job(f, job), T0), 1);
    assert_int_equal(agent_jobs_running(f->st), 1);
    json_t *v = job_verdict(f, 1);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "running");
    json_decref(v);
    agent_jobs_wait(f->st);
    v = job_verdict(f, 1);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "done");
    assert_int_equal(strlen(json_string_value(json_object_get(v, "sha256"))), 64);
    assert_true(json_integer_value(json_object_get(v, "bytes")) > 0);
    json_decref(v);
    assert_true(exists(path));
    AUTOFREE char *cps = hv_fake_checkpoints(f->hv, U1);
    assert_string_equal(cps, "yun-1 ");
    /* listed again while yund has not applied the verdict: not run twice */
    job = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "uuid", U1, "id", 1, "kind", "backup", "state", "running", "name",
                    "yun-1", "path", path);
    assert_int_equal(pass(f, with_job(f, job), T0 + 10), 0);
    /* yund has it: forgotten */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 20), 0);
    assert_null(job_verdict(f, 1));
    /* incremental since an unknown checkpoint */
    AUTOFREE char *p2 = xasprintf("%s/bk/%s/2.qcow2", f->dir, U1);
    job = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "uuid", U1, "id", 2, "kind", "backup", "state",
                    "pending", "name", "yun-2", "path", p2, "since", "yun-0", "base", path);
    pass(f, with_job(f, job), T0 + 30);
    agent_jobs_wait(f->st);
    v = job_verdict(f, 2);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "yun-0"));
    json_decref(v);
    assert_false(exists(p2));
}

/* A job yund lists as running that this agent does not know was cut short by a restart of the agent: undone
 * (its checkpoint and file removed, earlier ones kept) and failed as interrupted; never run again. */
static void test_job_interrupted(void **state)
{
    fixture *f = *state;
    start_web1(f);
    AUTOFREE char *p1 = xasprintf("%s/bk1.qcow2", f->dir);
    AUTOFREE char *p2 = xasprintf("%s/bk2.qcow2", f->dir);
    json_t *job = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "uuid", U1, "id", 1, "kind", "backup", "state", "pending",
                            "name", "yun-1", "path", p1);
    pass(f, with_job(f, job), T0);
    agent_jobs_wait(f->st);
    pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 10);
    /* a new agent: the half-made file of job 2 is there, and its checkpoint */
    agent_state_free(f->st);
    f->st = agent_state_new(f->vm_dir, "tcg", 30000);
    write_file(p2, "w", "partial", 7);
    hv_backup_opts o = {.path = p2, .checkpoint = "yun-2", .since = "yun-1"};
    yun_err err = YUN_ERR_INIT;
    unlink(p2);
    assert_int_equal(hv_domain_backup(f->hv, U1, &o, NULL, &err), 0);
    job = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "uuid", U1, "id", 2, "kind", "backup", "state", "running", "name",
                    "yun-2", "path", p2);
    pass(f, with_job(f, job), T0 + 20);
    agent_jobs_wait(f->st);
    json_t *v = job_verdict(f, 2);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "interrupted"));
    json_decref(v);
    assert_false(exists(p2));
    assert_true(exists(p1));
    AUTOFREE char *cps = hv_fake_checkpoints(f->hv, U1);
    assert_string_equal(cps, "yun-1 ");
}

/* A restore checks every file of the chain against its sha256 first: a changed one fails it, naming the file,
 * and the VM's disk is left as it was. */
static void test_job_restore_checks_sums(void **state)
{
    fixture *f = *state;
    AUTOFREE char *b1 = xasprintf("%s/b1.qcow2", f->dir);
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    write_file(b1, "w", "not what was backed up", 22);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "stopped", true)), T0), 0);
    json_t *job = json_pack("{s:s, s:i, s:s, s:s, s:s, s:[{s:s, s:s}]}", "uuid", U1, "id", 5, "kind", "restore",
                            "state", "pending", "disk", disk, "chain", "path", b1, "sha256",
                            "0000000000000000000000000000000000000000000000000000000000000001");
    json_t *a = answer(1, vm(f, U1, "web1", "stopped", true));
    json_object_set_new(a, "jobs", json_pack("[o]", job));
    pass(f, a, T0 + 10);
    agent_jobs_wait(f->st);
    json_t *v = job_verdict(f, 5);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "does not match its checksum"));
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), b1));
    json_decref(v);
    assert_false(exists(disk));
}

static void test_strangers_and_orphans_untouched(void **state)
{
    fixture *f = *state;
    start_web1(f);
    hv_fake_add_foreign(f->hv, U2, "someone-elses", true);
    hv_fake_add_foreign(f->hv, U3, "also-not-ours", true);
    /* web1 is no longer listed (an orphan); U3 is listed with want deleted but has no metadata */
    assert_int_equal(pass(f, answer(1, vm(f, U3, "web3", "deleted", true)), T0), 0);
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    assert_int_equal(dom(f, U2).state, HV_DOM_RUNNING);
    assert_int_equal(dom(f, U3).state, HV_DOM_RUNNING);
    json_t *r = report(f);
    json_t *doms = json_object_get(r, "domains");
    assert_int_equal(json_array_size(doms), 3);
    assert_true(json_is_false(json_object_get(find_uuid(doms, U2), "yun_owned")));
    assert_true(json_is_true(json_object_get(find_uuid(doms, U1), "yun_owned")));
    assert_null(find_uuid(json_object_get(r, "vms"), U1));
    json_t *v3 = find_uuid(json_object_get(r, "vms"), U3);
    assert_string_equal(json_string_value(json_object_get(v3, "state")), "error");
    assert_non_null(strstr(json_string_value(json_object_get(v3, "error")), "not yun's metadata"));
    json_decref(r);
    /* wanted running here: still not touched */
    assert_int_equal(pass(f, answer(1, vm(f, U2, "web2", "running", true)), T0), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U2, "web2", "stopped", true)), T0), 0);
    assert_int_equal(dom(f, U2).state, HV_DOM_RUNNING);
}

/* want deleted: destroy, undefine, disk and console gone, then `deleted`, and nothing on later passes. */
static void test_delete_cleans_up(void **state)
{
    fixture *f = *state;
    start_web1(f);
    AUTOFREE char *console = vm_file(f, U1, "log");
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    FILE *c = fopen(console, "w");
    fputs("boot\n", c);
    fclose(c);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "deleted", true)), T0), 4);
    assert_string_equal(agent_last_actions(f->st),
                        "destroy " U1 "\nundefine " U1 "\nremove-disk " U1 "\nremove-console " U1 "\n");
    assert_false(dom_exists(f, U1));
    assert_false(exists(disk));
    assert_false(exists(console));
    assert_verdict(f, U1, "deleted");
    /* the report was lost, yund asks again: the same verdict, nothing done */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "deleted", true)), T0 + 2000), 0);
    assert_verdict(f, U1, "deleted");
    /* yund acknowledged and dropped it */
    assert_int_equal(pass(f, answer(0), T0 + 4000), 0);
    assert_verdict(f, U1, "");
}

/* define fails after the overlay was made: the overlay goes, the VM shows libvirt's message; the next pass
 * tries again. */
static void test_define_failure(void **state)
{
    fixture *f = *state;
    hv_fake_fail_next(f->hv, "define", "XML error: bad things");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 2);
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_false(exists(disk));
    assert_false(dom_exists(f, U1));
    char s[32], e[512];
    verdict(f, U1, s, sizeof s, e, sizeof e);
    assert_string_equal(s, "error");
    assert_non_null(strstr(e, "XML error: bad things"));
    /* not hammered: the next try waits 2 s, the one after 4 s */
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 1000), 0);
    assert_verdict(f, U1, "error");
    hv_fake_fail_next(f->hv, "define", "XML error: bad things");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 2000), 2);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 5000), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 6000), 3);
    assert_verdict(f, U1, "running");
}

/* start fails: error with the message; the later deletion still removes domain and disk. */
static void test_start_failure_then_delete(void **state)
{
    fixture *f = *state;
    hv_fake_fail_next(f->hv, "start", "internal error: qemu unexpectedly closed the monitor");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 3);
    char s[32], e[512];
    verdict(f, U1, s, sizeof s, e, sizeof e);
    assert_string_equal(s, "error");
    assert_non_null(strstr(e, "qemu unexpectedly closed the monitor"));
    assert_true(dom_exists(f, U1));
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "deleted", true)), T0 + 2000), 2);
    assert_string_equal(agent_last_actions(f->st), "undefine " U1 "\nremove-disk " U1 "\n");
    AUTOFREE char *disk = vm_file(f, U1, "qcow2");
    assert_false(exists(disk));
    assert_false(dom_exists(f, U1));
    assert_verdict(f, U1, "deleted");
}

/* A failing deletion step is an error, and the next pass finishes the job. */
static void test_delete_failure_retried(void **state)
{
    fixture *f = *state;
    start_web1(f);
    hv_fake_fail_next(f->hv, "undefine", "cannot undefine");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "deleted", true)), T0), 2);
    assert_verdict(f, U1, "error");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "deleted", true)), T0 + 2000), 2);
    assert_verdict(f, U1, "deleted");
    assert_false(dom_exists(f, U1));
}

/* One VM failing does not stop the others. */
static void test_failures_are_per_vm(void **state)
{
    fixture *f = *state;
    hv_fake_fail_next(f->hv, "define", "no");
    assert_int_equal(pass(f, answer(2, vm(f, U1, "web1", "running", true), vm(f, U2, "web2", "running", true)), T0), 5);
    assert_verdict(f, U1, "error");
    assert_verdict(f, U2, "running");
    assert_int_equal(dom(f, U2).state, HV_DOM_RUNNING);
}

/* reboot: true is acted on once; the next answer without it does nothing. */
static void test_reboot_once(void **state)
{
    fixture *f = *state;
    start_web1(f);
    json_t *v = vm(f, U1, "web1", "running", true);
    json_object_set_new(v, "reboot", json_true());
    assert_int_equal(pass(f, answer(1, v), T0 + 2000), 1);
    assert_string_equal(agent_last_actions(f->st), "reboot " U1 "\n");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 4000), 0);
    assert_int_equal(hv_fake_start_count(f->hv, U1), 1);
}

/* A guest that powered itself off or crashed while wanted running is started again. */
static void test_crashed_or_off_restarted(void **state)
{
    fixture *f = *state;
    start_web1(f);
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_CRASHED), 0);
    assert_verdict(f, U1, "error");
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 3);
    assert_string_equal(agent_last_actions(f->st), "destroy " U1 "\ndefine " U1 "\nstart " U1 "\n");
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    assert_verdict(f, U1, "running");
}

static void write_file(const char *path, const char *mode, const void *data, size_t n)
{
    FILE *c = fopen(path, mode);
    assert_non_null(c);
    assert_int_equal(fwrite(data, 1, n, c), n);
    fclose(c);
}

static json_t *tail_of(json_t *r, const char *uuid)
{
    json_t *c = find_uuid(json_object_get(r, "consoles"), uuid);
    return c ? json_object_get(c, "tail") : NULL;
}

/* Console tails: sent when the file changed since the last delivered report, at most 64 KiB, valid UTF-8. */
static void test_console_tail(void **state)
{
    fixture *f = *state;
    start_web1(f);
    AUTOFREE char *console = vm_file(f, U1, "log");
    const char *boot = "Linux version\nYUN-GUEST-READY\n";
    write_file(console, "w", boot, strlen(boot));
    json_t *r = report(f);
    assert_string_equal(json_string_value(tail_of(r, U1)), boot);
    json_decref(r);
    /* not delivered (no answer came): sent again */
    r = report(f);
    assert_non_null(tail_of(r, U1));
    json_decref(r);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0), 0);
    r = report(f);
    assert_null(tail_of(r, U1));
    json_decref(r);
    /* 100 KiB more, cut mid-character and with bytes that are not UTF-8 */
    size_t n = 100 * 1024;
    AUTOFREE char *big = xmalloc(n);
    for (size_t i = 0; i < n; i += 2) {
        big[i] = (char)0xC3; /* "é" = C3 A9 */
        big[i + 1] = (char)0xA9;
    }
    big[n - 10] = (char)0xFF;
    big[n - 5] = 0;
    write_file(console, "a", big + 1, n - 1);
    r = report(f);
    json_t *t = tail_of(r, U1);
    assert_non_null(t);
    size_t len = json_string_length(t);
    assert_true(len <= AGENT_CONSOLE_TAIL_MAX && len > AGENT_CONSOLE_TAIL_MAX - 8);
    const char *s = json_string_value(t);
    assert_memory_equal(s, "\xC3\xA9", 2);
    assert_non_null(strchr(s, '?'));
    json_decref(r);
}

/* A malformed answer is refused as a whole; a malformed VM in it is skipped, the others go on. */
static void test_malformed_answer(void **state)
{
    fixture *f = *state;
    yun_err err = YUN_ERR_INIT;
    json_t *bad = json_pack("{s:s}", "vm", "x");
    proto_answer pa;
    assert_int_equal(proto_answer_decode(bad, &pa, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "vms"));
    json_decref(bad);
    json_t *evil = vm(f, U2, "web2", "running", true);
    json_object_set_new(evil, "uuid", json_string("../../etc/passwd"));
    json_t *nowant = vm(f, U3, "web3", "running", true);
    json_object_set_new(nowant, "want", json_string("flying"));
    assert_int_equal(pass(f, answer(3, evil, nowant, vm(f, U1, "web1", "running", true)), T0), 3);
    assert_int_equal(dom(f, U1).state, HV_DOM_RUNNING);
    assert_false(dom_exists(f, U3));
}

/* The hypervisor cannot list: the pass fails whole, nothing is decided on a blind view. */
static void test_list_failure(void **state)
{
    fixture *f = *state;
    yun_err err = YUN_ERR_INIT;
    hv_fake_fail_next(f->hv, "list", "libvirtd went away");
    json_t *a = answer(1, vm(f, U1, "web1", "running", true));
    proto_answer pa;
    assert_int_equal(proto_answer_decode(a, &pa, &err), 0);
    assert_int_equal(agent_reconcile(f->st, f->hv, &pa, T0, &err), -1);
    proto_answer_free(&pa);
    assert_non_null(strstr(err.msg, "libvirtd went away"));
    json_decref(a);
    assert_false(dom_exists(f, U1));
}

/* ---- agent_run against a small yund stand-in (fake_http.h), the hypervisor being hv_fake ---- */

typedef struct mini_yund {
    fake_http *d;
    char url[64];
    const char *vm_dir;
    pthread_mutex_t lock; /* guards everything below */
    int register_fail;    /* answer this many registrations with 503 first */
    int register_status;  /* 0, or a status every registration gets (401) */
    int report_404;       /* answer this many reports with 404 */
    int report_503;       /* answer this many reports with 503 (yund's store out of reach) */
    int n_register, n_report;
    int n_held;                   /* reports that asked to be held (?since=V&wait_ms=W) */
    char last_since[32];          /* the since of the last report, "" when none */
    char first_running_since[32]; /* the since of the first report with a "running" verdict; "-" before */
    int version;                  /* > 0: answers carry this version (long-poll) */
    char *last_register, *last_report;
    json_t *answer; /* what a report gets */
} mini_yund;

static void reply(fake_http_resp *rs, int status, const char *body)
{
    rs->status = status;
    rs->content_type = "application/json";
    buf_puts(&rs->body, body);
}

static void on_request(void *ud, const fake_http_req *rq, fake_http_resp *rs)
{
    mini_yund *y = ud;
    struct MHD_Connection *c = rq->conn;
    const char *url = rq->url, *method = rq->method;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strcmp(auth, "Bearer tok") != 0 || strcmp(method, "POST") != 0) {
        reply(rs, 401, "{\"error\": {\"code\": \"unauthorized\", \"message\": \"wrong token\"}}");
        return;
    }
    pthread_mutex_lock(&y->lock);
    if (!strcmp(url, "/v1/agent/register")) {
        y->n_register++;
        free(y->last_register);
        y->last_register = xstrdup(rq->body);
        if (y->register_status) {
            reply(rs, y->register_status, "{\"error\": {\"code\": \"unauthorized\", \"message\": \"no\"}}");
        } else if (y->register_fail > 0) {
            y->register_fail--;
            reply(rs, 503, "{\"error\": {\"code\": \"unavailable\", \"message\": \"starting\"}}");
        } else {
            AUTOFREE char *body = xasprintf("{\"host_id\": 7, \"interval_ms\": 2000, \"image_dir\": \"/nowhere\", "
                                            "\"vm_dir\": \"%s\"}",
                                            y->vm_dir);
            reply(rs, 200, body);
        }
    } else if (!strcmp(url, "/v1/agent/hosts/7/report")) {
        y->n_report++;
        const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
        const char *wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait_ms");
        snprintf(y->last_since, sizeof y->last_since, "%s", since ? since : "");
        if (since && wait)
            y->n_held++;
        if (!strcmp(y->first_running_since, "-") && strstr(rq->body, "\"state\":\"running\""))
            snprintf(y->first_running_since, sizeof y->first_running_since, "%s", since ? since : "");
        free(y->last_report);
        y->last_report = xstrdup(rq->body);
        if (y->report_404 > 0) {
            y->report_404--;
            reply(rs, 404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no host 7\"}}");
        } else if (y->report_503 > 0) {
            y->report_503--;
            reply(rs, 503, "{\"error\": {\"code\": \"unavailable\", \"message\": \"out of reach\"}}");
        } else {
            if (y->version > 0)
                json_object_set_new(y->answer, "version", json_integer(y->version));
            AUTOFREE char *body = json_dumps(y->answer, JSON_COMPACT);
            reply(rs, 200, body);
        }
    } else {
        reply(rs, 404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no such path\"}}");
    }
    pthread_mutex_unlock(&y->lock);
}

static mini_yund *mini_yund_start(fixture *f)
{
    mini_yund *y = xcalloc(1, sizeof *y);
    y->vm_dir = f->vm_dir;
    pthread_mutex_init(&y->lock, NULL);
    y->answer = answer(0);
    snprintf(y->first_running_since, sizeof y->first_running_since, "-");
    y->d = fake_http_start(on_request, y);
    assert_non_null(y->d);
    snprintf(y->url, sizeof y->url, "%s/", fake_http_url(y->d));
    return y;
}

static void mini_yund_stop(mini_yund *y)
{
    fake_http_stop(y->d);
    pthread_mutex_destroy(&y->lock);
    json_decref(y->answer);
    free(y->last_register);
    free(y->last_report);
    free(y);
}

typedef struct run_ctx {
    agent_config cfg;
    atomic_bool stop;
    yun_err err;
    int rc;
    pthread_t th;
} run_ctx;

static void *run_thread(void *p)
{
    run_ctx *r = p;
    r->rc = agent_run(&r->cfg, &r->err);
    return NULL;
}

static void run_start(run_ctx *r, fixture *f, mini_yund *y)
{
    memset(r, 0, sizeof *r);
    r->cfg = (agent_config){.controller_url = y->url,
                            .token = "tok",
                            .libvirt_uri = "fake:///",
                            .host_name = "h7",
                            .interval_ms = 50,
                            .hv = f->hv,
                            .stop = &r->stop};
    assert_int_equal(pthread_create(&r->th, NULL, run_thread, r), 0);
}

static void run_stop(run_ctx *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
}

/* Waits up to 10 s for n reports. */
static bool wait_reports(mini_yund *y, int n)
{
    for (int64_t end = yun_mono_ms() + 10000; yun_mono_ms() < end; yun_sleep_ms(20)) {
        pthread_mutex_lock(&y->lock);
        bool ok = y->n_report >= n;
        pthread_mutex_unlock(&y->lock);
        if (ok)
            return true;
    }
    return false;
}

/* Waits up to 10 s for a report whose verdict on uuid is state. */
static bool wait_verdict(mini_yund *y, const char *uuid, const char *state)
{
    for (int64_t end = yun_mono_ms() + 10000; yun_mono_ms() < end; yun_sleep_ms(20)) {
        pthread_mutex_lock(&y->lock);
        json_t *rep = y->last_report ? json_loads(y->last_report, 0, NULL) : NULL;
        pthread_mutex_unlock(&y->lock);
        json_t *v = find_uuid(json_object_get(rep, "vms"), uuid);
        bool ok = v && !strcmp(json_string_value(json_object_get(v, "state")), state);
        json_decref(rep);
        if (ok)
            return true;
    }
    return false;
}

/* yund answering 503 (its store out of reach during a database failover) is asked again every interval, not
 * after a growing backoff: 8 of them at 50 ms take 0.4 s, where doubling would take 12.75 s (past this wait). */
static void test_run_503_retried_every_interval(void **state)
{
    fixture *f = *state;
    mini_yund *y = mini_yund_start(f);
    y->report_503 = 8;
    run_ctx r;
    run_start(&r, f, y);
    assert_true(wait_reports(y, 9));
    run_stop(&r);
    assert_int_equal(r.rc, 0);
    mini_yund_stop(y);
}

/* The whole loop: register (after yund comes up), report, act on the answer, report the verdict. */
static void test_run_registers_reports_and_acts(void **state)
{
    fixture *f = *state;
    mini_yund *y = mini_yund_start(f);
    y->register_fail = 1;
    json_decref(y->answer);
    y->answer = answer(1, vm(f, U1, "web1", "running", true));
    hv_fake_add_foreign(f->hv, U2, "someone-elses", true);
    run_ctx r;
    run_start(&r, f, y);
    assert_true(wait_verdict(y, U1, "running"));
    run_stop(&r);
    assert_int_equal(r.rc, 0);
    assert_true(y->n_register >= 2); /* 503, then yes (and once more if "." and vm_dir differ in size) */
    json_t *reg = json_loads(y->last_register, 0, NULL);
    assert_non_null(reg);
    assert_string_equal(json_string_value(json_object_get(reg, "name")), "h7");
    assert_int_equal(json_integer_value(json_object_get(reg, "cores")), 4);
    assert_int_equal(json_integer_value(json_object_get(reg, "mhz")), 2400);
    assert_int_equal(json_integer_value(json_object_get(reg, "mem_mib")), 8192);
    assert_string_equal(json_string_value(json_object_get(reg, "accel")), "tcg");
    assert_string_equal(json_string_value(json_object_get(reg, "libvirt_uri")), "fake:///");
    assert_true(json_integer_value(json_object_get(reg, "disk_total_mib")) > 0);
    json_decref(reg);
    json_t *rep = json_loads(y->last_report, 0, NULL);
    assert_non_null(rep);
    assert_int_equal(json_array_size(json_object_get(rep, "domains")), 2);
    json_t *v = find_uuid(json_object_get(rep, "vms"), U1);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "running");
    json_decref(rep);
    assert_int_equal(hv_fake_start_count(f->hv, U1), 1);
    assert_int_equal(dom(f, U2).state, HV_DOM_RUNNING);
    /* by default the guest joins yun's own NAT network, which the agent set up */
    char net[64], br[32];
    assert_true(hv_fake_domain_net(f->hv, U1, net, sizeof net, br, sizeof br));
    assert_string_equal(net, HV_NET_NAME);
    assert_string_equal(br, "");
    mini_yund_stop(y);
}

/* The guests' network by the agent's config: a NAT network that cannot be set up leaves guests on an
 * unconnected tap (and the agent running); --bridge puts them on the operator's bridge. */
static void test_run_guest_network_modes(void **state)
{
    fixture *f = *state;
    mini_yund *y = mini_yund_start(f);
    json_decref(y->answer);
    y->answer = answer(1, vm(f, U1, "web1", "running", true));
    hv_fake_fail_next(f->hv, "net_ensure", "Cannot check dnsmasq binary /usr/sbin/dnsmasq: No such file");
    run_ctx r;
    run_start(&r, f, y);
    assert_true(wait_verdict(y, U1, "running"));
    run_stop(&r);
    assert_int_equal(r.rc, 0);
    char net[64], br[32];
    assert_true(hv_fake_domain_net(f->hv, U1, net, sizeof net, br, sizeof br));
    assert_string_equal(net, "");
    assert_string_equal(br, "");

    pthread_mutex_lock(&y->lock);
    json_decref(y->answer);
    y->answer = answer(2, vm(f, U1, "web1", "running", true), vm(f, U2, "web2", "running", true));
    pthread_mutex_unlock(&y->lock);
    memset(&r, 0, sizeof r);
    r.cfg = (agent_config){.controller_url = y->url,
                           .token = "tok",
                           .libvirt_uri = "fake:///",
                           .host_name = "h7",
                           .interval_ms = 50,
                           .hv = f->hv,
                           .stop = &r.stop,
                           .bridge = "br0"};
    assert_int_equal(pthread_create(&r.th, NULL, run_thread, &r), 0);
    assert_true(wait_verdict(y, U2, "running"));
    run_stop(&r);
    assert_true(hv_fake_domain_net(f->hv, U2, net, sizeof net, br, sizeof br));
    assert_string_equal(net, "");
    assert_string_equal(br, "br0");
    /* a running guest keeps what it was started with */
    assert_true(hv_fake_domain_net(f->hv, U1, net, sizeof net, br, sizeof br));
    assert_string_equal(br, "");
    mini_yund_stop(y);
}

/* A pass stuck in a slow call (here qemu-img, made to take a second) does not silence the host: the last
 * report is resent every interval meanwhile, and the pass still completes once. */
static void test_run_keepalive_during_slow_pass(void **state)
{
    fixture *f = *state;
    AUTOFREE char *bin = xasprintf("%s/bin", f->dir);
    AUTOFREE char *wrapper = xasprintf("%s/qemu-img", bin);
    assert_int_equal(mkdir(bin, 0755), 0);
    const char *script = "#!/bin/sh\nsleep 1\nPATH=${PATH#*:} exec qemu-img \"$@\"\n";
    write_file(wrapper, "w", script, strlen(script));
    assert_int_equal(chmod(wrapper, 0755), 0);
    AUTOFREE char *old_path = xstrdup(getenv("PATH"));
    AUTOFREE char *path = xasprintf("%s:%s", bin, old_path);
    setenv("PATH", path, 1);
    mini_yund *y = mini_yund_start(f);
    json_decref(y->answer);
    y->answer = answer(1, vm(f, U1, "web1", "running", true));
    run_ctx r;
    run_start(&r, f, y);
    assert_true(wait_verdict(y, U1, "running"));
    run_stop(&r);
    setenv("PATH", old_path, 1);
    assert_int_equal(r.rc, 0);
    /* about 1 s of passes at 50 ms without the keepalive would be 2 reports before "running" */
    assert_true(y->n_report >= 8);
    assert_int_equal(hv_fake_start_count(f->hv, U1), 1);
    mini_yund_stop(y);
}

/* Long-poll: with answers that carry a version, the agent asks yund to hold its reports (since = that
 * version), except the one right after a pass that acted, which goes out at once. */
static void test_run_long_poll(void **state)
{
    fixture *f = *state;
    mini_yund *y = mini_yund_start(f);
    y->version = 41;
    json_decref(y->answer);
    y->answer = answer(1, vm(f, U1, "web1", "running", true));
    run_ctx r;
    run_start(&r, f, y);
    assert_true(wait_verdict(y, U1, "running"));
    int held = 0;
    for (int64_t end = yun_mono_ms() + 5000; yun_mono_ms() < end && !held; yun_sleep_ms(20)) {
        pthread_mutex_lock(&y->lock);
        held = y->n_held;
        pthread_mutex_unlock(&y->lock);
    }
    run_stop(&r);
    assert_int_equal(r.rc, 0);
    assert_true(held > 0);
    assert_string_equal(y->last_since, "41");
    /* the report right after the pass that started web1 went out at once, not held */
    assert_string_equal(y->first_running_since, "");
    assert_int_equal(hv_fake_start_count(f->hv, U1), 1);
    mini_yund_stop(y);
}

/* A token yund refuses ends agent_run with a message that says what to do. */
static void test_run_bad_token_is_fatal(void **state)
{
    fixture *f = *state;
    mini_yund *y = mini_yund_start(f);
    y->register_status = 401;
    run_ctx r;
    run_start(&r, f, y);
    pthread_join(r.th, NULL);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.err.code, YUN_E_UNAUTHORIZED);
    assert_non_null(strstr(r.err.msg, "refused this host's credential"));
    assert_int_equal(y->n_register, 1);
    mini_yund_stop(y);
}

/* yund forgot the host (404 on report): the agent registers again and goes on. */
static void test_run_reregisters_on_404(void **state)
{
    fixture *f = *state;
    mini_yund *y = mini_yund_start(f);
    y->report_404 = 1;
    run_ctx r;
    run_start(&r, f, y);
    assert_true(wait_reports(y, 3));
    run_stop(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(y->n_register, 2);
    mini_yund_stop(y);
}

/* The management address: domains defined after it is set get VNC there, the default is loopback, and a
 * wildcard is refused by the setter and by agent_run before anything starts. */
static void test_vnc_listen_follows_mgmt_addr(void **state)
{
    fixture *f = *state;
    start_web1(f);
    AUTOFREE char *x1 = hv_fake_domain_xml(f->hv, U1);
    assert_non_null(x1);
    assert_non_null(strstr(x1, "listen=\"127.0.0.1\""));
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(agent_state_set_vnc_listen(f->st, "0.0.0.0", &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "--mgmt-addr"));
    assert_non_null(strstr(err.msg, "wildcard"));
    assert_int_equal(agent_state_set_vnc_listen(f->st, "10.201.0.2", &err), 0);
    /* the running domain keeps its address until it is defined again at its next start */
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_SHUTOFF), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 4000), 2);
    AUTOFREE char *x2 = hv_fake_domain_xml(f->hv, U1);
    assert_non_null(strstr(x2, "listen=\"10.201.0.2\""));
    assert_null(strstr(x2, "127.0.0.1"));
    assert_int_equal(agent_state_set_vnc_listen(f->st, NULL, &err), 0);
    assert_int_equal(hv_fake_set_state(f->hv, U1, HV_DOM_SHUTOFF), 0);
    assert_int_equal(pass(f, answer(1, vm(f, U1, "web1", "running", true)), T0 + 8000), 2);
    AUTOFREE char *x3 = hv_fake_domain_xml(f->hv, U1);
    assert_non_null(strstr(x3, "listen=\"127.0.0.1\""));

    agent_config cfg = {.controller_url = "http://127.0.0.1:9/", .token = "tok", .hv = f->hv, .mgmt_addr = "::"};
    assert_int_equal(agent_run(&cfg, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "wildcard"));
}

/* Stopped while yund is unreachable: agent_run returns at once, without error. */
static void test_run_stops_while_unreachable(void **state)
{
    fixture *f = *state;
    run_ctx r;
    memset(&r, 0, sizeof r);
    r.cfg = (agent_config){.controller_url = "http://127.0.0.1:9/", .token = "tok", .hv = f->hv, .stop = &r.stop};
    assert_int_equal(pthread_create(&r.th, NULL, run_thread, &r), 0);
    yun_sleep_ms(300);
    int64_t t0 = yun_mono_ms();
    run_stop(&r);
    assert_true(yun_mono_ms() - t0 < 2000);
    assert_int_equal(r.rc, 0);
}

int main(void)
{
    http_global_init();
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_defines_and_starts),
        T(test_report_address),
        T(test_address_backoff),
        T(test_restart_rederives),
        T(test_running_enforces_allocation),
        T(test_memory_above_max_is_reported),
        T(test_stop_acpi_then_destroy),
        T(test_stop_refused_acpi_powers_off),
        T(test_stopped_never_defined_makes_nothing),
        T(test_assigned_elsewhere),
        T(test_evicted_copy_destroyed),
        T(test_self_fence),
        T(test_migrate_out),
        T(test_migrate_out_fails),
        T(test_migrate_in_waits),
        T(test_job_backup),
        T(test_job_interrupted),
        T(test_job_restore_checks_sums),
        T(test_strangers_and_orphans_untouched),
        T(test_delete_cleans_up),
        T(test_define_failure),
        T(test_start_failure_then_delete),
        T(test_delete_failure_retried),
        T(test_failures_are_per_vm),
        T(test_reboot_once),
        T(test_crashed_or_off_restarted),
        T(test_console_tail),
        T(test_malformed_answer),
        T(test_list_failure),
        T(test_run_registers_reports_and_acts),
        T(test_run_503_retried_every_interval),
        T(test_run_guest_network_modes),
        T(test_run_keepalive_during_slow_pass),
        T(test_run_long_poll),
        T(test_run_bad_token_is_fatal),
        T(test_run_reregisters_on_404),
        T(test_run_stops_while_unreachable),
        T(test_vnc_listen_follows_mgmt_addr),
    };
    return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
