/* Unit tests of host and domain statistics (src/hv/hv_stats.h): the rate math on hand-computed counters
 * (first sample, counters that go back, missing fields, no elapsed time), libvirt's typed parameters, the
 * /proc parsers on made-up files, the fake source, and the libvirt source on libvirt's own test driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/hv_stats_impl.h"

#define UUID_A "11111111-1111-4111-8111-111111111111"
#define UUID_B "22222222-2222-4222-8222-222222222222"

static hvs_dom_raw dom(const char *uuid, uint64_t cpu_ns, int vcpus)
{
    hvs_dom_raw d = {0};
    snprintf(d.uuid, sizeof d.uuid, "%s", uuid);
    d.state = 1;
    d.have =
        HVS_DOM_CPU | HVS_DOM_VCPUS | HVS_DOM_RSS | HVS_DOM_CURRENT | HVS_DOM_AVAILABLE | HVS_DOM_BLOCK | HVS_DOM_NET;
    d.cpu_time_ns = cpu_ns;
    d.vcpus = vcpus;
    d.mem_rss_kib = 100000;
    d.mem_current_kib = 131072;
    d.mem_available_kib = 120000;
    return d;
}

static void test_dom_rates(void **state)
{
    (void)state;
    hvs_dom_raw a = dom(UUID_A, 10000000000ULL, 2), b = a;
    b.cpu_time_ns += 2500000000ULL; /* 2.5 s of CPU in 5 s on 2 vCPUs = 25 % */
    a.rd_bytes = 1000, b.rd_bytes = 1000 + 5000000;
    a.wr_bytes = 0, b.wr_bytes = 10240;
    a.rd_reqs = 7, b.rd_reqs = 57;
    a.wr_reqs = 1, b.wr_reqs = 2;
    a.rx_bytes = 1ULL << 40, b.rx_bytes = (1ULL << 40) + 12500;
    a.tx_bytes = 5, b.tx_bytes = 5;
    hvs_dom_rates r;
    hvs_dom_rates_compute(&a, &b, 5000, &r);
    assert_string_equal(r.uuid, UUID_A);
    assert_float_equal(r.cpu_pct, 25, 1e-9);
    assert_float_equal(r.disk_rd_bps, 1000000, 1e-6);
    assert_float_equal(r.disk_wr_bps, 2048, 1e-9);
    assert_float_equal(r.disk_rd_ops, 10, 1e-9);
    assert_float_equal(r.disk_wr_ops, 0.2, 1e-9);
    assert_float_equal(r.net_rx_bps, 2500, 1e-9);
    assert_float_equal(r.net_tx_bps, 0, 0);
    assert_float_equal(r.mem_rss, 100000.0 * 1024, 0);
    assert_float_equal(r.mem_current, 131072.0 * 1024, 0);
    assert_float_equal(r.mem_available, 120000.0 * 1024, 0);

    /* one vCPU fully busy for the interval: 100 % */
    b = dom(UUID_A, 10000000000ULL + 5000000000ULL, 1);
    a.vcpus = 1;
    hvs_dom_rates_compute(&a, &b, 5000, &r);
    assert_float_equal(r.cpu_pct, 100, 1e-9);
}

