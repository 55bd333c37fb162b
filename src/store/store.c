/* store.c: picks a back end from the path and dispatches each call through its ops table.
 * Arguments every back end would check the same way are checked here, once. */
#include "store/store_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mem.h"

/* how long a get waits for a store to come back, all of the pool's being out, before opening one more */
#define POOL_WAIT_MS 1000

yun_store *store_open(const char *path, yun_err *err)
{
    if (!path || !*path) {
        yun_err_set(err, YUN_E_INVALID, "no store given: pass a file name such as var/yun.db, or sqlite:PATH");
        return NULL;
    }
    if (!strncmp(path, "sqlite:", 7))
        return store_sql_open(path + 7, err);
    return store_sql_open(path, err); /* postgres://... or postgresql://... go to PostgreSQL (sql.h) */
}

void store_close(yun_store *s)
{
    if (s)
        s->ops->close(s);
}

struct store_pool {
    pthread_mutex_t writes; /* the pool's writer queue (store_pool_join) */
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t back;    /* a store was put back */
    char *path;
    size_t size;
    yun_store **idle;
    size_t n_idle;
    size_t out; /* handed out, not yet back */
    size_t opened;
};

store_pool *store_pool_new(const char *path, size_t size)
{
    store_pool *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->writes, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->back, &ca);
    pthread_condattr_destroy(&ca);
    p->path = xstrdup(path ? path : "");
    p->size = size ? size : 1;
    p->idle = xcalloc(p->size + 1, sizeof *p->idle);
    return p;
}

void store_pool_free(store_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        store_close(p->idle[i]);
    free(p->idle);
    free(p->path);
    pthread_cond_destroy(&p->back);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->writes);
    free(p);
}

yun_store *store_pool_get(store_pool *p, yun_err *err)
{
    pthread_mutex_lock(&p->lock);
    if (!p->n_idle && p->out >= p->size) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += POOL_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!p->n_idle && pthread_cond_timedwait(&p->back, &p->lock, &until) == 0) {
        }
    }
    yun_store *s = p->n_idle ? p->idle[--p->n_idle] : NULL;
    p->out++;
    pthread_mutex_unlock(&p->lock);
    if (s)
        return s;
    s = store_open(p->path, err); /* outside the lock: opening takes a while */
    pthread_mutex_lock(&p->lock);
    if (s)
        p->opened++;
    else
        p->out--;
    pthread_mutex_unlock(&p->lock);
    if (s)
        store_pool_join(p, s);
    return s;
}

void store_pool_put(store_pool *p, yun_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->lock);
    p->out--;
    bool keep = p->n_idle < p->size;
    if (keep) {
        p->idle[p->n_idle++] = s;
        pthread_cond_signal(&p->back);
    }
    pthread_mutex_unlock(&p->lock);
    if (!keep)
        store_close(s);
}

void store_pool_join(store_pool *p, yun_store *s)
{
    s->writes = s->queue_writes ? &p->writes : NULL;
}

