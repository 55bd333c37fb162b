/* proto: every field of every message survives encode -> decode; what a decoder must refuse, it refuses with
 * the element and the field; what an older or newer peer sends (fields absent, fields added) is taken where
 * the protocol says so; docs/agent-protocol.md documents exactly the tables' fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/proto.h"

#define U1 "6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3e"

static proto_desired full(bool here)
{
    proto_desired d = {.want = YUN_WANT_RUNNING,
                       .here = here,
                       .reboot = true,
                       .incoming = here,
                       .target_host = here ? 0 : 7,
                       .cpus = 2,
                       .mem_mib = 256,
                       .max_mem_mib = 512,
                       .disk_mib = 4096,
                       .cpu_shares = 2048,
                       .cpu_cap = 50};
    snprintf(d.uuid, sizeof d.uuid, U1);
    snprintf(d.name, sizeof d.name, "web1");
    snprintf(d.owner, sizeof d.owner, "alice");
    snprintf(d.domain, sizeof d.domain, "yun-alice-web1");
    if (!here) {
        snprintf(d.migrate_uri, sizeof d.migrate_uri, "tcp://10.0.0.2");
        snprintf(d.target_libvirt_uri, sizeof d.target_libvirt_uri, "qemu+tcp://10.0.0.2/system");
        snprintf(d.target_vnc_listen, sizeof d.target_vnc_listen, "10.0.0.2");
    }
    snprintf(d.disk, sizeof d.disk, "/var/lib/yun/vms/" U1 ".qcow2");
    snprintf(d.console, sizeof d.console, "/var/lib/yun/vms/" U1 ".log");
    snprintf(d.img_path, sizeof d.img_path, "/var/lib/yun/images/starter.qcow2");
    snprintf(d.kernel, sizeof d.kernel, "/var/lib/yun/images/vmlinuz");
    snprintf(d.initrd, sizeof d.initrd, "/var/lib/yun/images/initrd.img");
    snprintf(d.cmdline, sizeof d.cmdline, "console=ttyS0");
    if (here) {
        d.user_data = (char *)"#cloud-config\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAA a\\\"b\"\n";
        d.user_data_len = strlen(d.user_data);
    }
    return d;
}

/* Every field bit for bit up to the owned user-data (both were zeroed first), then its text. */
static void assert_desired_equal(const proto_desired *a, const proto_desired *b)
{
    assert_memory_equal(a, b, offsetof(proto_desired, user_data));
    assert_int_equal(a->user_data_len, b->user_data_len);
    if (a->user_data_len)
        assert_memory_equal(a->user_data, b->user_data, a->user_data_len);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int here = 0; here < 2; here++) {
        proto_desired a, b;
        memset(&a, 0, sizeof a); /* padding too, so the structs compare as bytes */
        a = full(here);
        json_t *j = proto_desired_encode(&a);
        yun_err err = YUN_ERR_INIT;
        assert_int_equal(proto_desired_decode(j, &b, &err), 0);
        json_decref(j);
        assert_desired_equal(&a, &b);
        proto_desired_free(&b);
    }
}

static void test_older_and_newer_peers(void **state)
{
    (void)state;
    proto_desired d;
    yun_err err = YUN_ERR_INIT;
    /* an older yund: only uuid and want; here by default, no paths (the agent names the files) */
    json_t *j = json_pack("{s:s, s:s}", "uuid", U1, "want", "stopped");
    assert_int_equal(proto_desired_decode(j, &d, &err), 0);
    assert_true(d.here);
    assert_int_equal(d.want, YUN_WANT_STOPPED);
    assert_string_equal(d.disk, "");
    assert_int_equal(d.user_data_len, 0); /* no seed */
    proto_desired_free(&d);
    json_decref(j);
    /* a newer one adds a field: taken, ignored */
    j = json_pack("{s:s, s:s, s:s}", "uuid", U1, "want", "running", "gpu", "none");
    assert_int_equal(proto_desired_decode(j, &d, &err), 0);
    proto_desired_free(&d);
    json_decref(j);
    /* incoming only when here */
    j = json_pack("{s:s, s:s, s:b, s:b}", "uuid", U1, "want", "running", "here", 0, "incoming", 1);
    assert_int_equal(proto_desired_decode(j, &d, &err), 0);
    assert_false(d.incoming);
    proto_desired_free(&d);
    json_decref(j);
}

