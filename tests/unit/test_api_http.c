/* yund's API over real HTTP on a random port, against a real SQLite store in a temporary folder: routing,
 * auth (401/403, and 404 for another user's VM), input validation with messages that name the field, VM
 * create -> placement -> agent report -> state, refusals with their reason, images, users, settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "api/api.h"
#include "api/api_int.h"
#include "util/http_client.h"
#include "util/clock.h"
#include "util/mem.h"

typedef struct fx {
    char dir[256];
    char url[64];
    char admin[128], agent[128], agent2[128], alice[128], bob[128]; /* agent: h1's credential; agent2: h2's */
    ctl_ctx *ctl;
    api_server *srv;
    int64_t host_id;
} fx;

/* A stand-in for hv_disk_import: copies the bytes and reports the size in MiB, so no qemu-img is needed. */
static int copy_import(const char *src, const char *dest, const char *format, uint64_t *size_mib, yun_err *err)
{
    (void)format;
    FILE *in = fopen(src, "rb"), *out = fopen(dest, "wb");
    if (!in || !out) {
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return yun_err_set(err, YUN_E_IO, "copy %s -> %s failed", src, dest);
    }
    char b[4096], magic[4] = {0};
    size_t n, total = 0;
    while ((n = fread(b, 1, sizeof b, in)) > 0) {
        if (total == 0)
            memcpy(magic, b, n < 4 ? n : 4);
        fwrite(b, 1, n, out);
        total += n;
    }
    fclose(in);
    fclose(out);
    if (total < 4 || memcmp(magic, "QFI\xfb", 4) != 0) {
        unlink(dest);
        return yun_err_set(err, YUN_E_INVALID, "%s is neither qcow2 nor raw", src);
    }
    *size_mib = (total + 1048575) / 1048576;
    return 0;
}

static long call(fx *f, const char *method, const char *path, const char *token, const char *body, json_t **out)
{
    AUTOFREE char *url = xasprintf("%s%s", f->url, path);
    http_resp r = {0};
    yun_err err = YUN_ERR_INIT;
    int rc = http_request(method, url, token, body ? "application/json" : NULL, body, body ? strlen(body) : 0, 10000,
                          &r, &err);
    assert_int_equal(rc, 0);
    if (out) {
        json_error_t je;
        *out = r.len ? json_loadb(r.body, r.len, 0, &je) : json_object();
        if (!*out) /* text answers (the console) come back as a JSON string */
            *out = json_stringn(r.body, r.len);
    }
    long st = r.status;
    http_resp_free(&r);
    return st;
}

static const char *errmsg(json_t *j)
{
    const char *m = NULL;
    if (json_unpack(j, "{s:{s:s}}", "error", "message", &m) < 0)
        return "(no error message)";
    return m;
}

static const char *errcode(json_t *j)
{
    const char *c = NULL;
    if (json_unpack(j, "{s:{s:s}}", "error", "code", &c) < 0)
        return "(no error code)";
    return c;
}

static void read_file(const char *path, char *out, size_t n)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(out, (int)n, fp));
    fclose(fp);
    out[strcspn(out, "\n")] = '\0';
}

/* A join token for host name (the admin's POST /v1/hosts) into tok. */
static void join_token(fx *f, const char *name, char *tok, size_t n)
{
    AUTOFREE char *body = xasprintf("{\"name\":\"%s\"}", name);
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/hosts", f->admin, body, &j), 201);
    const char *t, *nm;
    assert_int_equal(json_unpack(j, "{s:s, s:s}", "join_token", &t, "name", &nm), 0);
    assert_string_equal(nm, name);
    snprintf(tok, n, "%s", t);
    json_decref(j);
}

/* Enrols host name as its agent does (POST /v1/agent/join with a join token): its credential into cred. */
static void enrol(fx *f, const char *name, char *cred, size_t n)
{
    char tok[128];
    join_token(f, name, tok, sizeof tok);
    AUTOFREE char *body = xasprintf("{\"token\":\"%s\"}", tok);
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/agent/join", NULL, body, &j), 200);
    const char *c, *nm;
    assert_int_equal(json_unpack(j, "{s:s, s:s}", "credential", &c, "name", &nm), 0);
    assert_string_equal(nm, name);
    snprintf(cred, n, "%s", c);
    json_decref(j);
}

static void make_user(fx *f, const char *name, char *tok, size_t n)
{
    AUTOFREE char *body = xasprintf("{\"name\":\"%s\"}", name);
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/users", f->admin, body, &j), 201);
    const char *t;
    assert_int_equal(json_unpack(j, "{s:s}", "token", &t), 0);
    snprintf(tok, n, "%s", t);
    json_decref(j);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/yun-api-test-XXXXXX", tmp ? tmp : P_tmpdir);
    assert_non_null(mkdtemp(f->dir));
    AUTOFREE char *images = xasprintf("%s/images", f->dir);
    AUTOFREE char *vms = xasprintf("%s/vms", f->dir);
    AUTOFREE char *db = xasprintf("%s/yun.db", f->dir);
    mkdir(images, 0755);
    mkdir(vms, 0755);
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(db, &err);
    assert_non_null(s);
    f->ctl = ctl_new(&(ctl_config){.image_dir = images, .vm_dir = vms});
    assert_int_equal(api_bootstrap(f->ctl, s, f->dir, &err), 0);
    store_close(s);
    AUTOFREE char *ap = xasprintf("%s/admin.token", f->dir);
    struct stat st;
    assert_int_equal(stat(ap, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    read_file(ap, f->admin, sizeof f->admin);
    api_config cfg = {.listen = "127.0.0.1:0",
                      .store_path = db,
                      .state_dir = f->dir,
                      .ctl = f->ctl,
                      .disk_import = copy_import};
    f->srv = api_start(&cfg, &err);
    assert_non_null(f->srv);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", api_port(f->srv));
    make_user(f, "alice", f->alice, sizeof f->alice);
    make_user(f, "bob", f->bob, sizeof f->bob);
    enrol(f, "h1", f->agent, sizeof f->agent);
    enrol(f, "h2", f->agent2, sizeof f->agent2);
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/agent/register", f->agent,
                          "{\"name\":\"h1\",\"cores\":2,\"mhz\":2400,\"mem_mib\":4096,\"disk_total_mib\":100000,"
                          "\"disk_free_mib\":90000,\"hypervisor\":\"qemu\",\"accel\":\"tcg\","
                          "\"libvirt_uri\":\"qemu:///system\"}",
                          &j),
                     200);
    json_int_t id = 0;
    assert_int_equal(json_unpack(j, "{s:I}", "host_id", &id), 0);
    f->host_id = id;
    json_decref(j);
    /* a public image, uploaded as the admin */
    AUTOFREE char *url = xasprintf("%s/v1/images?name=starter", f->url);
    char disk[8192] = {'Q', 'F', 'I', (char)0xfb};
    http_resp r = {0};
    assert_int_equal(
        http_request("POST", url, f->admin, "application/octet-stream", disk, sizeof disk, 10000, &r, &err), 0);
    assert_int_equal(r.status, 201);
    http_resp_free(&r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    api_stop(f->srv);
    ctl_free(f->ctl);
    AUTOFREE char *cmd = xasprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char *VM1 = "{\"name\":\"web1\",\"image\":\"starter\",\"cpus\":1,\"memory\":\"128M\",\"disk\":\"1G\"}";

static void test_healthz_and_routing(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "GET", "/healthz", NULL, NULL, &j), 200);
    assert_false(json_is_true(json_object_get(j, "leading"))); /* no pass of the loop yet */
    json_decref(j);
    /* After ctl_lead (yund's loop) it tells whether this yund leads: on SQLite, always. */
    yun_err e = YUN_ERR_INIT;
    AUTOFREE char *db = xasprintf("%s/yun.db", f->dir);
    yun_store *s = store_open(db, &e);
    assert_non_null(s);
    bool lead = false;
    assert_int_equal(ctl_lead(f->ctl, s, yun_now_ms(), &lead, &e), 0);
    store_close(s);
    assert_true(lead);
    assert_int_equal(call(f, "GET", "/healthz", NULL, NULL, &j), 200);
    assert_true(json_is_true(json_object_get(j, "leading")));
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/nothing", f->admin, NULL, &j), 404);
    assert_string_equal(errcode(j), "not_found");
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/vms", f->admin, "{}", &j), 405);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/whoami", f->alice, NULL, &j), 200);
    const char *name;
    int admin;
    assert_int_equal(json_unpack(j, "{s:s, s:b}", "name", &name, "admin", &admin), 0);
    assert_string_equal(name, "alice");
    assert_false(admin);
    json_decref(j);
}

