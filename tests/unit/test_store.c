/* test_store.c: the store against real SQLite, in memory and in files; and, run by tests/pg_fixture.sh (test
 * "store_pg"), the same cases against a real PostgreSQL 15: YUN_TEST_PG names its cluster, and each case that
 * would take a file or ":memory:" gets a fresh database there instead. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/sql.h"
#include "store/store.h"
#include "store_target.h"
#include "util/mem.h"

/* ---- fixtures ---- */
/* YUN_TEST_PG (store_target.h); NULL: the SQLite run */
static const char *pg_admin;

static bool is_pg(const char *path)
{
    return !strncmp(path, "postgres:", 9);
}

/* Runs sql on the database at path behind the store's back (SQLite file or "postgres:CONNINFO"). */
static void raw_exec(const char *path, const char *sql)
{
    if (is_pg(path)) {
        PGconn *c = PQconnectdb(path + 9);
        if (PQstatus(c) != CONNECTION_OK)
            fail_msg("connecting to %s: %s", path, PQerrorMessage(c));
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}
typedef struct tmpdb {
    char dir[256];
    char path[600];
} tmpdb;

static int tmp_setup(void **state)
{
    tmpdb *t = xcalloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/yun-test-store.XXXXXX", base && *base ? base : P_tmpdir);
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/yun.db", t->dir);
    if (pg_admin)
        test_pg_fresh(t->path, sizeof t->path);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    tmpdb *t = *state;
    const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char p[620];
        snprintf(p, sizeof p, "%s%s", t->path, sfx[i]);
        if (!is_pg(p))
            unlink(p);
    }
    rmdir(t->dir);
    free(t);
    return 0;
}

static yun_store *mem_store(void)
{
    yun_err err = YUN_ERR_INIT;
    char path[600];
    test_store_target(path, sizeof path);
    yun_store *s = store_open(path, &err);
    if (!s)
        fail_msg("store_open: %s", err.msg);
    return s;
}

static int64_t add_user(yun_store *s, const char *name)
{
    yun_err err = YUN_ERR_INIT;
    yun_user u = {0};
    snprintf(u.name, sizeof u.name, "%s", name);
    if (store_user_create(s, &u, &err) < 0)
        fail_msg("user %s: %s", name, err.msg);
    return u.id;
}

static int64_t add_host(yun_store *s, const char *name)
{
    yun_err err = YUN_ERR_INIT;
    yun_host h = {0};
    snprintf(h.name, sizeof h.name, "%s", name);
    h.cores = 4;
    if (store_host_upsert(s, &h, &err) < 0)
        fail_msg("host %s: %s", name, err.msg);
    return h.id;
}

static yun_vm vm_of(int64_t owner, const char *name, int cpus, uint64_t mem, uint64_t disk)
{
    yun_vm vm = {0};
    snprintf(vm.name, sizeof vm.name, "%s", name);
    vm.owner_id = owner;
    vm.cpus = cpus;
    vm.mem_mib = vm.max_mem_mib = mem;
    vm.disk_mib = disk;
    vm.cpu_shares = 1024;
    vm.want = YUN_WANT_RUNNING;
    vm.state = YUN_VM_SCHEDULED;
    return vm;
}

static int64_t add_vm(yun_store *s, yun_vm vm)
{
    yun_err err = YUN_ERR_INIT;
    if (store_vm_create(s, &vm, &err) < 0)
        fail_msg("vm %s: %s", vm.name, err.msg);
    return vm.id;
}

/* ---- field-by-field equality (whole-struct memcmp would compare padding) ---- */
#define EQ_I(a, b, f) assert_int_equal((a)->f, (b)->f)
#define EQ_S(a, b, f) assert_string_equal((a)->f, (b)->f)

static void user_eq(const yun_user *a, const yun_user *b)
{
    EQ_I(a, b, id), EQ_S(a, b, name), EQ_I(a, b, is_admin), EQ_S(a, b, token_hash), EQ_I(a, b, quota.max_vms);
    EQ_I(a, b, quota.max_cpus), EQ_I(a, b, quota.max_mem_mib), EQ_I(a, b, quota.max_disk_mib), EQ_I(a, b, created_ms);
}

static void image_eq(const yun_image *a, const yun_image *b)
{
    EQ_I(a, b, id), EQ_S(a, b, name), EQ_I(a, b, owner_id), EQ_I(a, b, is_public), EQ_S(a, b, path);
    EQ_S(a, b, kernel), EQ_S(a, b, initrd), EQ_S(a, b, cmdline), EQ_I(a, b, size_mib), EQ_I(a, b, created_ms);
}

static void host_eq(const yun_host *a, const yun_host *b)
{
    EQ_I(a, b, id), EQ_S(a, b, name), EQ_I(a, b, cores), EQ_I(a, b, mhz), EQ_I(a, b, mem_mib);
    EQ_I(a, b, disk_total_mib), EQ_I(a, b, disk_free_mib), EQ_S(a, b, hypervisor), EQ_S(a, b, accel);
    EQ_S(a, b, libvirt_uri), EQ_S(a, b, migrate_addr), EQ_I(a, b, state), EQ_I(a, b, last_seen_ms);
    EQ_I(a, b, registered_ms), EQ_S(a, b, mgmt_addr);
}

static void vm_eq(const yun_vm *a, const yun_vm *b)
{
    EQ_I(a, b, id), EQ_S(a, b, uuid), EQ_S(a, b, name), EQ_I(a, b, owner_id), EQ_S(a, b, owner_name);
    EQ_I(a, b, image_id), EQ_I(a, b, cpus), EQ_I(a, b, mem_mib), EQ_I(a, b, max_mem_mib), EQ_I(a, b, disk_mib);
    EQ_I(a, b, cpu_shares), EQ_I(a, b, cpu_cap), EQ_I(a, b, min_mhz), EQ_I(a, b, max_mhz), EQ_I(a, b, want);
    EQ_I(a, b, state), EQ_I(a, b, host_id), EQ_S(a, b, error), EQ_S(a, b, address), EQ_I(a, b, created_ms);
    EQ_I(a, b, updated_ms), EQ_I(a, b, started_ms), EQ_I(a, b, migrate_from), EQ_S(a, b, migrate_error);
}

/* ---- migrations ---- */
static void test_migrate_empty(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);

    s = mem_store();
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
}

static void test_reopen_keeps_data(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    char url[620];
    snprintf(url, sizeof url, "%s%s", is_pg(t->path) ? "" : "sqlite:", t->path);
    yun_store *s = store_open(url, &err);
    assert_non_null(s);
    int64_t uid = add_user(s, "alice");
    int64_t vid = add_vm(s, vm_of(uid, "web1", 1, 128, 1024));
    assert_int_equal(store_setting_set(s, "placement.algorithm", "best-fit", &err), 0);
    store_close(s);

    s = store_open(t->path, &err);
    assert_non_null(s);
    yun_vm vm;
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_string_equal(vm.owner_name, "alice");
    char v[32];
    assert_int_equal(store_setting_get(s, "placement.algorithm", v, sizeof v, &err), 0);
    assert_string_equal(v, "best-fit");
    store_close(s);
}

static void set_version(const char *path, int v)
{
    char q[64];
    snprintf(q, sizeof q, is_pg(path) ? "UPDATE yun_schema SET version = %d" : "PRAGMA user_version = %d", v);
    raw_exec(path, q);
}

static void test_refuses_newer(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    store_close(s);
    set_version(t->path, STORE_SCHEMA_VERSION + 1);

    assert_null(store_open(t->path, &err));
    assert_int_equal(err.code, YUN_E_STORE);
    char newer[16], ours[16];
    snprintf(newer, sizeof newer, "version %d", STORE_SCHEMA_VERSION + 1);
    snprintf(ours, sizeof ours, "version %d", STORE_SCHEMA_VERSION);
    assert_non_null(strstr(err.msg, newer));
    assert_non_null(strstr(err.msg, ours));

    /* the refusal changed nothing: back at our version, it opens again */
    set_version(t->path, STORE_SCHEMA_VERSION);
    s = store_open(t->path, &err);
    assert_non_null(s);
    store_close(s);
}

static void test_refuses_foreign(void **state)
{
    tmpdb *t = *state;
    raw_exec(t->path, "CREATE TABLE notes (x INTEGER)");
    yun_err err = YUN_ERR_INIT;
    assert_null(store_open(t->path, &err));
    assert_int_equal(err.code, YUN_E_STORE);
    assert_non_null(strstr(err.msg, "did not make"));

    if (!is_pg(t->path)) {
        FILE *f = fopen(t->path, "w");
        assert_non_null(f);
        fputs("this is not a database, just text that is long enough to have a header of sorts......\n", f);
        fclose(f);
        assert_null(store_open(t->path, &err));
        assert_int_equal(err.code, YUN_E_STORE);
    }

    /* a PostgreSQL that is not there: try again later, saying where */
    assert_null(store_open("postgresql://127.0.0.1:1/yun", &err));
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
}