static void refused(const char *text, const char *says)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    proto_desired d;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(proto_desired_decode(j, &d, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);
    if (!strstr(err.msg, says))
        fail_msg("%s: \"%s\" does not say \"%s\"", text, err.msg, says);
    json_decref(j);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("{\"want\":\"running\"}", "malformed uuid");
    refused("{\"uuid\":\"../../etc/passwd\",\"want\":\"running\"}", "malformed uuid");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"paused\"}", "unknown want");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"disk\":\"relative.qcow2\"}", "not an absolute path");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"cpus\":\"2\"}", "\"cpus\" must be an integer");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"here\":1}", "\"here\" must be true or false");
    refused("{\"uuid\":\"" U1 "\",\"want\":\"running\",\"image\":[]}", "\"image\" must be an object");
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char text[600];
    snprintf(text, sizeof text, "{\"uuid\":\"" U1 "\",\"want\":\"running\",\"domain\":\"%s\"}", big);
    refused(text, "domain is longer than");
}

/* j (consumed) as the text on the wire */
static char *wire(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

/* A report with one of each element survives the wire; a malformed element is refused naming it. */
static void test_report(void **state)
{
    (void)state;
    proto_domain d = {
        .yun_owned = true, .cpus = 2, .mem_mib = 128, .max_mem_mib = 256, .cpu_shares = 1024, .cpu_cap = 50};
    snprintf(d.uuid, sizeof d.uuid, U1);
    snprintf(d.name, sizeof d.name, "yun-alice-web1");
    snprintf(d.state, sizeof d.state, "running");
    proto_verdict v[3] = {{.state = YUN_VM_RUNNING, .total_ms = -1, .downtime_ms = -1},
                          {.migrated = true, .total_ms = 812, .downtime_ms = 40},
                          {.deleted = true, .total_ms = -1, .downtime_ms = -1}};
    for (int i = 0; i < 3; i++)
        snprintf(v[i].uuid, sizeof v[i].uuid, U1);
    snprintf(v[0].address, sizeof v[0].address, "10.203.0.5");
    snprintf(v[0].error, sizeof v[0].error, "memory above the maximum");
    char tail[] = "login: \xC3\xA9"; /* (a NUL is no JSON yund takes: the agent drops them) */
    proto_console c = {.tail = tail, .len = sizeof tail - 1};
    snprintf(c.uuid, sizeof c.uuid, U1);
    proto_report r = {.has_disk_free = true,
                      .disk_free_mib = 80000,
                      .domains = &d,
                      .n_domains = 1,
                      .vms = v,
                      .n_vms = 3,
                      .consoles = &c,
                      .n_consoles = 1};
    char *text = wire(proto_report_encode(&r));
    proto_report b;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(proto_report_parse(text, strlen(text), &b, &err), 0);
    free(text);
    assert_true(b.has_disk_free);
    assert_int_equal(b.disk_free_mib, 80000);
    assert_int_equal(b.n_domains, 1);
    assert_memory_equal(&b.domains[0], &d, sizeof d);
    assert_int_equal(b.n_vms, 3);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(&b.vms[i], &v[i], sizeof v[i]);
    assert_int_equal(b.n_consoles, 1);
    assert_int_equal(b.consoles[0].len, c.len);
    assert_memory_equal(b.consoles[0].tail, tail, c.len);
    proto_report_free(&b);
    assert_null(b.vms);

    static const struct {
        const char *text, *says;
    } bad[] = {
        {"{\"domains\":[],\"vms\":[{\"uuid\":\"../x\",\"state\":\"running\"}]}", "vms[0].uuid"},
        {"{\"domains\":[],\"vms\":[{\"uuid\":\"" U1 "\",\"state\":\"flying\"}]}",
         "vms[0].state \"flying\" is not one of"},
        {"{\"domains\":[],\"vms\":[{\"uuid\":\"" U1 "\",\"state\":\"running\",\"address\":\"evil.example\"}]}",
         "vms[0].address \"evil.example\" is not an IPv4 or IPv6 address"},
        {"{\"domains\":[{\"uuid\":\"" U1 "\",\"name\":\"s\",\"state\":\"running\",\"yun_owned\":false,"
         "\"mem_mib\":99999999999999999999}],\"vms\":[]}",
         "domains[0].mem_mib"},
        {"{\"domains\":[],\"vms\":[],\"disks\":1}", "unknown field \"disks\""},
        {"{\"domains\":[]}", "\"vms\" is required"},
        {"{\"domains\":[],\"vms\":[],\"consoles\":[{\"uuid\":\"" U1 "\"}]}", "consoles[0].tail\" is required"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        yun_err e = YUN_ERR_INIT;
        assert_int_equal(proto_report_parse(bad[i].text, strlen(bad[i].text), &b, &e), -1);
        if (!strstr(e.msg, bad[i].says))
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].text, e.msg, bad[i].says);
    }
}

