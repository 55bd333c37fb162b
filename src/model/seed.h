/* model/seed.h: what a VM is told at its first boot, as a cloud-init NoCloud seed (docs/guests.md): users'
 * SSH public keys and their rule, the user-data a user may give and its rule, and the text of the seed's
 * three files (meta-data, user-data, network-config). The agent writes them into an ISO labelled cidata
 * (hv_seed_write); yund renders the user-data at create (the keys as they were then). Pure string work. */
#ifndef YUN_MODEL_SEED_H
#define YUN_MODEL_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

#define YUN_SSH_KEY_MAX 8192        /* one public key line, with its comment (a 16384-bit RSA key fits) */
#define YUN_USER_DATA_MAX 16384     /* a user's user-data file (`yun vm create --user-data FILE`) */
#define YUN_VM_MAX_SSH_KEYS 16      /* keys given to one VM */

/* A user's SSH public key (yun key add). */
typedef struct yun_ssh_key {
    int64_t id;
    int64_t owner_id;
    char name[YUN_NAME_MAX];
    char pubkey[YUN_SSH_KEY_MAX]; /* "TYPE BASE64 [COMMENT]", one line, as model_ssh_key_check normalised it */
    char fingerprint[64];         /* "SHA256:..." as ssh-keygen -l shows it */
    int64_t created_ms;
} yun_ssh_key;

/* Checks text (one OpenSSH public key line, as in id_ed25519.pub; surrounding white space and one final
 * newline are dropped) and writes the line to out (n >= YUN_SSH_KEY_MAX). INVALID saying what is wrong and
 * what a key looks like: empty, a private key, several lines, an unknown key type (ssh-ed25519, ssh-rsa,
 * ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com), a body that
 * is not base64 or does not name the same type, control characters in the comment, too long. */
int model_ssh_key_check(const char *text, char *out, size_t n, yun_err *err);

/* The key's fingerprint as `ssh-keygen -l` prints it ("SHA256:" + unpadded base64 of the body's SHA-256),
 * for a key model_ssh_key_check accepted, into out (n >= 64). */
void model_ssh_key_fingerprint(const char *pubkey, char *out, size_t n);

/* Checks a user's user-data: at most YUN_USER_DATA_MAX bytes, UTF-8 text without NUL bytes, starting with
 * "#cloud-config" or "#!" (a script). INVALID (TOO_LARGE when too big) saying which and how to fix it. */
int model_user_data_check(const char *data, size_t n, yun_err *err);

/* The user-data yund keeps for a VM (malloc'd): a #cloud-config giving keys (each as model_ssh_key_check
 * wrote it) to the image's default user; with user's data (checked), a MIME multipart of the user's part,
 * then yun's, whose merge_how appends the keys to any the user's part lists and replaces nothing of it. */
char *model_seed_user_data(const char *const *keys, size_t n_keys, const char *user, size_t user_n);

/* meta-data: instance-id (the VM's uuid: a new uuid is a new instance, a first boot) and local-hostname
 * (its name). malloc'd. */
char *model_seed_meta_data(const char *uuid, const char *hostname);

/* network-config (version 2): the NIC with this MAC ("52:54:00:..."), whatever the guest names it, on DHCPv4.
 * malloc'd. */
char *model_seed_network_config(const char *mac);

#endif
