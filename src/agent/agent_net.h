/* agent_net.h: the cloud networks this host carries (docs/networking.md), made true from yund's answer: per
 * network a bridge ynb<VNI> holding the gateway address (the same address and MAC on every host: a distributed
 * gateway), a VXLAN device ynx<VNI> in it whose flood list (bridge fdb 00:00:00:00:00:00 dst PEER) is the other
 * hosts carrying the network, ebtables rules that keep the gateway's ARP and DHCP off the tunnel (so each host
 * answers its own guests and routes and NATs their traffic), iptables rules that route nothing between two
 * cloud networks and masquerade a network's way out, and a dnsmasq bound to the bridge serving static DHCP
 * hosts and DNS names from the answer (reloaded with SIGHUP when they change). Everything it made is recorded
 * under its folder (one subfolder per VNI), so an agent that restarts finds and tears down what yund no
 * longer asks for. A network it cannot make is logged with the reason and tried again on the next pass; its
 * VMs' starts fail naming the missing bridge meanwhile. */
#ifndef YUN_AGENT_AGENT_NET_H
#define YUN_AGENT_AGENT_NET_H

#include "proto/proto.h"
#include "util/buf.h"

typedef struct agent_nets agent_nets;

/* dir: this host's own folder for the networks' files (one per host, even where vm_dir is shared). */
agent_nets *agent_nets_new(const char *dir);
void agent_nets_free(agent_nets *an);
/* Makes the host carry exactly the networks of a (and no other it made). Returns how many changes it made. */
int agent_nets_reconcile(agent_nets *an, const proto_answer *a);

/* ---- pure, for tests ---- */
/* The files of network n's dnsmasq, its folder being dir: its configuration, its static DHCP hosts
 * ("MAC,IP" lines) and its DNS names ("IP NAME" lines, which dnsmasq also answers in reverse). -1 with
 * err when n's subnet does not parse. */
int agent_net_files(const proto_network *n, const char *dir, yun_buf *conf, yun_buf *dhcp_hosts, yun_buf *hosts,
                    yun_err *err);
/* The far ends of the flood entries ("00:00:00:00:00:00 dst ADDR ...") in the text of `bridge fdb show dev X`,
 * one per line into out. */
void agent_net_fdb_peers(const char *fdb_text, yun_buf *out);

#endif