/* register and its answer; the answer to a report, with a bad VM left out and the others kept. */
static void test_register_and_answer(void **state)
{
    (void)state;
    proto_register m = {.cores = 2, .mhz = 2400, .mem_mib = 24000, .disk_total_mib = 250000, .disk_free_mib = 80000};
    snprintf(m.name, sizeof m.name, "h1");
    snprintf(m.hypervisor, sizeof m.hypervisor, "qemu");
    snprintf(m.accel, sizeof m.accel, "tcg");
    snprintf(m.libvirt_uri, sizeof m.libvirt_uri, "qemu:///system");
    json_t *j = proto_register_encode(&m);
    assert_null(json_object_get(j, "mgmt_addr")); /* unset: left out, so an older yund takes the message */
    char *text = wire(j);
    proto_register b;
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(proto_register_parse(text, strlen(text), &b, &err), 0);
    free(text);
    assert_memory_equal(&b, &m, sizeof m);
    const char *typo = "{\"name\":\"h1\",\"cores\":2,\"mhz\":1,\"mem_mib\":1,\"disk_total_mib\":1,\"disk_free_mib\":1,"
                       "\"hypervisor\":\"qemu\",\"accel\":\"tcg\",\"libvirt_uri\":\"x\",\"migrate_adr\":\"\"}";
    assert_int_equal(proto_register_parse(typo, strlen(typo), &b, &err), -1);
    assert_non_null(strstr(err.msg, "unknown field \"migrate_adr\""));

    proto_registered r = {.host_id = 3, .interval_ms = 2000}, r2;
    snprintf(r.vm_dir, sizeof r.vm_dir, "/var/lib/yun/vms");
    snprintf(r.image_dir, sizeof r.image_dir, "/var/lib/yun/images");
    j = proto_registered_encode(&r);
    json_object_set_new(j, "newer", json_true()); /* a newer yund's addition */
    assert_int_equal(proto_registered_decode(j, &r2, &err), 0);
    assert_memory_equal(&r, &r2, sizeof r);
    json_object_set_new(j, "vm_dir", json_string("vms"));
    assert_int_equal(proto_registered_decode(j, &r2, &err), -1);
    assert_non_null(strstr(err.msg, "absolute"));
    json_decref(j);

    proto_desired d[2] = {full(true), full(false)};
    proto_answer a = {.version = 42, .vms = d, .n_vms = 2}, a2;
    j = proto_answer_encode(&a);
    json_array_insert_new(json_object_get(j, "vms"), 1,
                          json_pack("{s:s, s:s}", "uuid", "../../etc", "want", "running"));
    assert_int_equal(proto_answer_decode(j, &a2, &err), 0);
    json_decref(j);
    assert_int_equal(a2.version, 42);
    assert_int_equal(a2.n_vms, 2);
    assert_int_equal(a2.n_skipped, 1);
    assert_non_null(strstr(a2.skipped, "malformed uuid"));
    assert_desired_equal(&a2.vms[1], &d[1]);
    assert_desired_equal(&a2.vms[0], &d[0]);
    proto_answer_free(&a2);
    j = json_pack("{s:[]}", "vms"); /* a yund without long-poll */
    assert_int_equal(proto_answer_decode(j, &a2, &err), 0);
    assert_int_equal(a2.version, -1);
    proto_answer_free(&a2);
    json_decref(j);
}

