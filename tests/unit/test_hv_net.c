/* Unit tests of guest networking's pure side (hv_net.h): subnets and their choice, yun's network XML (parsed
 * back with libxml2 and checked by XPath), the MAC of a VM, /proc/net/arp; and the fake's network calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "hv/hv_net.h"

#define UUID "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3e"

static yun_subnet sn(const char *cidr)
{
    yun_subnet s;
    yun_err err = YUN_ERR_INIT;
    if (model_subnet_parse(cidr, &s, &err) < 0)
        fail_msg("%s: %s", cidr, err.msg);
    return s;
}

static void test_subnet_parse_format(void **state)
{
    (void)state;
    yun_subnet s = sn("10.203.7.0/24");
    assert_int_equal(s.net, (10u << 24) | (203u << 16) | (7u << 8));
    assert_int_equal(s.prefix, 24);
    char out[24];
    model_subnet_format(&s, out, sizeof out);
    assert_string_equal(out, "10.203.7.0/24");
    s = sn("0.0.0.0/0");
    assert_int_equal(s.prefix, 0);

    const struct {
        const char *in, *word;
    } bad[] = {{"10.203.0.0", "ADDRESS/PREFIX"},
               {"10.203.0.0/", "ADDRESS/PREFIX"},
               {"10.203.0/24", "IPv4"},
               {"10.203.0.0/33", "0..32"},
               {"10.203.0.0/2x", "0..32"},
               {"10.203.0.1/24", "did you mean 10.203.0.0/24"},
               {"fe80::/64", "IPv4"},
               {"", "ADDRESS/PREFIX"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yun_err err = YUN_ERR_INIT;
        yun_subnet x;
        assert_int_equal(model_subnet_parse(bad[i].in, &x, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        if (!strstr(err.msg, bad[i].word))
            fail_msg("%s: '%s' lacks '%s'", bad[i].in, err.msg, bad[i].word);
    }
}

static void test_subnet_overlap_pick(void **state)
{
    (void)state;
    yun_subnet a = sn("10.203.0.0/24"), b = sn("10.203.0.128/25"), c = sn("10.203.1.0/24"), w = sn("10.0.0.0/8");
    assert_true(model_subnet_overlap(&a, &b));
    assert_true(model_subnet_overlap(&b, &a));
    assert_false(model_subnet_overlap(&a, &c));
    assert_true(model_subnet_overlap(&w, &c));

    yun_err err = YUN_ERR_INIT;
    yun_subnet got;
    char out[24];
    /* nothing taken, or libvirt's default network only: the first */
    yun_subnet lv_default = sn("192.168.122.0/24");
    assert_int_equal(hv_subnet_pick(&lv_default, 1, &got, &err), 0);
    model_subnet_format(&got, out, sizeof out);
    assert_string_equal(out, "10.203.0.0/24");
    assert_int_equal(hv_subnet_pick(NULL, 0, &got, &err), 0);
    /* a host address inside the first /24 (a /32 or a narrower net) moves it on; so does a wider one */
    yun_subnet taken[] = {sn("10.203.0.7/32"), sn("10.203.1.0/25"), sn("10.203.2.0/23")};
    assert_int_equal(hv_subnet_pick(taken, 3, &got, &err), 0);
    model_subnet_format(&got, out, sizeof out);
    assert_string_equal(out, "10.203.4.0/24");
    /* all taken (a 10/8 host route): CONFLICT naming the way out */
    assert_int_equal(hv_subnet_pick(&w, 1, &got, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "--bridge"));
}

static char *xp(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    char full[256];
    snprintf(full, sizeof full, "string(%s)", expr);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST full, ctx);
    assert_non_null(r);
    char *s = strdup(r->stringval ? (const char *)r->stringval : "");
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    return s;
}

#define assert_xp(doc, expr, want)                                                                                     \
    do {                                                                                                               \
        char *got_ = xp(doc, expr);                                                                                    \
        if (strcmp(got_, want) != 0)                                                                                   \
            fail_msg("%s: got '%s', want '%s'", expr, got_, want);                                                     \
        free(got_);                                                                                                    \
    } while (0)