size_t store_pool_opened(store_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->opened;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int store_schema_version(yun_store *s)
{
    return s->ops->schema_version(s);
}
static void writes_end(yun_store *s)
{
    if (s->writing)
        pthread_mutex_unlock(s->writes);
    s->writing = false;
}

int store_begin(yun_store *s, yun_err *err)
{
    bool took = s->writes && !s->writing; /* a nested begin fails below and keeps the outer's place */
    if (took) {
        pthread_mutex_lock(s->writes);
        s->writing = true;
    }
    int r = s->ops->begin(s, err);
    if (r < 0 && took)
        writes_end(s);
    s->in_tx = r == 0 || s->in_tx;
    return r;
}
int store_commit(yun_store *s, yun_err *err)
{
    int r = s->ops->commit(s, err); /* a failed commit rolls back: the transaction is over either way */
    s->in_tx = false;
    writes_end(s);
    return r;
}
void store_rollback(yun_store *s)
{
    s->ops->rollback(s);
    s->in_tx = false;
    writes_end(s);
}

/* A VM's row and the sums kept beside it (store_host_use, store_usage) change together: a VM write made outside
 * a transaction runs in one of its own. */
static int vm_write(yun_store *s, int (*op)(yun_store *, void *, yun_err *), void *arg, yun_err *err)
{
    if (s->in_tx)
        return op(s, arg, err);
    if (store_begin(s, err) < 0)
        return -1;
    if (op(s, arg, err) < 0) {
        store_rollback(s);
        return -1;
    }
    return store_commit(s, err);
}
static int vm_create_op(yun_store *s, void *vm, yun_err *err)
{
    return s->ops->vm_create(s, vm, err);
}
static int vm_update_op(yun_store *s, void *vm, yun_err *err)
{
    return s->ops->vm_update(s, vm, err);
}
static int vm_delete_op(yun_store *s, void *id, yun_err *err)
{
    return s->ops->vm_delete(s, *(int64_t *)id, err);
}

static int need_str(const char *v, const char *what, yun_err *err)
{
    if (!v || !*v)
        return yun_err_set(err, YUN_E_INVALID, "%s is empty", what);
    return 0;
}

int store_user_create(yun_store *s, yun_user *u, yun_err *err)
{
    return need_str(u->name, "user name", err) ?: s->ops->user_create(s, u, err);
}
int store_user_get(yun_store *s, int64_t id, yun_user *out, yun_err *err)
{
    return s->ops->user_get(s, id, out, err);
}
int store_user_get_by_name(yun_store *s, const char *name, yun_user *out, yun_err *err)
{
    return need_str(name, "user name", err) ?: s->ops->user_get_by_name(s, name, out, err);
}
int store_user_get_by_token_hash(yun_store *s, const char *token_hash, yun_user *out, yun_err *err)
{
    /* an empty hash must never match a user who has no token */
    if (!token_hash || !*token_hash)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no user has an empty token");
    return s->ops->user_get_by_token_hash(s, token_hash, out, err);
}
int store_user_list(yun_store *s, yun_user **out, size_t *n, yun_err *err)
{
    return s->ops->user_list(s, out, n, err);
}
int store_user_update(yun_store *s, const yun_user *u, yun_err *err)
{
    return need_str(u->name, "user name", err) ?: s->ops->user_update(s, u, err);
}
int store_user_delete(yun_store *s, int64_t id, yun_err *err)
{
    return s->ops->user_delete(s, id, err);
}

int store_image_create(yun_store *s, yun_image *img, yun_err *err)
{
    return need_str(img->name, "image name", err) ?: s->ops->image_create(s, img, err);
}
int store_image_get(yun_store *s, int64_t id, yun_image *out, yun_err *err)
{
    return s->ops->image_get(s, id, out, err);
}
int store_image_get_by_name(yun_store *s, const char *name, yun_image *out, yun_err *err)
{
    return need_str(name, "image name", err) ?: s->ops->image_get_by_name(s, name, out, err);
}
int store_image_list(yun_store *s, yun_image **out, size_t *n, yun_err *err)
{
    return s->ops->image_list(s, out, n, err);
}
int store_image_delete(yun_store *s, int64_t id, yun_err *err)
{
    return s->ops->image_delete(s, id, err);
}

int store_host_upsert(yun_store *s, yun_host *h, yun_err *err)
{
    return need_str(h->name, "host name", err) ?: s->ops->host_upsert(s, h, err);
}
int store_host_get(yun_store *s, int64_t id, yun_host *out, yun_err *err)
{
    return s->ops->host_get(s, id, out, err);
}
int store_host_get_by_name(yun_store *s, const char *name, yun_host *out, yun_err *err)
{
    return need_str(name, "host name", err) ?: s->ops->host_get_by_name(s, name, out, err);
}
int store_host_list(yun_store *s, yun_host **out, size_t *n, yun_err *err)
{
    return s->ops->host_list(s, out, n, err);
}
int store_host_update(yun_store *s, const yun_host *h, yun_err *err)
{
    return need_str(h->name, "host name", err) ?: s->ops->host_update(s, h, err);
}

int store_hosts_seen(yun_store *s, const yun_host_seen *seen, size_t n, yun_err *err)
{
    return s->ops->hosts_seen(s, seen, n, err);
}

int store_vm_create(yun_store *s, yun_vm *vm, yun_err *err)
{
    if (need_str(vm->name, "VM name", err) < 0)
        return -1;
    if (!vm->uuid[0])
        model_uuid_new(vm->uuid);
    return vm_write(s, vm_create_op, vm, err);
}
int store_vm_get(yun_store *s, int64_t id, yun_vm *out, yun_err *err)
{
    return s->ops->vm_get(s, id, out, err);
}
int store_vm_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_vm *out, yun_err *err)
{
    return need_str(name, "VM name", err) ?: s->ops->vm_get_by_name(s, owner_id, name, out, err);
}
int store_vm_get_by_uuid(yun_store *s, const char *uuid, yun_vm *out, yun_err *err)
{
    return need_str(uuid, "VM UUID", err) ?: s->ops->vm_get_by_uuid(s, uuid, out, err);
}
int store_vm_each(yun_store *s, int64_t owner_id, int64_t host_id, store_vm_fn fn, void *ud, yun_err *err)
{
    return s->ops->vm_each(s, owner_id, host_id, fn, ud, err);
}

