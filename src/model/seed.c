/* seed.c: SSH keys, user-data and the NoCloud seed's files (seed.h). */
#include "model/seed.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"

static const char *const key_types[] = {
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", NULL,
};

#define KEY_EXAMPLE "give the .pub file, e.g. \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... you@laptop\""

/* The key's body (base64) decoded into bin; its length, or -1 when it is not base64. */
static long key_body(const char *b64, size_t len, unsigned char *bin, size_t cap)
{
    size_t out = 0;
    if (sodium_base642bin(bin, cap, b64, len, NULL, &out, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return (long)out;
}

int model_ssh_key_check(const char *text, char *out, size_t n, yun_err *err)
{
    if (!text)
        text = "";
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t len = strlen(text);
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len == 0)
        return yun_err_set(err, YUN_E_INVALID, "the SSH key is empty: " KEY_EXAMPLE);
    if (strstr(text, "PRIVATE KEY"))
        return yun_err_set(err, YUN_E_INVALID, "this is a private SSH key: never hand it out; give the public one "
                                               "(the .pub file next to it)");
    if (len >= YUN_SSH_KEY_MAX || len >= n)
        return yun_err_set(err, YUN_E_INVALID, "the SSH key is %zu bytes long, more than the %d allowed", len,
                           YUN_SSH_KEY_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n' || ch == '\r')
            return yun_err_set(err, YUN_E_INVALID, "the SSH key spans several lines: add one key at a time; " KEY_EXAMPLE);
        if (ch < 0x20 || ch == 0x7f)
            return yun_err_set(err, YUN_E_INVALID, "the SSH key holds a control character (byte %zu)", i + 1);
    }
    const char *sp = memchr(text, ' ', len);
    size_t tlen = sp ? (size_t)(sp - text) : len;
    const char *type = NULL;
    for (size_t i = 0; key_types[i]; i++)
        if (strlen(key_types[i]) == tlen && memcmp(key_types[i], text, tlen) == 0)
            type = key_types[i];
    if (!type)
        return yun_err_set(err, YUN_E_INVALID,
                           "'%.*s' is not an SSH public key type yun knows (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, "
                           "ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, "
                           "sk-ecdsa-sha2-nistp256@openssh.com): " KEY_EXAMPLE,
                           (int)(tlen > 40 ? 40 : tlen), text);
    if (!sp)
        return yun_err_set(err, YUN_E_INVALID, "the SSH key has a type (%s) but no body: " KEY_EXAMPLE, type);
    const char *body = sp + 1;
    const char *end = memchr(body, ' ', len - (size_t)(body - text));
    size_t blen = end ? (size_t)(end - body) : len - (size_t)(body - text);
    AUTOFREE unsigned char *bin = xmalloc(blen + 1);
    long bn = key_body(body, blen, bin, blen + 1);
    if (bn < 4)
        return yun_err_set(err, YUN_E_INVALID, "the SSH key's body is not base64: copy the whole line of the .pub file");
    uint32_t inner = (uint32_t)bin[0] << 24 | (uint32_t)bin[1] << 16 | (uint32_t)bin[2] << 8 | bin[3];
    if (inner != strlen(type) || (long)inner + 4 > bn || memcmp(bin + 4, type, inner) != 0)
        return yun_err_set(err, YUN_E_INVALID, "the SSH key's body is not a %s key: the line is damaged or mixed up", type);
    if (end) {
        for (const char *p = end; p < text + len;) {
            size_t k = str_utf8_seq((const unsigned char *)p, (size_t)(text + len - p));
            if (!k)
                return yun_err_set(err, YUN_E_INVALID, "the SSH key's comment is not UTF-8 text");
            p += k;
        }
    }
    snprintf(out, n, "%.*s", (int)len, text);
    return 0;
}

void model_ssh_key_fingerprint(const char *pubkey, char *out, size_t n)
{
    const char *body = strchr(pubkey, ' ');
    body = body ? body + 1 : pubkey;
    size_t blen = strcspn(body, " ");
    AUTOFREE unsigned char *bin = xmalloc(blen + 1);
    long bn = key_body(body, blen, bin, blen + 1);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, bin, bn > 0 ? (unsigned long long)bn : 0);
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    snprintf(out, n, "SHA256:%s", b64);
}

