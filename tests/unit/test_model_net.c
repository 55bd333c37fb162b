/* test_model_net.c: cloud networks' pure rules (model/net.h): a network's name and subnet size, the gateway,
 * the MAC that follows from an address, and the interface names on hosts. (Subnet parsing itself is tested in
 * test_hv_net.c, which had it first.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "model/net.h"

static yun_network net(const char *name, const char *subnet)
{
    yun_network n = {0};
    snprintf(n.name, sizeof n.name, "%s", name);
    snprintf(n.subnet, sizeof n.subnet, "%s", subnet);
    return n;
}

static void test_validate(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    yun_network n = net("lab", "10.50.0.0/24");
    assert_int_equal(model_network_validate(&n, &err), 0);
    assert_string_equal(n.subnet, "10.50.0.0/24");
    n = net("wide", "10.50.0.0/16");
    assert_int_equal(model_network_validate(&n, &err), 0);
    n = net("few", "10.50.0.8/29");
    assert_int_equal(model_network_validate(&n, &err), 0);
    n = net("big", "10.0.0.0/15");
    assert_int_equal(model_network_validate(&n, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "too big"));
    assert_non_null(strstr(err.msg, "/16"));
    n = net("small", "10.50.0.0/30");
    assert_int_equal(model_network_validate(&n, &err), -1);
    assert_non_null(strstr(err.msg, "too small"));
    n = net("bits", "10.50.0.1/24");
    assert_int_equal(model_network_validate(&n, &err), -1);
    assert_non_null(strstr(err.msg, "did you mean 10.50.0.0/24"));
    n = net("Lab!", "10.50.0.0/24");
    assert_int_equal(model_network_validate(&n, &err), -1);
    assert_non_null(strstr(err.msg, "network name"));
    n = net("nosubnet", "10.50.0.0");
    assert_int_equal(model_network_validate(&n, &err), -1);
    assert_non_null(strstr(err.msg, "ADDRESS/PREFIX"));
}

static void test_addresses(void **state)
{
    (void)state;
    yun_subnet s;
    assert_int_equal(model_subnet_parse("10.50.0.0/24", &s, NULL), 0);
    char gw[16], mac[18], br[16], vx[16];
    model_network_gateway(&s, gw, sizeof gw);
    assert_string_equal(gw, "10.50.0.1");
    uint32_t ip;
    assert_true(model_ip_parse("10.50.0.2", &ip));
    model_mac_of_ip(ip, mac);
    assert_string_equal(mac, "0a:59:0a:32:00:02");
    /* locally administered (bit 1 of the first byte), unicast (bit 0 clear) */
    assert_int_equal(0x0a & 3, 2);
    assert_true(model_ip_parse("192.168.255.254", &ip));
    model_mac_of_ip(ip, mac);
    assert_string_equal(mac, "0a:59:c0:a8:ff:fe");
    model_network_ifnames(16777215, br, vx);
    assert_string_equal(br, "ynb16777215");
    assert_string_equal(vx, "ynx16777215");
    assert_true(strlen(br) <= 15); /* IFNAMSIZ */
    assert_false(model_ip_parse("10.50.0", &ip));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
