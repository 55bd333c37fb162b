/* test_ctl_cluster.c: virtual clusters (ctl_cluster.c) on a real in-memory store, hosts as their agents register
 * them (no hypervisor is involved in ctl: placement, rows, leases and seeds are what it makes): placement as a
 * whole with anti-affinity (spread over every host, sharing only when there are fewer hosts than members), a
 * cluster that does not fit or fails a check leaving nothing (no VM, lease, network, seed, row), the key pair
 * in every member's seed, scale up and down, and delete reaping the row and network once the members are gone.
 * The anti-affinity rule itself is sched_pick's (test_ctl_sched.c covers the placement engine's side). */
#include "ctl_fixture.h"

#include "model/cluster.h"
#include "util/mem.h"

static int setup3(void **state)
{
    fx *f = fx_new(2000, NULL);
    for (int i = 0; i < 3; i++) {
        char n[8];
        snprintf(n, sizeof n, "h%d", i + 1);
        yun_host h = fx_host(n, 2, 16384);
        int64_t id = fx_register(f, &h);
        if (i == 0)
            f->h1 = id;
    }
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_setting_set(f->c, f->s, "net.pool", "10.97.0.0/16", &err), 0);
    *state = f;
    return 0;
}

static int mk(fx *f, const char *name, int nodes, yun_err *err)
{
    ctl_cluster_req req = {.name = name, .nodes = nodes, .image_id = f->img.id, .cpus = 1, .mem_mib = 256};
    return ctl_cluster_create(f->c, f->s, &f->alice, &req, NULL, err);
}

static size_t count_vms(fx *f)
{
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_list(f->s, -1, -1, &vms, &n, &err), 0);
    return n;
}

static size_t count_networks(fx *f)
{
    AUTOFREE yun_network *ns = NULL;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_network_list(f->s, &ns, &n, &err), 0);
    return n;
}

static size_t count_leases(fx *f)
{
    AUTOFREE yun_lease *ls = NULL;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_lease_list(f->s, -1, &ls, &n, &err), 0);
    return n;
}

static size_t count_clusters(fx *f)
{
    AUTOFREE yun_cluster *cs = NULL;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_cluster_list(f->s, -1, &cs, &n, &err), 0);
    return n;
}

/* members of cluster name: how many, and the most on one host and how many hosts hold one */
static void spread(fx *f, const char *name, size_t *n, int *most, int *hosts)
{
    yun_cluster cl;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(ctl_cluster_find(f->s, &f->alice, name, &cl, &err), 0);
    AUTOFREE yun_vm *ms = NULL;
    assert_int_equal(ctl_cluster_members(f->s, &cl, &ms, n, &err), 0);
    int per[64] = {0};
    for (size_t i = 0; i < *n; i++)
        if (ms[i].want != YUN_WANT_DELETED)
            per[ms[i].host_id]++;
    *most = *hosts = 0;
    for (int i = 0; i < 64; i++) {
        *most = per[i] > *most ? per[i] : *most;
        *hosts += per[i] > 0;
    }
}