static void test_auth(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "GET", "/v1/vms", NULL, NULL, &j), 401);
    assert_string_equal(errcode(j), "unauthorized");
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms", "yun_not-a-token", NULL, &j), 401);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms", f->agent, NULL, &j), 403);
    assert_non_null(strstr(errmsg(j), "a host's credential opens only /v1/agent/*"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/agent/register", f->admin, "{}", &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/users", f->alice, NULL, &j), 403);
    assert_string_equal(errcode(j), "forbidden");
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/settings", f->alice, NULL, &j), 403);
    json_decref(j);
}

static void test_create_place_and_isolation(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    const char *host, *reason, *st, *owner;
    json_int_t id;
    assert_int_equal(json_unpack(j, "{s:{s:I, s:s, s:s}}", "vm", "id", &id, "state", &st, "owner", &owner), 0);
    assert_string_equal(st, "scheduled");
    assert_string_equal(owner, "alice");
    /* hosts are the operator's: a user is told neither where the VM went nor why */
    assert_null(json_object_get(j, "placement"));
    const char *hidden[] = {"host", "host_id", "migrate_from_id", "migrate_error"};
    for (size_t i = 0; i < 4; i++)
        assert_null(json_object_get(json_object_get(j, "vm"), hidden[i]));
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, "h1")); /* nowhere in the answer */
    free(dump);
    AUTOFREE char *by_id = xasprintf("/v1/vms/%lld", (long long)id);
    json_decref(j);
    /* the admin's create for a user says both */
    assert_int_equal(call(f, "POST", "/v1/vms?owner=alice", f->admin,
                          "{\"name\": \"adm1\", \"image\": \"starter\", \"memory\": \"128M\", \"start\": false}", &j),
                     201);
    assert_int_equal(json_unpack(j, "{s:{s:s}}", "placement", "host", &host, "reason", &reason), 0);
    assert_string_equal(host, "h1");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(j, "placement"), "reason")), "first-fit"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vm"), "host")), "h1");
    json_decref(j);
    assert_int_equal(call(f, "DELETE", "/v1/vms/adm1?owner=alice&force=true", f->admin, NULL, &j), 204);
    json_decref(j);
    /* alice's own views of it: the VM, the list, the latest metrics: no host anywhere */
    const char *views[] = {"/v1/vms/web1", "/v1/vms", "/v1/metrics/latest"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(call(f, "GET", views[i], f->alice, NULL, &j), 200);
        char *text = json_dumps(j, 0);
        if (strstr(text, "\"host\"") || strstr(text, "host_id") || strstr(text, "h1"))
            fail_msg("%s shows alice a host: %s", views[i], text);
        free(text);
        json_decref(j);
    }
    /* nor may she ask for them */
    const char *admin_only[] = {"/v1/hosts", "/v1/hosts/h1", "/v1/hosts/h1/metrics", "/metrics"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(call(f, "GET", admin_only[i], f->alice, NULL, &j), 403);
        json_decref(j);
    }

    /* bob: another user's VM does not exist, by name or by id, for reading, changing or deleting */
    const char *paths[] = {"/v1/vms/web1", by_id};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call(f, "GET", paths[i], f->bob, NULL, &j), 404);
        json_decref(j);
        assert_int_equal(call(f, "DELETE", paths[i], f->bob, NULL, &j), 404);
        json_decref(j);
        assert_int_equal(call(f, "PATCH", paths[i], f->bob, "{\"cpu_shares\":2}", &j), 404);
        json_decref(j);
    }
    AUTOFREE char *stop = xasprintf("%s/stop", by_id);
    assert_int_equal(call(f, "POST", stop, f->bob, NULL, &j), 404);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/web1/console", f->bob, NULL, &j), 404);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms?owner=alice", f->bob, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms", f->bob, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 0);
    json_decref(j);
    /* alice and the admin see it */
    assert_int_equal(call(f, "GET", "/v1/vms/web1", f->alice, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", by_id, f->admin, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/web1?owner=alice", f->admin, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/web1", f->admin, NULL, &j), 200); /* unique across users */
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms", f->admin, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 1);
    json_decref(j);
    /* bob may have his own web1; then the admin must say whose */
    assert_int_equal(call(f, "POST", "/v1/vms", f->bob, VM1, &j), 201);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/web1", f->admin, NULL, &j), 409);
    assert_non_null(strstr(errmsg(j), "?owner="));
    json_decref(j);
    /* alice's name again */
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 409);
    assert_string_equal(errcode(j), "conflict");
    json_decref(j);
}

static void test_validation_names_the_field(void **state)
{
    fx *f = *state;
    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"name\":\"w\",\"image\":\"starter\",\"memory\":\"128M\",\"cpus\":\"two\"}",
         "field \"cpus\" must be an integer, got a string"},
        {"{\"name\":\"w\",\"image\":\"starter\",\"memory\":\"12Q\"}", "unknown unit"},
        {"{\"name\":\"w\",\"image\":\"starter\",\"memory\":\"128M\",\"colour\":\"red\"}", "unknown field \"colour\""},
        {"{\"name\":\"w\",\"image\":\"starter\"}", "field \"memory\" is required"},
        {"{\"name\":\"W<\\\"x\",\"image\":\"starter\",\"memory\":64}", "VM name \"W<\"x\" is not allowed"},
        {"{\"name\":\"w\",\"image\":\"starter\",\"memory\":64,\"cpus\":0}", "cpus 0 is out of range"},
        {"{\"name\":\"w\",\"image\":\"starter\",\"memory\":64,\"disk\":\"1M\"}", "disk 1M is too small"},
        {"{\"name\":\"w\",\"image\":\"nope\",\"memory\":64}", "image nope not found"},
        {"{\"name\":", "not valid JSON"},
        {"[1,2]", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j;
        long st = call(f, "POST", "/v1/vms", f->alice, cases[i].body, &j);
        if (!strstr(errmsg(j), cases[i].want))
            fail_msg("case %zu: got \"%s\", wanted \"%s\"", i, errmsg(j), cases[i].want);
        assert_true(st == 400 || st == 404);
        json_decref(j);
    }
}

static void test_no_capacity_creates_nothing(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice,
                          "{\"name\":\"big\",\"image\":\"starter\",\"cpus\":4,\"memory\":\"128M\"}", &j),
                     409);
    assert_string_equal(errcode(j), "no_capacity");
    assert_string_equal(errmsg(j), "no host has 4 free cores; the most free is 2, on h1");
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/big", f->alice, NULL, &j), 404);
    json_decref(j);
    /* a disabled host takes nothing */
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/disable", f->admin, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 409);
    assert_non_null(strstr(errmsg(j), "1 disabled"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/enable", f->alice, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/enable", f->admin, NULL, &j), 200);
    json_decref(j);
}

static json_t *report(fx *f, const char *body)
{
    AUTOFREE char *path = xasprintf("/v1/agent/hosts/%lld/report", (long long)f->host_id);
    json_t *j;
    long st = call(f, "POST", path, f->agent, body, &j);
    if (st != 200)
        fail_msg("report: %ld %s", st, errmsg(j));
    return j;
}

static const char *vm_field(fx *f, const char *tok, const char *ref, const char *key)
{
    static char out[512];
    AUTOFREE char *path = xasprintf("/v1/vms/%s", ref);
    json_t *j;
    if (call(f, "GET", path, tok, NULL, &j) != 200) {
        json_decref(j);
        return "(404)";
    }
    snprintf(out, sizeof out, "%s", json_string_value(json_object_get(j, key)));
    json_decref(j);
    return out;
}

