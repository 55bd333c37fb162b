/* net.h: cloud networks (docs/networking.md): the noun, IPv4 subnets and addresses, and the MAC a NIC gets
 * from its address. Pure; shared by yund (ctl: IPAM, validation) and the hosts' side (hv, agent). */
#ifndef YUN_MODEL_NET_H
#define YUN_MODEL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* An IPv4 subnet; net in host byte order, its host bits zero. */
typedef struct yun_subnet {
    uint32_t net;
    int prefix; /* 0..32 */
} yun_subnet;

/* "10.203.0.0/24" into out (host bits must be zero). INVALID with what is wrong. */
int model_subnet_parse(const char *cidr, yun_subnet *out, yun_err *err);
/* "10.203.0.0/24"; out needs 19 bytes. */
void model_subnet_format(const yun_subnet *s, char *out, size_t n);
/* Whether the two share an address. */
bool model_subnet_overlap(const yun_subnet *a, const yun_subnet *b);
uint32_t model_subnet_mask(int prefix);
/* A dotted IPv4 address (exactly four decimal parts) in host byte order; false when it is not one. */
bool model_ip_parse(const char *s, uint32_t *out);
/* out needs 16 bytes. */
void model_ip_format(uint32_t ip, char *out, size_t n);

/* A cloud network's subnet: a /16 (the largest: 65,534 addresses is plenty for one tenant's network and keeps
 * every host's dnsmasq file small) to a /29 (the smallest with room for a gateway and a few VMs). */
#define YUN_NET_PREFIX_MIN 16
#define YUN_NET_PREFIX_MAX 29
/* VXLAN network identifiers yund hands out: 24 bits, 0 reserved. */
#define YUN_NET_VNI_MAX 16777215

/* A cloud network (schema 18): a subnet that spans hosts, owned by a user (or public: every user's VMs may
 * join it). Its guests' addresses come from yund (store leases), the gateway is .1 of the subnet on every host. */
typedef struct yun_network {
    int64_t id;
    char name[YUN_NAME_MAX];       /* unique per owner */
    int64_t owner_id;
    char owner_name[YUN_NAME_MAX]; /* filled by the store on reads */
    char subnet[24];               /* "10.50.0.0/24" */
    int64_t vni;                   /* its VXLAN id, unique cloud-wide, 1..YUN_NET_VNI_MAX */
    bool is_public;                /* admins only: every user's VMs may join it */
    int64_t created_ms;
} yun_network;

/* A NIC's address on a network (schema 18): yund's IPAM. One per VM; (network, ip) unique. */
typedef struct yun_lease {
    int64_t network_id;
    int64_t vm_id;
    char ip[16];
} yun_lease;

/* Name and subnet checked (the subnet normalised into n->subnet): INVALID naming what is wrong and the range. */
int model_network_validate(yun_network *n, yun_err *err);
/* The gateway, .1 of the subnet, into out (16 bytes). */
void model_network_gateway(const yun_subnet *s, char *out, size_t n);
/* The MAC a NIC with IPv4 address ip gets: the locally administered prefix 0a:59 ("yun's", as the clusters yun
 * grew from derived MACs: a fixed prefix + the address in hex) and the four bytes of the address. So the
 * address is read back from the MAC, and DHCP's static host entries follow from the lease alone. mac: 18 bytes. */
#define YUN_NET_MAC_PREFIX "0a:59"
void model_mac_of_ip(uint32_t ip, char mac[18]);
/* The bridge and VXLAN device of network vni on every host ("ynb<vni>", "ynx<vni>"): at most 11 bytes. */
void model_network_ifnames(int64_t vni, char bridge[16], char vxlan[16]);

#endif
