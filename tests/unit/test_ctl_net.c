/* test_ctl_net.c: cloud networks and yund's IPAM (ctl_net.c) on a real in-memory store: validation with clear
 * errors, subnets that never overlap, VNIs, addresses handed out lowest first and given back with the VM, a
 * full network, a failed create leaving no row, the default network cut from net.pool, and what a host is told
 * (its VMs' NICs, the networks it carries, their peers and every VM's name, address and MAC). */
#include "ctl_fixture.h"

#include "model/net.h"

static int setup(void **state)
{
    fx *f = fx_new(2000, NULL);
    yun_host h1 = fx_host("h1", 8, 16384), h2 = fx_host("h2", 8, 16384);
    snprintf(h1.migrate_addr, sizeof h1.migrate_addr, "10.201.0.1");
    snprintf(h2.migrate_addr, sizeof h2.migrate_addr, "10.201.0.2");
    f->h1 = fx_register(f, &h1);
    fx_register(f, &h2);
    *state = f;
    return 0;
}

static int net_new(fx *f, const yun_user *actor, const char *name, const char *subnet, bool pub, yun_network *out,
                   yun_err *err)
{
    yun_network n = {.is_public = pub};
    snprintf(n.name, sizeof n.name, "%s", name);
    snprintf(n.subnet, sizeof n.subnet, "%s", subnet);
    int r = ctl_network_create(f->c, f->s, actor, actor, &n, err);
    if (out)
        *out = n;
    return r;
}

/* A VM of alice's on network (or "" for her default), created through ctl; -1 with err when refused. */
static int vm_on(fx *f, const char *name, const char *network, yun_vm *out, yun_err *err)
{
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "%s", name);
    snprintf(vm.network, sizeof vm.network, "%s", network);
    vm.cpus = 1;
    vm.mem_mib = 64;
    vm.disk_mib = 1024;
    vm.image_id = f->img.id;
    vm.want = YUN_WANT_RUNNING;
    assert_int_equal(model_vm_validate(&vm, err), 0);
    sched_choice ch;
    int r = ctl_vm_create(f->c, f->s, &f->alice, &vm, &ch, err);
    if (out)
        *out = vm;
    return r;
}

static const char *ip_of(fx *f, int64_t vm_id)
{
    static yun_lease l;
    yun_err err = YUN_ERR_INIT;
    if (store_lease_get(f->s, vm_id, &l, &err) < 0)
        return "";
    return l.ip;
}

