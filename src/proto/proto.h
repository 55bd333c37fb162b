/* proto.h: the agent protocol (docs/agent-protocol.md): its messages as C structs, each described once by a
 * table of fields (util/jfield.h) from which both sides encode and decode, so yund and the agent cannot
 * drift apart: the idea of libvirt's remote protocol definition, in JSON. Messages to yund refuse fields
 * they do not know (a typo shows); messages to the agent take what a newer yund adds without complaint (an
 * older agent keeps working). Both refuse what they cannot use, saying which field of which element.
 * docs/agent-protocol.md is checked against the tables (tests/unit/test_proto.c). */
#ifndef YUN_PROTO_PROTO_H
#define YUN_PROTO_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"
#include "util/jfield.h"

/* ---- register: POST /v1/agent/register ---- */

typedef struct proto_register {
    char name[YUN_NAME_MAX + 192]; /* the host's name (a hostname) */
    int64_t cores, mhz, mem_mib, disk_total_mib, disk_free_mib;
    char hypervisor[16];
    char accel[8];
    char libvirt_uri[YUN_PATH_MAX];
    char migrate_addr[128];
    char mgmt_addr[64];
} proto_register;

/* Enrolment (docs/agent-protocol.md): the agent spends its one-time join token and gets its host's own
 * credential, which it sends as its bearer token from then on. */
typedef struct proto_join {
    char token[128];
} proto_join;

typedef struct proto_joined {
    char name[YUN_NAME_MAX + 192]; /* the host the token was made for: the agent registers under it */
    char credential[128];
} proto_joined;

typedef struct proto_registered {
    int64_t host_id;
    int64_t interval_ms;
    char image_dir[YUN_PATH_MAX];
    char vm_dir[YUN_PATH_MAX];
} proto_registered;

/* ---- report: POST /v1/agent/hosts/{id}/report ---- */

/* A domain on the host as libvirt shows it (strangers included) */
typedef struct proto_domain {
    char uuid[YUN_UUID_LEN];
    char name[192];
    char state[16]; /* running, stopped, paused, crashed, other */
    bool yun_owned;
    int64_t cpus, mem_mib, max_mem_mib, cpu_shares, cpu_cap;
} proto_domain;

/* The agent's verdict on a VM it was told about. deleted: domain and disk are gone. The source of a live
 * migration reports state MIGRATING while it runs, then migrated (the domain left, with the job's figures)
 * or state RUNNING with migrate_error (it failed; the VM still runs on the source). */
typedef struct proto_verdict {
    char uuid[YUN_UUID_LEN];
    bool deleted;
    bool migrated;
    yun_vm_state state; /* when !deleted and !migrated */
    char error[YUN_MSG_MAX];
    char address[64]; /* the guest's IPv4 or IPv6 address as the agent learnt it, "" when unknown */
    char migrate_error[YUN_MSG_MAX];
    int64_t total_ms, downtime_ms; /* when migrated; -1 unknown */
} proto_verdict;

typedef struct proto_console {
    char uuid[YUN_UUID_LEN];
    char *tail; /* the last bytes of the serial log, owned */
    size_t len;
} proto_console;

/* How a job the answer listed went (docs/agent-protocol.md, "Jobs"). */
typedef struct proto_job_verdict {
    int64_t id;
    yun_job_state state; /* running, done or failed */
    char error[YUN_MSG_MAX];
    char note[YUN_MSG_MAX];
    int64_t bytes;
    char sha256[YUN_SHA256_HEX];
    int64_t duration_ms, pause_ms;
} proto_job_verdict;

typedef struct proto_report {
    char libvirt_error[YUN_MSG_MAX]; /* "" normally; else the host's libvirt does not answer (why), and the report
                                      * carries no domains and no verdicts: the agent cannot see them */
    bool has_disk_free;
    uint64_t disk_free_mib;
    const proto_domain *domains; /* owned when decoded or built by the agent (proto_report_free) */
    size_t n_domains;
    const proto_verdict *vms;
    size_t n_vms;
    const proto_console *consoles;
    size_t n_consoles;
    const proto_job_verdict *jobs;
    size_t n_jobs;
} proto_report;

