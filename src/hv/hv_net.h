/* hv_net.h: how guests get a network (docs/networking.md), on the hypervisor's side.
 *
 * DESIGN. A yun host gives its guests one of three things, chosen on the agent (yun-agent or yund
 * --all-in-one):
 *   - by default, a private NAT network that the agent sets up itself in the host's libvirt: the libvirt
 *     network "yun" (HV_NET_NAME) with its bridge "yunbr0", libvirt's dnsmasq for DHCP and NAT to the
 *     host's uplink. It needs nothing from the operator but the packages (dnsmasq-base, iptables); the agent
 *     defines it once (persistent, autostarted) on a /24 that collides with no other libvirt network and no
 *     address of the host (10.203.0.0/24 unless taken), and uses an existing "yun" network as it is found.
 *     Guests reach out; from outside, only the host reaches them (the agent's HTTP probes run there).
 *   - --bridge BR: an existing bridge the operator made (br0 on the data-centre LAN): guests are on the LAN
 *     and get their addresses from its DHCP server.
 *   - --no-guest-network: an unconnected tap (the guest has a NIC and per-interface statistics, nothing
 *     more); also what guests get while the NAT network cannot be set up (the agent logs why and the fix,
 *     and tries again every minute).
 * Every guest's MAC is derived from its VM's uuid (hv_mac_from_uuid), so a VM keeps its DHCP lease, and so
 * its address, across restarts, redefinitions and migrations.
 * The agent learns each running guest's IPv4 address from the hypervisor (hv_domain_address: the DHCP
 * leases of the yun network, else the host's ARP table) and reports it; yund stores it as the VM's address.
 *
 * The pure helpers here (subnets, the network XML, the MAC, /proc/net/arp) need no libvirt. */
#ifndef YUN_HV_HV_NET_H
#define YUN_HV_HV_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"
#include "model/net.h"

#define HV_NET_NAME "yun"         /* the libvirt network yun defines on each host */
#define HV_NET_BRIDGE "yunbr0"    /* its bridge */
#define HV_NET_FIRST "10.203.0.0" /* the /24s tried, in order: 10.203.0.0/24 .. 10.203.255.0/24 */
#define HV_ADDR_MAX 64            /* an address as text, IPv6 included */

/* The first 10.203.K.0/24 (K = 0..255) that overlaps none of taken. CONFLICT when all are taken. */
int hv_subnet_pick(const yun_subnet *taken, size_t n, yun_subnet *out, yun_err *err);

/* The IPv4 subnets a libvirt network XML declares (<ip address= netmask=|prefix=>, family ipv4 or none),
 * at most max of them into out; returns how many. Unparsable XML has none. */
size_t hv_network_xml_subnets(const char *xml, yun_subnet *out, size_t max);
/* The bridge a libvirt network XML names (<bridge name=>), "" when none. */
void hv_network_xml_bridge(const char *xml, char *out, size_t n);

typedef struct hv_net_spec {
    const char *name;   /* HV_NET_NAME */
    const char *bridge; /* HV_NET_BRIDGE */
    yun_subnet subnet;   /* a /8 to /29: the host is .1, DHCP hands out .2 to the last but one */
} hv_net_spec;
/* The libvirt network XML of yun's NAT network: forward mode nat, the bridge with STP off, the host's
 * address and a DHCP range over the rest of the subnet. Pure; malloc'd. INVALID on a bad spec. */
char *hv_network_xml(const hv_net_spec *spec, yun_err *err);

/* A stable, locally administered MAC for a VM: 52:54:00 (QEMU's prefix, as libvirt picks) and three bytes
 * of a hash of the uuid (case-insensitive). mac needs 18 bytes. */
void hv_mac_from_uuid(const char *uuid, char mac[18]);
/* libvirt's rules for a network's names: no '/', nothing invisible, at most max bytes (an interface: 15). */
int hv_net_name_check(const char *what, const char *s, size_t max, yun_err *err);

/* Finds mac (case-insensitive) in the text of /proc/net/arp and copies its IPv4 address to ip; incomplete
 * entries (flags 0x0) do not count. Returns 1 when found, 0 when not. */
int hv_arp_find(const char *arp_text, const char *mac, char *ip, size_t n);

/* ---- on a hypervisor ---- */

/* What hv_network_ensure found or made. */
typedef struct hv_net_info {
    char name[64];
    char bridge[32];
    char subnet[20]; /* "10.203.0.0/24", "" when the network declares none */
    bool created;    /* defined by this call */
    bool started;    /* started by this call */
} hv_net_info;

/* Makes sure the NAT network name (HV_NET_NAME) exists, runs and starts with the host: an existing one is
 * used as it is (started and marked autostart when it is not); a missing one is defined on the first free
 * /24 from HV_NET_FIRST (hv_subnet_pick, against every other libvirt network and, for a local libvirt, the
 * host's own addresses) with bridge HV_NET_BRIDGE. Nothing is left half-made: a network this call defined
 * and could not start is undefined again. HYPERVISOR with libvirt's reason (e.g. dnsmasq missing). */
int hv_network_ensure(yun_hv *hv, const char *name, hv_net_info *out, yun_err *err);

/* The IPv4 address of a running domain's first NIC, "" (and 0) when not known yet: the DHCP leases of
 * libvirt's network first, else the ARP table (libvirt's, and for a local libvirt /proc/net/arp, looked up
 * by hv_mac_from_uuid(uuid)). NOT_FOUND when there is no such domain. */
int hv_domain_address(yun_hv *hv, const char *uuid, char *addr, size_t n, yun_err *err);

/* The fake: the address hv_domain_address reports for uuid ("" or NULL: none). */
void hv_fake_set_address(yun_hv *hv, const char *uuid, const char *addr);
/* The fake: the network and bridge the last define of uuid asked for ("" when none); false when unknown. */
bool hv_fake_domain_net(yun_hv *hv, const char *uuid, char *network, size_t nn, char *bridge, size_t nb);

#endif