/* Jobs: the answer carries them (a restore with its chain), the report their verdicts; a bad one is refused
 * naming the field, and in an answer left out while the rest is kept. */
static void test_jobs(void **state)
{
    (void)state;
    proto_chain_file chain[2] = {{.path = "/srv/b/u/1.qcow2"}, {.path = "/srv/b/u/2.qcow2"}};
    snprintf(chain[0].sha256, sizeof chain[0].sha256, "%064d", 1);
    snprintf(chain[1].sha256, sizeof chain[1].sha256, "%064d", 2);
    proto_job jobs[2] = {{.id = 7, .kind = YUN_JOB_BACKUP, .state = YUN_JOB_PENDING}, {.id = 8, .kind = YUN_JOB_RESTORE,
                                                                                         .state = YUN_JOB_RUNNING}};
    snprintf(jobs[0].uuid, sizeof jobs[0].uuid, "00000000-0000-0000-0000-000000000001");
    snprintf(jobs[0].path, sizeof jobs[0].path, "/srv/b/u/7.qcow2");
    snprintf(jobs[0].name, sizeof jobs[0].name, "yun-7");
    snprintf(jobs[0].since, sizeof jobs[0].since, "yun-6");
    snprintf(jobs[0].base, sizeof jobs[0].base, "/srv/b/u/6.qcow2");
    snprintf(jobs[1].uuid, sizeof jobs[1].uuid, "00000000-0000-0000-0000-000000000002");
    snprintf(jobs[1].disk, sizeof jobs[1].disk, "/srv/vms/x.qcow2");
    jobs[1].chain = chain;
    jobs[1].n_chain = 2;
    proto_answer a = {.version = 1, .vms = NULL, .n_vms = 0, .jobs = jobs, .n_jobs = 2}, a2;
    json_t *j = proto_answer_encode(&a);
    json_array_append_new(json_object_get(j, "jobs"), json_pack("{s:s, s:i, s:s, s:s}", "uuid",
                                                                "00000000-0000-0000-0000-000000000003", "id", 9,
                                                                "kind", "explode", "state", "pending"));
    yun_err err = YUN_ERR_INIT;
    assert_int_equal(proto_answer_decode(j, &a2, &err), 0);
    json_decref(j);
    assert_int_equal(a2.n_jobs, 2);
    assert_int_equal(a2.n_skipped, 1);
    assert_non_null(strstr(a2.skipped, "explode"));
    assert_string_equal(a2.jobs[0].since, "yun-6");
    assert_string_equal(a2.jobs[0].base, "/srv/b/u/6.qcow2");
    assert_int_equal(a2.jobs[1].kind, YUN_JOB_RESTORE);
    assert_int_equal(a2.jobs[1].state, YUN_JOB_RUNNING);
    assert_int_equal(a2.jobs[1].n_chain, 2);
    assert_string_equal(a2.jobs[1].chain[1].sha256, chain[1].sha256);
    proto_answer_free(&a2);

    proto_job_verdict v = {.id = 7, .state = YUN_JOB_DONE, .bytes = 1 << 20, .duration_ms = 900, .pause_ms = -1};
    snprintf(v.sha256, sizeof v.sha256, "%064x", 0xabc);
    proto_report r = {.jobs = &v, .n_jobs = 1}, r2;
    char *text = wire(proto_report_encode(&r)); /* wire takes the reference */
    assert_int_equal(proto_report_parse(text, strlen(text), &r2, &err), 0);
    free(text);
    assert_int_equal(r2.n_jobs, 1);
    assert_memory_equal(&r2.jobs[0], &v, sizeof v);
    proto_report_free(&r2);
    const char *bad[] = {
        "{\"domains\":[],\"vms\":[],\"jobs\":[{\"id\":7,\"state\":\"pending\"}]}",
        "{\"domains\":[],\"vms\":[],\"jobs\":[{\"id\":7,\"state\":\"done\",\"sha256\":\"../etc\"}]}",
        "{\"domains\":[],\"vms\":[],\"jobs\":[{\"id\":0,\"state\":\"done\"}]}",
    };
    const char *why[] = {"not one of running, done, failed", "64 lowercase hex digits", "jobs[0].id"};
    for (size_t i = 0; i < 3; i++) {
        yun_err_clear(&err);
        assert_int_equal(proto_report_parse(bad[i], strlen(bad[i]), &r2, &err), -1);
        if (!strstr(err.msg, why[i]))
            fail_msg("%s: %s", bad[i], err.msg);
    }
}