/* One VM of yund's answer to a report: what its host should make true (the decision table in DESIGN). */
typedef struct proto_desired {
    char uuid[YUN_UUID_LEN];
    char name[YUN_NAME_MAX];
    char owner[YUN_NAME_MAX];
    char domain[192]; /* the libvirt domain's name, yun-<owner>-<name> */
    yun_vm_want want;
    bool here;     /* assigned to this host; else it runs for target_host */
    bool reboot;   /* a reboot was asked: once */
    bool incoming; /* here, and migrating in: wait for the domain, never start it */
    bool evict;    /* not here, and no migration from here under way: it was started on target_host after this
                    * host was judged dead (HA); a copy here is destroyed, never migrated */
    int64_t target_host;
    char migrate_uri[256];                 /* when !here */
    char target_libvirt_uri[YUN_PATH_MAX]; /* when !here */
    char target_vnc_listen[64];            /* when !here */
    int64_t cpus, mem_mib, max_mem_mib, disk_mib, cpu_shares, cpu_cap;
    char disk[YUN_PATH_MAX];    /* absolute; "" from an older yund: the agent names it */
    char console[YUN_PATH_MAX]; /* absolute; the same */
    char img_path[YUN_PATH_MAX];
    char kernel[YUN_PATH_MAX];
    char initrd[YUN_PATH_MAX];
    char cmdline[1024];
    /* (with a yund of schema 17) its cloud-init user-data (src/model/seed.h), owned; "" from an older yund:
     * no seed disk. The agent makes the seed from it, the uuid and the name (hv_seed_write). */
    char *user_data;
    size_t user_data_len;
    /* a cloud network's NIC (docs/networking.md), 0 and "" for the host's own network: the network's VNI (one
     * of the answer's networks), the address yund gave it and the MAC that follows from it */
    int64_t vni;
    char ip[16];
    char mac[18];
} proto_desired;

/* A cloud network this host carries (it runs, or is about to run, one of its VMs). */
typedef struct proto_net_peer {
    char addr[64]; /* another host carrying it: its VXLAN tunnel's far end */
} proto_net_peer;
typedef struct proto_net_host {
    char name[YUN_NAME_MAX]; /* a VM's DNS name */
    char ip[16];
    char mac[18];
} proto_net_host;
typedef struct proto_network {
    int64_t vni;
    char name[YUN_NAME_MAX];
    char owner[YUN_NAME_MAX];
    char subnet[24];
    proto_net_peer *peers; /* owned */
    size_t n_peers;
    proto_net_host *hosts; /* every VM of the network, wherever it runs: DHCP and DNS (owned) */
    size_t n_hosts;
} proto_network;

/* One backup file of a restore's chain, full first. */
typedef struct proto_chain_file {
    char path[YUN_PATH_MAX];
    char sha256[YUN_SHA256_HEX];
} proto_chain_file;

/* A job on a VM's disk for this host's agent (docs/agent-protocol.md, "Jobs"). */
typedef struct proto_job {
    char uuid[YUN_UUID_LEN]; /* the VM's; first: the uuid hook reads at offset 0 */
    int64_t id;
    yun_job_kind kind;
    yun_job_state state; /* pending: start it; running: the agent said it started */
    char domain[192];
    char name[YUN_NAME_MAX];   /* snapshot: its name; backup: the checkpoint to make */
    char path[YUN_PATH_MAX];   /* backup: the file to write */
    char since[YUN_NAME_MAX];  /* incremental backup: the checkpoint it builds on; "" for a full one */
    char base[YUN_PATH_MAX];   /* incremental backup: the previous backup's file, its backing */
    char disk[YUN_PATH_MAX];   /* restore: the VM's disk, replaced */
    proto_chain_file *chain;   /* restore: the backups to rebuild from, full first (owned) */
    size_t n_chain;
} proto_job;

/* yund's answer to a report. */
typedef struct proto_answer {
    int64_t version;  /* -1: a yund without long-poll */
    int64_t lease_ms; /* HA: unable to report for this long, the agent destroys its VMs (self-fencing); 0 none */
    proto_desired *vms;
    size_t n_vms;
    proto_job *jobs;
    size_t n_jobs;
    proto_network *networks; /* the cloud networks this host carries */
    size_t n_networks;
    size_t n_skipped;          /* malformed VMs left out by the decoder */
    char skipped[YUN_MSG_MAX]; /* why the first was */
} proto_answer;