static void test_lifecycle_through_agent_reports(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    char uuid[64];
    snprintf(uuid, sizeof uuid, "%s", json_string_value(json_object_get(json_object_get(j, "vm"), "uuid")));
    json_decref(j);

    /* the agent is told to run it, with paths and the image */
    j = report(f, "{\"domains\":[],\"vms\":[]}");
    json_t *v = json_array_get(json_object_get(j, "vms"), 0);
    const char *want, *disk, *domain, *ipath;
    int here;
    assert_int_equal(json_unpack(v, "{s:s, s:b, s:s, s:s, s:{s:s}}", "want", &want, "here", &here, "disk", &disk,
                                 "domain", &domain, "image", "path", &ipath),
                     0);
    assert_string_equal(want, "running");
    assert_true(here);
    assert_string_equal(domain, "yun-alice-web1");
    assert_non_null(strstr(disk, uuid));
    assert_non_null(strstr(ipath, "/images/starter-"));
    json_decref(j);

    AUTOFREE char *running = xasprintf(
        "{\"disk_free_mib\":80000,\"domains\":[{\"uuid\":\"%s\",\"name\":\"yun-alice-web1\",\"state\":\"running\","
        "\"yun_owned\":true}],\"vms\":[{\"uuid\":\"%s\",\"state\":\"running\"}],"
        "\"consoles\":[{\"uuid\":\"%s\",\"tail\":\"boot...\\nYUN-GUEST-READY\\n\"}]}",
        uuid, uuid, uuid);
    json_decref(report(f, running));
    assert_string_equal(vm_field(f, f->alice, "web1", "state"), "running");
    assert_string_equal(vm_field(f, f->alice, "web1", "address"), "");
    /* the agent learnt the guest's address: the VM shows it */
    AUTOFREE char *with_addr = xasprintf("{\"domains\":[],\"vms\":[{\"uuid\":\"%s\",\"state\":\"running\","
                                         "\"address\":\"10.203.0.161\"}]}",
                                         uuid);
    json_decref(report(f, with_addr));
    assert_string_equal(vm_field(f, f->alice, "web1", "address"), "10.203.0.161");
    assert_int_equal(call(f, "GET", "/v1/vms/web1/console", f->alice, NULL, &j), 200);
    assert_non_null(strstr(json_string_value(j), "YUN-GUEST-READY"));
    json_decref(j);

    /* set, stop, reboot refused while stopped, start */
    assert_int_equal(call(f, "PATCH", "/v1/vms/web1", f->alice,
                          "{\"cpu_shares\":512,\"cpu_cap\":50,\"memory\":96,\"utility\":7}", &j),
                     200);
    assert_int_equal(json_integer_value(json_object_get(j, "cpu_shares")), 512);
    assert_int_equal(json_integer_value(json_object_get(j, "utility")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "memory_mib")), 96);
    json_decref(j);
    assert_int_equal(call(f, "PATCH", "/v1/vms/web1", f->alice, "{\"memory\":\"1G\"}", &j), 400);
    assert_non_null(strstr(errmsg(j), "above the VM's maximum"));
    json_decref(j);
    /* h1 has 2 x 2400 MHz to reserve */
    assert_int_equal(call(f, "PATCH", "/v1/vms/web1", f->alice, "{\"min_mhz\":5000}", &j), 409);
    assert_string_equal(errmsg(j), "min-mhz 5000 does not fit on h1: it has 4800 MHz of reservable CPU for this VM");
    json_decref(j);
    assert_int_equal(call(f, "PATCH", "/v1/vms/web1", f->alice, "{\"min_mhz\":4800}", &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "PATCH", "/v1/vms/web1", f->alice, "{\"cpus\":2}", &j), 400);
    assert_non_null(strstr(errmsg(j), "unknown field \"cpus\""));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms/web1/stop", f->alice, NULL, &j), 202);
    json_decref(j);
    assert_string_equal(vm_field(f, f->alice, "web1", "want"), "stopped");
    assert_int_equal(call(f, "POST", "/v1/vms/web1/reboot", f->alice, NULL, &j), 409);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms/web1/start", f->alice, NULL, &j), 202);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms/web1/reboot", f->alice, NULL, &j), 202);
    json_decref(j);
    j = report(f, running);
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "vms"), 0), "reboot")));
    json_decref(j);

    /* the image is in use */
    assert_int_equal(call(f, "DELETE", "/v1/images/starter", f->admin, NULL, &j), 409);
    assert_non_null(strstr(errmsg(j), "alice/web1"));
    json_decref(j);

    /* delete: deleting until the agent says deleted, then gone */
    assert_int_equal(call(f, "DELETE", "/v1/vms/web1", f->alice, NULL, &j), 202);
    json_decref(j);
    assert_string_equal(vm_field(f, f->alice, "web1", "state"), "deleting");
    j = report(f, running);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "vms"), 0), "want")),
                        "deleted");
    json_decref(j);
    AUTOFREE char *gone = xasprintf("{\"domains\":[],\"vms\":[{\"uuid\":\"%s\",\"state\":\"deleted\"}]}", uuid);
    j = report(f, gone);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 0);
    json_decref(j);
    assert_string_equal(vm_field(f, f->alice, "web1", "state"), "(404)");
    assert_int_equal(call(f, "DELETE", "/v1/images/starter", f->admin, NULL, &j), 204);
    json_decref(j);
}

/* Live migration over HTTP: admin only; refused with the reason when nowhere to go; with a second host
 * (registered with mgmt_addr), the source's answer says where to migrate and how, the target's says
 * "incoming", and the verdicts end it. Then drain: draining with progress, drained once h1 is empty. */