static void test_create_spreads(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(mk(f, "c", 2, &err), 0);
    size_t n;
    int most, hosts;
    spread(f, "c", &n, &most, &hosts);
    assert_int_equal(n, 3); /* head, c-0, c-1: one per host */
    assert_int_equal(most, 1);
    assert_int_equal(hosts, 3);
    yun_vm head;
    assert_int_equal(store_vm_get_by_name(f->s, f->alice.id, "c-head", &head, &err), 0);
    assert_int_equal(head.state, YUN_VM_SCHEDULED);
    /* one network made for it, every member leased there */
    yun_network net;
    assert_int_equal(store_network_get_by_name(f->s, f->alice.id, "c", &net, &err), 0);
    assert_string_equal(net.subnet, "10.97.0.0/24");
    assert_int_equal(count_leases(f), 3);
    /* the seed: the cluster's private key for debian, its public key authorized */
    yun_cluster cl;
    assert_int_equal(ctl_cluster_find(f->s, &f->alice, "c", &cl, &err), 0);
    assert_true(cl.own_network);
    assert_non_null(strstr(cl.pubkey, "ssh-ed25519 "));
    AUTOFREE char *ud = NULL;
    size_t udn = 0;
    assert_int_equal(store_seed_get(f->s, head.uuid, &ud, &udn, &err), 0);
    assert_non_null(strstr(ud, "-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_non_null(strstr(ud, "path: /home/debian/.ssh/id_ed25519\n"));
    assert_non_null(strstr(ud, "permissions: '0600'"));
    char line[256];
    snprintf(line, sizeof line, "  - \"%s\"", cl.pubkey);
    assert_non_null(strstr(ud, line));
}

static void test_shares_when_fewer_hosts(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(mk(f, "c", 4, &err), 0); /* 5 members on 3 hosts of 2 cores */
    size_t n;
    int most, hosts;
    spread(f, "c", &n, &most, &hosts);
    assert_int_equal(n, 5);
    assert_int_equal(hosts, 3);
    assert_int_equal(most, 2); /* shares only as much as it must */
}

static void test_does_not_fit_leaves_nothing(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    fx_create(f, "other", 1, 64, 0);           /* 5 of 6 cores left; alice's default network and its lease */
    assert_int_equal(mk(f, "c", 5, &err), -1); /* 6 members */
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "cluster c does not fit"));
    assert_non_null(strstr(err.msg, "after placing 5 of its 6 new members, c-4 does not"));
    assert_non_null(strstr(err.msg, "no host has 1 free cores"));
    assert_int_equal(count_vms(f), 1);
    assert_int_equal(count_networks(f), 1);
    assert_int_equal(count_leases(f), 1);
    assert_int_equal(count_clusters(f), 0);
    /* a cluster that fits still does */
    assert_int_equal(mk(f, "c", 4, &err), 0);
}