/* ---- encoders (new references) and decoders ---- */

json_t *proto_register_encode(const proto_register *m);
/* From the request body's text, so a number beyond 64 bits is named with its range. 0, or -1 with INVALID. */
int proto_register_parse(const char *text, size_t n, proto_register *m, yun_err *err);

json_t *proto_join_encode(const proto_join *m);
int proto_join_parse(const char *text, size_t n, proto_join *m, yun_err *err); /* INVALID without a token */
json_t *proto_joined_encode(const proto_joined *m);
int proto_joined_decode(const json_t *j, proto_joined *m, yun_err *err);

json_t *proto_registered_encode(const proto_registered *m);
/* INVALID unless host_id is positive and vm_dir absolute. */
int proto_registered_decode(const json_t *j, proto_registered *m, yun_err *err);

json_t *proto_report_encode(const proto_report *m);
/* Every element checked (a uuid that could name a file outside vm_dir is refused); m owns what it holds. */
int proto_report_parse(const char *text, size_t n, proto_report *m, yun_err *err);
void proto_report_free(proto_report *m);

/* d (zeroed first) as VM vm booting image img (NULL: gone): its names, want, sizes, scheduling and image; the
 * fields about hosts and files are the caller's. */
void proto_desired_of(proto_desired *d, const yun_vm *vm, const yun_image *img);
json_t *proto_desired_encode(const proto_desired *d);
/* j into d. INVALID saying what is wrong: a missing or malformed uuid or want, a path that is not absolute, a
 * string too long, a number of the wrong type. */
int proto_desired_decode(const json_t *j, proto_desired *d, yun_err *err);
void proto_desired_free(proto_desired *d); /* what decode allocated (user_data) */

json_t *proto_answer_encode(const proto_answer *a);
/* INVALID when j has no vms array; a VM that does not decode is left out (n_skipped, skipped) and the others
 * are kept, so one bad entry cannot stop a host. */
int proto_answer_decode(const json_t *j, proto_answer *a, yun_err *err);
void proto_answer_free(proto_answer *a);

/* ---- the answer the agent already holds (docs/agent-protocol.md, "The same answer") ----
 * The agent names the answer it holds by its hash, ?have=H (decimal proto_answer_hash of its bytes); when the
 * answer would be those bytes again, yund sends PROTO_ANSWER_SAME instead and the agent acts on the one it holds:
 * at a thousand hosts nearly every answer is the last one again, tens of KB each to encrypt, send and parse. */
#define PROTO_ANSWER_SAME "{\"same\":true}"
uint64_t proto_answer_hash(const char *body, size_t len);
/* yund's side: have, the query's value (NULL when absent), as the hash of the answer the agent holds; false
 * when it names none (absent, not a decimal number). */
bool proto_have_parse(const char *have, uint64_t *hash);
/* The agent's side: the answer it holds and its hash (0 and NULL: none yet). */
typedef struct proto_held {
    json_t *answer;
    uint64_t hash;
} proto_held;
/* The answer to act on, given a 2xx answer's bytes and j, their parse (taken): the held one when j is
 * PROTO_ANSWER_SAME and one is held, otherwise j, which becomes the one held. The caller owns the result. */
json_t *proto_answer_take(proto_held *h, json_t *j, const char *body, size_t len);
void proto_held_drop(proto_held *h);
/* The report's URL (xmalloc'd): url, then ?since=&wait_ms= when the answer is to be held (long-poll) and
 * &have= when h holds one. */
char *proto_report_url(const char *url, bool hold, uint64_t since, int wait_ms, const proto_held *h);

/* ---- the tables, for the documentation check ---- */

typedef struct proto_message {
    const char *name;    /* "register", "report", ... */
    const char *section; /* the heading of docs/agent-protocol.md that documents it */
    const jfield *fields;
} proto_message;

/* Every message, ended by {NULL}. */
extern const proto_message proto_messages[];

#endif