static void test_dom_first_sample_and_gaps(void **state)
{
    (void)state;
    hvs_dom_raw a = dom(UUID_A, 5, 1);
    hvs_dom_rates r;
    /* first sample: the gauges, no rates */
    hvs_dom_rates_compute(NULL, &a, 0, &r);
    assert_true(isnan(r.cpu_pct));
    assert_true(isnan(r.disk_rd_bps));
    assert_true(isnan(r.net_tx_bps));
    assert_float_equal(r.mem_rss, 100000.0 * 1024, 0);

    /* counters that went back (the domain restarted, or a counter wrapped): no rate for that interval */
    hvs_dom_raw b = dom(UUID_A, 1000, 1);
    a.cpu_time_ns = 9000000000ULL;
    a.rx_bytes = 4294967000ULL; /* near a 32-bit wrap */
    b.rx_bytes = 200;
    b.tx_bytes = 10;
    hvs_dom_rates_compute(&a, &b, 5000, &r);
    assert_true(isnan(r.cpu_pct));
    assert_true(isnan(r.net_rx_bps));
    assert_float_equal(r.net_tx_bps, 2, 1e-9); /* the others are unaffected */
    /* and the interval after is right again */
    hvs_dom_raw c = b;
    c.cpu_time_ns += 500000000ULL;
    c.rx_bytes += 5000;
    hvs_dom_rates_compute(&b, &c, 5000, &r);
    assert_float_equal(r.cpu_pct, 10, 1e-9);
    assert_float_equal(r.net_rx_bps, 1000, 1e-9);

    /* missing fields: no tap interface (net), no balloon driver (available), vcpu count unknown */
    hvs_dom_raw d = c, e = c;
    e.have &= ~(unsigned)(HVS_DOM_NET | HVS_DOM_AVAILABLE);
    e.cpu_time_ns += 1000000000ULL;
    hvs_dom_rates_compute(&d, &e, 5000, &r);
    assert_true(isnan(r.net_rx_bps));
    assert_true(isnan(r.mem_available));
    assert_false(isnan(r.mem_rss));
    assert_float_equal(r.cpu_pct, 20, 1e-9);
    e.have &= ~(unsigned)HVS_DOM_VCPUS;
    hvs_dom_rates_compute(&d, &e, 5000, &r);
    assert_true(isnan(r.cpu_pct));
    /* a field the previous sample lacked gives no rate either */
    d.have &= ~(unsigned)HVS_DOM_BLOCK;
    hvs_dom_rates_compute(&d, &c, 5000, &r);
    assert_true(isnan(r.disk_rd_bps));
    /* no time elapsed */
    hvs_dom_rates_compute(&c, &c, 0, &r);
    assert_true(isnan(r.cpu_pct));
    assert_true(isnan(r.net_rx_bps));
}

static void test_host_rates(void **state)
{
    (void)state;
    hvs_host_raw a = {0}, b;
    a.have =
        HVS_HOST_CPU | HVS_HOST_CORES | HVS_HOST_MEM | HVS_HOST_DISK | HVS_HOST_DISKIO | HVS_HOST_NET | HVS_HOST_LOAD;
    a.ncpus = 2;
    a.cpu_busy_ns = 1000, a.cpu_total_ns = 4000;
    a.core_busy_ns[0] = 0, a.core_total_ns[0] = 0;
    a.core_busy_ns[1] = 500, a.core_total_ns[1] = 1000;
    a.mem_total = 1000, a.mem_free = 200, a.mem_cache = 300;
    a.disk_total = 5000, a.disk_free = 1500;
    a.disk_rd_bytes = 0, a.disk_wr_bytes = 100;
    a.net_rx_bytes = 10, a.net_tx_bytes = 20;
    a.load1 = 0.75;
    b = a;
    b.cpu_busy_ns += 5000, b.cpu_total_ns += 10000;          /* 50 % */
    b.core_busy_ns[0] += 10000, b.core_total_ns[0] += 10000; /* 100 % */
    b.core_busy_ns[1] += 0, b.core_total_ns[1] += 10000;     /* 0 % */
    b.disk_rd_bytes += 2000, b.disk_wr_bytes += 0;
    b.net_rx_bytes += 4000, b.net_tx_bytes += 1;
    hvs_host_rates r;
    hvs_host_rates_compute(&a, &b, 2000, &YUN_POWER_HP_ML110_G4, &r);
    assert_float_equal(r.cpu_pct, 50, 1e-9);
    assert_int_equal(r.ncpus, 2);
    assert_float_equal(r.core_pct[0], 100, 1e-9);
    assert_float_equal(r.core_pct[1], 0, 1e-9);
    assert_true(isnan(r.core_pct[2]));
    assert_float_equal(r.mem_used, 500, 0); /* 1000 - 200 free - 300 cache */
    assert_float_equal(r.mem_free, 200, 0);
    assert_float_equal(r.disk_used, 3500, 0);
    assert_float_equal(r.disk_free, 1500, 0);
    assert_float_equal(r.disk_rd_bps, 1000, 1e-9);
    assert_float_equal(r.disk_wr_bps, 0, 0);
    assert_float_equal(r.net_rx_bps, 2000, 1e-9);
    assert_float_equal(r.net_tx_bps, 0.5, 1e-9);
    assert_float_equal(r.load1, 0.75, 0);
    assert_float_equal(r.power_w, 102, 1e-9); /* the HP ML110 G4 at 50 % */

    /* first sample: gauges only; without a model, no power */
    hvs_host_rates_compute(NULL, &b, 0, NULL, &r);
    assert_true(isnan(r.cpu_pct));
    assert_true(isnan(r.core_pct[0]));
    assert_true(isnan(r.net_rx_bps));
    assert_true(isnan(r.power_w));
    assert_float_equal(r.mem_used, 500, 0);
    /* missing parts */
    b.have = HVS_HOST_CPU;
    hvs_host_rates_compute(&a, &b, 2000, &YUN_POWER_HP_ML110_G4, &r);
    assert_true(isnan(r.mem_used));
    assert_true(isnan(r.disk_free));
    assert_true(isnan(r.load1));
    assert_true(isnan(r.core_pct[0]));
    assert_float_equal(r.power_w, 102, 1e-9);
    /* counters that went back */
    b = a;
    b.cpu_busy_ns = 10, b.cpu_total_ns = 20;
    b.net_rx_bytes = 0;
    hvs_host_rates_compute(&a, &b, 2000, &YUN_POWER_HP_ML110_G4, &r);
    assert_true(isnan(r.cpu_pct));
    assert_true(isnan(r.power_w));
    assert_true(isnan(r.net_rx_bps));
}

