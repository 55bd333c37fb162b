/* cluster.c: virtual clusters' rules, member names, key pair and user-data part (cluster.h). */
#include "model/cluster.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"

int model_cluster_validate(const char *name, int nodes, yun_err *err)
{
    if (model_name_validate(name, "cluster name", err) < 0)
        return -1;
    if (strlen(name) > YUN_CLUSTER_NAME_MAX)
        return yun_err_set(err, YUN_E_INVALID,
                           "cluster name %s is %zu bytes long, at most %d: its members are named NAME-head and NAME-N",
                           name, strlen(name), YUN_CLUSTER_NAME_MAX);
    if (nodes < 1 || nodes > YUN_CLUSTER_MAX_NODES)
        return yun_err_set(err, YUN_E_INVALID, "a cluster has 1 to %d nodes (--nodes N), not %d", YUN_CLUSTER_MAX_NODES,
                           nodes);
    return 0;
}

void model_cluster_member(const char *cluster, int k, char *out, size_t n)
{
    if (k < 0)
        snprintf(out, n, "%s-head", cluster);
    else
        snprintf(out, n, "%s-%d", cluster, k);
}

int model_cluster_member_of(const char *cluster, const char *vm_name, int *k)
{
    size_t l = strlen(cluster);
    if (strncmp(vm_name, cluster, l) || vm_name[l] != '-')
        return 0;
    const char *t = vm_name + l + 1;
    if (!strcmp(t, "head")) {
        *k = -1;
        return 1;
    }
    if (!*t || (t[0] == '0' && t[1]) || strlen(t) > 2)
        return 0;
    int v = 0;
    for (; *t; t++) {
        if (*t < '0' || *t > '9')
            return 0;
        v = v * 10 + (*t - '0');
    }
    *k = v;
    return 1;
}

/* SSH wire format: a uint32 length (big-endian) and the bytes */
static void put_u32(yun_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    buf_append(b, (const char *)x, 4);
}

static void put_str(yun_buf *b, const void *p, size_t n)
{
    put_u32(b, (uint32_t)n);
    buf_append(b, p, n);
}

static void b64(const yun_buf *in, char *out, size_t n)
{
    sodium_bin2base64(out, n, (const unsigned char *)in->data, in->len, sodium_base64_VARIANT_ORIGINAL);
}

void model_cluster_keypair(const char *cluster, char pub[YUN_CLUSTER_PUBKEY_MAX], char priv[YUN_CLUSTER_PRIVKEY_MAX])
{
    if (sodium_init() < 0)
        abort();
    unsigned char pk[crypto_sign_ed25519_PUBLICKEYBYTES], sk[crypto_sign_ed25519_SECRETKEYBYTES];
    crypto_sign_ed25519_keypair(pk, sk);
    char comment[YUN_NAME_MAX + 16];
    snprintf(comment, sizeof comment, "yun-cluster-%s", cluster);
    static const char type[] = "ssh-ed25519";
    yun_buf blob = YUN_BUF_INIT;
    put_str(&blob, type, sizeof type - 1);
    put_str(&blob, pk, sizeof pk);
    char tmp[96]; /* 51 bytes of blob: 68 characters */
    b64(&blob, tmp, sizeof tmp);
    snprintf(pub, YUN_CLUSTER_PUBKEY_MAX, "%s %.68s %.80s", type, tmp, comment);
    /* openssh-key-v1 (OpenSSH's PROTOCOL.key): no cipher, one key, the private section padded to 8 */
    yun_buf sec = YUN_BUF_INIT;
    uint32_t check = randombytes_random();
    put_u32(&sec, check);
    put_u32(&sec, check);
    put_str(&sec, type, sizeof type - 1);
    put_str(&sec, pk, sizeof pk);
    put_str(&sec, sk, sizeof sk);
    put_str(&sec, comment, strlen(comment));
    for (unsigned char pad = 1; sec.len % 8; pad++)
        buf_append(&sec, (const char *)&pad, 1);
    yun_buf all = YUN_BUF_INIT;
    buf_append(&all, "openssh-key-v1", 15); /* with its NUL */
    put_str(&all, "none", 4);
    put_str(&all, "none", 4);
    put_str(&all, "", 0);
    put_u32(&all, 1);
    put_str(&all, blob.data, blob.len);
    put_str(&all, sec.data, sec.len);
    char body[800]; /* about 400 bytes: 540 characters */
    b64(&all, body, sizeof body);
    yun_buf out = YUN_BUF_INIT;
    buf_puts(&out, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for (size_t i = 0, l = strlen(body); i < l; i += 70) {
        buf_append(&out, body + i, l - i < 70 ? l - i : 70);
        buf_puts(&out, "\n");
    }
    buf_puts(&out, "-----END OPENSSH PRIVATE KEY-----\n");
    snprintf(priv, YUN_CLUSTER_PRIVKEY_MAX, "%s", out.data);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sec.data, sec.len);
    sodium_memzero(all.data, all.len);
    sodium_memzero(body, sizeof body);
    buf_free(&blob);
    buf_free(&sec);
    buf_free(&all);
    buf_free(&out);
}

/* A YAML literal block, indented by ind spaces */
static void block(yun_buf *b, const char *text, const char *ind)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        buf_printf(b, "%s%.*s\n", ind, (int)l, p);
        p += l + (nl ? 1 : 0);
    }
}

char *model_cluster_user_data(const yun_cluster *c)
{
    yun_buf b = YUN_BUF_INIT;
    buf_puts(&b, "#cloud-config\nwrite_files:\n");
    buf_puts(&b, "  - path: /home/" YUN_CLUSTER_USER "/.ssh/id_ed25519\n    owner: " YUN_CLUSTER_USER
                 ":" YUN_CLUSTER_USER "\n    permissions: '0600'\n    defer: true\n    content: |\n");
    block(&b, c->privkey, "      ");
    buf_puts(&b, "  - path: /home/" YUN_CLUSTER_USER "/.ssh/id_ed25519.pub\n    owner: " YUN_CLUSTER_USER
                 ":" YUN_CLUSTER_USER "\n    permissions: '0644'\n    defer: true\n    content: |\n");
    block(&b, c->pubkey, "      ");
    /* members are made and remade under the same names (scale down, then up): a remade member has a new host
     * key, so members do not pin each other's; they are reached only on the cluster's own network */
    buf_puts(&b, "  - path: /home/" YUN_CLUSTER_USER "/.ssh/config\n    owner: " YUN_CLUSTER_USER ":" YUN_CLUSTER_USER
                 "\n    permissions: '0600'\n    defer: true\n    content: |\n");
    buf_printf(&b,
               "      Host %s-*\n        StrictHostKeyChecking no\n        UserKnownHostsFile /dev/null\n"
               "        LogLevel ERROR\n",
               c->name);
    return buf_steal(&b);
}