static void test_migrate_and_drain(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    char uuid[64];
    snprintf(uuid, sizeof uuid, "%s", json_string_value(json_object_get(json_object_get(j, "vm"), "uuid")));
    json_decref(j);
    AUTOFREE char *running = xasprintf(
        "{\"domains\":[{\"uuid\":\"%s\",\"name\":\"yun-alice-web1\",\"state\":\"running\",\"yun_owned\":true}],"
        "\"vms\":[{\"uuid\":\"%s\",\"state\":\"running\"}]}",
        uuid, uuid);
    json_decref(report(f, running));
    assert_int_equal(call(f, "POST", "/v1/vms/web1/migrate?owner=alice", f->alice, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms/web1/migrate?owner=alice", f->admin, "{}", &j), 409);
    assert_string_equal(errcode(j), "no_capacity");
    assert_non_null(strstr(errmsg(j), "no other host"));
    json_decref(j);
    assert_int_equal(
        call(f, "POST", "/v1/agent/register", f->agent2,
             "{\"name\":\"h2\",\"cores\":2,\"mhz\":2400,\"mem_mib\":4096,\"disk_total_mib\":100000,"
             "\"disk_free_mib\":90000,\"hypervisor\":\"qemu\",\"accel\":\"tcg\","
             "\"libvirt_uri\":\"qemu+tcp://h2/system\",\"migrate_addr\":\"10.0.0.2\",\"mgmt_addr\":\"0.0.0.0\"}",
             &j),
        400); /* a wildcard VNC address is refused */
    assert_non_null(strstr(errmsg(j), "wildcard"));
    json_decref(j);
    assert_int_equal(
        call(f, "POST", "/v1/agent/register", f->agent2,
             "{\"name\":\"h2\",\"cores\":2,\"mhz\":2400,\"mem_mib\":4096,\"disk_total_mib\":100000,"
             "\"disk_free_mib\":90000,\"hypervisor\":\"qemu\",\"accel\":\"tcg\","
             "\"libvirt_uri\":\"qemu+tcp://h2/system\",\"migrate_addr\":\"10.0.0.2\",\"mgmt_addr\":\"10.1.0.2\"}",
             &j),
        200);
    json_int_t h2 = 0;
    assert_int_equal(json_unpack(j, "{s:I}", "host_id", &h2), 0);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms/web1/migrate?owner=alice", f->admin, "{\"host\":\"h2\"}", &j), 202);
    assert_true(json_is_true(json_object_get(j, "live")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "placement"), "host")), "h2");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vm"), "state")), "migrating");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "vm"), "migrate_from_id")), f->host_id);
    json_decref(j);
    /* the source is told to migrate */
    j = report(f, running);
    json_t *v = json_array_get(json_object_get(j, "vms"), 0);
    assert_false(json_is_true(json_object_get(v, "here")));
    assert_int_equal(json_integer_value(json_object_get(v, "target_host")), h2);
    assert_string_equal(json_string_value(json_object_get(v, "target_libvirt_uri")), "qemu+tcp://h2/system");
    assert_string_equal(json_string_value(json_object_get(v, "migrate_uri")), "tcp://10.0.0.2");
    assert_string_equal(json_string_value(json_object_get(v, "target_vnc_listen")), "10.1.0.2");
    json_decref(j);
    /* the target waits for it */
    AUTOFREE char *p2 = xasprintf("/v1/agent/hosts/%lld/report", (long long)h2);
    assert_int_equal(call(f, "POST", p2, f->agent2, "{\"domains\":[],\"vms\":[]}", &j), 200);
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(j, "vms"), 0), "incoming")));
    json_decref(j);
    /* the source: migrated (with its figures); the target: running */
    AUTOFREE char *done = xasprintf("{\"domains\":[],\"vms\":[{\"uuid\":\"%s\",\"state\":\"migrated\","
                                    "\"total_ms\":800,\"downtime_ms\":40}]}",
                                    uuid);
    json_decref(report(f, done));
    AUTOFREE char *run2 = xasprintf("{\"domains\":[],\"vms\":[{\"uuid\":\"%s\",\"state\":\"running\"}]}", uuid);
    assert_int_equal(call(f, "POST", p2, f->agent2, run2, &j), 200);
    json_decref(j);
    assert_string_equal(vm_field(f, f->alice, "web1", "state"), "running");
    assert_string_equal(vm_field(f, f->admin, "web1", "host"), "h2");
    /* drain: admin only; h1 is empty: drained at once; h2 holds web1, which cannot leave (h1 drained) */
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/drain", f->alice, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/drain", f->admin, NULL, &j), 202);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "drained");
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts/h2/drain", f->admin, NULL, &j), 202);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "draining");
    json_t *d = json_object_get(j, "drain");
    assert_int_equal(json_integer_value(json_object_get(d, "vms_left")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "stuck")), 1);
    json_decref(j);
    assert_non_null(strstr(vm_field(f, f->admin, "web1", "migrate_error"), "web1 cannot leave h2: no host is up"));
    /* enable ends both */
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/enable", f->admin, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "up");
    json_decref(j);
}

static void test_report_validation(void **state)
{
    fx *f = *state;
    AUTOFREE char *path = xasprintf("/v1/agent/hosts/%lld/report", (long long)f->host_id);
    json_t *j;
    assert_int_equal(call(f, "POST", path, f->agent, "{\"domains\":[{\"uuid\":\"x\"}],\"vms\":[]}", &j), 400);
    assert_non_null(strstr(errmsg(j), "domains[0].name"));
    json_decref(j);
    assert_int_equal(call(f, "POST", path, f->agent,
                          "{\"domains\":[],\"vms\":[{\"uuid\":\"11111111-1111-4111-8111-111111111111\","
                          "\"state\":\"flying\"}]}",
                          &j),
                     400);
    assert_non_null(strstr(errmsg(j), "vms[0].state \"flying\""));
    json_decref(j);
    /* an address is an IP address, never markup or a host name */
    assert_int_equal(call(f, "POST", path, f->agent,
                          "{\"domains\":[],\"vms\":[{\"uuid\":\"11111111-1111-4111-8111-111111111111\","
                          "\"state\":\"running\",\"address\":\"<b>evil</b>\"}]}",
                          &j),
                     400);
    assert_non_null(strstr(errmsg(j), "vms[0].address \"<b>evil</b>\" is not an IPv4 or IPv6 address"));
    json_decref(j);
    assert_int_equal(call(f, "POST", path, f->agent,
                          "{\"domains\":[],\"vms\":[{\"uuid\":\"11111111-1111-4111-8111-111111111111\","
                          "\"state\":\"running\",\"address\":\"fd00::5\"}]}",
                          &j),
                     200);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/agent/hosts/999/report", f->agent, "{\"domains\":[],\"vms\":[]}", &j), 404);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/agent/register", f->agent2, "{\"name\":\"h2\",\"coress\":2}", &j), 400);
    assert_non_null(strstr(errmsg(j), "unknown field \"coress\""));
    json_decref(j);
}

static void json_assert_upload(fx *f, const char *path, long status, const char *want)
{
    AUTOFREE char *url = xasprintf("%s%s", f->url, path);
    char disk[4096] = {'Q', 'F', 'I', (char)0xfb};
    http_resp r = {0};
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(
        http_request("POST", url, f->admin, "application/octet-stream", disk, sizeof disk, 10000, &r, &err), 0);
    assert_int_equal(r.status, status);
    assert_non_null(strstr(r.body, want));
    http_resp_free(&r);
}

static void test_hosts_users_settings(void **state)
{
    fx *f = *state;
    json_t *j;
    /* an upload that cannot succeed is refused before its body is read */
    json_assert_upload(f, "/v1/images?name=starter", 409, "exists already");
    json_assert_upload(f, "/v1/images", 400, "give the image a name");
    json_assert_upload(f, "/v1/images?name=Bad_Name", 400, "not allowed");
    assert_int_equal(call(f, "GET", "/v1/hosts", f->admin, NULL, &j), 200);
    json_t *h = json_array_get(json_object_get(j, "hosts"), 0);
    assert_string_equal(json_string_value(json_object_get(h, "state")), "up");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "free"), "cpus")), 2);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/hosts/h1", f->admin, NULL, &j), 200);
    assert_true(json_is_array(json_object_get(j, "orphans")));
    json_decref(j);

    assert_int_equal(call(f, "PUT", "/v1/settings/placement.algorithm", f->admin, "{\"value\":\"best-guess\"}", &j),
                     400);
    assert_non_null(strstr(errmsg(j), "first-fit"));
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/settings/placement.algorithm", f->admin, "{\"value\":\"first-fit\"}", &j),
                     200);
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/settings/colour", f->admin, "{\"value\":\"red\"}", &j), 400);
    json_decref(j);
    /* placement.cpu_ratio: a decimal from 1 to 64; the host list's vcpus and free cpus follow it */
    const char *bad_ratio[] = {"0", "-1", "lots", "1e9", "1000"};
    for (size_t i = 0; i < sizeof bad_ratio / sizeof bad_ratio[0]; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"value\":\"%s\"}", bad_ratio[i]);
        assert_int_equal(call(f, "PUT", "/v1/settings/placement.cpu_ratio", f->admin, body, &j), 400);
        assert_non_null(strstr(errmsg(j), "not a decimal from 1 to 64"));
        json_decref(j);
    }
    assert_int_equal(call(f, "PUT", "/v1/settings/placement.cpu_ratio", f->alice, "{\"value\":\"4\"}", &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/settings/placement.cpu_ratio", f->admin, "{\"value\":\"2.5\"}", &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/hosts", f->admin, NULL, &j), 200);
    h = json_array_get(json_object_get(j, "hosts"), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "vcpus")), 5); /* floor(2 x 2.5) */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "free"), "cpus")), 5);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/resources", f->alice, NULL, &j), 200);
    json_t *cpu = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(cpu, "unit")), "vCPU");
    assert_int_equal(json_integer_value(json_object_get(cpu, "total")), 5);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/settings/placement.cpu_ratio", f->admin, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "value")), "2.5");
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/settings/placement.cpu_ratio", f->admin, "{\"value\":\"1\"}", &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/settings", f->admin, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "settings"), "placement.algorithm")),
                        "first-fit");
    json_decref(j);

    /* quota: one VM for carol */
    assert_int_equal(call(f, "POST", "/v1/users", f->admin,
                          "{\"name\":\"carol\",\"quota\":{\"max_vms\":1,"
                          "\"max_memory\":\"1G\"}}",
                          &j),
                     201);
    char carol[128];
    snprintf(carol, sizeof carol, "%s", json_string_value(json_object_get(j, "token")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_object_get(j, "user"), "quota"), "max_memory_mib")),
        1024);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms", carol, VM1, &j), 201);
    json_decref(j);
    assert_int_equal(
        call(f, "POST", "/v1/vms", carol, "{\"name\":\"web2\",\"image\":\"starter\",\"memory\":\"128M\"}", &j), 403);
    assert_string_equal(errcode(j), "quota_exceeded");
    assert_non_null(strstr(errmsg(j), "max_vms"));
    json_decref(j);
    assert_int_equal(call(f, "DELETE", "/v1/users/carol", f->admin, NULL, &j), 409);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/users/alice", f->bob, NULL, &j), 404);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/users/bob", f->bob, NULL, &j), 200);
    json_decref(j);
    /* a new token replaces the old one */
    assert_int_equal(call(f, "POST", "/v1/users/bob/token", f->bob, NULL, &j), 200);
    char newtok[128];
    snprintf(newtok, sizeof newtok, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/whoami", f->bob, NULL, &j), 401);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/whoami", newtok, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "DELETE", "/v1/users/admin", f->admin, NULL, &j), 409);
    assert_non_null(strstr(errmsg(j), "last admin"));
    json_decref(j);
}