int store_vm_page_each(yun_store *s, int64_t owner_id, int64_t after_id, int64_t limit, store_vm_fn fn, void *ud,
                  yun_err *err)
{
    return s->ops->vm_page(s, owner_id, after_id, limit, fn, ud, err);
}

int store_vm_list(yun_store *s, int64_t owner_id, int64_t host_id, yun_vm **out, size_t *n, yun_err *err)
{
    return s->ops->vm_list(s, owner_id, host_id, out, n, err);
}
int store_vm_count(yun_store *s, int64_t owner_id, int64_t host_id, int64_t *n, yun_err *err)
{
    return s->ops->vm_count(s, owner_id, host_id, n, err);
}
int store_vm_update(yun_store *s, yun_vm *vm, yun_err *err)
{
    return need_str(vm->name, "VM name", err) ?: vm_write(s, vm_update_op, vm, err);
}
int store_vm_delete(yun_store *s, int64_t id, yun_err *err)
{
    return vm_write(s, vm_delete_op, &id, err);
}

int store_host_use(yun_store *s, yun_host_use **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->host_use(s, out, n, err);
}

int store_usage(yun_store *s, int64_t owner_id, int64_t *vms, int64_t *cpus, int64_t *mem_mib, int64_t *disk_mib,
                yun_err *err)
{
    int64_t sums[4] = {0};
    if (s->ops->usage(s, owner_id, sums, err) < 0)
        return -1;
    int64_t *outs[4] = {vms, cpus, mem_mib, disk_mib};
    for (int i = 0; i < 4; i++)
        if (outs[i])
            *outs[i] = sums[i];
    return 0;
}

int store_setting_get(yun_store *s, const char *key, char *out, size_t n, yun_err *err)
{
    if (need_str(key, "setting name", err) < 0)
        return -1;
    if (!out || n == 0)
        return yun_err_set(err, YUN_E_INVALID, "setting %s: no room for its value", key);
    return s->ops->setting_get(s, key, out, n, err);
}
int store_setting_set(yun_store *s, const char *key, const char *value, yun_err *err)
{
    if (need_str(key, "setting name", err) < 0)
        return -1;
    if (!value)
        return yun_err_set(err, YUN_E_INVALID, "setting %s: no value given", key);
    return s->ops->setting_set(s, key, value, err);
}

int store_console_set(yun_store *s, const char *vm_uuid, const char *data, size_t n, yun_err *err)
{
    if (need_str(vm_uuid, "VM UUID", err) < 0)
        return -1;
    if (!data && n)
        return yun_err_set(err, YUN_E_INVALID, "console of %s: %zu bytes but no data", vm_uuid, n);
    return s->ops->console_set(s, vm_uuid, data ? data : "", n, err);
}
int store_console_get(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err)
{
    return need_str(vm_uuid, "VM UUID", err) ?: s->ops->console_get(s, vm_uuid, out, n, err);
}
int store_console_delete(yun_store *s, const char *vm_uuid, yun_err *err)
{
    return need_str(vm_uuid, "VM UUID", err) ?: s->ops->console_delete(s, vm_uuid, err);
}

int store_decision_add(yun_store *s, yun_decision *d, yun_err *err)
{
    return s->ops->decision_add(s, d, err);
}
int store_decision_list(yun_store *s, size_t max, yun_decision **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->decision_list(s, max, out, n, err);
}

int store_user_password_get(yun_store *s, int64_t user_id, char *out, size_t n, yun_err *err)
{
    if (!out || n == 0)
        return yun_err_set(err, YUN_E_INVALID, "user %lld: no room for the password hash", (long long)user_id);
    return s->ops->password_get(s, user_id, out, n, err);
}
int store_user_password_set(yun_store *s, int64_t user_id, const char *hash, yun_err *err)
{
    return s->ops->password_set(s, user_id, hash ? hash : "", err);
}