static void test_create_checks(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_network lab;
    assert_int_equal(net_new(f, &f->alice, "lab", "10.50.0.0/24", false, &lab, &err), 0);
    assert_int_equal(lab.vni, 1);
    err = (yun_err)YUN_ERR_INIT;
    assert_int_equal(net_new(f, &f->alice, "big", "10.0.0.0/8", false, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "too big"));
    assert_int_equal(net_new(f, &f->alice, "small", "10.51.0.0/30", false, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "too small"));
    assert_int_equal(net_new(f, &f->alice, "hb", "10.52.0.9/24", false, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "did you mean 10.52.0.0/24"));
    assert_int_equal(net_new(f, &f->alice, "Bad_Name", "10.53.0.0/24", false, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(net_new(f, &f->alice, "over", "10.50.0.64/26", false, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "overlaps 10.50.0.0/24 of network alice/lab"));
    assert_int_equal(net_new(f, &f->alice, "wide", "10.50.0.0/16", false, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(net_new(f, &f->alice, "lab", "10.54.0.0/24", false, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(net_new(f, &f->alice, "pub", "10.55.0.0/24", true, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_FORBIDDEN);
    yun_network *all = NULL;
    size_t n = 0;
    assert_int_equal(store_network_list(f->s, &all, &n, &err), 0);
    assert_int_equal(n, 1); /* nothing of the refused ones */
    free(all);
    /* VNIs: the lowest free one */
    yun_network b, c;
    assert_int_equal(net_new(f, &f->alice, "b", "10.60.0.0/24", false, &b, &err), 0);
    assert_int_equal(b.vni, 2);
    assert_int_equal(ctl_network_delete(f->c, f->s, lab.id, &err), 0);
    assert_int_equal(net_new(f, &f->alice, "c", "10.50.0.0/24", false, &c, &err), 0);
    assert_int_equal(c.vni, 1);
}

static void test_ipam(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_network tiny;
    assert_int_equal(net_new(f, &f->alice, "tiny", "10.70.0.0/29", false, &tiny, &err), 0);
    yun_vm v[5];
    char name[8];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "v%d", i);
        assert_int_equal(vm_on(f, name, "tiny", &v[i], &err), 0);
    }
    assert_string_equal(ip_of(f, v[0].id), "10.70.0.2"); /* .1 is the gateway */
    assert_string_equal(ip_of(f, v[4].id), "10.70.0.6"); /* .7 is the broadcast */
    /* full: refused, and the refused VM leaves no row */
    assert_int_equal(vm_on(f, "v5", "tiny", NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "no free address"));
    yun_vm got;
    assert_int_equal(store_vm_get_by_name(f->s, f->alice.id, "v5", &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    /* in use: named */
    assert_int_equal(ctl_network_delete(f->c, f->s, tiny.id, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "in use by 5 VMs (v0, v1, v2, v3, v4)"));
    /* an address goes back with its VM, and is the next one given */
    bool gone = false;
    assert_int_equal(ctl_vm_delete(f->c, f->s, v[1].id, true, NULL, &gone, &err), 0);
    assert_true(gone);
    yun_vm again;
    assert_int_equal(vm_on(f, "again", "tiny", &again, &err), 0);
    assert_string_equal(ip_of(f, again.id), "10.70.0.3");
    /* an unknown network: not found, and no VM row */
    assert_int_equal(vm_on(f, "lost", "nowhere", NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "network nowhere not found"));
    assert_int_equal(store_vm_get_by_name(f->s, f->alice.id, "lost", &got, &err), -1);
}

static void test_default_network(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_vm a, b;
    /* no pool: the host's own network, no lease */
    assert_int_equal(vm_on(f, "plain", "", &a, &err), 0);
    assert_string_equal(ip_of(f, a.id), "");
    /* a pool whose first /24 is taken: the next one */
    assert_int_equal(net_new(f, &f->alice, "taken", "10.96.0.0/24", false, NULL, &err), 0);
    assert_int_equal(store_setting_set(f->s, "net.pool", "10.96.0.0/16", &err), 0);
    assert_int_equal(vm_on(f, "d1", "", &a, &err), 0);
    assert_int_equal(vm_on(f, "d2", "", &b, &err), 0);
    yun_network d;
    assert_int_equal(store_network_get_by_name(f->s, f->alice.id, "default", &d, &err), 0);
    assert_string_equal(d.subnet, "10.96.1.0/24");
    assert_string_equal(ip_of(f, a.id), "10.96.1.2");
    assert_string_equal(ip_of(f, b.id), "10.96.1.3");
}

static void test_answer(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_network lab;
    assert_int_equal(net_new(f, &f->alice, "lab", "10.50.0.0/24", false, &lab, &err), 0);
    yun_vm a, b, c;
    assert_int_equal(vm_on(f, "a", "lab", &a, &err), 0);
    assert_int_equal(vm_on(f, "b", "lab", &b, &err), 0);
    assert_int_equal(vm_on(f, "c", "", &c, &err), 0); /* the host's own network */
    /* b runs on h2 */
    yun_vm row = fx_vm(f, b.uuid);
    yun_host h2;
    assert_int_equal(store_host_get_by_name(f->s, "h2", &h2, &err), 0);
    row.host_id = h2.id;
    assert_int_equal(store_vm_update(f->s, &row, &err), 0);
    row = fx_vm(f, a.uuid);
    row.host_id = f->h1;
    assert_int_equal(store_vm_update(f->s, &row, &err), 0);
    row = fx_vm(f, c.uuid);
    row.host_id = f->h1;
    assert_int_equal(store_vm_update(f->s, &row, &err), 0);

    ctl_report r = {0};
    ctl_answer ans;
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, T0, &ans, &err), 0);
    assert_int_equal(ans.n_networks, 1);
    proto_network *pn = &ans.networks[0];
    assert_int_equal(pn->vni, lab.vni);
    assert_string_equal(pn->subnet, "10.50.0.0/24");
    assert_string_equal(pn->owner, "alice");
    assert_int_equal(pn->n_peers, 1);
    assert_string_equal(pn->peers[0].addr, "10.201.0.2");
    assert_int_equal(pn->n_hosts, 2); /* b too, though it runs elsewhere: DNS knows it */
    assert_string_equal(pn->hosts[1].name, "b");
    assert_string_equal(pn->hosts[1].ip, "10.50.0.3");
    assert_string_equal(pn->hosts[1].mac, "0a:59:0a:32:00:03");
    bool saw_a = false, saw_c = false;
    for (size_t i = 0; i < ans.n; i++) {
        if (!strcmp(ans.vms[i].vm.name, "a")) {
            saw_a = true;
            assert_int_equal(ans.vms[i].vni, lab.vni);
            assert_string_equal(ans.vms[i].ip, "10.50.0.2");
            assert_string_equal(ans.vms[i].mac, "0a:59:0a:32:00:02");
        }
        if (!strcmp(ans.vms[i].vm.name, "c")) {
            saw_c = true;
            assert_int_equal(ans.vms[i].vni, 0);
            assert_string_equal(ans.vms[i].ip, "");
        }
    }
    assert_true(saw_a && saw_c);
    ctl_answer_free(&ans);
    /* b migrates to h1: h2 is no peer any more, and h2 carries lab only while the migration runs */
    row = fx_vm(f, b.uuid);
    row.migrate_from = h2.id;
    row.host_id = f->h1;
    assert_int_equal(store_vm_update(f->s, &row, &err), 0);
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, T0, &ans, &err), 0);
    assert_int_equal(ans.networks[0].n_peers, 1); /* the source, until the migration ends */
    ctl_answer_free(&ans);
    row.migrate_from = 0;
    assert_int_equal(store_vm_update(f->s, &row, &err), 0);
    assert_int_equal(ctl_agent_report(f->c, f->s, f->h1, &r, T0, &ans, &err), 0);
    assert_int_equal(ans.networks[0].n_peers, 0);
    ctl_answer_free(&ans);
    assert_int_equal(ctl_agent_report(f->c, f->s, h2.id, &r, T0, &ans, &err), 0);
    assert_int_equal(ans.n_networks, 0); /* h2 carries nothing of lab now */
    ctl_answer_free(&ans);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_checks, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ipam, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_default_network, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_answer, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
