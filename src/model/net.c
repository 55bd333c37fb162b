/* net.c: subnets, addresses and MACs of cloud networks (net.h). */
#include "model/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t model_subnet_mask(int prefix)
{
    return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

void model_ip_format(uint32_t ip, char *out, size_t n)
{
    snprintf(out, n, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

bool model_ip_parse(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

int model_subnet_parse(const char *cidr, yun_subnet *out, yun_err *err)
{
    char ip[32];
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    if (!slash || (size_t)(slash - cidr) >= sizeof ip || !slash[1])
        return yun_err_set(err, YUN_E_INVALID, "subnet \"%.64s\" is not ADDRESS/PREFIX (e.g. 10.203.0.0/24)",
                           cidr ? cidr : "");
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = 0;
    char *end = NULL;
    long prefix = strtol(slash + 1, &end, 10);
    uint32_t net;
    if (!model_ip_parse(ip, &net) || *end || !isdigit((unsigned char)slash[1]) || prefix < 0 || prefix > 32)
        return yun_err_set(err, YUN_E_INVALID,
                           "subnet \"%.64s\" is not ADDRESS/PREFIX with an IPv4 address and a prefix 0..32 (e.g. "
                           "10.203.0.0/24)",
                           cidr);
    if (net & ~model_subnet_mask((int)prefix)) {
        char fixed[16];
        model_ip_format(net & model_subnet_mask((int)prefix), fixed, sizeof fixed);
        return yun_err_set(err, YUN_E_INVALID, "subnet \"%.64s\" has host bits set: did you mean %s/%ld?", cidr, fixed,
                           prefix);
    }
    out->net = net;
    out->prefix = (int)prefix;
    return 0;
}

void model_subnet_format(const yun_subnet *s, char *out, size_t n)
{
    char ip[16];
    model_ip_format(s->net, ip, sizeof ip);
    snprintf(out, n, "%s/%d", ip, s->prefix);
}

bool model_subnet_overlap(const yun_subnet *a, const yun_subnet *b)
{
    uint32_t m = model_subnet_mask(a->prefix < b->prefix ? a->prefix : b->prefix);
    return (a->net & m) == (b->net & m);
}

int model_network_validate(yun_network *n, yun_err *err)
{
    if (model_name_validate(n->name, "network name", err) < 0)
        return -1;
    yun_subnet s;
    if (model_subnet_parse(n->subnet, &s, err) < 0)
        return -1;
    if (s.prefix < YUN_NET_PREFIX_MIN || s.prefix > YUN_NET_PREFIX_MAX)
        return yun_err_set(err, YUN_E_INVALID,
                           "subnet %s is too %s: a network's subnet is a /%d (65,534 addresses) to a /%d (5 VMs)",
                           n->subnet, s.prefix < YUN_NET_PREFIX_MIN ? "big" : "small", YUN_NET_PREFIX_MIN,
                           YUN_NET_PREFIX_MAX);
    model_subnet_format(&s, n->subnet, sizeof n->subnet);
    return 0;
}

void model_network_gateway(const yun_subnet *s, char *out, size_t n)
{
    model_ip_format(s->net + 1, out, n);
}

void model_mac_of_ip(uint32_t ip, char mac[18])
{
    snprintf(mac, 18, YUN_NET_MAC_PREFIX ":%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

void model_network_ifnames(int64_t vni, char bridge[16], char vxlan[16])
{
    snprintf(bridge, 16, "ynb%lld", (long long)(vni & YUN_NET_VNI_MAX));
    snprintf(vxlan, 16, "ynx%lld", (long long)(vni & YUN_NET_VNI_MAX));
}