int store_session_create(yun_store *s, const char *token_hash, int64_t user_id, int64_t expires_ms, yun_err *err)
{
    return need_str(token_hash, "session token hash", err)
               ?: s->ops->session_create(s, token_hash, user_id, expires_ms, err);
}
int store_session_get(yun_store *s, const char *token_hash, int64_t now_ms, yun_user *user, int64_t *expires_ms,
                      yun_err *err)
{
    /* an empty hash is no session at all; answered like an unknown one */
    if (!token_hash || !*token_hash)
        return yun_err_set(err, YUN_E_NOT_FOUND, "no such session, or it has expired");
    return s->ops->session_get(s, token_hash, now_ms, user, expires_ms, err);
}
int store_session_delete(yun_store *s, const char *token_hash, yun_err *err)
{
    return need_str(token_hash, "session token hash", err) ?: s->ops->session_delete(s, token_hash, err);
}
int store_session_delete_user(yun_store *s, int64_t user_id, yun_err *err)
{
    return s->ops->session_delete_user(s, user_id, err);
}
int store_session_expire(yun_store *s, int64_t now_ms, int64_t *removed, yun_err *err)
{
    return s->ops->session_expire(s, now_ms, removed, err);
}

int store_key_create(yun_store *s, yun_ssh_key *k, yun_err *err)
{
    return need_str(k->name, "key name", err) ?: s->ops->key_create(s, k, err);
}
int store_key_get(yun_store *s, int64_t owner_id, const char *name, yun_ssh_key *out, yun_err *err)
{
    return need_str(name, "key name", err) ?: s->ops->key_get(s, owner_id, name, out, err);
}
int store_key_list(yun_store *s, int64_t owner_id, yun_ssh_key **out, size_t *n, yun_err *err)
{
    return s->ops->key_list(s, owner_id, out, n, err);
}
int store_key_delete(yun_store *s, int64_t owner_id, const char *name, yun_err *err)
{
    return need_str(name, "key name", err) ?: s->ops->key_delete(s, owner_id, name, err);
}
int store_seed_set(yun_store *s, const char *vm_uuid, const char *user_data, size_t n, yun_err *err)
{
    return need_str(vm_uuid, "VM UUID", err) ?: s->ops->seed_set(s, vm_uuid, user_data ? user_data : "", n, err);
}
int store_seed_get(yun_store *s, const char *vm_uuid, char **out, size_t *n, yun_err *err)
{
    return need_str(vm_uuid, "VM UUID", err) ?: s->ops->seed_get(s, vm_uuid, out, n, err);
}

int store_job_create(yun_store *s, yun_job *j, yun_err *err)
{
    return s->ops->job_create(s, j, err);
}
int store_job_get(yun_store *s, int64_t id, yun_job *out, yun_err *err)
{
    return s->ops->job_get(s, id, out, err);
}
int store_job_list(yun_store *s, const store_job_filter *f, yun_job **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->job_list(s, f, out, n, err);
}
int store_job_update(yun_store *s, const yun_job *j, yun_err *err)
{
    return s->ops->job_update(s, j, err);
}
int store_job_delete(yun_store *s, int64_t id, yun_err *err)
{
    return s->ops->job_delete(s, id, err);
}
int store_copy_to(yun_store *s, const char *dest, yun_err *err)
{
    return need_str(dest, "backup file", err) ?: s->ops->copy_to(s, dest, err);
}

int store_schedule_set(yun_store *s, const yun_backup_schedule *b, yun_err *err)
{
    return need_str(b->vm_uuid, "VM UUID", err) ?: s->ops->schedule_set(s, b, err);
}
int store_schedule_get(yun_store *s, const char *vm_uuid, yun_backup_schedule *out, yun_err *err)
{
    return need_str(vm_uuid, "VM UUID", err) ?: s->ops->schedule_get(s, vm_uuid, out, err);
}
int store_schedule_list(yun_store *s, yun_backup_schedule **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->schedule_list(s, out, n, err);
}
int store_schedule_delete(yun_store *s, const char *vm_uuid, yun_err *err)
{
    return need_str(vm_uuid, "VM UUID", err) ?: s->ops->schedule_delete(s, vm_uuid, err);
}
int store_lead(yun_store *s, bool *leading, yun_err *err)
{
    return s->ops->lead(s, leading, err);
}
bool store_shared(yun_store *s)
{
    return s->ops->shared(s);
}
int store_host_key_set(yun_store *s, const yun_host_key *k, yun_err *err)
{
    return need_str(k->name, "host name", err) ?: s->ops->host_key_set(s, k, err);
}
int store_host_key_get(yun_store *s, const char *name, yun_host_key *out, yun_err *err)
{
    return need_str(name, "host name", err) ?: s->ops->host_key_get(s, name, out, err);
}
int store_host_key_get_by_hash(yun_store *s, const char *hash, yun_host_key *out, yun_err *err)
{
    return need_str(hash, "key hash", err) ?: s->ops->host_key_by_hash(s, hash, out, err);
}
int store_host_key_delete(yun_store *s, const char *name, yun_err *err)
{
    return need_str(name, "host name", err) ?: s->ops->host_key_delete(s, name, err);
}