/* The admin's full list is cached between changes: every kind of change must show in the next list. */
static const char *admin_list_field(fx *f, const char *key)
{
    static char out[64];
    json_t *j;
    assert_int_equal(call(f, "GET", "/v1/vms", f->admin, NULL, &j), 200);
    json_t *v = json_array_get(json_object_get(j, "vms"), 0);
    snprintf(out, sizeof out, "%s", v ? json_string_value(json_object_get(v, key)) : "(none)");
    json_decref(j);
    return out;
}

static void test_list_cache_follows_changes(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_string_equal(admin_list_field(f, "name"), "(none)");
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    char uuid[64];
    snprintf(uuid, sizeof uuid, "%s", json_string_value(json_object_get(json_object_get(j, "vm"), "uuid")));
    json_decref(j);
    assert_string_equal(admin_list_field(f, "state"), "scheduled");
    assert_string_equal(admin_list_field(f, "state"), "scheduled"); /* served from the cache */
    AUTOFREE char *running = xasprintf("{\"domains\":[],\"vms\":[{\"uuid\":\"%s\",\"state\":\"running\"}]}", uuid);
    json_decref(report(f, running));
    assert_string_equal(admin_list_field(f, "state"), "running");
    json_decref(report(f, running)); /* no change: the cached list stays right */
    assert_string_equal(admin_list_field(f, "state"), "running");
    assert_int_equal(call(f, "POST", "/v1/vms/web1/stop", f->alice, NULL, &j), 202);
    json_decref(j);
    assert_string_equal(admin_list_field(f, "want"), "stopped");
    /* the host falls silent: ha.suspect_ms later its VMs are unknown, without any write */
    assert_int_equal(call(f, "PUT", "/v1/settings/agent.interval_ms", f->admin, "{\"value\":\"200\"}", &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/settings/ha.suspect_ms", f->admin, "{\"value\":\"1000\"}", &j), 200);
    json_decref(j);
    usleep(1200 * 1000);
    assert_string_equal(admin_list_field(f, "state"), "unknown");
    json_decref(report(f, running));
    assert_string_equal(admin_list_field(f, "state"), "running");
    assert_int_equal(call(f, "DELETE", "/v1/vms/web1", f->alice, NULL, &j), 202);
    json_decref(j);
    assert_string_equal(admin_list_field(f, "state"), "deleting");
    /* a host gone for good: only the admin may drop the VM without its agent */
    assert_int_equal(call(f, "DELETE", "/v1/vms/web1?force=true", f->alice, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "DELETE", "/v1/vms/web1?owner=alice&force=true", f->admin, NULL, &j), 204);
    json_decref(j);
    assert_string_equal(admin_list_field(f, "name"), "(none)");
}

/* GET /v1/vms?limit=N&after=ID: pages in id order with "next" while more follow; each user's own; bad values
 * refused saying which. */
static void test_vm_list_pages(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "PUT", "/v1/settings/placement.cpu_ratio", f->admin, "{\"value\":\"8\"}", &j), 200);
    json_decref(j);
    for (int i = 0; i < 5; i++) {
        AUTOFREE char *body =
            xasprintf("{\"name\":\"p%d\",\"image\":\"starter\",\"cpus\":1,\"memory\":\"64M\",\"disk\":\"1G\"}", i);
        assert_int_equal(call(f, "POST", "/v1/vms", i == 2 ? f->bob : f->alice, body, &j), 201);
        json_decref(j);
    }
    /* alice's four, two at a time */
    const char *want[] = {"p0", "p1", "p3", "p4"};
    size_t got = 0;
    AUTOFREE char *path = xstrdup("/v1/vms?limit=2");
    for (int page = 0; page < 3; page++) {
        assert_int_equal(call(f, "GET", path, f->alice, NULL, &j), 200);
        json_t *vms = json_object_get(j, "vms"), *next = json_object_get(j, "next");
        for (size_t i = 0; i < json_array_size(vms); i++, got++) {
            assert_true(got < 4);
            assert_string_equal(json_string_value(json_object_get(json_array_get(vms, i), "name")), want[got]);
        }
        if (page < 2) {
            assert_int_equal(json_array_size(vms), 2);
            assert_true(json_is_integer(next) == (page == 0)); /* the second page ends the list: no next */
        }
        if (!next) {
            json_decref(j);
            break;
        }
        free(path);
        path = xasprintf("/v1/vms?limit=2&after=%lld", (long long)json_integer_value(next));
        json_decref(j);
    }
    assert_int_equal(got, 4);
    /* the admin's pages hold everyone's; after= alone gives up to 1000 */
    assert_int_equal(call(f, "GET", "/v1/vms?limit=3", f->admin, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 3);
    json_int_t next = json_integer_value(json_object_get(j, "next"));
    json_decref(j);
    AUTOFREE char *rest = xasprintf("/v1/vms?after=%lld", (long long)next);
    assert_int_equal(call(f, "GET", rest, f->admin, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 2);
    assert_null(json_object_get(j, "next"));
    json_decref(j);
    /* bob's only */
    assert_int_equal(call(f, "GET", "/v1/vms?limit=10", f->bob, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 1);
    json_decref(j);
    const char *bad[] = {"/v1/vms?limit=0", "/v1/vms?limit=5001", "/v1/vms?limit=x", "/v1/vms?after=-1"};
    const char *says[] = {"limit", "limit", "limit", "after"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(call(f, "GET", bad[i], f->alice, NULL, &j), 400);
        if (!strstr(errmsg(j), says[i]))
            fail_msg("%s: %s", bad[i], errmsg(j));
        json_decref(j);
    }
}

/* One VM's answer (create, show) reads only its own host, image, lease and network rows: they name the same as
 * the whole list's, which reads every row. */
static void test_vm_names_one_as_list(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->admin, VM1, &j), 201);
    json_int_t id = 0;
    const char *host = NULL, *image = NULL;
    assert_int_equal(json_unpack(j, "{s:{s:I, s:s, s:s}}", "vm", "id", &id, "host", &host, "image", &image), 0);
    assert_string_equal(host, "h1");
    assert_string_equal(image, "starter");
    json_decref(j);
    /* an address on a cloud network, as ctl_net gives one */
    AUTOFREE char *db = xasprintf("%s/yun.db", f->dir);
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(db, &err);
    assert_non_null(s);
    yun_user admin;
    assert_int_equal(store_user_get_by_name(s, "admin", &admin, &err), 0);
    yun_network n = {.owner_id = admin.id, .vni = 9};
    snprintf(n.name, sizeof n.name, "lab");
    snprintf(n.subnet, sizeof n.subnet, "10.60.0.0/24");
    assert_int_equal(store_network_create(s, &n, &err), 0);
    yun_lease l = {.network_id = n.id, .vm_id = id};
    snprintf(l.ip, sizeof l.ip, "10.60.0.5");
    assert_int_equal(store_lease_add(s, &l, &err), 0);
    store_close(s);
    assert_string_equal(vm_field(f, f->admin, "web1", "ip"), "10.60.0.5");
    assert_string_equal(vm_field(f, f->admin, "web1", "network"), "lab");
    assert_string_equal(vm_field(f, f->admin, "web1", "host"), "h1");
    assert_string_equal(vm_field(f, f->admin, "web1", "image"), "starter");
    assert_int_equal(call(f, "GET", "/v1/vms", f->admin, NULL, &j), 200);
    json_t *v = json_array_get(json_object_get(j, "vms"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "ip")), "10.60.0.5");
    assert_string_equal(json_string_value(json_object_get(v, "network")), "lab");
    assert_string_equal(json_string_value(json_object_get(v, "host")), "h1");
    assert_string_equal(json_string_value(json_object_get(v, "image")), "starter");
    json_decref(j);
}