static virTypedParameter P(const char *field, int type, uint64_t v)
{
    virTypedParameter p;
    memset(&p, 0, sizeof p);
    snprintf(p.field, sizeof p.field, "%s", field);
    p.type = type;
    if (type == VIR_TYPED_PARAM_UINT)
        p.value.ui = (unsigned)v;
    else if (type == VIR_TYPED_PARAM_INT)
        p.value.i = (int)v;
    else
        p.value.ul = v;
    return p;
}

static void test_parse_params(void **state)
{
    (void)state;
    virTypedParameter ps[] = {
        P("state.state", VIR_TYPED_PARAM_INT, 1),
        P("cpu.time", VIR_TYPED_PARAM_ULLONG, 123456789),
        P("cpu.user", VIR_TYPED_PARAM_ULLONG, 99), /* not cpu.time */
        P("balloon.current", VIR_TYPED_PARAM_ULLONG, 131072),
        P("balloon.rss", VIR_TYPED_PARAM_ULLONG, 90000),
        P("vcpu.current", VIR_TYPED_PARAM_UINT, 2),
        P("vcpu.maximum", VIR_TYPED_PARAM_UINT, 4),
        P("vcpu.0.time", VIR_TYPED_PARAM_ULLONG, 77),
        P("net.count", VIR_TYPED_PARAM_UINT, 2),
        P("net.0.rx.bytes", VIR_TYPED_PARAM_ULLONG, 1000),
        P("net.1.rx.bytes", VIR_TYPED_PARAM_ULLONG, 24),
        P("net.0.tx.bytes", VIR_TYPED_PARAM_ULLONG, 5),
        P("net.0.rx.pkts", VIR_TYPED_PARAM_ULLONG, 1 << 20),
        P("block.count", VIR_TYPED_PARAM_UINT, 2),
        P("block.0.rd.bytes", VIR_TYPED_PARAM_ULLONG, 4096),
        P("block.1.rd.bytes", VIR_TYPED_PARAM_ULLONG, 4096),
        P("block.0.wr.bytes", VIR_TYPED_PARAM_ULLONG, 512),
        P("block.0.rd.reqs", VIR_TYPED_PARAM_ULLONG, 3),
        P("block.1.wr.reqs", VIR_TYPED_PARAM_ULLONG, 9),
        P("block.0.rd.times", VIR_TYPED_PARAM_ULLONG, 1 << 30),
        P("block.x.rd.bytes", VIR_TYPED_PARAM_ULLONG, 1 << 30), /* not an index */
    };
    hvs_dom_raw d;
    snprintf(d.uuid, sizeof d.uuid, "%s", UUID_B);
    d.cpu_time_ns = 42; /* stale values are cleared */
    hvs_parse_dom_params(ps, (int)(sizeof ps / sizeof ps[0]), &d);
    assert_string_equal(d.uuid, UUID_B);
    assert_int_equal(d.state, 1);
    assert_int_equal(d.cpu_time_ns, 123456789);
    assert_int_equal(d.vcpus, 2);
    assert_int_equal(d.mem_current_kib, 131072);
    assert_int_equal(d.mem_rss_kib, 90000);
    assert_int_equal(d.rx_bytes, 1024);
    assert_int_equal(d.tx_bytes, 5);
    assert_int_equal(d.rd_bytes, 8192);
    assert_int_equal(d.wr_bytes, 512);
    assert_int_equal(d.rd_reqs, 3);
    assert_int_equal(d.wr_reqs, 9);
    unsigned want = HVS_DOM_CPU | HVS_DOM_VCPUS | HVS_DOM_CURRENT | HVS_DOM_RSS | HVS_DOM_NET | HVS_DOM_BLOCK;
    assert_int_equal(d.have, want); /* no balloon.available in the record: not claimed */

    /* a domain with no interface: net.count 0 means "not measured", not "0 bytes/s" */
    virTypedParameter q[] = {P("net.count", VIR_TYPED_PARAM_UINT, 0), P("state.state", VIR_TYPED_PARAM_INT, 5)};
    hvs_parse_dom_params(q, 2, &d);
    assert_int_equal(d.have, 0);
    assert_int_equal(d.state, 5);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char DISKSTATS[] = "   7       0 loop0 100 0 8000 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
                                " 252       0 vda 1000 10 2000 50 300 20 4000 60 0 100 110 0 0 0 0 0 0\n"
                                " 252       1 vda1 900 10 1800 50 300 20 4000 60 0 100 110 0 0 0 0 0 0\n"
                                " 252      15 vda15 5 0 10 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
                                " 259       0 nvme0n1 10 0 100 1 10 0 200 1 0 1 2\n"
                                " 259       1 nvme0n1p1 10 0 100 1 10 0 200 1 0 1 2\n"
                                " 253       0 dm-0 50 0 999999 0 50 0 999999 0 0 0 0\n"
                                "  11       0 sr0 1 0 4 0 0 0 0 0 0 0 0\n";

static const char NETDEV[] = "Inter-|   Receive                                                |  Transmit\n"
                             " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
                             "drop fifo colls carrier compressed\n"
                             "    lo: 5000000 100 0 0 0 0 0 0 5000000 100 0 0 0 0 0 0\n"
                             "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
                             "virbr0: 777 7 0 0 0 0 0 0 777 7 0 0 0 0 0 0\n"
                             " vnet3: 888 8 0 0 0 0 0 0 888 8 0 0 0 0 0 0\n"
                             "veth-a: 24 1 0 0 0 0 0 0 48 1 0 0 0 0 0 0\n";

static void test_proc_parsers(void **state)
{
    (void)state;
    char dir[] = "/tmp/yun-test-hvstats-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char net[600];
    snprintf(net, sizeof net, "%s/net", dir);
    assert_int_equal(mkdir(net, 0700), 0);
    char *ds = write_file(dir, "diskstats", DISKSTATS);
    char *nd = write_file(dir, "net/dev", NETDEV);
    char *la = write_file(dir, "loadavg", "0.52 0.58 0.59 1/234 5678\n");
    char *bad = write_file(dir, "bad", "nothing here\n");
    yun_err err = YUN_ERR_INIT;
    uint64_t rd, wr;
    assert_int_equal(hvs_read_diskstats(ds, &rd, &wr, &err), 0);
    /* vda + nvme0n1 + sr0; not the partitions, dm-0 or loop0 */
    assert_int_equal(rd, (2000ULL + 100 + 4) * 512);
    assert_int_equal(wr, (4000ULL + 200) * 512);
    assert_int_equal(hvs_read_netdev(nd, &rd, &wr, &err), 0);
    assert_int_equal(rd, 1000 + 24); /* eth0 + veth-a; not lo, the bridge or the VM's tap */
    assert_int_equal(wr, 2000 + 48);
    double l;
    assert_int_equal(hvs_read_loadavg(la, &l, &err), 0);
    assert_float_equal(l, 0.52, 1e-12);

    assert_int_equal(hvs_read_loadavg(bad, &l, &err), -1);
    assert_int_equal(err.code, YUN_E_IO);
    assert_non_null(strstr(err.msg, bad));
    assert_int_equal(hvs_read_diskstats(bad, &rd, &wr, &err), -1);
    assert_int_equal(hvs_read_netdev(bad, &rd, &wr, &err), -1);
    assert_int_equal(hvs_read_netdev("/nonexistent/net/dev", &rd, &wr, &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));

    /* the libvirt source on libvirt's own test driver (no daemon): its domain, statvfs, and this /proc */
    hvs_source *src = hvs_libvirt_open("test:///default", dir, dir, &err);
    if (!src)
        fail_msg("%s", err.msg);
    hvs_sample s;
    assert_int_equal(hvs_take(src, &s, &err), 0);
    assert_true(s.ndoms >= 1);
    assert_int_equal(strlen(s.doms[0].uuid), 36);
    assert_int_equal(s.doms[0].state, 1); /* running */
    assert_true(s.host.have & HVS_HOST_DISK);
    assert_true(s.host.disk_total > 0);
    assert_true(s.host.have & HVS_HOST_DISKIO);
    assert_int_equal(s.host.disk_rd_bytes, (2000ULL + 100 + 4) * 512);
    assert_true(s.host.have & HVS_HOST_LOAD);
    assert_true(s.mono_ms > 0 && s.wall_ms > 0);
    hvs_sample_free(&s);
    hvs_close(src);
    /* a connection that cannot open says so */
    assert_null(hvs_libvirt_open("bogus-scheme:///nothing", NULL, NULL, &err));
    assert_int_equal(err.code, YUN_E_HYPERVISOR);
    assert_non_null(strstr(err.msg, "read-only"));

    unlink(ds), unlink(nd), unlink(la), unlink(bad);
    free(ds), free(nd), free(la), free(bad);
    rmdir(net);
    rmdir(dir);
}

static void test_fake_source(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    hvs_source *src = hvs_fake_open(2);
    hvs_fake_set_clock(src, 10000, 1700000000000);
    hvs_host_raw h = {0};
    h.have = HVS_HOST_CPU;
    h.ncpus = 2;
    h.cpu_busy_ns = 0, h.cpu_total_ns = 0;
    hvs_fake_set_host(src, &h);
    hvs_dom_raw a = dom(UUID_A, 0, 1);
    hvs_fake_set_dom(src, &a);
    hvs_sample s1, s2;
    assert_int_equal(hvs_take(src, &s1, &err), 0);
    assert_int_equal(s1.ndoms, 1);
    assert_int_equal(s1.wall_ms, 1700000000000);

    /* 5 s later: A used 1 s of CPU, B appeared, the host was 20 % busy */
    hvs_fake_set_clock(src, 15000, 1700000005000);
    a.cpu_time_ns = 1000000000ULL;
    hvs_fake_set_dom(src, &a);
    hvs_dom_raw b = dom(UUID_B, 777, 1);
    hvs_fake_set_dom(src, &b);
    h.cpu_busy_ns = 2, h.cpu_total_ns = 10;
    hvs_fake_set_host(src, &h);
    assert_int_equal(hvs_take(src, &s2, &err), 0);
    assert_int_equal(s2.ndoms, 2);
    hvs_host_rates hr;
    size_t n;
    hvs_dom_rates *r = hvs_rates(&s1, &s2, &YUN_POWER_HP_ML110_G5, &hr, &n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].uuid, UUID_A);
    assert_float_equal(r[0].cpu_pct, 20, 1e-9);
    assert_string_equal(r[1].uuid, UUID_B);
    assert_true(isnan(r[1].cpu_pct)); /* new: gauges only */
    assert_false(isnan(r[1].mem_rss));
    assert_float_equal(hr.cpu_pct, 20, 1e-9);
    assert_float_equal(hr.power_w, 101, 1e-9); /* the G5 at 20 % */
    free(r);

    /* the first sample of all */
    r = hvs_rates(NULL, &s1, NULL, &hr, &n);
    assert_int_equal(n, 1);
    assert_true(isnan(r[0].cpu_pct));
    assert_true(isnan(hr.cpu_pct));
    free(r);

    hvs_fake_remove_dom(src, UUID_A);
    hvs_sample s3;
    assert_int_equal(hvs_take(src, &s3, &err), 0);
    assert_int_equal(s3.ndoms, 1);
    assert_string_equal(s3.doms[0].uuid, UUID_B);
    hvs_sample_free(&s3);

    hvs_fake_fail_next(src, "connection reset");
    assert_int_equal(hvs_take(src, &s3, &err), -1);
    assert_int_equal(err.code, YUN_E_HYPERVISOR);
    assert_non_null(strstr(err.msg, "connection reset"));
    assert_int_equal(hvs_take(src, &s3, &err), 0); /* once */
    hvs_sample_free(&s3);

    hvs_sample_free(&s1);
    hvs_sample_free(&s2);
    hvs_close(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dom_rates),    cmocka_unit_test(test_dom_first_sample_and_gaps),
        cmocka_unit_test(test_host_rates),   cmocka_unit_test(test_parse_params),
        cmocka_unit_test(test_proc_parsers), cmocka_unit_test(test_fake_source),
    };
    return cmocka_run_group_tests_name("hv_stats", tests, NULL, NULL);
}