/* ---- docs/agent-protocol.md and the tables say the same ---- */

static char *doc_section(const char *doc, const char *heading)
{
    const char *a = strstr(doc, heading);
    if (!a)
        fail_msg("docs/agent-protocol.md has no section \"%s\"", heading);
    const char *b = strstr(a + 3, "\n## ");
    size_t n = b ? (size_t)(b - a) : strlen(a);
    char *s = malloc(n + 1);
    memcpy(s, a, n);
    s[n] = '\0';
    return s;
}

static bool table_has(const jfield *t, const char *name, size_t n)
{
    for (; t && t->name; t++)
        if ((strlen(t->name) == n && !strncmp(t->name, name, n)) || table_has(t->sub, name, n))
            return true;
    return false;
}

/* Every field of t is in the section, as "name" or `name`. */
static void fields_documented(const jfield *t, const char *sec, const char *msg, const char *heading)
{
    for (; t && t->name; t++) {
        char q[80], b[80];
        snprintf(q, sizeof q, "\"%s\"", t->name);
        snprintf(b, sizeof b, "`%s`", t->name);
        if (!strstr(sec, q) && !strstr(sec, b))
            fail_msg("docs/agent-protocol.md's \"%s\" does not document %s's field %s", heading, msg, t->name);
        fields_documented(t->sub, sec, msg, heading);
    }
}

