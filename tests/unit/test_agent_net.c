/* test_agent_net.c: the pure side of a host's cloud networks (agent_net.h): the dnsmasq files made from yund's
 * answer (static DHCP hosts only, DNS names, the gateway as router and DNS server, the VXLAN MTU) and the flood
 * list read back from `bridge fdb show`. Making bridges, VXLAN devices and dnsmasq for real needs root and a
 * network namespace: tests/integration/test_cloud_net.sh does that on real test hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent/agent_net.h"

static void test_files(void **state)
{
    (void)state;
    proto_net_host hosts[] = {{"web1", "10.50.0.2", "0a:59:0a:32:00:02"}, {"web2", "10.50.0.3", "0a:59:0a:32:00:03"}};
    proto_network n = {.vni = 3, .name = "lab", .owner = "alice", .subnet = "10.50.0.0/24", .hosts = hosts,
                       .n_hosts = 2};
    yun_buf conf = {0}, dh = {0}, hs = {0};
    buf_puts(&conf, "");
    buf_puts(&dh, "");
    buf_puts(&hs, "");
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(agent_net_files(&n, "/var/lib/yun/net/3", &conf, &dh, &hs, &err), 0);
    assert_non_null(strstr(conf.data, "interface=ynb3\n"));
    assert_non_null(strstr(conf.data, "listen-address=10.50.0.1\n"));
    assert_non_null(strstr(conf.data, "dhcp-range=10.50.0.0,static,255.255.255.0,1h\n"));
    assert_non_null(strstr(conf.data, "dhcp-hostsfile=/var/lib/yun/net/3/dhcp-hosts\n"));
    assert_non_null(strstr(conf.data, "addn-hosts=/var/lib/yun/net/3/hosts\n"));
    assert_non_null(strstr(conf.data, "dhcp-option=option:router,10.50.0.1\n"));
    assert_non_null(strstr(conf.data, "dhcp-option=option:dns-server,10.50.0.1\n"));
    assert_non_null(strstr(conf.data, "dhcp-option=option:mtu,1450\n"));
    assert_non_null(strstr(conf.data, "leasefile-ro\n"));
    assert_non_null(strstr(conf.data, "no-resolv\n"));
    assert_non_null(strstr(conf.data, "dhcp-ignore-names\n"));
    assert_string_equal(dh.data, "0a:59:0a:32:00:02,10.50.0.2\n0a:59:0a:32:00:03,10.50.0.3\n");
    assert_string_equal(hs.data, "10.50.0.2 web1\n10.50.0.3 web2\n");
    buf_free(&conf);
    buf_free(&dh);
    buf_free(&hs);
    proto_network bad = {.vni = 4, .subnet = "10.50.0.0"};
    yun_buf c2 = {0}, d2 = {0}, h2 = {0};
    assert_int_equal(agent_net_files(&bad, "/x", &c2, &d2, &h2, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    buf_free(&c2);
    buf_free(&d2);
    buf_free(&h2);
}

static void test_fdb(void **state)
{
    (void)state;
    const char *text = "12:c6:c8:44:b5:eb master ynb3 permanent\n"
                       "00:00:00:00:00:00 dst 10.201.0.2 self permanent\n"
                       "0a:59:0a:32:00:03 dst 10.201.0.2 self\n"
                       "00:00:00:00:00:00 dst 10.201.0.3 self permanent\n";
    yun_buf out = {0};
    buf_puts(&out, "");
    agent_net_fdb_peers(text, &out);
    assert_string_equal(out.data, "10.201.0.2\n10.201.0.3\n");
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_fdb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