/* The report's raw answer, sent with ?have=have (NULL: none). */
static char *report_raw(fx *f, const char *body, const char *have)
{
    AUTOFREE char *url = have ? xasprintf("%s/v1/agent/hosts/%lld/report?have=%s", f->url, (long long)f->host_id, have)
                              : xasprintf("%s/v1/agent/hosts/%lld/report", f->url, (long long)f->host_id);
    http_resp r = {0};
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(http_request("POST", url, f->agent, "application/json", body, strlen(body), 10000, &r, &err), 0);
    assert_int_equal(r.status, 200);
    char *out = xstrdup(r.body);
    http_resp_free(&r);
    return out;
}

/* ?have= naming the answer the agent holds: "the same" instead of the answer, whether the answer was kept or
 * made again; the whole answer once it differs, or when have names another. */
static void test_same_answer_not_sent_again(void **state)
{
    fx *f = *state;
    const char *rep = "{\"domains\":[],\"vms\":[]}";
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    json_decref(j);
    AUTOFREE char *a1 = report_raw(f, rep, NULL);
    assert_non_null(strstr(a1, "\"vms\":[{"));
    char have[32];
    snprintf(have, sizeof have, "%llu", (unsigned long long)proto_answer_hash(a1, strlen(a1)));
    AUTOFREE char *kept = report_raw(f, rep, have); /* the kept answer */
    assert_string_equal(kept, PROTO_ANSWER_SAME);
    AUTOFREE char *other = report_raw(f, rep, "12345"); /* another: the answer itself */
    assert_string_equal(other, a1);
    AUTOFREE char *none = report_raw(f, rep, NULL);
    assert_string_equal(none, a1);
    /* another report (so not the kept answer): made again, the same bytes */
    AUTOFREE char *made = report_raw(f, "{\"domains\":[],\"vms\":[],\"disk_free_mib\":5}", have);
    assert_string_equal(made, PROTO_ANSWER_SAME);
    /* the VM stopped: another answer, sent whole */
    assert_int_equal(call(f, "POST", "/v1/vms/web1/stop", f->alice, NULL, &j), 202);
    json_decref(j);
    AUTOFREE char *a2 = report_raw(f, rep, have);
    assert_non_null(strstr(a2, "\"vms\":[{"));
    assert_string_not_equal(a2, a1);
}

/* The router: methods, captured segments (decoded), a tolerated trailing slash, 405 versus 404. */
static void test_router(void **state)
{
    (void)state;
    char p[API_MAX_PARAMS][256];
    bool known = false;
    const api_route *r = api_route_match("POST", "/v1/vms/web1/start", p, &known);
    assert_non_null(r);
    assert_ptr_equal(r->handler, h_vm_start);
    assert_string_equal(p[0], "web1");
    r = api_route_match("GET", "/v1/vms/", p, &known);
    assert_non_null(r);
    assert_ptr_equal(r->handler, h_vms_list);
    r = api_route_match("POST", "/v1/agent/hosts/7/report", p, &known);
    assert_non_null(r);
    assert_int_equal(r->auth, AUTH_AGENT);
    assert_string_equal(p[0], "7");
    r = api_route_match("GET", "/v1/vms/a%2Fb", p, &known);
    assert_non_null(r);
    assert_string_equal(p[0], "a/b");
    r = api_route_match("POST", "/v1/images/build-starter", p, &known);
    assert_ptr_equal(r->handler, h_image_build_starter);
    assert_int_equal(r->auth, AUTH_ADMIN);
    r = api_route_match("PUT", "/v1/images", p, &known);
    assert_true(r->upload);
    assert_null(api_route_match("PUT", "/v1/vms/web1", p, &known));
    assert_true(known); /* 405 */
    assert_null(api_route_match("GET", "/v1/vms/web1/nope", p, &known));
    assert_false(known); /* 404 */
    assert_null(api_route_match("GET", "/v1/vms//start", p, &known));
    assert_null(api_route_match("GET", "/healthz/x", p, &known));
    r = api_route_match("GET", "/healthz", p, &known);
    assert_int_equal(r->auth, AUTH_NONE);
}

/* The hand-written VM writer must produce JSON that a parser reads back to the same strings. */
static void test_vm_writer_escapes(void **state)
{
    (void)state;
    yun_vm vm = {0};
    vm.id = 42;
    snprintf(vm.name, sizeof vm.name, "web1");
    snprintf(vm.owner_name, sizeof vm.owner_name, "alice");
    snprintf(vm.error, sizeof vm.error, "qemu said \"no\": C:\\x\n\ttab \x01 ctl, caf\xc3\xa9 <&>");
    vm.mem_mib = 128;
    vm.created_ms = -5;
    vm.state = YUN_VM_RUNNING;
    yun_buf b = YUN_BUF_INIT;
    api_vm_write(&b, &vm, "h\"1", NULL, false, true);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    if (!j)
        fail_msg("not JSON: %s in %s", je.text, b.data);
    assert_string_equal(json_string_value(json_object_get(j, "error")), vm.error);
    assert_string_equal(json_string_value(json_object_get(j, "host")), "h\"1");
    assert_string_equal(json_string_value(json_object_get(j, "domain")), "yun-alice-web1");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 42);
    assert_int_equal(json_integer_value(json_object_get(j, "created_ms")), -5);
    json_decref(j);
    /* a host that stopped reporting: the VM's state is unknown */
    b.len = 0;
    api_vm_write(&b, &vm, "h1", "starter", true, true);
    j = json_loads(b.data, 0, &je);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "unknown");
    json_decref(j);
    buf_free(&b);
}

/* monitoring (h_metrics.c): a VM's probe, an agent's batch, the series with the VM endpoints' ownership,
 * the latest view, and /metrics for the admin only. */