/* The same answer: yund names it by the hash the agent sends, the agent acts on the one it holds. */
static void test_same_answer(void **state)
{
    (void)state;
    const char *a1 = "{\"version\":3,\"vms\":[]}", *a2 = "{\"version\":4,\"vms\":[]}";
    char have[32];
    snprintf(have, sizeof have, "%llu", (unsigned long long)proto_answer_hash(a1, strlen(a1)));
    uint64_t hh = 0;
    assert_true(proto_have_parse(have, &hh));
    assert_true(hh == proto_answer_hash(a1, strlen(a1)));
    assert_true(hh != proto_answer_hash(a2, strlen(a2)));
    assert_false(proto_have_parse(NULL, &hh));
    assert_false(proto_have_parse("", &hh));
    assert_false(proto_have_parse("12x", &hh));
    assert_false(proto_have_parse("-1", &hh));
    assert_false(proto_have_parse("99999999999999999999999", &hh)); /* out of range */
    proto_held h = {0};
    /* nothing held: the URL has no have=; with long-poll, since and wait_ms */
    char *u = proto_report_url("/r", false, 0, 0, &h);
    assert_string_equal(u, "/r");
    free(u);
    u = proto_report_url("/r", true, 7, 2000, &h);
    assert_string_equal(u, "/r?since=7&wait_ms=2000");
    free(u);
    /* an answer is taken as the one held */
    json_t *j = json_loads(a1, 0, NULL);
    json_t *got = proto_answer_take(&h, j, a1, strlen(a1));
    assert_ptr_equal(got, j);
    json_decref(got);
    assert_int_equal(h.hash, proto_answer_hash(a1, strlen(a1)));
    u = proto_report_url("/r", true, 3, 2000, &h);
    char want[96];
    snprintf(want, sizeof want, "/r?since=3&wait_ms=2000&have=%s", have);
    assert_string_equal(u, want);
    free(u);
    u = proto_report_url("/r", false, 3, 2000, &h);
    snprintf(want, sizeof want, "/r?have=%s", have);
    assert_string_equal(u, want);
    free(u);
    /* "the same": the held answer, still held */
    got = proto_answer_take(&h, json_loads(PROTO_ANSWER_SAME, 0, NULL), PROTO_ANSWER_SAME, strlen(PROTO_ANSWER_SAME));
    assert_int_equal(json_integer_value(json_object_get(got, "version")), 3);
    json_decref(got);
    assert_int_equal(h.hash, proto_answer_hash(a1, strlen(a1)));
    /* another answer replaces it */
    got = proto_answer_take(&h, json_loads(a2, 0, NULL), a2, strlen(a2));
    assert_int_equal(json_integer_value(json_object_get(got, "version")), 4);
    json_decref(got);
    assert_int_equal(h.hash, proto_answer_hash(a2, strlen(a2)));
    proto_held_drop(&h);
    assert_null(h.answer);
    /* "the same" with nothing held is not an answer: it does not decode */
    got = proto_answer_take(&h, json_loads(PROTO_ANSWER_SAME, 0, NULL), PROTO_ANSWER_SAME, strlen(PROTO_ANSWER_SAME));
    proto_answer a;
    yun_err e = YUN_ERR_INIT;
    assert_int_equal(proto_answer_decode(got, &a, &e), -1);
    json_decref(got);
    proto_held_drop(&h);
}

static void test_doc_matches_tables(void **state)
{
    (void)state;
    FILE *f = fopen(YUN_SOURCE_ROOT "/docs/agent-protocol.md", "r");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (const proto_message *m = proto_messages; m->name; m++) {
        char *sec = doc_section(doc, m->section);
        fields_documented(m->fields, sec, m->name, m->section);
        /* and every "key": in the section's examples (indented lines) is a field of one of its messages */
        for (char *line = strtok(sec, "\n"); line; line = strtok(NULL, "\n")) {
            if (strncmp(line, "    ", 4) != 0)
                continue;
            for (char *k = strchr(line, '"'); k; k = strchr(k, '"')) {
                char *e = strchr(k + 1, '"');
                if (!e)
                    break;
                if (e[1] == ':') {
                    bool known = false;
                    for (const proto_message *o = proto_messages; o->name; o++)
                        if (!strcmp(o->section, m->section) && table_has(o->fields, k + 1, (size_t)(e - k - 1)))
                            known = true;
                    if (!known)
                        fail_msg("docs/agent-protocol.md's \"%s\" shows \"%.*s\", which no message of it has",
                                 m->section, (int)(e - k - 1), k + 1);
                }
                k = e + 1;
            }
        }
        free(sec);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_older_and_newer_peers),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_register_and_answer),
        cmocka_unit_test(test_jobs),
        cmocka_unit_test(test_same_answer),
        cmocka_unit_test(test_doc_matches_tables),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