static void test_quota_and_names_leave_nothing(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_quota q = {.max_vms = 3};
    assert_int_equal(ctl_user_update(f->c, f->s, f->alice.id, &q, -1, &f->alice, &err), 0);
    assert_int_equal(mk(f, "c", 3, &err), -1); /* 4 members, 3 allowed */
    assert_int_equal(err.code, YUN_E_QUOTA);
    assert_int_equal(count_vms(f) + count_networks(f) + count_leases(f) + count_clusters(f), 0);
    q.max_vms = 0;
    assert_int_equal(ctl_user_update(f->c, f->s, f->alice.id, &q, -1, &f->alice, &err), 0);
    fx_create(f, "c-1", 1, 64, 0); /* a member's name taken */
    err = (yun_err)YUN_ERR_INIT;
    assert_int_equal(mk(f, "c", 2, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "c-1"));
    assert_int_equal(count_vms(f), 1);
    assert_int_equal(count_networks(f), 1); /* c-1's default */
    assert_int_equal(count_leases(f), 1);
    assert_int_equal(count_clusters(f), 0);
    err = (yun_err)YUN_ERR_INIT;
    assert_int_equal(mk(f, "bad_name", 2, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_int_equal(mk(f, "d", 0, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
}

/* The agents' verdict on deleted VMs: their rows go. */
static void verdict_gone(fx *f)
{
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(store_vm_list(f->s, -1, -1, &vms, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        if (vms[i].want == YUN_WANT_DELETED)
            assert_int_equal(store_vm_delete(f->s, vms[i].id, &err), 0);
}

static void test_scale_and_delete(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(mk(f, "c", 2, &err), 0);
    yun_cluster cl;
    assert_int_equal(ctl_cluster_scale(f->c, f->s, &f->alice, "c", 4, &cl, &err), 0);
    assert_int_equal(cl.nodes, 4);
    size_t n;
    int most, hosts;
    spread(f, "c", &n, &most, &hosts);
    assert_int_equal(n, 5);
    assert_int_equal(most, 2);
    assert_int_equal(hosts, 3);
    yun_vm v3;
    assert_int_equal(store_vm_get_by_name(f->s, f->alice.id, "c-3", &v3, &err), 0);
    assert_int_equal(count_leases(f), 5);
    /* a new node gets what every member got at create: the head's user-data */
    yun_vm head;
    assert_int_equal(store_vm_get_by_name(f->s, f->alice.id, "c-head", &head, &err), 0);
    AUTOFREE char *ud_head = NULL, *ud_new = NULL;
    size_t n_head = 0, n_new = 0;
    assert_int_equal(store_seed_get(f->s, head.uuid, &ud_head, &n_head, &err), 0);
    assert_int_equal(store_seed_get(f->s, v3.uuid, &ud_new, &n_new, &err), 0);
    assert_string_equal(ud_head, ud_new);
    /* more than fits: refused, nothing added */
    assert_int_equal(ctl_cluster_scale(f->c, f->s, &f->alice, "c", 6, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_int_equal(count_vms(f), 5);
    /* down to 1: c-1 .. c-3 go, the highest first */
    assert_int_equal(ctl_cluster_scale(f->c, f->s, &f->alice, "c", 1, &cl, &err), 0);
    assert_int_equal(store_vm_get_by_name(f->s, f->alice.id, "c-3", &v3, &err), 0);
    assert_int_equal(v3.want, YUN_WANT_DELETED);
    verdict_gone(f);
    assert_int_equal(count_vms(f), 2);
    assert_int_equal(count_leases(f), 2);
    /* delete: members first; the row and network once they are gone */
    assert_int_equal(ctl_cluster_delete(f->c, f->s, &f->alice, "c", &err), 0);
    assert_int_equal(count_clusters(f), 1);
    assert_int_equal(mk(f, "c", 1, &err), -1); /* the name is not free while it goes */
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(ctl_cluster_scale(f->c, f->s, &f->alice, "c", 2, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    verdict_gone(f);
    assert_int_equal(ctl_cluster_tick(f->c, f->s, &err), 1);
    assert_int_equal(count_vms(f) + count_networks(f) + count_leases(f) + count_clusters(f), 0);
    assert_int_equal(ctl_cluster_find(f->s, &f->alice, "c", &cl, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
}

static void test_given_network_stays(void **state)
{
    fx *f = *state;
    yun_err err = YUN_ERR_INIT;
    yun_network lab = {0};
    snprintf(lab.name, sizeof lab.name, "lab");
    snprintf(lab.subnet, sizeof lab.subnet, "10.50.0.0/24");
    assert_int_equal(ctl_network_create(f->c, f->s, &f->alice, &f->alice, &lab, &err), 0);
    ctl_cluster_req req = {.name = "c", .nodes = 1, .image_id = f->img.id, .cpus = 1, .mem_mib = 256, .network = "lab"};
    assert_int_equal(ctl_cluster_create(f->c, f->s, &f->alice, &req, NULL, &err), 0);
    assert_int_equal(count_networks(f), 1);
    assert_int_equal(ctl_cluster_delete(f->c, f->s, &f->alice, "c", &err), 0);
    verdict_gone(f);
    assert_int_equal(ctl_cluster_tick(f->c, f->s, &err), 1);
    assert_int_equal(count_networks(f), 1); /* the user's network stays */
    /* without net.pool and without a network: refused, saying what to give */
    assert_int_equal(ctl_setting_set(f->c, f->s, "net.pool", "", &err), 0);
    assert_int_equal(mk(f, "d", 1, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "--network"));
    assert_int_equal(count_vms(f) + count_clusters(f), 0);
}

/* The rule itself: a host holding a member is taken only when no other has room, fewest members first. */
static void test_sched_anti_affinity(void **state)
{
    (void)state;
    sched_host hs[3] = {0};
    for (int i = 0; i < 3; i++) {
        hs[i].id = i + 1;
        snprintf(hs[i].name, sizeof hs[i].name, "h%d", i + 1);
        hs[i].state = YUN_HOST_UP;
        hs[i].cores = 4;
        hs[i].mhz = 2000;
        hs[i].mem_mib = 4096;
        hs[i].disk_total_mib = hs[i].disk_free_mib = 100000;
    }
    yun_vm vm = {.cpus = 1, .mem_mib = 256, .disk_mib = 1024};
    sched_choice ch;
    yun_err err = YUN_ERR_INIT;
    hs[0].group = 1; /* first-fit would take h1 */
    assert_int_equal(sched_pick(hs, 3, &vm, "first-fit", &ch, &err), 0);
    assert_int_equal(ch.host_id, 2);
    assert_non_null(strstr(ch.reason, "anti-affinity"));
    hs[1].group = 1;
    hs[2].group = 2;
    assert_int_equal(sched_pick(hs, 3, &vm, "first-fit", &ch, &err), 0);
    assert_int_equal(ch.host_id, 1); /* all hold members: the fewest, then the algorithm's order */
    assert_non_null(strstr(ch.reason, "anti-affinity yields"));
    hs[0].used_cpus = hs[1].used_cpus = 4; /* only h3, with 2 members, has room */
    assert_int_equal(sched_pick(hs, 3, &vm, "first-fit", &ch, &err), 0);
    assert_int_equal(ch.host_id, 3);
    hs[2].used_cpus = 4;
    assert_int_equal(sched_pick(hs, 3, &vm, "first-fit", &ch, &err), -1);
    assert_int_equal(err.code, YUN_E_NO_CAPACITY);
    assert_non_null(strstr(err.msg, "no host has 1 free cores"));
}

static void test_model_names(void **state)
{
    (void)state;
    char n[YUN_NAME_MAX];
    model_cluster_member("c", -1, n, sizeof n);
    assert_string_equal(n, "c-head");
    model_cluster_member("c", 12, n, sizeof n);
    assert_string_equal(n, "c-12");
    int k = 0;
    assert_int_equal(model_cluster_member_of("c", "c-head", &k), 1);
    assert_int_equal(k, -1);
    assert_int_equal(model_cluster_member_of("c", "c-7", &k), 1);
    assert_int_equal(k, 7);
    assert_int_equal(model_cluster_member_of("c", "c-07", &k), 0);
    assert_int_equal(model_cluster_member_of("c", "cc-1", &k), 0);
    assert_int_equal(model_cluster_member_of("c", "c-x", &k), 0);
    assert_int_equal(model_cluster_member_of("c", "c-", &k), 0);
    char pub[YUN_CLUSTER_PUBKEY_MAX], priv[YUN_CLUSTER_PRIVKEY_MAX], fp[64];
    model_cluster_keypair("c", pub, priv);
    char checked[YUN_SSH_KEY_MAX];
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(model_ssh_key_check(pub, checked, sizeof checked, &err), 0); /* the rule users' keys meet */
    model_ssh_key_fingerprint(pub, fp, sizeof fp);
    assert_non_null(strstr(pub, " yun-cluster-c"));
    assert_non_null(strstr(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA"));
    char pub2[YUN_CLUSTER_PUBKEY_MAX], priv2[YUN_CLUSTER_PRIVKEY_MAX];
    model_cluster_keypair("c", pub2, priv2);
    assert_string_not_equal(pub, pub2); /* a new pair each time */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_spreads, setup3, fx_teardown),
        cmocka_unit_test_setup_teardown(test_shares_when_fewer_hosts, setup3, fx_teardown),
        cmocka_unit_test_setup_teardown(test_does_not_fit_leaves_nothing, setup3, fx_teardown),
        cmocka_unit_test_setup_teardown(test_quota_and_names_leave_nothing, setup3, fx_teardown),
        cmocka_unit_test_setup_teardown(test_scale_and_delete, setup3, fx_teardown),
        cmocka_unit_test_setup_teardown(test_given_network_stays, setup3, fx_teardown),
        cmocka_unit_test(test_sched_anti_affinity),
        cmocka_unit_test(test_model_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
