/* proto.h: the agent protocol's messages (docs/agent-protocol.md), each encoded and decoded here, once,
 * for yund and the agent alike, so the two sides cannot drift apart. JSON through jansson. Decoders take
 * what a newer peer adds without complaint (an older agent keeps working) and refuse what they cannot use,
 * saying which field of which VM. */
#ifndef YUN_PROTO_PROTO_H
#define YUN_PROTO_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

/* One VM of yund's answer to a report: what its host should make true (the decision table in DESIGN). */
typedef struct proto_desired {
    char uuid[YUN_UUID_LEN];
    char name[YUN_NAME_MAX];
    char owner[YUN_NAME_MAX];
    char domain[192]; /* the libvirt domain's name, yun-<owner>-<name> */
    yun_vm_want want;
    bool here;         /* assigned to this host; else it runs for target_host */
    bool reboot;       /* a reboot was asked: once */
    bool incoming;     /* here, and migrating in: wait for the domain, never start it */
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
} proto_desired;

/* d as one JSON object (new reference). */
json_t *proto_desired_encode(const proto_desired *d);
/* j into d. INVALID saying what is wrong: a missing or malformed uuid or want, a path that is not absolute, a
 * string too long, a number of the wrong type. */
int proto_desired_decode(const json_t *j, proto_desired *d, yun_err *err);

#endif