int store_network_create(yun_store *s, yun_network *n, yun_err *err)
{
    return need_str(n->name, "network name", err) ?: s->ops->network_create(s, n, err);
}
int store_network_get(yun_store *s, int64_t id, yun_network *out, yun_err *err)
{
    return s->ops->network_get(s, id, out, err);
}
int store_network_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_network *out, yun_err *err)
{
    return need_str(name, "network name", err) ?: s->ops->network_get_by_name(s, owner_id, name, out, err);
}
int store_network_list(yun_store *s, yun_network **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->network_list(s, out, n, err);
}
int store_network_delete(yun_store *s, int64_t id, yun_err *err)
{
    return s->ops->network_delete(s, id, err);
}
int store_cluster_create(yun_store *s, yun_cluster *c, yun_err *err)
{
    return need_str(c->name, "cluster name", err) ?: s->ops->cluster_create(s, c, err);
}
int store_cluster_get_by_name(yun_store *s, int64_t owner_id, const char *name, yun_cluster *out, yun_err *err)
{
    return need_str(name, "cluster name", err) ?: s->ops->cluster_get_by_name(s, owner_id, name, out, err);
}
int store_cluster_list(yun_store *s, int64_t owner_id, yun_cluster **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->cluster_list(s, owner_id, out, n, err);
}
int store_cluster_update(yun_store *s, const yun_cluster *c, yun_err *err)
{
    return s->ops->cluster_update(s, c, err);
}
int store_cluster_delete(yun_store *s, int64_t id, yun_err *err)
{
    return s->ops->cluster_delete(s, id, err);
}
int store_lease_add(yun_store *s, const yun_lease *l, yun_err *err)
{
    return need_str(l->ip, "lease address", err) ?: s->ops->lease_add(s, l, err);
}
int store_lease_get(yun_store *s, int64_t vm_id, yun_lease *out, yun_err *err)
{
    return s->ops->lease_get(s, vm_id, out, err);
}
int store_lease_list(yun_store *s, int64_t network_id, yun_lease **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->lease_list(s, network_id, out, n, err);
}
int store_net_members(yun_store *s, int64_t host_id, yun_net_member **out, size_t *n, yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->net_members(s, host_id, out, n, err);
}

int store_login_failure_get(yun_store *s, const char *key, yun_login_failure *out, yun_err *err)
{
    return need_str(key, "login key", err) ?: s->ops->login_failure_get(s, key, out, err);
}
int store_login_failure_set(yun_store *s, const yun_login_failure *f, yun_err *err)
{
    return need_str(f->key, "login key", err) ?: s->ops->login_failure_set(s, f, err);
}
int store_login_failure_delete(yun_store *s, const char *key, bool *existed, yun_err *err)
{
    return need_str(key, "login key", err) ?: s->ops->login_failure_delete(s, key, existed, err);
}
int store_login_failure_prune(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err)
{
    return s->ops->login_failure_prune(s, before_ms, removed, err);
}
int store_audit_add(yun_store *s, yun_audit *a, yun_err *err)
{
    return s->ops->audit_add(s, a, err);
}
int store_audit_list(yun_store *s, const char *user, int64_t since_ms, size_t max, yun_audit **out, size_t *n,
                     yun_err *err)
{
    *out = NULL;
    *n = 0;
    return s->ops->audit_list(s, user, since_ms, max, out, n, err);
}
int store_audit_prune(yun_store *s, int64_t before_ms, int64_t *removed, yun_err *err)
{
    return s->ops->audit_prune(s, before_ms, removed, err);
}