static void test_metrics_endpoints(void **state)
{
    fx *f = *state;
    json_t *j;
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice,
                          "{\"name\": \"pw\", \"image\": \"starter\", \"memory\": \"128M\", \"probe\": \"ftp://x/\"}", &j),
                     400);
    assert_non_null(strstr(errmsg(j), "probe"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice,
                          "{\"name\": \"pw\", \"image\": \"starter\", \"memory\": \"128M\", \"probe\": \"http://:80/\"}", &j),
                     201);
    char uuid[64];
    snprintf(uuid, sizeof uuid, "%s", json_string_value(json_object_get(json_object_get(j, "vm"), "uuid")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vm"), "probe")), "http://:80/");
    json_decref(j);

    AUTOFREE char *mpath = xasprintf("/v1/agent/hosts/%lld/metrics", (long long)f->host_id);
    long long now = (long long)yun_now_ms();
    AUTOFREE char *batch = xasprintf("{\"samples\": [{\"kind\": \"host\", \"id\": \"h1\", \"ts_ms\": %lld, \"cpu_pct\": 50},"
                                     " {\"kind\": \"vm\", \"id\": \"%s\", \"ts_ms\": %lld, \"cpu_pct\": 12.5}]}",
                                     now, uuid, now);
    assert_int_equal(call(f, "POST", mpath, f->agent, batch, &j), 200);
    assert_true(json_integer_value(json_object_get(j, "interval_ms")) == 5000);
    json_t *p = json_array_get(json_object_get(j, "probes"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "uuid")), uuid);
    assert_string_equal(json_string_value(json_object_get(p, "url")), "http://:80/");
    json_decref(j);
    AUTOFREE char *other = xasprintf("{\"samples\": [{\"kind\": \"host\", \"id\": \"h9\", \"ts_ms\": %lld}]}", now);
    assert_int_equal(call(f, "POST", mpath, f->agent, other, &j), 400); /* not this host's to send */
    json_decref(j);
    assert_int_equal(call(f, "POST", mpath, f->alice, batch, &j), 403);
    json_decref(j);

    assert_int_equal(call(f, "GET", "/v1/vms/pw/metrics?from=-5m", f->alice, NULL, &j), 200);
    double got = NAN;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(j, "avg"), "cpu_pct"), i, v) if (json_is_number(v)) got =
        json_number_value(v);
    assert_true(fabs(got - 12.5) < 0.01);
    json_decref(j);
    AUTOFREE char *byid = xasprintf("/v1/vms/%s/metrics", uuid);
    assert_int_equal(call(f, "GET", byid, f->bob, NULL, &j), 404); /* another user's VM */
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/pw/metrics?from=junk", f->alice, NULL, &j), 400);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/hosts/h1/metrics?from=-5m", f->bob, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/hosts/h1/metrics?from=-5m", f->admin, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/metrics", f->bob, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/metrics/latest", f->bob, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "vms")), 0);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/metrics/latest", f->alice, NULL, &j), 200);
    assert_true(json_number_value(json_object_get(json_object_get(json_array_get(json_object_get(j, "vms"), 0),
                                                                  "metrics"), "cpu_pct")) == 12.5);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/metrics", f->alice, NULL, &j), 403);
    json_decref(j);

    /* a failed probe, with why (the batch's probe_errors): shown with the VM's latest metrics and its series;
     * the next sample, a success, drops it */
    AUTOFREE char *failed = xasprintf("{\"samples\": [{\"kind\": \"vm\", \"id\": \"%s\", \"ts_ms\": %lld, \"probe_ok\": 0}],"
                                      " \"probe_errors\": {\"%s\": \"http://10.203.0.5:80/: Couldn't connect to server\"}}",
                                      uuid, now + 1000, uuid);
    assert_int_equal(call(f, "POST", mpath, f->agent, failed, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/metrics/latest", f->alice, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "vms"), 0), "probe_error")),
                        "http://10.203.0.5:80/: Couldn't connect to server");
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/pw/metrics?from=-5m", f->alice, NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "probe_error")),
                        "http://10.203.0.5:80/: Couldn't connect to server");
    json_decref(j);
    AUTOFREE char *works = xasprintf("{\"samples\": [{\"kind\": \"vm\", \"id\": \"%s\", \"ts_ms\": %lld, \"probe_ok\": 1,"
                                     " \"probe_ms\": 3}]}",
                                     uuid, now + 2000);
    assert_int_equal(call(f, "POST", mpath, f->agent, works, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/pw/metrics?from=-5m", f->alice, NULL, &j), 200);
    assert_null(json_object_get(j, "probe_error"));
    json_decref(j);
}

/* Per-host credentials: one host's credential speaks for that host and its VMs only; join tokens are spent
 * once and expire; a revoked host is refused until it enrols again. Each refusal says what was wrong. */
static void test_host_credentials(void **state)
{
    fx *f = *state;
    json_t *j;
    static const char *const REG = "{\"name\":\"%s\",\"cores\":2,\"mhz\":2400,\"mem_mib\":4096,"
                                   "\"disk_total_mib\":100000,\"disk_free_mib\":90000,\"hypervisor\":\"qemu\","
                                   "\"accel\":\"tcg\",\"libvirt_uri\":\"qemu:///system\"}";
    AUTOFREE char *reg_h2 = xasprintf(REG, "h2");
    /* h1's credential cannot register h2's name */
    assert_int_equal(call(f, "POST", "/v1/agent/register", f->agent, reg_h2, &j), 403);
    assert_non_null(strstr(errmsg(j), "host h1's credential speaks for host h1 only: it may not register as host h2"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/agent/register", f->agent2, reg_h2, &j), 200);
    json_int_t h2 = 0;
    assert_int_equal(json_unpack(j, "{s:I}", "host_id", &h2), 0);
    json_decref(j);
    /* nor report for h2's id */
    AUTOFREE char *p2 = xasprintf("/v1/agent/hosts/%lld/report", (long long)h2);
    assert_int_equal(call(f, "POST", p2, f->agent, "{\"domains\":[],\"vms\":[]}", &j), 403);
    assert_non_null(strstr(errmsg(j), "is host h2's"));
    json_decref(j);
    /* a VM on h2 (h1 disabled, so it lands there) */
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/disable", f->admin, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    json_decref(j);
    assert_string_equal(vm_field(f, f->admin, "web1", "host"), "h2");
    char uuid[64];
    snprintf(uuid, sizeof uuid, "%s", vm_field(f, f->alice, "web1", "uuid"));
    /* h1 cannot give a verdict on it, nor report it as a domain (adopt it), nor its console */
    AUTOFREE char *verdict = xasprintf("{\"domains\":[],\"vms\":[{\"uuid\":\"%s\",\"state\":\"stopped\"}]}", uuid);
    AUTOFREE char *p1 = xasprintf("/v1/agent/hosts/%lld/report", (long long)f->host_id);
    assert_int_equal(call(f, "POST", p1, f->agent, verdict, &j), 403);
    assert_non_null(strstr(errmsg(j), "is not its own"));
    json_decref(j);
    AUTOFREE char *dom = xasprintf("{\"domains\":[{\"uuid\":\"%s\",\"name\":\"yun-alice-web1\",\"state\":"
                                   "\"running\",\"yun_owned\":true}],\"vms\":[]}",
                                   uuid);
    assert_int_equal(call(f, "POST", p1, f->agent, dom, &j), 403);
    assert_non_null(strstr(errmsg(j), "a domain of VM"));
    json_decref(j);
    assert_string_equal(vm_field(f, f->alice, "web1", "state"), "scheduled"); /* nothing was applied */
    /* nor push its metrics */
    AUTOFREE char *m1 = xasprintf("/v1/agent/hosts/%lld/metrics", (long long)f->host_id);
    AUTOFREE char *batch = xasprintf("{\"samples\": [{\"kind\": \"vm\", \"id\": \"%s\", \"ts_ms\": %lld, "
                                     "\"cpu_pct\": 99}]}",
                                     uuid, (long long)yun_now_ms());
    assert_int_equal(call(f, "POST", m1, f->agent, batch, &j), 403);
    assert_non_null(strstr(errmsg(j), "is not on host h1"));
    json_decref(j);
    /* h2 itself may do all of these */
    AUTOFREE char *m2 = xasprintf("/v1/agent/hosts/%lld/metrics", (long long)h2);
    assert_int_equal(call(f, "POST", m2, f->agent2, batch, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "POST", p2, f->agent2, verdict, &j), 200);
    json_decref(j);
    assert_string_equal(vm_field(f, f->alice, "web1", "state"), "stopped");

    /* join tokens: spent once; a second `host add` of an enrolled host is refused; a new one replaces an unused one */
    char t1[128], t2[128];
    join_token(f, "h3", t1, sizeof t1);
    join_token(f, "h3", t2, sizeof t2);
    AUTOFREE char *j1 = xasprintf("{\"token\":\"%s\"}", t1);
    AUTOFREE char *j2 = xasprintf("{\"token\":\"%s\"}", t2);
    assert_int_equal(call(f, "POST", "/v1/agent/join", NULL, j1, &j), 401); /* replaced */
    assert_non_null(strstr(errmsg(j), "the join token is not valid"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/agent/join", NULL, j2, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/agent/join", NULL, j2, &j), 401); /* spent */
    assert_non_null(strstr(errmsg(j), "already used"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts", f->admin, "{\"name\":\"h3\"}", &j), 409);
    assert_non_null(strstr(errmsg(j), "yun host revoke h3"));
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts", f->alice, "{\"name\":\"h4\"}", &j), 403); /* admin only */
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts", f->admin, "{\"name\":\"-bad name\"}", &j), 400);
    assert_non_null(strstr(errmsg(j), "is not allowed"));
    json_decref(j);
    /* an expired one (the clock moved past its hour, through ctl) */
    char t5[128], hash[65], cred_hash[65];
    join_token(f, "h5", t5, sizeof t5);
    api_token_hash(t5, hash);
    api_token_hash("unused", cred_hash);
    AUTOFREE char *db = xasprintf("%s/yun.db", f->dir);
    yun_err err = YUN_ERR_INIT;
    yun_store *s = store_open(db, &err);
    assert_non_null(s);
    assert_int_equal(ctl_host_key_join(f->ctl, s, hash, cred_hash, yun_now_ms() + CTL_JOIN_TTL_MS + 1000, NULL, &err),
                     -1);
    assert_int_equal(err.code, YUN_E_UNAUTHORIZED);
    assert_non_null(strstr(err.msg, "expired"));
    store_close(s);

    /* revoked: h2 is refused from its next report; enrolled again, it is back */
    assert_int_equal(call(f, "POST", "/v1/hosts/h2/revoke", f->admin, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "POST", p2, f->agent2, "{\"domains\":[],\"vms\":[]}", &j), 401);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/hosts/h2/revoke", f->admin, NULL, &j), 404);
    json_decref(j);
    enrol(f, "h2", f->agent2, sizeof f->agent2);
    assert_int_equal(call(f, "POST", p2, f->agent2, "{\"domains\":[],\"vms\":[]}", &j), 200);
    json_decref(j);
}

/* Failed logins and the audit log, through the real server: the next try after login.delay_after wrong
 * passwords is refused
 * (429, one wording for a name that exists and one that does not), unlock lifts it, a good password
 * then works; every change lands in the audit log with who, what, from where and how it went, and only the
 * admin reads it. */
static void test_logins_and_audit(void **state)
{
    fx *f = *state;
    json_t *j;
    /* a change by alice first, while the fixture's host is fresh (the password hashes below take a while) */
    assert_int_equal(call(f, "POST", "/v1/vms", f->alice, VM1, &j), 201);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/register", NULL, "{\"name\": \"eve\", \"password\": \"eve-password\"}", &j),
                     201);
    json_decref(j);
    /* waits of 10 minutes (from 1 s): "at once" holds however slow the machine; and from 2 failures (from 5):
     * each wrong password costs an argon2id check, and this file must end within meson's 30 s on a loaded
     * machine (test_abuse.sh runs the defaults) */
    assert_int_equal(call(f, "PUT", "/v1/settings/login.delay_ms", f->admin, "{\"value\": \"600000\"}", &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "PUT", "/v1/settings/login.delay_after", f->admin, "{\"value\": \"2\"}", &j), 200);
    json_decref(j);
    char msgs[2][512];
    const char *names[] = {"eve", "no-such-user"};
    for (int u = 0; u < 2; u++) {
        AUTOFREE char *bad = xasprintf("{\"name\": \"%s\", \"password\": \"wrong-password\"}", names[u]);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(call(f, "POST", "/v1/session", NULL, bad, &j), 401);
            json_decref(j);
        }
        assert_int_equal(call(f, "POST", "/v1/session", NULL, bad, &j), 429);
        assert_string_equal(errcode(j), "too_many_requests");
        size_t k = 0; /* the words, not the seconds */
        for (const char *c = errmsg(j); *c && k + 1 < sizeof msgs[u]; c++)
            if (*c < '0' || *c > '9')
                msgs[u][k++] = *c;
        msgs[u][k] = '\0';
        json_decref(j);
        /* the address counts too: lift both for the next name */
        AUTOFREE char *un = xasprintf("{\"user\": \"%s\", \"address\": \"127.0.0.1\"}", names[u]);
        if (u == 0) {
            /* even the right password waits: the check does not run */
            assert_int_equal(
                call(f, "POST", "/v1/session", NULL, "{\"name\": \"eve\", \"password\": \"eve-password\"}", &j), 429);
            json_decref(j);
            assert_int_equal(call(f, "POST", "/v1/admin/unlock", f->alice, un, &j), 403);
            json_decref(j);
        }
        assert_int_equal(call(f, "POST", "/v1/admin/unlock", f->admin, un, &j), 200);
        assert_true(json_is_true(json_object_get(j, "unlocked")));
        json_decref(j);
    }
    assert_string_equal(msgs[0], msgs[1]);
    assert_int_equal(call(f, "POST", "/v1/session", NULL, "{\"name\": \"eve\", \"password\": \"eve-password\"}", &j),
                     201);
    json_decref(j);
    assert_int_equal(call(f, "POST", "/v1/admin/unlock", f->admin, "{}", &j), 400);
    json_decref(j);

    /* a change of alice's refused, and a read (not logged) */
    assert_int_equal(call(f, "POST", "/v1/hosts/h1/disable", f->alice, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/vms/web1", f->alice, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/audit", f->alice, NULL, &j), 403);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/audit?user=alice", f->admin, NULL, &j), 200);
    json_t *e = json_object_get(j, "entries");
    assert_int_equal(json_array_size(e), 3); /* and, between them, her refused unlock */
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 1), "action")), "POST /v1/admin/unlock");
    json_t *a0 = json_array_get(e, 0), *a1 = json_array_get(e, 2); /* newest first */
    assert_string_equal(json_string_value(json_object_get(a0, "action")), "POST /v1/hosts/{}/disable");
    assert_string_equal(json_string_value(json_object_get(a0, "target")), "h1");
    assert_int_equal(json_integer_value(json_object_get(a0, "status")), 403);
    assert_non_null(strstr(json_string_value(json_object_get(a0, "result")), "only an admin"));
    assert_string_equal(json_string_value(json_object_get(a0, "address")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(a1, "action")), "POST /v1/vms");
    assert_string_equal(json_string_value(json_object_get(a1, "target")), "web1");
    assert_string_equal(json_string_value(json_object_get(a1, "result")), "ok");
    assert_string_equal(json_string_value(json_object_get(a1, "user")), "alice");
    json_decref(j);
    /* the failed logins are there, under the name tried; limit and since filter */
    assert_int_equal(call(f, "GET", "/v1/audit?user=no-such-user&limit=2", f->admin, NULL, &j), 200);
    e = json_object_get(j, "entries");
    assert_int_equal(json_array_size(e), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 0), "status")), 429);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 1), "result")),
                        "wrong user name or password");
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/audit?since=2099-01-01T00:00:00Z", f->admin, NULL, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 0);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/v1/audit?since=yesterday-ish", f->admin, NULL, &j), 400);
    assert_non_null(strstr(errmsg(j), "since"));
    json_decref(j);
}

int main(void)
{
    http_global_init();
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_healthz_and_routing),         T(test_auth),
        T(test_create_place_and_isolation),  T(test_validation_names_the_field),
        T(test_no_capacity_creates_nothing), T(test_lifecycle_through_agent_reports), T(test_migrate_and_drain),
        T(test_report_validation),           T(test_hosts_users_settings),
        T(test_list_cache_follows_changes), T(test_vm_list_pages), T(test_vm_names_one_as_list), T(test_same_answer_not_sent_again),  cmocka_unit_test(test_vm_writer_escapes),
        cmocka_unit_test(test_router), T(test_logins_and_audit),
        T(test_metrics_endpoints),           T(test_host_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
