/* store_impl.h: the back-end table behind store.h (private to src/store). A back end embeds struct yun_store
 * as its first member and fills ops; store.c dispatches every public call through it, so a PostgreSQL back
 * end is one more table and one more prefix in store_open. Each op has the contract of its store_* function. */
#ifndef YUN_STORE_STORE_IMPL_H
#define YUN_STORE_STORE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include "store/store.h"

typedef struct store_ops {
    const char *name; /* "sql" */
    void (*close)(yun_store *s);
    int (*schema_version)(yun_store *s);
    int (*begin)(yun_store *s, yun_err *err);
    int (*commit)(yun_store *s, yun_err *err);
    void (*rollback)(yun_store *s);

    int (*user_create)(yun_store *s, yun_user *u, yun_err *err);
    int (*user_get)(yun_store *s, int64_t id, yun_user *out, yun_err *err);
    int (*user_get_by_name)(yun_store *s, const char *name, yun_user *out, yun_err *err);
    int (*user_get_by_token_hash)(yun_store *s, const char *token_hash, yun_user *out, yun_err *err);
    int (*user_list)(yun_store *s, yun_user **out, size_t *n, yun_err *err);
    int (*user_update)(yun_store *s, const yun_user *u, yun_err *err);
    int (*user_delete)(yun_store *s, int64_t id, yun_err *err);

    int (*image_create)(yun_store *s, yun_image *img, yun_err *err);
    int (*image_get)(yun_store *s, int64_t id, yun_image *out, yun_err *err);
    int (*image_get_by_name)(yun_store *s, const char *name, yun_image *out, yun_err *err);
    int (*image_list)(yun_store *s, yun_image **out, size_t *n, yun_err *err);
    int (*image_delete)(yun_store *s, int64_t id, yun_err *err);

    int (*host_upsert)(yun_store *s, yun_host *h, yun_err *err);
    int (*host_get)(yun_store *s, int64_t id, yun_host *out, yun_err *err);
    int (*host_get_by_name)(yun_store *s, const char *name, yun_host *out, yun_err *err);
    int (*host_list)(yun_store *s, yun_host **out, size_t *n, yun_err *err);
    int (*host_update)(yun_store *s, const yun_host *h, yun_err *err);
    int (*hosts_seen)(yun_store *s, const yun_host_seen *seen, size_t n, yun_err *err);

    int (*vm_create)(yun_store *s, yun_vm *vm, yun_err *err);
    int (*vm_get)(yun_store *s, int64_t id, yun_vm *out, yun_err *err);
    int (*vm_get_by_name)(yun_store *s, int64_t owner_id, const char *name, yun_vm *out, yun_err *err);
    int (*vm_get_by_uuid)(yun_store *s, const char *uuid, yun_vm *out, yun_err *err);
    int (*vm_list)(yun_store *s, int64_t owner_id, int64_t host_id, yun_vm **out, size_t *n, yun_err *err);
    int (*vm_each)(yun_store *s, int64_t owner_id, int64_t host_id, store_vm_fn fn, void *ud, yun_err *err);
    int (*vm_page)(yun_store *s, int64_t owner_id, int64_t after_id, int64_t limit, store_vm_fn fn, void *ud,
                   yun_err *err);
    int (*vm_count)(yun_store *s, int64_t owner_id, int64_t host_id, int64_t *n, yun_err *err);
    int (*vm_update)(yun_store *s, yun_vm *vm, yun_err *err);
    int (*vm_delete)(yun_store *s, int64_t id, yun_err *err);
    int (*usage)(yun_store *s, int64_t owner_id, int64_t sums[4], yun_err *err); /* vms, cpus, mem, disk */
    int (*host_use)(yun_store *s, yun_host_use **out, size_t *n, yun_err *err);

    int (*setting_get)(yun_store *s, const char *key, char *out, size_t n, yun_err *err);
    int (*setting_set)(yun_store *s, const char *key, const char *value, yun_err *err);

    int (*console_set)(yun_store *s, const char *vm_uuid, const char *data, size_t n, yun_err *err);
    int (*console_get)(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err);
    int (*console_delete)(yun_store *s, const char *vm_uuid, yun_err *err);

    int (*decision_add)(yun_store *s, yun_decision *d, yun_err *err);
    int (*decision_list)(yun_store *s, size_t max, yun_decision **out, size_t *n, yun_err *err);

    int (*key_create)(yun_store *s, yun_ssh_key *k, yun_err *err);
    int (*key_get)(yun_store *s, int64_t owner_id, const char *name, yun_ssh_key *out, yun_err *err);
    int (*key_list)(yun_store *s, int64_t owner_id, yun_ssh_key **out, size_t *n, yun_err *err);
    int (*key_delete)(yun_store *s, int64_t owner_id, const char *name, yun_err *err);
    int (*seed_set)(yun_store *s, const char *vm_uuid, const char *user_data, size_t n, yun_err *err);
    int (*seed_get)(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err);

    int (*job_create)(yun_store *s, yun_job *j, yun_err *err);
    int (*job_get)(yun_store *s, int64_t id, yun_job *out, yun_err *err);
    int (*job_list)(yun_store *s, const store_job_filter *f, yun_job **out, size_t *n, yun_err *err);
    int (*job_update)(yun_store *s, const yun_job *j, yun_err *err);
    int (*job_delete)(yun_store *s, int64_t id, yun_err *err);
    int (*copy_to)(yun_store *s, const char *dest, yun_err *err);
    int (*schedule_set)(yun_store *s, const yun_backup_schedule *b, yun_err *err);
    int (*schedule_get)(yun_store *s, const char *vm_uuid, yun_backup_schedule *out, yun_err *err);
    int (*schedule_list)(yun_store *s, yun_backup_schedule **out, size_t *n, yun_err *err);
    int (*schedule_delete)(yun_store *s, const char *vm_uuid, yun_err *err);
    int (*host_key_set)(yun_store *s, const yun_host_key *k, yun_err *err);
    int (*host_key_get)(yun_store *s, const char *name, yun_host_key *out, yun_err *err);
    int (*host_key_by_hash)(yun_store *s, const char *hash, yun_host_key *out, yun_err *err);
    int (*host_key_delete)(yun_store *s, const char *name, yun_err *err);
    int (*cluster_create)(yun_store *s, yun_cluster *c, yun_err *err);
    int (*cluster_get_by_name)(yun_store *s, int64_t owner_id, const char *name, yun_cluster *out, yun_err *err);
    int (*cluster_list)(yun_store *s, int64_t owner_id, yun_cluster **out, size_t *n, yun_err *err);
    int (*cluster_update)(yun_store *s, const yun_cluster *c, yun_err *err);
    int (*cluster_delete)(yun_store *s, int64_t id, yun_err *err);
    int (*network_create)(yun_store *s, yun_network *n, yun_err *err);
    int (*network_get)(yun_store *s, int64_t id, yun_network *out, yun_err *err);
    int (*network_get_by_name)(yun_store *s, int64_t owner_id, const char *name, yun_network *out, yun_err *err);
    int (*network_list)(yun_store *s, yun_network **out, size_t *n, yun_err *err);
    int (*network_delete)(yun_store *s, int64_t id, yun_err *err);
    int (*lease_add)(yun_store *s, const yun_lease *l, yun_err *err);
    int (*lease_get)(yun_store *s, int64_t vm_id, yun_lease *out, yun_err *err);
    int (*lease_list)(yun_store *s, int64_t network_id, yun_lease **out, size_t *n, yun_err *err);
    int (*net_members)(yun_store *s, int64_t host_id, yun_net_member **out, size_t *n, yun_err *err);
    int (*login_failure_get)(yun_store *s, const char *key, yun_login_failure *out, yun_err *err);
    int (*login_failure_set)(yun_store *s, const yun_login_failure *f, yun_err *err);
    int (*login_failure_delete)(yun_store *s, const char *key, bool *existed, yun_err *err);
    int (*login_failure_prune)(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err);
    int (*audit_add)(yun_store *s, yun_audit *a, yun_err *err);
    int (*audit_list)(yun_store *s, const char *user, int64_t since_ms, size_t max, yun_audit **out, size_t *n,
                      yun_err *err);
    int (*audit_prune)(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err);

    int (*password_get)(yun_store *s, int64_t user_id, char *out, size_t n, yun_err *err);
    int (*password_set)(yun_store *s, int64_t user_id, const char *hash, yun_err *err);
    int (*session_create)(yun_store *s, const char *token_hash, int64_t user_id, int64_t expires_ms, yun_err *err);
    int (*session_get)(yun_store *s, const char *token_hash, int64_t now_ms, yun_user *user, int64_t *expires_ms,
                       yun_err *err);
    int (*session_delete)(yun_store *s, const char *token_hash, yun_err *err);
    int (*session_delete_user)(yun_store *s, int64_t user_id, yun_err *err);
    int (*session_expire)(yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err);
    int (*lead)(yun_store *s, bool *leading, yun_err *err);
    bool (*shared)(yun_store *s);
} store_ops;

struct yun_store {
    const store_ops *ops;
    pthread_mutex_t *writes; /* NULL, or its pool's writer queue (store_pool_join): held from begin to the end */
    bool queue_writes;       /* set by the back end: its write lock is waited for by polling (SQLite's busy
                              * handler), so store_pool_join queues this store's writers in the process */
    bool writing;            /* writes is held by this store's transaction */
    bool in_tx;              /* between a store_begin that succeeded and its commit or rollback */
};

/* Opens (creating and migrating) the database at target: a SQLite file name (or ":memory:"), or a PostgreSQL
 * URI or conninfo (sql.h). */
yun_store *store_sql_open(const char *target, yun_err *err);

#endif
