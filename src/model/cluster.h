/* model/cluster.h: virtual clusters (docs/clusters.md): a head NAME-head and nodes NAME-0 .. NAME-{N-1}, made
 * from one image each, on one cloud network, sharing an SSH key pair yund makes, so every member reaches
 * every other by name. The rules on names and sizes, the members' names, the key pair and the user-data part
 * that hands the pair to a member. Pure: no I/O. */
#ifndef YUN_MODEL_CLUSTER_H
#define YUN_MODEL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

#define YUN_CLUSTER_MAX_NODES 64     /* nodes of one cluster (the head apart) */
#define YUN_CLUSTER_NAME_MAX 58      /* so NAME-head and NAME-63 fit a VM name (YUN_NAME_MAX - 1) */
#define YUN_CLUSTER_PUBKEY_MAX 192   /* "ssh-ed25519 BASE64 yun-cluster-NAME" */
#define YUN_CLUSTER_PRIVKEY_MAX 1024 /* the OpenSSH PEM-like text of an unencrypted ed25519 key */
#define YUN_CLUSTER_USER "debian"    /* the default user of the images yun builds (docs/guests.md) */

/* A cluster (schema 20). Its members are the owner's VMs named by model_cluster_member. */
typedef struct yun_cluster {
    int64_t id;
    int64_t owner_id;
    char owner_name[YUN_NAME_MAX]; /* filled by the store on reads */
    char name[YUN_NAME_MAX];       /* unique per owner */
    int nodes;                     /* NAME-0 .. NAME-{nodes-1} */
    int64_t image_id;              /* the nodes' image */
    int64_t head_image_id;         /* the head's */
    int cpus;                      /* every member's */
    uint64_t mem_mib;
    int64_t network_id; /* the members' network */
    bool own_network;   /* made for the cluster, deleted with it */
    bool deleting;      /* its members are being deleted; the row, key and network go after them */
    char pubkey[YUN_CLUSTER_PUBKEY_MAX];
    char privkey[YUN_CLUSTER_PRIVKEY_MAX];
    int64_t created_ms;
} yun_cluster;

/* INVALID saying what is wrong: a name that is no yun name or longer than YUN_CLUSTER_NAME_MAX bytes, nodes
 * outside 1..YUN_CLUSTER_MAX_NODES. */
int model_cluster_validate(const char *name, int nodes, yun_err *err);

/* Member k's VM name into out (YUN_NAME_MAX): NAME-k, or NAME-head for k < 0. */
void model_cluster_member(const char *cluster, int k, char *out, size_t n);
/* Which member a VM name is of cluster: 1 with *k (-1: the head), 0 when it is none. */
int model_cluster_member_of(const char *cluster, const char *vm_name, int *k);

/* A new ed25519 key pair: pub as an OpenSSH public key line with comment "yun-cluster-NAME", priv as the
 * OpenSSH private key file (unencrypted: the members use it unattended). */
void model_cluster_keypair(const char *cluster, char pub[YUN_CLUSTER_PUBKEY_MAX], char priv[YUN_CLUSTER_PRIVKEY_MAX]);

/* The #cloud-config part that gives a member the cluster's private key (~/.ssh/id_ed25519, 0600) and an SSH
 * config trusting members' host keys on first use, for YUN_CLUSTER_USER, written once that user exists
 * (defer). malloc'd. */
char *model_cluster_user_data(const yun_cluster *c);

#endif