/* ---- round trips ---- */
static void test_user_roundtrip(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_user u = {0}, got;
    strcpy(u.name, "alice");
    u.is_admin = true;
    memset(u.token_hash, 'a', 64);
    u.quota = (yun_quota){3, 8, 4096, 20480};
    assert_int_equal(store_user_create(s, &u, &err), 0);
    assert_true(u.id > 0);
    assert_true(u.created_ms > 0);

    assert_int_equal(store_user_get(s, u.id, &got, &err), 0);
    user_eq(&got, &u);
    assert_int_equal(store_user_get_by_name(s, "alice", &got, &err), 0);
    user_eq(&got, &u);
    assert_int_equal(store_user_get_by_token_hash(s, u.token_hash, &got, &err), 0);
    assert_int_equal(got.id, u.id);

    u.is_admin = false;
    strcpy(u.name, "alice2");
    memset(u.token_hash, 'b', 64);
    u.quota = (yun_quota){1, 2, 3, 4};
    assert_int_equal(store_user_update(s, &u, &err), 0);
    assert_int_equal(store_user_get(s, u.id, &got, &err), 0);
    user_eq(&got, &u);

    /* a user without a token is never found by the empty token */
    add_user(s, "bob");
    assert_int_equal(store_user_get_by_token_hash(s, "", &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);

    yun_user *list = NULL;
    size_t n = 0;
    assert_int_equal(store_user_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "alice2");
    assert_string_equal(list[1].name, "bob");
    free(list);

    assert_int_equal(store_user_delete(s, u.id, &err), 0);
    assert_int_equal(store_user_get(s, u.id, &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

static void test_image_roundtrip(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t uid = add_user(s, "admin");
    yun_image img = {0}, got;
    strcpy(img.name, "starter");
    img.owner_id = uid;
    img.is_public = true;
    strcpy(img.path, "var/images/starter.qcow2");
    strcpy(img.kernel, "var/images/vmlinuz");
    strcpy(img.initrd, "var/images/initrd.img");
    strcpy(img.cmdline, "console=ttyS0 quiet");
    img.size_mib = 512;
    assert_int_equal(store_image_create(s, &img, &err), 0);
    assert_true(img.id > 0 && img.created_ms > 0);
    assert_int_equal(store_image_get(s, img.id, &got, &err), 0);
    image_eq(&got, &img);
    assert_int_equal(store_image_get_by_name(s, "starter", &got, &err), 0);
    image_eq(&got, &img);

    yun_image sys = {0}; /* owner 0: nobody's */
    strcpy(sys.name, "system");
    assert_int_equal(store_image_create(s, &sys, &err), 0);
    assert_int_equal(store_image_get(s, sys.id, &got, &err), 0);
    assert_int_equal(got.owner_id, 0);

    yun_image *list = NULL;
    size_t n = 0;
    assert_int_equal(store_image_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, img.id);
    assert_int_equal(list[1].id, sys.id);
    free(list);

    assert_int_equal(store_image_delete(s, sys.id, &err), 0);
    assert_int_equal(store_image_delete(s, sys.id, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

static void test_host_roundtrip(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_host h = {0}, got;
    strcpy(h.name, "node1.example.org");
    h.cores = 16;
    h.mhz = 2600;
    h.mem_mib = 65536;
    h.disk_total_mib = 1 << 20;
    h.disk_free_mib = 1 << 19;
    strcpy(h.hypervisor, "qemu");
    strcpy(h.accel, "kvm");
    strcpy(h.libvirt_uri, "qemu:///system");
    strcpy(h.migrate_addr, "10.0.0.1");
    strcpy(h.mgmt_addr, "192.168.0.1");
    h.state = YUN_HOST_UP;
    h.last_seen_ms = 1234567;
    assert_int_equal(store_host_upsert(s, &h, &err), 0);
    assert_true(h.id > 0 && h.registered_ms > 0);
    assert_int_equal(store_host_get(s, h.id, &got, &err), 0);
    host_eq(&got, &h);
    assert_int_equal(store_host_get_by_name(s, h.name, &got, &err), 0);
    host_eq(&got, &h);

    /* the operator disables it; the agent re-registers: same id, first registration time, still disabled */
    h.state = YUN_HOST_DISABLED;
    h.disk_free_mib = 100;
    assert_int_equal(store_host_update(s, &h, &err), 0);
    yun_host again = h;
    again.id = 0;
    again.state = YUN_HOST_UP;
    again.registered_ms = 0;
    again.cores = 32;
    assert_int_equal(store_host_upsert(s, &again, &err), 0);
    assert_int_equal(again.id, h.id);
    assert_int_equal(again.registered_ms, h.registered_ms);
    assert_int_equal(again.state, YUN_HOST_DISABLED);
    assert_int_equal(store_host_get(s, h.id, &got, &err), 0);
    assert_int_equal(got.cores, 32);
    assert_int_equal(got.state, YUN_HOST_DISABLED);

    /* a DOWN host comes back UP on re-registration */
    got.state = YUN_HOST_SUSPECT;
    assert_int_equal(store_host_update(s, &got, &err), 0);
    again.state = YUN_HOST_UP;
    assert_int_equal(store_host_upsert(s, &again, &err), 0);
    assert_int_equal(again.state, YUN_HOST_UP);

    add_host(s, "node2");
    yun_host *list = NULL;
    size_t n = 0;
    assert_int_equal(store_host_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1].name, "node2");
    free(list);
    store_close(s);
}

static void test_vm_roundtrip(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t uid = add_user(s, "carol");
    int64_t hid = add_host(s, "node1");
    yun_image img = {0};
    strcpy(img.name, "debian");
    assert_int_equal(store_image_create(s, &img, &err), 0);

    yun_vm vm = {0}, got;
    strcpy(vm.name, "db1");
    vm.owner_id = uid;
    vm.image_id = img.id;
    vm.cpus = 4;
    vm.mem_mib = 2048;
    vm.max_mem_mib = 4096;
    vm.disk_mib = 10240;
    vm.cpu_shares = 2048;
    vm.cpu_cap = 50;
    vm.min_mhz = 500;
    vm.max_mhz = 4000;
    vm.want = YUN_WANT_STOPPED;
    vm.state = YUN_VM_MIGRATING;
    vm.host_id = hid;
    strcpy(vm.error, "it went wrong");
    strcpy(vm.address, "192.168.122.5");
    vm.started_ms = 42;
    assert_int_equal(store_vm_create(s, &vm, &err), 0);
    assert_true(vm.id > 0);
    assert_int_equal(strlen(vm.uuid), 36); /* filled in when empty */
    assert_true(vm.created_ms > 0 && vm.updated_ms == vm.created_ms);
    strcpy(vm.owner_name, "carol"); /* what reads add */

    assert_int_equal(store_vm_get(s, vm.id, &got, &err), 0);
    vm_eq(&got, &vm);
    assert_int_equal(store_vm_get_by_name(s, uid, "db1", &got, &err), 0);
    vm_eq(&got, &vm);
    assert_int_equal(store_vm_get_by_uuid(s, vm.uuid, &got, &err), 0);
    vm_eq(&got, &vm);

    /* every field but id, uuid and owner changes */
    int64_t hid2 = add_host(s, "node2");
    yun_vm upd = vm;
    strcpy(upd.name, "db2");
    upd.image_id = 0;
    upd.cpus = 2;
    upd.mem_mib = 1024;
    upd.max_mem_mib = 3000;
    upd.disk_mib = 20000;
    upd.cpu_shares = 512;
    upd.cpu_cap = 0;
    upd.min_mhz = 0;
    upd.max_mhz = 100;
    upd.want = YUN_WANT_DELETED;
    upd.state = YUN_VM_ERROR;
    upd.host_id = hid2;
    strcpy(upd.error, "");
    strcpy(upd.address, "fe80::1");
    upd.started_ms = 0;
    upd.created_ms = 7;
    assert_int_equal(store_vm_update(s, &upd, &err), 0);
    assert_true(upd.updated_ms >= vm.updated_ms);
    assert_int_equal(store_vm_get(s, vm.id, &got, &err), 0);
    vm_eq(&got, &upd);

    /* renaming the owner shows in the VM's owner_name */
    yun_user u;
    assert_int_equal(store_user_get(s, uid, &u, &err), 0);
    strcpy(u.name, "carola");
    assert_int_equal(store_user_update(s, &u, &err), 0);
    assert_int_equal(store_vm_get(s, vm.id, &got, &err), 0);
    assert_string_equal(got.owner_name, "carola");

    assert_int_equal(store_vm_delete(s, vm.id, &err), 0);
    assert_int_equal(store_vm_get(s, vm.id, &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

/* ---- conflicts and absent rows ---- */
static void test_conflicts(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t a = add_user(s, "alice");
    int64_t b = add_user(s, "bob");

    yun_user u = {0};
    strcpy(u.name, "alice");
    assert_int_equal(store_user_create(s, &u, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "alice"));
    assert_int_equal(store_user_get(s, b, &u, &err), 0);
    strcpy(u.name, "alice");
    assert_int_equal(store_user_update(s, &u, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);

    yun_image img = {0};
    strcpy(img.name, "debian");
    assert_int_equal(store_image_create(s, &img, &err), 0);
    yun_image img2 = img;
    img2.id = 0;
    assert_int_equal(store_image_create(s, &img2, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "debian"));

    add_host(s, "node1");
    yun_host h = {0};
    strcpy(h.name, "node2");
    assert_int_equal(store_host_upsert(s, &h, &err), 0);
    strcpy(h.name, "node1");
    assert_int_equal(store_host_update(s, &h, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "node1"));

    yun_vm vm = vm_of(a, "web1", 1, 128, 1024);
    assert_int_equal(store_vm_create(s, &vm, &err), 0);
    yun_vm dup = vm_of(a, "web1", 1, 128, 1024);
    assert_int_equal(store_vm_create(s, &dup, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "web1"));
    /* another owner may use the name, but not the UUID */
    yun_vm other = vm_of(b, "web1", 1, 128, 1024);
    assert_int_equal(store_vm_create(s, &other, &err), 0);
    yun_vm same_uuid = vm_of(b, "web2", 1, 128, 1024);
    strcpy(same_uuid.uuid, vm.uuid);
    assert_int_equal(store_vm_create(s, &same_uuid, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, vm.uuid));
    /* renaming onto a taken name */
    yun_vm web2 = vm_of(a, "web2", 1, 128, 1024);
    assert_int_equal(store_vm_create(s, &web2, &err), 0);
    strcpy(web2.name, "web1");
    assert_int_equal(store_vm_update(s, &web2, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);

    /* deletes that would orphan rows */
    yun_vm uses = vm_of(a, "web3", 1, 128, 1024);
    uses.image_id = img.id;
    assert_int_equal(store_vm_create(s, &uses, &err), 0);
    assert_int_equal(store_image_delete(s, img.id, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(store_user_delete(s, a, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    store_close(s);
}

static void test_not_found(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_user u = {0};
    yun_image img = {0};
    yun_host h = {0};
    yun_vm vm = {0};
#define NF(call)                                                                                                       \
    do {                                                                                                               \
        err = (yun_err)YUN_ERR_INIT;                                                                                   \
        assert_int_equal((call), -1);                                                                                  \
        assert_int_equal(err.code, YUN_E_NOT_FOUND);                                                                   \
        assert_true(err.msg[0] != '\0');                                                                               \
    } while (0)
    NF(store_user_get(s, 99, &u, &err));
    assert_string_equal(err.msg, "user 99 not found");
    NF(store_user_get_by_name(s, "nobody", &u, &err));
    NF(store_user_get_by_token_hash(s, "abc", &u, &err));
    u.id = 99;
    strcpy(u.name, "nobody");
    NF(store_user_update(s, &u, &err));
    NF(store_user_delete(s, 99, &err));
    NF(store_image_get(s, 99, &img, &err));
    assert_string_equal(err.msg, "image 99 not found");
    NF(store_image_get_by_name(s, "none", &img, &err));
    NF(store_image_delete(s, 99, &err));
    NF(store_host_get(s, 99, &h, &err));
    assert_string_equal(err.msg, "host 99 not found");
    NF(store_host_get_by_name(s, "none", &h, &err));
    h.id = 99;
    strcpy(h.name, "none");
    NF(store_host_update(s, &h, &err));
    NF(store_vm_get(s, 99, &vm, &err));
    assert_string_equal(err.msg, "VM 99 not found");
    NF(store_vm_get_by_name(s, 1, "none", &vm, &err));
    NF(store_vm_get_by_uuid(s, "00000000-0000-4000-8000-000000000000", &vm, &err));
    vm = vm_of(1, "none", 1, 128, 1024);
    vm.id = 99;
    NF(store_vm_update(s, &vm, &err));
    NF(store_vm_delete(s, 99, &err));
    char v[8];
    NF(store_setting_get(s, "nothing", v, sizeof v, &err));
    char *data = NULL;
    size_t n = 0;
    NF(store_console_get(s, "00000000-0000-4000-8000-000000000000", &data, &n, &err));
    NF(store_console_set(s, "00000000-0000-4000-8000-000000000000", "x", 1, &err));

    /* references to absent rows */
    int64_t uid = add_user(s, "dave");
    yun_vm bad = vm_of(uid + 100, "web1", 1, 128, 1024);
    NF(store_vm_create(s, &bad, &err));
    bad = vm_of(uid, "web1", 1, 128, 1024);
    bad.host_id = 77;
    NF(store_vm_create(s, &bad, &err));
    assert_non_null(strstr(err.msg, "77"));
    yun_image orphan = {0};
    strcpy(orphan.name, "orphan");
    orphan.owner_id = 555;
    NF(store_image_create(s, &orphan, &err));
#undef NF
    yun_user *list = (yun_user *)1;
    size_t cnt = 9;
    assert_int_equal(store_user_list(s, &list, &cnt, &err), 0); /* one user: dave */
    assert_int_equal(cnt, 1);
    free(list);
    store_close(s);
}

/* ---- lists, counts, usage ---- */
struct each_seen {
    const yun_vm *list;
    size_t n, i, stop_after;
};

static int each_check(const yun_vm *vm, void *ud)
{
    struct each_seen *e = ud;
    assert_true(e->i < e->n);
    assert_int_equal(vm->id, e->list[e->i].id);
    assert_string_equal(vm->owner_name, e->list[e->i].owner_name);
    e->i++;
    return e->stop_after && e->i >= e->stop_after;
}

static void test_vm_list_filters(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t a = add_user(s, "alice"), b = add_user(s, "bob");
    int64_t h1 = add_host(s, "n1"), h2 = add_host(s, "n2");
    struct {
        int64_t owner, host;
    } spec[] = {{a, h1}, {b, h1}, {a, h2}, {a, 0}, {b, 0}, {b, h2}, {a, h1}};
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof name, "vm%d", i);
        yun_vm vm = vm_of(spec[i].owner, name, 1, 128, 1024);
        vm.host_id = spec[i].host;
        ids[i] = add_vm(s, vm);
    }
    int64_t owners[] = {-1, a, b}, hosts[] = {-1, 0, h1, h2};
    for (int o = 0; o < 3; o++)
        for (int h = 0; h < 4; h++) {
            yun_vm *list = NULL;
            size_t n = 0;
            assert_int_equal(store_vm_list(s, owners[o], hosts[h], &list, &n, &err), 0);
            size_t want = 0;
            for (int i = 0; i < 7; i++) {
                if ((owners[o] >= 0 && spec[i].owner != owners[o]) || (hosts[h] >= 0 && spec[i].host != hosts[h]))
                    continue;
                assert_true(want < n);
                assert_int_equal(list[want].id, ids[i]); /* ordered by id */
                assert_int_equal(list[want].host_id, spec[i].host);
                assert_string_equal(list[want].owner_name, spec[i].owner == a ? "alice" : "bob");
                want++;
            }
            assert_int_equal(n, want);
            int64_t cnt = -1;
            assert_int_equal(store_vm_count(s, owners[o], hosts[h], &cnt, &err), 0);
            assert_int_equal(cnt, (int64_t)want);
            /* store_vm_each walks the same VMs in the same order, and stops when asked */
            struct each_seen seen = {.list = list, .n = n};
            assert_int_equal(store_vm_each(s, owners[o], hosts[h], each_check, &seen, &err), 0);
            assert_int_equal(seen.i, n);
            seen = (struct each_seen){.list = list, .n = n, .stop_after = 1};
            assert_int_equal(store_vm_each(s, owners[o], hosts[h], each_check, &seen, &err), 0);
            assert_int_equal(seen.i, n ? 1 : 0);
            /* and store_vm_page_each, on any host, in pages of 2 that each start after the last one's end */
            seen = (struct each_seen){.list = list, .n = n};
            for (int64_t after = 0; hosts[h] < 0;) {
                size_t had = seen.i;
                assert_int_equal(store_vm_page_each(s, owners[o], after, 2, each_check, &seen, &err), 0);
                assert_true(seen.i - had <= 2);
                if (seen.i - had < 2)
                    break;
                after = list[seen.i - 1].id;
            }
            if (hosts[h] < 0)
                assert_int_equal(seen.i, n);
            free(list);
        }
    store_close(s);
}

static void test_usage(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t a = add_user(s, "alice"), b = add_user(s, "bob");
    int64_t vms = -1, cpus = -1, mem = -1, disk = -1;
    assert_int_equal(store_usage(s, a, &vms, &cpus, &mem, &disk, &err), 0);
    assert_true(vms == 0 && cpus == 0 && mem == 0 && disk == 0);

    add_vm(s, vm_of(a, "a1", 2, 1024, 10000));
    yun_vm ballooned = vm_of(a, "a2", 4, 512, 20000);
    ballooned.max_mem_mib = 2048; /* counted at its ceiling */
    ballooned.want = YUN_WANT_STOPPED;
    add_vm(s, ballooned);
    yun_vm gone = vm_of(a, "a3", 8, 8192, 80000);
    gone.want = YUN_WANT_DELETED;
    add_vm(s, gone);
    add_vm(s, vm_of(b, "b1", 1, 256, 5000));

    assert_int_equal(store_usage(s, a, &vms, &cpus, &mem, &disk, &err), 0);
    assert_int_equal(vms, 2);
    assert_int_equal(cpus, 6);
    assert_int_equal(mem, 1024 + 2048);
    assert_int_equal(disk, 30000);
    assert_int_equal(store_usage(s, -1, &vms, NULL, &mem, NULL, &err), 0);
    assert_int_equal(vms, 3);
    assert_int_equal(mem, 1024 + 2048 + 256);
    store_close(s);
}

/* ---- settings, consoles, transactions ---- */
static void test_settings(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    char v[16];
    assert_int_equal(store_setting_get(s, "placement.algorithm", v, sizeof v, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "placement.algorithm"));
    assert_int_equal(store_setting_set(s, "placement.algorithm", "first-fit", &err), 0);
    assert_int_equal(store_setting_get(s, "placement.algorithm", v, sizeof v, &err), 0);
    assert_string_equal(v, "first-fit");
    assert_int_equal(store_setting_set(s, "placement.algorithm", "best-fit", &err), 0);
    assert_int_equal(store_setting_get(s, "placement.algorithm", v, sizeof v, &err), 0);
    assert_string_equal(v, "best-fit");
    assert_int_equal(store_setting_set(s, "x", "", &err), 0);
    assert_int_equal(store_setting_get(s, "x", v, sizeof v, &err), 0);
    assert_string_equal(v, "");
    /* a value longer than the buffer is an error, not a silent cut */
    assert_int_equal(store_setting_set(s, "long", "0123456789abcdefXYZ", &err), 0);
    assert_int_equal(store_setting_get(s, "long", v, sizeof v, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    store_close(s);
}

/* The dispatcher's decisions: kept whole, listed newest first up to max, and only the newest
 * STORE_DECISIONS_KEPT stay. */
/* Jobs (schema 12): kept whole, filtered by owner, VM, host, kind and activity, updated, deleted; and the
 * store's own copy (SQLite's online backup API) opens as a store with the same rows. */
static void test_jobs(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    yun_job a = {.kind = YUN_JOB_BACKUP,
                 .state = YUN_JOB_PENDING,
                 .owner_id = 3,
                 .host_id = 1,
                 .incremental = true,
                 .parent_id = 4,
                 .bytes = 1 << 30,
                 .cpus = 2,
                 .mem_mib = 128,
                 .disk_mib = 1024,
                 .pause_ms = -1};
    snprintf(a.vm_uuid, sizeof a.vm_uuid, "00000000-0000-0000-0000-000000000001");
    snprintf(a.vm_name, sizeof a.vm_name, "web");
    snprintf(a.path, sizeof a.path, "/srv/b/1.qcow2");
    snprintf(a.note, sizeof a.note, "it's \"quoted\"");
    yun_job b = a;
    b.kind = YUN_JOB_SNAPSHOT;
    b.owner_id = 5;
    b.host_id = 2;
    b.memory = true;
    snprintf(b.name, sizeof b.name, "s1");
    assert_int_equal(store_job_create(s, &a, &err), 0);
    assert_int_equal(store_job_create(s, &b, &err), 0);
    assert_true(a.id > 0 && b.id > a.id && a.created_ms > 0);
    yun_job g;
    assert_int_equal(store_job_get(s, a.id, &g, &err), 0);
    assert_memory_equal(&g, &a, sizeof g);
    yun_job *out;
    size_t n;
    store_job_filter f = STORE_JOB_ANY;
    f.host_id = 2;
    assert_int_equal(store_job_list(s, &f, &out, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, b.id);
    free(out);
    f = STORE_JOB_ANY;
    f.owner_id = 3;
    f.kind = YUN_JOB_BACKUP;
    f.vm_uuid = a.vm_uuid;
    assert_int_equal(store_job_list(s, &f, &out, &n, &err), 0);
    assert_int_equal(n, 1);
    free(out);
    g.state = YUN_JOB_DONE;
    snprintf(g.sha256, sizeof g.sha256, "%064d", 7);
    assert_int_equal(store_job_update(s, &g, &err), 0);
    f = STORE_JOB_ANY;
    f.active = true;
    assert_int_equal(store_job_list(s, &f, &out, &n, &err), 0);
    assert_int_equal(n, 1); /* the snapshot; the backup is done */
    free(out);
    /* the copy */
    char copy[400];
    snprintf(copy, sizeof copy, "%s/yun.db.copy", t->dir);
    if (is_pg(t->path)) { /* pg_dump's job: refused, saying so */
        assert_int_equal(store_copy_to(s, copy, &err), -1);
        assert_int_equal(err.code, YUN_E_INVALID);
        assert_non_null(strstr(err.msg, "pg_dump"));
        assert_int_equal(access(copy, F_OK), -1);
    } else {
        assert_int_equal(store_copy_to(s, copy, &err), 0);
        assert_int_equal(store_copy_to(s, copy, &err), -1);
        assert_int_equal(err.code, YUN_E_CONFLICT);
        yun_store *c = store_open(copy, &err);
        assert_non_null(c);
        assert_int_equal(store_job_get(c, a.id, &g, &err), 0);
        assert_string_equal(g.sha256, "0000000000000000000000000000000000000000000000000000000000000007");
        store_close(c);
        unlink(copy);
    }
    /* schedules: one per VM, replaced by a set */
    yun_backup_schedule sc = {.owner_id = 3, .every_ms = 3600000, .keep = 7, .next_ms = 99};
    snprintf(sc.vm_uuid, sizeof sc.vm_uuid, "%s", a.vm_uuid);
    assert_int_equal(store_schedule_set(s, &sc, &err), 0);
    sc.keep = 3;
    assert_int_equal(store_schedule_set(s, &sc, &err), 0);
    yun_backup_schedule sg, *sl;
    assert_int_equal(store_schedule_get(s, a.vm_uuid, &sg, &err), 0);
    assert_memory_equal(&sg, &sc, sizeof sg);
    assert_int_equal(store_schedule_list(s, &sl, &n, &err), 0);
    assert_int_equal(n, 1);
    free(sl);
    assert_int_equal(store_schedule_delete(s, a.vm_uuid, &err), 0);
    assert_int_equal(store_schedule_get(s, a.vm_uuid, &sg, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_job_delete(s, a.id, &err), 0);
    assert_int_equal(store_job_delete(s, a.id, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

static void test_decisions(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_decision *out;
    size_t n;
    assert_int_equal(store_decision_list(s, 10, &out, &n, &err), 0);
    assert_int_equal(n, 0);
    free(out);
    for (int i = 0; i < 3; i++) {
        yun_decision d = {.at_ms = 1000 + i, .vm_id = 7, .from_id = 1, .to_id = 2, .kind = i};
        snprintf(d.vm, sizeof d.vm, "alice/web%d", i);
        snprintf(d.vm_uuid, sizeof d.vm_uuid, "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3%d", i);
        snprintf(d.from, sizeof d.from, "h1");
        snprintf(d.to, sizeof d.to, "h2");
        snprintf(d.reason, sizeof d.reason, "h1 is at %d%% CPU", 90 + i);
        snprintf(d.outcome, sizeof d.outcome, "started");
        assert_int_equal(store_decision_add(s, &d, &err), 0);
        assert_true(d.id > 0);
    }
    assert_int_equal(store_decision_list(s, 2, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].vm, "alice/web2");
    assert_string_equal(out[1].vm, "alice/web1");
    assert_int_equal(out[0].at_ms, 1002);
    assert_int_equal(out[0].kind, 2);
    assert_int_equal(out[0].to_id, 2);
    assert_string_equal(out[0].from, "h1");
    assert_string_equal(out[0].to, "h2");
    assert_string_equal(out[0].reason, "h1 is at 92% CPU");
    assert_string_equal(out[0].outcome, "started");
    assert_string_equal(out[0].vm_uuid, "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d32");
    free(out);
    yun_decision d = {.at_ms = 5000};
    for (int i = 0; i < STORE_DECISIONS_KEPT; i++)
        assert_int_equal(store_decision_add(s, &d, &err), 0);
    assert_int_equal(store_decision_list(s, 2 * STORE_DECISIONS_KEPT, &out, &n, &err), 0);
    assert_int_equal(n, STORE_DECISIONS_KEPT); /* the three first ones dropped */
    assert_int_equal(out[n - 1].at_ms, 5000);
    assert_int_equal(out[n - 1].id, d.id - STORE_DECISIONS_KEPT + 1);
    free(out);
    store_close(s);
}

/* SSH keys and seeds (schema 17): keys per owner by name (a name taken twice is a conflict, another owner
 * may use it), listed by name, deleted; a VM's seed kept whole and gone with its VM. */
static void test_keys_seeds(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t alice = add_user(s, "alice"), bob = add_user(s, "bob");
    yun_ssh_key k = {.owner_id = alice};
    snprintf(k.name, sizeof k.name, "laptop");
    snprintf(k.pubkey, sizeof k.pubkey, "ssh-ed25519 AAAA x");
    snprintf(k.fingerprint, sizeof k.fingerprint, "SHA256:x");
    assert_int_equal(store_key_create(s, &k, &err), 0);
    assert_true(k.id > 0 && k.created_ms > 0);
    yun_ssh_key dup = k;
    assert_int_equal(store_key_create(s, &dup, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    dup.owner_id = bob;
    assert_int_equal(store_key_create(s, &dup, &err), 0);
    yun_ssh_key k2 = k;
    snprintf(k2.name, sizeof k2.name, "desk");
    assert_int_equal(store_key_create(s, &k2, &err), 0);
    yun_ssh_key g;
    assert_int_equal(store_key_get(s, alice, "laptop", &g, &err), 0);
    assert_memory_equal(&g, &k, sizeof g);
    yun_ssh_key *list = NULL;
    size_t n = 0;
    assert_int_equal(store_key_list(s, alice, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "desk");
    assert_string_equal(list[1].name, "laptop");
    free(list);
    assert_int_equal(store_key_delete(s, alice, "laptop", &err), 0);
    assert_int_equal(store_key_delete(s, alice, "laptop", &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_key_get(s, bob, "laptop", &g, &err), 0); /* bob's is his own */

    yun_vm vm = vm_of(alice, "web1", 1, 128, 1024);
    assert_int_equal(store_vm_create(s, &vm, &err), 0);
    char *data = NULL;
    assert_int_equal(store_seed_get(s, vm.uuid, &data, &n, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    const char ud[] = "#cloud-config\nssh_authorized_keys: []\n";
    assert_int_equal(store_seed_set(s, vm.uuid, ud, sizeof ud - 1, &err), 0);
    assert_int_equal(store_seed_get(s, vm.uuid, &data, &n, &err), 0);
    assert_int_equal(n, sizeof ud - 1);
    assert_string_equal(data, ud);
    free(data);
    assert_int_equal(store_seed_set(s, "00000000-0000-0000-0000-00000000dead", ud, 3, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_vm_delete(s, vm.id, &err), 0);
    assert_int_equal(store_seed_get(s, vm.uuid, &data, &n, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

static void test_console(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_vm vm = vm_of(add_user(s, "alice"), "web1", 1, 128, 1024);
    assert_int_equal(store_vm_create(s, &vm, &err), 0);
    char *data = NULL;
    size_t n = 0;
    assert_int_equal(store_console_get(s, vm.uuid, &data, &n, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);

    const char first[] = "boot\0log"; /* binary-safe: the NUL stays */
    assert_int_equal(store_console_set(s, vm.uuid, first, sizeof first - 1, &err), 0);
    assert_int_equal(store_console_get(s, vm.uuid, &data, &n, &err), 0);
    assert_int_equal(n, sizeof first - 1);
    assert_memory_equal(data, first, n);
    assert_int_equal(data[n], '\0');
    free(data);

    /* a resent tail replaces, it does not append */
    size_t big = 64 * 1024;
    AUTOFREE char *tail = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        tail[i] = (char)('a' + i % 26);
    assert_int_equal(store_console_set(s, vm.uuid, tail, big, &err), 0);
    assert_int_equal(store_console_set(s, vm.uuid, tail, big, &err), 0);
    assert_int_equal(store_console_get(s, vm.uuid, &data, &n, &err), 0);
    assert_int_equal(n, big);
    assert_memory_equal(data, tail, big);
    free(data);

    assert_int_equal(store_console_set(s, vm.uuid, NULL, 0, &err), 0);
    assert_int_equal(store_console_get(s, vm.uuid, &data, &n, &err), 0);
    assert_int_equal(n, 0);
    free(data);

    assert_int_equal(store_console_delete(s, vm.uuid, &err), 0);
    assert_int_equal(store_console_get(s, vm.uuid, &data, &n, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);

    /* deleting the VM takes its console along */
    assert_int_equal(store_console_set(s, vm.uuid, "x", 1, &err), 0);
    assert_int_equal(store_vm_delete(s, vm.id, &err), 0);
    assert_int_equal(store_console_get(s, vm.uuid, &data, &n, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

static void test_transactions(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_user got;
    assert_int_equal(store_begin(s, &err), 0);
    int64_t uid = add_user(s, "ghost");
    add_vm(s, vm_of(uid, "web1", 1, 128, 1024));
    assert_int_equal(store_begin(s, &err), -1); /* no nesting */
    store_rollback(s);
    assert_int_equal(store_user_get_by_name(s, "ghost", &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    int64_t cnt = -1;
    assert_int_equal(store_vm_count(s, -1, -1, &cnt, &err), 0);
    assert_int_equal(cnt, 0);

    assert_int_equal(store_begin(s, &err), 0);
    add_user(s, "kept");
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(store_user_get_by_name(s, "kept", &got, &err), 0);
    assert_int_equal(store_commit(s, &err), -1); /* nothing to commit */
    store_rollback(s);                           /* harmless outside a transaction */
    store_close(s);
}

/* ---- two handles, two threads, one file ---- */
#define WRITES 150

typedef struct writer {
    const char *path;
    int64_t owner;
    int failures;
    yun_err first;
} writer;

static void *write_many(void *arg)
{
    writer *w = arg;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(w->path, &err);
    if (!s) {
        w->failures++;
        w->first = err;
        return NULL;
    }
    for (int i = 0; i < WRITES; i++) {
        yun_vm vm = vm_of(w->owner, "x", 1, 128, 1024);
        snprintf(vm.name, sizeof vm.name, "vm%d", i);
        int rc;
        if (i % 3 == 0) { /* some in explicit transactions, some single statements */
            rc = store_begin(s, &err);
            if (rc == 0 && (rc = store_vm_create(s, &vm, &err)) == 0) {
                vm.state = YUN_VM_RUNNING;
                rc = store_vm_update(s, &vm, &err);
            }
            if (rc == 0)
                rc = store_commit(s, &err);
            else
                store_rollback(s);
        } else {
            rc = store_vm_create(s, &vm, &err);
            if (rc == 0)
                rc = store_setting_set(s, "last.writer", vm.name, &err);
        }
        if (rc < 0 && w->failures++ == 0)
            w->first = err;
    }
    store_close(s);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    writer w[2] = {{t->path, add_user(s, "alice"), 0, YUN_ERR_INIT}, {t->path, add_user(s, "bob"), 0, YUN_ERR_INIT}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, write_many, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++)
        if (w[i].failures)
            fail_msg("writer %d: %d failures, first: %s", i, w[i].failures, w[i].first.msg);
    int64_t cnt = 0;
    assert_int_equal(store_vm_count(s, -1, -1, &cnt, &err), 0);
    assert_int_equal(cnt, 2 * WRITES);
    assert_int_equal(store_vm_count(s, w[1].owner, -1, &cnt, &err), 0);
    assert_int_equal(cnt, WRITES);
    store_close(s);
}

/* Leadership: on PostgreSQL one handle of two leads, and the other takes over once the first is closed (its
 * connection ends, as with kill -9 of its process); on SQLite every handle leads (one yund per file). */
static void test_lead(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *a = store_open(t->path, &err), *b = store_open(t->path, &err);
    assert_non_null(a);
    assert_non_null(b);
    bool la = false, lb = false;
    assert_int_equal(store_lead(a, &la, &err), 0);
    assert_int_equal(store_lead(b, &lb, &err), 0);
    assert_true(la);
    assert_int_equal(lb, !is_pg(t->path));
    assert_int_equal(store_lead(a, &la, &err), 0); /* a leader stays one */
    assert_true(la);
    assert_int_equal(store_lead(b, &lb, &err), 0);
    assert_int_equal(lb, !is_pg(t->path));
    store_close(a);
    /* the server ends a's session asynchronously: b takes over within a few calls */
    for (int i = 0; i < 200 && !lb; i++) {
        usleep(10000);
        assert_int_equal(store_lead(b, &lb, &err), 0);
    }
    assert_true(lb);
    store_close(b);
}

/* PostgreSQL: ends the sessions whose application_name is app, as a server that dies or is demoted does, and
 * waits until they are gone (so their locks are free and their clients' sockets closed). */
static void pg_kill_app(const char *app)
{
    PGconn *c = PQconnectdb(pg_admin);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("PostgreSQL fixture: %s", PQerrorMessage(c));
    const char *v[] = {app};
    PQclear(PQexecParams(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", 1,
                         NULL, v, NULL, NULL, 0));
    for (int i = 0; i < 500; i++) {
        PGresult *r = PQexecParams(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", 1, NULL, v,
                                   NULL, NULL, 0);
        bool gone = PQresultStatus(r) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(r, 0, 0), "0");
        PQclear(r);
        if (gone)
            break;
        usleep(10000);
    }
    PQfinish(c);
}

/* PostgreSQL: a connection the server ended (its primary died, or a standby was promoted in its place) is
 * opened again before the next statement, with nothing lost; leadership (a session lock) went with it, so
 * another handle takes it and this one, reopened, no longer leads. */
static void test_pg_reconnect(void **state)
{
    tmpdb *t = *state;
    char pa[800], pb[800], app[64];
    snprintf(app, sizeof app, "yun_ra_%d", (int)getpid());
    snprintf(pa, sizeof pa, "%s application_name=%s", t->path, app);
    snprintf(pb, sizeof pb, "%s application_name=yun_rb_%d", t->path, (int)getpid());
    yun_err err = YUN_ERR_INIT;
    yun_store *a = store_open(pa, &err), *b = store_open(pb, &err);
    assert_non_null(a);
    assert_non_null(b);
    bool la = false, lb = true;
    assert_int_equal(store_lead(a, &la, &err), 0);
    assert_int_equal(store_lead(b, &lb, &err), 0);
    assert_true(la);
    assert_false(lb);
    int64_t alice = add_user(a, "alice");
    pg_kill_app(app);
    yun_user u = {0};
    if (store_user_get_by_name(a, "alice", &u, &err) < 0) /* reopened: what was committed is there */
        fail_msg("after the connection was ended: %s", err.msg);
    assert_int_equal(u.id, alice);
    add_user(a, "bob");
    assert_int_equal(store_lead(b, &lb, &err), 0);
    assert_true(lb);
    assert_int_equal(store_lead(a, &la, &err), 0);
    assert_false(la);
    /* and the other way: the leader's connection ends between two checks; its next check says so, or reopens
     * and finds the lock taken, never "still leading" */
    pg_kill_app(strchr(pb, '=') ? strrchr(pb, '=') + 1 : "");
    assert_int_equal(store_lead(a, &la, &err), 0);
    assert_true(la);
    store_lead(b, &lb, &err);
    assert_false(lb);
    store_close(a);
    store_close(b);
}

/* PostgreSQL, the statement layer: a connection lost inside a write transaction fails that transaction to its
 * end (no statement of it runs on the reopened connection, outside the transaction), COMMIT says it was not
 * committed, and the statement after ROLLBACK runs on a new connection. */
static void test_pg_lost_transaction(void **state)
{
    tmpdb *t = *state;
    char p[800], app[64];
    snprintf(app, sizeof app, "yun_rt_%d", (int)getpid());
    snprintf(p, sizeof p, "%s application_name=%s", t->path, app);
    yun_err err = YUN_ERR_INIT;
    sql_db *db = sql_open(p, &err);
    assert_non_null(db);
    assert_int_equal(sql_exec(db, "CREATE TABLE t (x INTEGER)"), SQL_OK);
    assert_int_equal(sql_begin_write(db), SQL_OK);
    assert_int_equal(sql_exec(db, "INSERT INTO t VALUES (1)"), SQL_OK);
    pg_kill_app(app);
    assert_int_equal(sql_exec(db, "INSERT INTO t VALUES (2)"), SQL_BUSY); /* the connection is found lost */
    assert_true(sql_in_tx(db));
    assert_int_equal(sql_exec(db, "INSERT INTO t VALUES (3)"), SQL_BUSY); /* not run outside the transaction */
    assert_int_equal(sql_exec(db, "COMMIT"), SQL_BUSY);
    assert_int_equal(sql_fail(db, &err, "commit"), -1);
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_false(sql_in_tx(db));
    sql_stmt *st = sql_prepare(db, "SELECT count(*) FROM t", &err);
    assert_non_null(st);
    assert_int_equal(sql_step(st), SQL_ROW); /* reopened */
    assert_int_equal(sql_column_int(st, 0), 0);
    sql_finalize(st);
    /* a write transaction and its rollback on the new connection: ROLLBACK after the loss ends it too */
    assert_int_equal(sql_begin_write(db), SQL_OK);
    pg_kill_app(app);
    assert_int_equal(sql_exec(db, "INSERT INTO t VALUES (4)"), SQL_BUSY);
    assert_int_equal(sql_exec(db, "ROLLBACK"), SQL_OK);
    assert_int_equal(sql_exec(db, "INSERT INTO t VALUES (5)"), SQL_OK);
    st = sql_prepare(db, "SELECT COALESCE(sum(x), 0) FROM t", &err);
    assert_int_equal(sql_step(st), SQL_ROW);
    assert_int_equal(sql_column_int(st, 0), 5);
    sql_finalize(st);
    sql_close(db);
}

/* ---- passwords and sessions (schema 2) ---- */
static void test_passwords(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t uid = add_user(s, "alice");
    char h[128] = "junk";
    assert_int_equal(store_user_password_get(s, uid, h, sizeof h, &err), 0);
    assert_string_equal(h, ""); /* a new user has none */
    assert_int_equal(store_user_password_set(s, uid, "$argon2id$v=19$m=65536,t=2,p=1$abc$def", &err), 0);
    assert_int_equal(store_user_password_get(s, uid, h, sizeof h, &err), 0);
    assert_string_equal(h, "$argon2id$v=19$m=65536,t=2,p=1$abc$def");
    /* a too-small buffer is an error, not a truncated hash that could never verify */
    char tiny[8];
    assert_int_equal(store_user_password_get(s, uid, tiny, sizeof tiny, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    /* user updates leave the password alone */
    yun_user u;
    assert_int_equal(store_user_get(s, uid, &u, &err), 0);
    u.is_admin = true;
    assert_int_equal(store_user_update(s, &u, &err), 0);
    assert_int_equal(store_user_password_get(s, uid, h, sizeof h, &err), 0);
    assert_string_equal(h, "$argon2id$v=19$m=65536,t=2,p=1$abc$def");
    assert_int_equal(store_user_password_set(s, 999, "x", &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_user_password_get(s, 999, h, sizeof h, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

/* Host keys (schema 16): by name, found by either hash, replaced whole, deleted once. */
static void test_host_keys(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    yun_host_key k = {.name = "h1", .join_hash = "j1", .join_expires_ms = 5000, .created_ms = 1};
    assert_int_equal(store_host_key_set(s, &k, &err), 0);
    yun_host_key g;
    assert_int_equal(store_host_key_get_by_hash(s, "j1", &g, &err), 0);
    assert_string_equal(g.name, "h1");
    assert_int_equal(g.join_expires_ms, 5000);
    assert_string_equal(g.cred_hash, "");
    /* the empty credential of a key not enrolled yet matches nothing */
    assert_int_equal(store_host_key_get_by_hash(s, "", &g, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    /* enrolled: the join hash spent, the credential's found */
    snprintf(k.join_hash, sizeof k.join_hash, "%s", "");
    snprintf(k.cred_hash, sizeof k.cred_hash, "%s", "c1");
    assert_int_equal(store_host_key_set(s, &k, &err), 0);
    assert_int_equal(store_host_key_get_by_hash(s, "j1", &g, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_null(strstr(err.msg, "j1"));
    assert_int_equal(store_host_key_get_by_hash(s, "c1", &g, &err), 0);
    assert_string_equal(g.name, "h1");
    assert_int_equal(store_host_key_get(s, "h1", &g, &err), 0);
    assert_string_equal(g.cred_hash, "c1");
    assert_int_equal(store_host_key_delete(s, "h1", &err), 0);
    assert_int_equal(store_host_key_get_by_hash(s, "c1", &g, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_host_key_delete(s, "h1", &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

static void test_sessions(void **state)
{
    (void)state;
    yun_store *s = mem_store();
    yun_err err = YUN_ERR_INIT;
    int64_t alice = add_user(s, "alice");
    int64_t bob = add_user(s, "bob");
    assert_int_equal(store_session_create(s, "h-a1", alice, 1000, &err), 0);
    assert_int_equal(store_session_create(s, "h-a2", alice, 5000, &err), 0);
    assert_int_equal(store_session_create(s, "h-b1", bob, 5000, &err), 0);
    assert_int_equal(store_session_create(s, "h-b1", bob, 5000, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(store_session_create(s, "h-x", 999, 5000, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_session_create(s, "", alice, 5000, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);

    yun_user u;
    int64_t exp = 0;
    assert_int_equal(store_session_get(s, "h-a1", 999, &u, &exp, &err), 0);
    assert_int_equal(u.id, alice);
    assert_string_equal(u.name, "alice");
    assert_int_equal(exp, 1000);
    /* expired at its expiry time, and after */
    assert_int_equal(store_session_get(s, "h-a1", 1000, &u, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_session_get(s, "nope", 0, &u, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_session_get(s, "", 0, &u, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_session_get(s, "h-b1", 0, &u, NULL, &err), 0);
    assert_string_equal(u.name, "bob");

    int64_t removed = -1;
    assert_int_equal(store_session_expire(s, 2000, &removed, &err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(store_session_get(s, "h-a2", 2000, &u, NULL, &err), 0);

    /* logging out: one session, twice (fine), then every session of a user */
    assert_int_equal(store_session_delete(s, "h-a2", &err), 0);
    assert_int_equal(store_session_delete(s, "h-a2", &err), 0);
    assert_int_equal(store_session_get(s, "h-a2", 0, &u, NULL, &err), -1);
    assert_int_equal(store_session_create(s, "h-b2", bob, 5000, &err), 0);
    assert_int_equal(store_session_delete_user(s, bob, &err), 0);
    assert_int_equal(store_session_get(s, "h-b1", 0, &u, NULL, &err), -1);
    assert_int_equal(store_session_get(s, "h-b2", 0, &u, NULL, &err), -1);

    /* a deleted user's sessions go with them */
    assert_int_equal(store_session_create(s, "h-a3", alice, 5000, &err), 0);
    assert_int_equal(store_user_delete(s, alice, &err), 0);
    assert_int_equal(store_session_get(s, "h-a3", 0, &u, NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

/* What each schema version added, undone: downgrade[v] takes a file of version v back to v - 1, as the
 * store of version v - 1 wrote it. One table, so a new version adds one row here and every older file's test
 * gets it. */
static const char *const downgrade[] = {
    [2] = "DROP TABLE sessions; ALTER TABLE users DROP COLUMN password_hash;",
    [3] = "ALTER TABLE vms DROP COLUMN probe;",
    [4] = "DROP INDEX vms_migrate_from; ALTER TABLE vms DROP COLUMN migrate_from; "
          "ALTER TABLE vms DROP COLUMN migrate_error;",
    [5] = "ALTER TABLE hosts DROP COLUMN mgmt_addr;",
    [6] = "ALTER TABLE vms DROP COLUMN migrate_total_ms; ALTER TABLE vms DROP COLUMN migrate_downtime_ms;",
    [7] = "ALTER TABLE hosts DROP COLUMN power_driver; ALTER TABLE hosts DROP COLUMN power_address; "
          "ALTER TABLE hosts DROP COLUMN power_user; ALTER TABLE hosts DROP COLUMN power_secret; "
          "ALTER TABLE hosts DROP COLUMN power_command; ALTER TABLE hosts DROP COLUMN power_changed_ms;",
    [8] = "ALTER TABLE vms DROP COLUMN alloc_mhz;",
    [9] = "ALTER TABLE vms DROP COLUMN utility;",
    [10] = "DROP TABLE decisions;",
    [11] = "ALTER TABLE vms DROP COLUMN ha_priority;",
    [12] = "DROP TABLE jobs; DROP TABLE backup_schedules;",
    [13] = "SELECT 1;", /* a no-op, landed as such */
    [14] = "SELECT 1;", /* a no-op, landed as such */
    [15] = "SELECT 1;", /* a no-op, landed as such */
    [16] = "DROP TABLE host_keys;",
    [17] = "DROP TABLE ssh_keys; DROP TABLE seeds;",
    [18] = "DROP TABLE leases; DROP TABLE networks;",
    [19] = "DROP TABLE login_failures; DROP TABLE audit;",
    [20] = "DROP TABLE clusters;",
    [21] = "DROP TABLE host_use; DROP TABLE owner_use;",
};

/* Takes the file at path (today's schema) back to version v. */
static void downgrade_to(const char *path, int v)
{
    assert_int_equal(sizeof downgrade / sizeof downgrade[0], STORE_SCHEMA_VERSION + 1);
    for (int k = STORE_SCHEMA_VERSION; k > v; k--)
        raw_exec(path, downgrade[k]);
    set_version(path, v);
}

/* A database written by schema 1 (no password column, no sessions table) migrates forward with its data. The
 * file is made by today's store and taken back to schema 1's shape, which is what schema 1 wrote. */
static void test_migrate_v1(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    int64_t uid = add_user(s, "carol");
    int64_t vid = add_vm(s, vm_of(uid, "db1", 2, 256, 2048));
    store_close(s);

    downgrade_to(t->path, 1);

    s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    yun_vm vm;
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_string_equal(vm.owner_name, "carol");
    char h[128] = "junk";
    assert_int_equal(store_user_password_get(s, uid, h, sizeof h, &err), 0);
    assert_string_equal(h, "");
    assert_int_equal(store_user_password_set(s, uid, "$argon2id$x", &err), 0);
    assert_int_equal(store_session_create(s, "h1", uid, INT64_MAX, &err), 0);
    yun_user u;
    assert_int_equal(store_session_get(s, "h1", 0, &u, NULL, &err), 0);
    assert_int_equal(u.id, uid);
    store_close(s);
}

/* Version 3 (monitoring): a VM's probe URL. A version-2 file keeps its VMs, each without a probe; a probe is
 * stored on create and changed by update. */
static void test_migrate_v2_probe(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    int64_t uid = add_user(s, "dave");
    int64_t vid = add_vm(s, vm_of(uid, "web1", 1, 128, 1024));
    store_close(s);
    downgrade_to(t->path, 2);
    s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    yun_vm vm;
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_string_equal(vm.probe, "");
    snprintf(vm.probe, sizeof vm.probe, "http://:80/health");
    assert_int_equal(store_vm_update(s, &vm, &err), 0);
    memset(&vm, 0, sizeof vm);
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_string_equal(vm.probe, "http://:80/health");
    yun_vm v2 = vm_of(uid, "web2", 1, 128, 1024);
    snprintf(v2.probe, sizeof v2.probe, "http://:8080/");
    int64_t id2 = add_vm(s, v2);
    assert_int_equal(store_vm_get(s, id2, &vm, &err), 0);
    assert_string_equal(vm.probe, "http://:8080/");
    store_close(s);
}

/* Version 4 (live migration, host drain): a version-3 file keeps its VMs and hosts; each VM migrates from
 * nowhere with no error; migrate_from and migrate_error round-trip; the hosts' new states are stored and
 * survive re-registration like 'disabled'. */
static void test_migrate_v3_migration(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    int64_t uid = add_user(s, "erin");
    int64_t ha = add_host(s, "ha"), hb = add_host(s, "hb");
    yun_vm v = vm_of(uid, "web1", 1, 128, 1024);
    v.host_id = ha;
    int64_t vid = add_vm(s, v);
    store_close(s);
    downgrade_to(t->path, 3);
    s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    yun_vm vm;
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_int_equal(vm.host_id, ha);
    assert_int_equal(vm.migrate_from, 0);
    assert_string_equal(vm.migrate_error, "");
    /* a migration under way: listed under its target, the source remembered */
    vm.host_id = hb;
    vm.migrate_from = ha;
    vm.state = YUN_VM_MIGRATING;
    snprintf(vm.migrate_error, sizeof vm.migrate_error, "an earlier try failed");
    assert_int_equal(store_vm_update(s, &vm, &err), 0);
    memset(&vm, 0, sizeof vm);
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_int_equal(vm.host_id, hb);
    assert_int_equal(vm.migrate_from, ha);
    assert_int_equal(vm.state, YUN_VM_MIGRATING);
    assert_string_equal(vm.migrate_error, "an earlier try failed");
    size_t n = 0;
    yun_vm *list = NULL;
    assert_int_equal(store_vm_list(s, -1, hb, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].migrate_from, ha);
    free(list);
    vm.migrate_from = 0;
    assert_int_equal(store_vm_update(s, &vm, &err), 0);
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_int_equal(vm.migrate_from, 0);
    /* a new VM created mid-migration keeps both fields */
    yun_vm v2 = vm_of(uid, "web2", 1, 128, 1024);
    v2.host_id = hb;
    v2.migrate_from = ha;
    int64_t id2 = add_vm(s, v2);
    assert_int_equal(store_vm_get(s, id2, &vm, &err), 0);
    assert_int_equal(vm.migrate_from, ha);
    /* host states: draining and drained are stored, and kept when the agent registers again */
    yun_host h;
    for (int st = YUN_HOST_DRAINING; st <= YUN_HOST_DRAINED; st++) {
        assert_int_equal(store_host_get(s, ha, &h, &err), 0);
        h.state = (yun_host_state)st;
        assert_int_equal(store_host_update(s, &h, &err), 0);
        yun_host again = h;
        again.id = 0;
        again.state = YUN_HOST_UP;
        assert_int_equal(store_host_upsert(s, &again, &err), 0);
        assert_int_equal(again.id, ha);
        assert_int_equal(again.state, st);
        assert_int_equal(store_host_get(s, ha, &h, &err), 0);
        assert_string_equal(model_host_state_name(h.state), st == YUN_HOST_DRAINING ? "draining" : "drained");
    }
    store_close(s);
}

/* Version 5: a host's management address. A version-4 file's hosts have none; it round-trips through
 * register (upsert) and update. */
static void test_migrate_v4_mgmt_addr(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    int64_t ha = add_host(s, "ha");
    store_close(s);
    downgrade_to(t->path, 4);
    s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    yun_host h;
    assert_int_equal(store_host_get(s, ha, &h, &err), 0);
    assert_string_equal(h.mgmt_addr, "");
    snprintf(h.mgmt_addr, sizeof h.mgmt_addr, "10.0.0.7");
    assert_int_equal(store_host_update(s, &h, &err), 0);
    assert_int_equal(store_host_get(s, ha, &h, &err), 0);
    assert_string_equal(h.mgmt_addr, "10.0.0.7");
    snprintf(h.mgmt_addr, sizeof h.mgmt_addr, "10.0.0.8");
    h.id = 0;
    assert_int_equal(store_host_upsert(s, &h, &err), 0);
    assert_int_equal(h.id, ha);
    assert_int_equal(store_host_get(s, ha, &h, &err), 0);
    assert_string_equal(h.mgmt_addr, "10.0.0.8");
    store_close(s);
}

/* Version 6: the last live migration's figures. A version-5 file's VMs have none (0, 0); they round-trip
 * through update, -1 (libvirt did not say) included. */
static void test_migrate_v5_migration_figures(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    int64_t vid = add_vm(s, vm_of(add_user(s, "erin"), "web1", 1, 128, 1024));
    store_close(s);
    downgrade_to(t->path, 5);
    s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    yun_vm vm;
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_int_equal(vm.migrate_total_ms, 0);
    assert_int_equal(vm.migrate_downtime_ms, 0);
    vm.migrate_total_ms = 812;
    vm.migrate_downtime_ms = -1;
    assert_int_equal(store_vm_update(s, &vm, &err), 0);
    assert_int_equal(store_vm_get(s, vid, &vm, &err), 0);
    assert_int_equal(vm.migrate_total_ms, 812);
    assert_int_equal(vm.migrate_downtime_ms, -1);
    store_close(s);
}

/* ---- the sums kept beside the VMs (schema 21): store_host_use and store_usage against the VM rows ---- */

/* What store_host_use must say, summed here from every VM row: out[i] for hosts[i]. */
static void host_use_ref(yun_store *s, const int64_t *hosts, size_t nh, yun_host_use *out)
{
    yun_err err = YUN_ERR_INIT;
    AUTOFREE yun_vm *vms = NULL;
    size_t n = 0;
    assert_int_equal(store_vm_list(s, -1, -1, &vms, &n, &err), 0);
    memset(out, 0, nh * sizeof *out);
    for (size_t k = 0; k < nh; k++) {
        yun_host h;
        assert_int_equal(store_host_get(s, hosts[k], &h, &err), 0);
        out[k].host_id = hosts[k];
        for (size_t i = 0; i < n; i++) {
            const yun_vm *v = &vms[i];
            bool here = v->host_id == hosts[k], leaving = !here && v->migrate_from == hosts[k];
            if (!here && !leaving)
                continue;
            if (here) {
                out[k].vms++;
                if (v->id > out[k].last_vm_id)
                    out[k].last_vm_id = v->id;
            }
            int64_t full = (int64_t)v->cpus * h.mhz;
            out[k].cpus += v->cpus;
            out[k].mem_mib += (int64_t)(v->max_mem_mib ? v->max_mem_mib : v->mem_mib);
            out[k].disk_mib += (int64_t)v->disk_mib;
            out[k].min_mhz += v->min_mhz;
            out[k].max_mhz += v->max_mhz > 0 && v->max_mhz < full ? v->max_mhz : full;
        }
    }
}

static void sums_check(yun_store *s, const int64_t *hosts, size_t nh, const int64_t *owners, size_t no)
{
    yun_err err = YUN_ERR_INIT;
    yun_host_use want[8];
    assert_true(nh <= 8);
    host_use_ref(s, hosts, nh, want);
    AUTOFREE yun_host_use *got = NULL;
    size_t n = 0;
    assert_int_equal(store_host_use(s, &got, &n, &err), 0);
    size_t used = 0;
    for (size_t k = 0; k < nh; k++) {
        const yun_host_use *g = NULL;
        for (size_t i = 0; i < n; i++)
            if (got[i].host_id == hosts[k])
                g = &got[i];
        if (!want[k].cpus) { /* no VM uses it: no row */
            assert_null(g);
            continue;
        }
        used++;
        assert_non_null(g);
        EQ_I(g, &want[k], vms);
        EQ_I(g, &want[k], last_vm_id);
        EQ_I(g, &want[k], cpus);
        EQ_I(g, &want[k], mem_mib);
        EQ_I(g, &want[k], disk_mib);
        EQ_I(g, &want[k], min_mhz);
        EQ_I(g, &want[k], max_mhz);
    }
    assert_int_equal(n, used);
    AUTOFREE yun_vm *vms = NULL;
    size_t nv = 0;
    assert_int_equal(store_vm_list(s, -1, -1, &vms, &nv, &err), 0);
    for (size_t k = 0; k <= no; k++) { /* each owner, then everyone (-1) */
        int64_t sum[4] = {0}, got4[4];
        for (size_t i = 0; i < nv; i++) {
            if (vms[i].want == YUN_WANT_DELETED || (k < no && vms[i].owner_id != owners[k]))
                continue;
            int64_t add[4] = {1, vms[i].cpus, (int64_t)vms[i].max_mem_mib, (int64_t)vms[i].disk_mib};
            for (int j = 0; j < 4; j++)
                sum[j] += add[j];
        }
        assert_int_equal(store_usage(s, k < no ? owners[k] : -1, &got4[0], &got4[1], &got4[2], &got4[3], &err), 0);
        for (int j = 0; j < 4; j++)
            assert_int_equal(got4[j], sum[j]);
    }
}

/* Every kind of VM write, in a seeded random order, each followed by the sums compared with the VM rows:
 * creates placed or not, moves, migrations begun and ended, resizes, caps, wanted deleted and back, deletes,
 * writes inside a transaction and rolled back, and a host's MHz changing under its VMs. */
static void test_kept_sums_follow_writes(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = mem_store();
    int64_t owners[2] = {add_user(s, "kim"), add_user(s, "lee")};
    int64_t hosts[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "h%d", i);
        yun_host h = {.cores = 8, .mhz = 2000 + 100 * i};
        snprintf(h.name, sizeof h.name, "%s", name);
        assert_int_equal(store_host_upsert(s, &h, &err), 0);
        hosts[i] = h.id;
    }
    int64_t ids[24];
    size_t nids = 0;
    uint64_t r = 42;
    for (int step = 0; step < 400; step++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned pick = (unsigned)(r >> 33);
        int64_t host = pick % 4 ? hosts[(pick >> 3) % 3] : 0;
        if (nids < 3 || (nids < 24 && pick % 7 == 0)) {
            char name[16];
            snprintf(name, sizeof name, "v%d", step);
            yun_vm v = vm_of(owners[pick % 2], name, 1 + (int)(pick >> 5) % 4, 128 << (pick % 3), 1024);
            v.host_id = host;
            v.max_mhz = pick % 3 ? 0 : 900 + (int)(pick >> 9) % 3000;
            v.min_mhz = (int)(pick >> 11) % 500;
            ids[nids++] = add_vm(s, v);
        } else {
            size_t k = (pick >> 13) % nids;
            yun_vm v;
            assert_int_equal(store_vm_get(s, ids[k], &v, &err), 0);
            bool in_tx = pick % 5 == 0, undo = in_tx && pick % 10 == 0;
            if (in_tx)
                assert_int_equal(store_begin(s, &err), 0);
            switch ((pick >> 17) % 7) {
            case 0: /* delete */
                assert_int_equal(store_vm_delete(s, ids[k], &err), 0);
                if (!undo)
                    ids[k] = ids[--nids];
                break;
            case 1: /* a live migration begins, or ends */
                if (v.migrate_from) {
                    v.migrate_from = 0;
                } else if (v.host_id) {
                    v.migrate_from = v.host_id;
                    v.host_id = host;
                }
                assert_int_equal(store_vm_update(s, &v, &err), 0);
                break;
            case 2: /* resized */
                v.cpus = 1 + (int)(pick >> 21) % 6;
                v.max_mem_mib = v.mem_mib * (1 + pick % 2);
                v.disk_mib += 512;
                assert_int_equal(store_vm_update(s, &v, &err), 0);
                break;
            case 3: /* wanted deleted, or back */
                v.want = v.want == YUN_WANT_DELETED ? YUN_WANT_RUNNING : YUN_WANT_DELETED;
                assert_int_equal(store_vm_update(s, &v, &err), 0);
                break;
            case 4: /* caps */
                v.max_mhz = (int)(pick >> 21) % 9000;
                v.min_mhz = (int)(pick >> 23) % 700;
                assert_int_equal(store_vm_update(s, &v, &err), 0);
                break;
            case 5: /* only its state: the sums stay */
                v.state = YUN_VM_RUNNING;
                assert_int_equal(store_vm_update(s, &v, &err), 0);
                break;
            default: { /* its host's MHz changes under it (re-registered on faster hardware) */
                yun_host h;
                assert_int_equal(store_host_get(s, hosts[(pick >> 21) % 3], &h, &err), 0);
                h.mhz = 1500 + (int)(pick >> 23) % 2000;
                assert_int_equal(store_host_update(s, &h, &err), 0);
                break;
            }
            }
            if (undo)
                store_rollback(s);
            else if (in_tx)
                assert_int_equal(store_commit(s, &err), 0);
        }
        sums_check(s, hosts, 3, owners, 2);
    }
    store_close(s);
}

/* Version 21: the sums are filled from the VMs a version-20 file already has. */
static void test_migrate_v20_kept_sums(void **state)
{
    tmpdb *t = *state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(t->path, &err);
    assert_non_null(s);
    int64_t owners[2] = {add_user(s, "mia"), add_user(s, "ned")};
    int64_t hosts[2] = {add_host(s, "ha"), add_host(s, "hb")};
    yun_host h;
    assert_int_equal(store_host_get(s, hosts[0], &h, &err), 0);
    h.mhz = 2400;
    assert_int_equal(store_host_update(s, &h, &err), 0);
    yun_vm a = vm_of(owners[0], "a", 2, 512, 2048), b = vm_of(owners[1], "b", 1, 256, 1024);
    a.host_id = hosts[0];
    a.max_mhz = 1000;
    b.host_id = hosts[1];
    b.migrate_from = hosts[0];
    add_vm(s, a);
    add_vm(s, b);
    yun_vm c = vm_of(owners[0], "c", 4, 128, 512);
    c.want = YUN_WANT_DELETED;
    c.host_id = hosts[0];
    add_vm(s, c);
    store_close(s);
    downgrade_to(t->path, 20);
    s = store_open(t->path, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    sums_check(s, hosts, 2, owners, 2);
    int64_t vms = 0;
    assert_int_equal(store_usage(s, owners[0], &vms, NULL, NULL, NULL, &err), 0);
    assert_int_equal(vms, 1);
    store_close(s);
}

/* Cloud networks and leases (schema 18): names unique per owner, VNIs cloud-wide; an address once per
 * network and one per VM; a lease goes with its VM; a network with a lease cannot go. */
static void test_networks_leases(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(":memory:", &err);
    assert_non_null(s);
    int64_t uid = add_user(s, "nina"), other = add_user(s, "otto");
    yun_network n = {.owner_id = uid, .vni = 7};
    snprintf(n.name, sizeof n.name, "lab");
    snprintf(n.subnet, sizeof n.subnet, "10.50.0.0/24");
    assert_int_equal(store_network_create(s, &n, &err), 0);
    assert_true(n.id > 0);
    yun_network dup = n;
    dup.vni = 8;
    assert_int_equal(store_network_create(s, &dup, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "lab"));
    yun_network samevni = n;
    samevni.owner_id = other;
    assert_int_equal(store_network_create(s, &samevni, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_non_null(strstr(err.msg, "VNI 7"));
    yun_network got;
    assert_int_equal(store_network_get_by_name(s, uid, "lab", &got, &err), 0);
    assert_string_equal(got.owner_name, "nina");
    assert_string_equal(got.subnet, "10.50.0.0/24");
    assert_int_equal(got.vni, 7);
    assert_int_equal(store_network_get_by_name(s, other, "lab", &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);

    int64_t v1 = add_vm(s, vm_of(uid, "a", 1, 128, 1024)), v2 = add_vm(s, vm_of(uid, "b", 1, 128, 1024));
    yun_lease l = {.network_id = n.id, .vm_id = v1};
    snprintf(l.ip, sizeof l.ip, "10.50.0.2");
    assert_int_equal(store_lease_add(s, &l, &err), 0);
    yun_lease taken = {.network_id = n.id, .vm_id = v2};
    snprintf(taken.ip, sizeof taken.ip, "10.50.0.2");
    assert_int_equal(store_lease_add(s, &taken, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    snprintf(taken.ip, sizeof taken.ip, "10.50.0.3");
    assert_int_equal(store_lease_add(s, &taken, &err), 0);
    yun_lease second = {.network_id = n.id, .vm_id = v1};
    snprintf(second.ip, sizeof second.ip, "10.50.0.4");
    assert_int_equal(store_lease_add(s, &second, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    yun_lease *ls = NULL;
    size_t k = 0;
    assert_int_equal(store_lease_list(s, n.id, &ls, &k, &err), 0);
    assert_int_equal(k, 2);
    assert_string_equal(ls[0].ip, "10.50.0.2");
    free(ls);
    assert_int_equal(store_network_delete(s, n.id, &err), -1);
    assert_int_equal(err.code, YUN_E_CONFLICT);
    assert_int_equal(store_vm_delete(s, v1, &err), 0);
    assert_int_equal(store_lease_get(s, v1, &l, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_vm_delete(s, v2, &err), 0);
    assert_int_equal(store_lease_list(s, -1, &ls, &k, &err), 0);
    assert_int_equal(k, 0);
    free(ls);
    assert_int_equal(store_network_delete(s, n.id, &err), 0);
    assert_int_equal(store_network_get(s, n.id, &got, &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    store_close(s);
}

typedef struct pool_putter {
    store_pool *p;
    yun_store *s;
} pool_putter;

static void *put_later(void *arg)
{
    pool_putter *pp = arg;
    usleep(20000);
    store_pool_put(pp->p, pp->s);
    return NULL;
}

/* All of a pool's stores out, a get waits for one to come back (a burst queues) rather than opening another,
 * which it later closed: at a thousand hosts that churn was a third of yund's CPU (docs/PERFORMANCE.md). */
static void test_pool_waits_for_a_store(void **state)
{
    tmpdb *t = *state;
    store_pool *p = store_pool_new(t->path, 1);
    yun_err err = YUN_ERR_INIT;
    yun_store *a = store_pool_get(p, &err);
    assert_non_null(a);
    pool_putter pp = {.p = p, .s = a};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, put_later, &pp), 0);
    yun_store *b = store_pool_get(p, &err); /* a is out: this waits for it */
    pthread_join(th, NULL);
    assert_ptr_equal(b, a);
    assert_int_equal(store_pool_opened(p), 1);
    store_pool_put(p, b);
    store_pool_free(p);
}

/* The pool hands an idle store out again rather than opening another, opens one when none is idle and none
 * comes back within its wait, keeps at most its size idle, and its stores are the same database. */
static void test_pool_reuses(void **state)
{
    tmpdb *t = *state;
    store_pool *p = store_pool_new(t->path, 1);
    yun_err err = YUN_ERR_INIT;
    yun_store *a = store_pool_get(p, &err);
    assert_non_null(a);
    store_pool_put(p, a);
    yun_store *a2 = store_pool_get(p, &err);
    assert_ptr_equal(a2, a); /* reused, not opened again */
    assert_int_equal(store_pool_opened(p), 1);
    yun_store *b = store_pool_get(p, &err); /* a2 is out and stays out: after the wait, a second is opened */
    assert_non_null(b);
    assert_ptr_not_equal(b, a2);
    assert_int_equal(store_pool_opened(p), 2);
    yun_user u = {.name = "pooled", .token_hash = "h1"};
    assert_int_equal(store_user_create(a2, &u, &err), 0);
    yun_user got;
    assert_int_equal(store_user_get_by_name(b, "pooled", &got, &err), 0); /* one database */
    store_pool_put(p, a2);
    store_pool_put(p, b); /* beyond max_idle (1): closed */
    yun_store *c = store_pool_get(p, &err), *d = store_pool_get(p, &err);
    assert_non_null(c);
    assert_non_null(d);
    assert_int_equal(store_pool_opened(p), 3); /* one idle came back, one more was opened */
    store_pool_put(p, c);
    store_pool_put(p, d);
    store_pool_put(p, NULL);
    store_pool_free(p);
}

typedef struct writer_arg {
    yun_store *s;
    atomic_int rc; /* 1 while it waits */
    yun_err err;
} writer_arg;

static void *joined_writer(void *p)
{
    writer_arg *w = p;
    yun_err err = YUN_ERR_INIT;
    int rc = store_begin(w->s, &err);
    if (rc == 0) {
        yun_user u = {.name = "second", .token_hash = "h2"};
        rc = store_user_create(w->s, &u, &err) < 0 ? -1 : store_commit(w->s, &err);
    }
    w->err = err;
    atomic_store(&w->rc, rc);
    return NULL;
}

/* Writers of one pool, and a store joined to it, queue in the process: one that comes while another's
 * transaction lasts longer than SQLite's busy timeout (5 s) waits its turn; unjoined, it failed with
 * "database is locked" (what reports and creates did at 1,000 hosts). On PostgreSQL joining leaves writers to
 * the server's advisory lock (store.h), which they wait for in turn up to its lock_timeout (5 s): past that,
 * the second writer fails UNAVAILABLE and a's transaction goes on. */
static void test_pool_writers_queue(void **state)
{
    tmpdb *t = *state;
    store_pool *p = store_pool_new(t->path, 2);
    yun_err err = YUN_ERR_INIT;
    yun_store *a = store_pool_get(p, &err);
    assert_non_null(a);
    yun_store *b = store_open(t->path, &err); /* as yund's loops' store */
    assert_non_null(b);
    store_pool_join(p, b);
    assert_int_equal(store_begin(a, &err), 0);
    yun_user u = {.name = "first", .token_hash = "h1"};
    assert_int_equal(store_user_create(a, &u, &err), 0);
    writer_arg w = {.s = b, .rc = 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, joined_writer, &w), 0);
    sleep(6); /* past the busy timeout, a's transaction still open */
    if (pg_admin) {
        pthread_join(th, NULL);
        assert_int_equal(atomic_load(&w.rc), -1);
        assert_int_equal(w.err.code, YUN_E_UNAVAILABLE);
        assert_int_equal(store_commit(a, &err), 0);
    } else {
        assert_int_equal(atomic_load(&w.rc), 1); /* still waiting */
        assert_int_equal(store_commit(a, &err), 0);
        pthread_join(th, NULL);
        if (atomic_load(&w.rc) != 0)
            fail_msg("the joined writer: %s", w.err.msg);
    }
    yun_user got;
    assert_int_equal(store_user_get_by_name(a, "first", &got, &err), 0);
    assert_int_equal(store_user_get_by_name(a, "second", &got, &err), pg_admin ? -1 : 0);
    store_pool_put(p, a);
    store_close(b);
    store_pool_free(p);
}

/* A pool on a path that cannot be opened fails with the store's own message, each time. */
static void test_pool_open_fails(void **state)
{
    (void)state;
    store_pool *p = store_pool_new("/nonexistent-dir-for-yun/yun.db", 4);
    yun_err err = YUN_ERR_INIT;
    assert_null(store_pool_get(p, &err));
    assert_int_equal(err.code, YUN_E_STORE);
    assert_int_equal(store_pool_opened(p), 0);
    store_pool_free(p);

    /* PostgreSQL not there (a failover under way): the same words as a lost connection, so a client is told to
     * try again, and no conninfo (a password) in them. Port 1 on 127.0.0.1 refuses at once. */
    p = store_pool_new("postgres:host=127.0.0.1 port=1 user=yun password=s3cret dbname=yun", 4);
    err = (yun_err)YUN_ERR_INIT;
    assert_null(store_pool_get(p, &err));
    assert_int_equal(err.code, YUN_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "the database is out of reach: try again shortly"));
    assert_null(strstr(err.msg, "s3cret"));
    assert_int_equal(store_pool_opened(p), 0);
    store_pool_free(p);
}

int main(void)
{
    pg_admin = test_pg_admin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_empty, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_refuses_foreign, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_user_roundtrip),
        cmocka_unit_test(test_networks_leases),
        cmocka_unit_test(test_image_roundtrip),
        cmocka_unit_test(test_host_roundtrip),
        cmocka_unit_test(test_vm_roundtrip),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_vm_list_filters),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_console),
        cmocka_unit_test(test_keys_seeds),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test_setup_teardown(test_jobs, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_lead, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_passwords),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test_setup_teardown(test_pool_reuses, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_pool_waits_for_a_store, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_pool_open_fails),
        cmocka_unit_test(test_kept_sums_follow_writes),
        cmocka_unit_test_setup_teardown(test_migrate_v20_kept_sums, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_pool_writers_queue, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_host_keys),
        cmocka_unit_test_setup_teardown(test_migrate_v1, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2_probe, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v3_migration, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v4_mgmt_addr, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v5_migration_figures, tmp_setup, tmp_teardown),
    };
    /* a connection to lose: PostgreSQL only */
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_reconnect, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_pg_lost_transaction, tmp_setup, tmp_teardown),
    };
    if (!pg_admin)
        return cmocka_run_group_tests_name("store on SQLite", tests, NULL, NULL);
    return cmocka_run_group_tests_name("store on PostgreSQL", tests, NULL, NULL) |
           cmocka_run_group_tests_name("store on PostgreSQL: lost connections", pg_tests, NULL, NULL);
}