int model_user_data_check(const char *data, size_t n, yun_err *err)
{
    if (n > YUN_USER_DATA_MAX)
        return yun_err_set(err, YUN_E_TOO_LARGE, "user-data is %zu bytes, more than the %d allowed: keep it short, "
                                                 "or have it fetch the rest (#include URL, runcmd)", n, YUN_USER_DATA_MAX);
    for (size_t i = 0; i < n;) {
        size_t k = str_utf8_seq((const unsigned char *)data + i, n - i);
        if (!k)
            return yun_err_set(err, YUN_E_INVALID, "user-data is not text (byte %zu is %s): give a #cloud-config or a "
                               "script, not a binary or compressed file", i + 1, data[i] ? "not UTF-8" : "NUL");
        i += k;
    }
    if (!(n >= 13 && memcmp(data, "#cloud-config", 13) == 0) && !(n >= 2 && memcmp(data, "#!", 2) == 0))
        return yun_err_set(err, YUN_E_INVALID, "user-data must start with \"#cloud-config\" (cloud-init's YAML) or "
                                               "\"#!\" (a script run once at first boot)");
    return 0;
}

/* yun's #cloud-config: the keys, as YAML double-quoted strings */
static void keys_part(yun_buf *b, const char *const *keys, size_t n_keys)
{
    buf_puts(b, "#cloud-config\n");
    if (!n_keys)
        return;
    buf_puts(b, "ssh_authorized_keys:\n");
    for (size_t i = 0; i < n_keys; i++) {
        buf_puts(b, "  - \"");
        for (const char *p = keys[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_puts(b, "\\");
            buf_append(b, p, 1);
        }
        buf_puts(b, "\"\n");
    }
}

#define SEED_BOUNDARY "==yun-seed-boundary=="

char *model_seed_user_data(const char *const *keys, size_t n_keys, const char *user, size_t user_n)
{
    yun_buf b = YUN_BUF_INIT;
    if (!user || !user_n) {
        keys_part(&b, keys, n_keys);
        return buf_steal(&b);
    }
    bool script = user_n >= 2 && memcmp(user, "#!", 2) == 0;
    buf_puts(&b, "Content-Type: multipart/mixed; boundary=\"" SEED_BOUNDARY "\"\nMIME-Version: 1.0\n\n");
    buf_printf(&b, "--" SEED_BOUNDARY "\nContent-Type: %s; charset=\"utf-8\"\nMIME-Version: 1.0\n"
                   "Content-Disposition: attachment; filename=\"user-data\"\n\n",
               script ? "text/x-shellscript" : "text/cloud-config");
    buf_append(&b, user, user_n);
    if (user[user_n - 1] != '\n')
        buf_puts(&b, "\n");
    buf_puts(&b, "--" SEED_BOUNDARY "\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\n"
                 "Content-Disposition: attachment; filename=\"yun-keys\"\n\n");
    keys_part(&b, keys, n_keys);
    buf_puts(&b, "merge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    settings: [no_replace, recurse_list]\n");
    buf_puts(&b, "--" SEED_BOUNDARY "--\n");
    return buf_steal(&b);
}

char *model_seed_meta_data(const char *uuid, const char *hostname)
{
    return xasprintf("instance-id: %s\nlocal-hostname: %s\n", uuid, hostname);
}

char *model_seed_network_config(const char *mac)
{
    return xasprintf("version: 2\nethernets:\n  nic0:\n    match:\n      macaddress: \"%s\"\n    dhcp4: true\n", mac);
}