static void test_network_xml(void **state)
{
    (void)state;
    hv_net_spec spec = {.name = HV_NET_NAME, .bridge = HV_NET_BRIDGE, .subnet = sn("10.203.5.0/24")};
    yun_err err = YUN_ERR_INIT;
    char *xml = hv_network_xml(&spec, &err);
    assert_non_null(xml);
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "n.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_xp(doc, "/network/name", "yun");
    assert_xp(doc, "/network/forward/@mode", "nat");
    assert_xp(doc, "/network/bridge/@name", "yunbr0");
    assert_xp(doc, "/network/ip/@address", "10.203.5.1");
    assert_xp(doc, "/network/ip/@netmask", "255.255.255.0");
    assert_xp(doc, "/network/ip/dhcp/range/@start", "10.203.5.2");
    assert_xp(doc, "/network/ip/dhcp/range/@end", "10.203.5.254");
    xmlFreeDoc(doc);

    /* read back: the subnet and the bridge, as the agent reads an existing network */
    yun_subnet back[4];
    assert_int_equal(hv_network_xml_subnets(xml, back, 4), 1);
    assert_int_equal(back[0].net, spec.subnet.net);
    assert_int_equal(back[0].prefix, 24);
    char br[32];
    hv_network_xml_bridge(xml, br, sizeof br);
    assert_string_equal(br, "yunbr0");
    free(xml);

    /* a /22: the range spans it */
    spec.subnet = sn("10.204.0.0/22");
    xml = hv_network_xml(&spec, &err);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "end=\"10.204.3.254\""));
    assert_non_null(strstr(xml, "netmask=\"255.255.252.0\""));
    free(xml);

    /* bad specs name what is wrong */
    const struct {
        const char *name, *bridge, *cidr, *word;
    } bad[] = {{"", "yunbr0", "10.203.0.0/24", "name is missing"},
               {"yun", "a-bridge-name-too-long", "10.203.0.0/24", "longer than 15"},
               {"y<n>", "yunbr0", "10.203.0.0/24", "only letters"},
               {"yun", "yunbr0", "10.203.0.0/30", "/8 to /29"},
               {"yun", "yunbr0", "10.0.0.0/7", "/8 to /29"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hv_net_spec b = {.name = bad[i].name, .bridge = bad[i].bridge, .subnet = sn(bad[i].cidr)};
        yun_err e = YUN_ERR_INIT;
        assert_null(hv_network_xml(&b, &e));
        assert_int_equal(e.code, YUN_E_INVALID);
        if (!strstr(e.msg, bad[i].word))
            fail_msg("'%s' lacks '%s'", e.msg, bad[i].word);
    }
}

static void test_network_xml_subnets_of_others(void **state)
{
    (void)state;
    /* libvirt's own default network, a prefix= form, an IPv6 one (skipped), and junk */
    const char *def = "<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>"
                      "<ip address='192.168.122.1' netmask='255.255.255.0'/>"
                      "<ip family='ipv4' address='172.16.9.1' prefix='20'/>"
                      "<ip family='ipv6' address='fd00::1' prefix='64'/></network>";
    yun_subnet s[4];
    assert_int_equal(hv_network_xml_subnets(def, s, 4), 2);
    char out[24];
    model_subnet_format(&s[0], out, sizeof out);
    assert_string_equal(out, "192.168.122.0/24");
    model_subnet_format(&s[1], out, sizeof out);
    assert_string_equal(out, "172.16.0.0/20");
    assert_int_equal(hv_network_xml_subnets(def, s, 1), 1); /* bounded by max */
    assert_int_equal(hv_network_xml_subnets("<network><name>iso", s, 4), 0);
    assert_int_equal(hv_network_xml_subnets(NULL, s, 4), 0);
    char br[32] = "x";
    hv_network_xml_bridge("<network><name>n</name></network>", br, sizeof br);
    assert_string_equal(br, "");
}

static void test_mac(void **state)
{
    (void)state;
    char a[18], b[18], c[18];
    hv_mac_from_uuid(UUID, a);
    hv_mac_from_uuid("6F1C0D3E-8A42-4C1B-9D0E-2F5A7B9C1D3E", b);
    hv_mac_from_uuid("6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3f", c);
    assert_int_equal(strlen(a), 17);
    assert_memory_equal(a, "52:54:00:", 9);
    assert_string_equal(a, b);     /* the same VM, however its uuid is spelt */
    assert_string_not_equal(a, c); /* another VM, another MAC */
    /* a thousand uuids differing in one place give (nearly) a thousand MACs */
    int same = 0;
    char prev[18] = "";
    for (int i = 0; i < 1000; i++) {
        char u[40], m[18];
        snprintf(u, sizeof u, "00000000-0000-4000-8000-%012d", i);
        hv_mac_from_uuid(u, m);
        same += !strcmp(m, prev);
        memcpy(prev, m, sizeof m);
    }
    assert_true(same < 2);
}

static void test_arp(void **state)
{
    (void)state;
    const char *t = "IP address       HW type     Flags       HW address            Mask     Device\n"
                    "10.1.0.9         0x1         0x0         52:54:00:aa:bb:cc     *        br0\n"
                    "10.1.0.7         0x1         0x2         52:54:00:AA:BB:CC     *        br0\n"
                    "10.1.0.8         0x1         0x2         52:54:00:11:22:33     *        br0";
    char ip[64];
    /* the incomplete entry (flags 0x0) is skipped; the MAC matches whatever its case */
    assert_int_equal(hv_arp_find(t, "52:54:00:aa:bb:cc", ip, sizeof ip), 1);
    assert_string_equal(ip, "10.1.0.7");
    assert_int_equal(hv_arp_find(t, "52:54:00:11:22:33", ip, sizeof ip), 1); /* last line, no newline */
    assert_string_equal(ip, "10.1.0.8");
    assert_int_equal(hv_arp_find(t, "52:54:00:00:00:01", ip, sizeof ip), 0);
    assert_string_equal(ip, "");
    assert_int_equal(hv_arp_find("", "52:54:00:aa:bb:cc", ip, sizeof ip), 0);
    assert_int_equal(hv_arp_find(NULL, "52:54:00:aa:bb:cc", ip, sizeof ip), 0);
}

static void test_fake(void **state)
{
    (void)state;
    yun_hv *hv = hv_fake_open(4, 2000, 4096);
    yun_err err = YUN_ERR_INIT;
    hv_net_info ni;
    assert_int_equal(hv_network_ensure(hv, HV_NET_NAME, &ni, &err), 0);
    assert_true(ni.created);
    assert_string_equal(ni.subnet, "10.203.0.0/24");
    assert_int_equal(hv_network_ensure(hv, HV_NET_NAME, &ni, &err), 0);
    assert_false(ni.created); /* found, not made again */
    assert_int_equal(hv_network_ensure(hv, "bad/name", &ni, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    hv_fake_fail_next(hv, "net_ensure", "Cannot check dnsmasq binary /usr/sbin/dnsmasq");
    assert_int_equal(hv_network_ensure(hv, HV_NET_NAME, &ni, &err), -1);
    assert_non_null(strstr(err.msg, "dnsmasq"));

    hv_domain_spec s = {.uuid = UUID,
                        .name = "yun-a-w",
                        .owner = "a",
                        .cpus = 1,
                        .mem_mib = 64,
                        .disk_path = "/x.qcow2",
                        .network = HV_NET_NAME};
    assert_int_equal(hv_domain_define(hv, &s, &err), 0);
    char net[64], br[32], addr[HV_ADDR_MAX];
    assert_true(hv_fake_domain_net(hv, UUID, net, sizeof net, br, sizeof br));
    assert_string_equal(net, "yun");
    assert_string_equal(br, "");
    hv_fake_set_address(hv, UUID, "10.203.0.5");
    /* only a running domain has an address */
    assert_int_equal(hv_domain_address(hv, UUID, addr, sizeof addr, &err), 0);
    assert_string_equal(addr, "");
    assert_int_equal(hv_domain_start(hv, UUID, &err), 0);
    assert_int_equal(hv_domain_address(hv, UUID, addr, sizeof addr, &err), 0);
    assert_string_equal(addr, "10.203.0.5");
    assert_int_equal(hv_domain_address(hv, "6f1c0d3e-8a42-4c1b-9d0e-000000000000", addr, sizeof addr, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(hv_domain_address(hv, "nope", addr, sizeof addr, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    hv_close(hv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subnet_parse_format),
        cmocka_unit_test(test_subnet_overlap_pick),
        cmocka_unit_test(test_network_xml),
        cmocka_unit_test(test_network_xml_subnets_of_others),
        cmocka_unit_test(test_mac),
        cmocka_unit_test(test_arp),
        cmocka_unit_test(test_fake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
