/* Unit tests of SSH keys and seeds in ctl (src/ctl/ctl_key.c) on a real in-memory SQLite store: keys are
 * checked and kept per user; a VM's user-data is rendered from the owner's keys at create and kept with it in
 * the same transaction; an unknown key or bad user-data refuses the create and leaves no VM. */
#include "ctl_fixture.h"
#include "model/seed.h"

#define ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOEfGgqN8KEXXBmSYuHDYFAST+GQ9o/7hnDjBpHo13Kf alice@laptop"

static void test_keys_and_seed(void **state)
{
    (void)state;
    fx *f = fx_new(5000, NULL);
    yun_host h = fx_host("h1", 4, 8192);
    fx_register(f, &h);
    yun_err err = YUN_ERR_INIT;
    yun_ssh_key k;
    assert_int_equal(ctl_key_add(f->c, f->s, &f->alice, "laptop", ED "\n", &k, &err), 0);
    assert_string_equal(k.fingerprint, "SHA256:PaJZMqf5e4ZKEWLZ4hNqQPfx7Kf0FHWvTYCw/YtOdGQ");
    assert_int_equal(ctl_key_add(f->c, f->s, &f->alice, "Bad Name", ED, NULL, &err), -1);
    assert_int_equal(ctl_key_add(f->c, f->s, &f->alice, "junk", "ssh-ed25519 !!", NULL, &err), -1);
    assert_int_equal(err.code, YUN_E_INVALID);

    /* an unknown key: refused, no VM */
    const char *names[] = {"laptop", "nosuch"};
    ctl_seed_req req = {.keys = names, .n_keys = 2};
    assert_null(ctl_seed_render(f->s, &f->alice, &req, &err));
    assert_int_equal(err.code, YUN_E_INVALID);
    assert_non_null(strstr(err.msg, "no SSH key named 'nosuch'"));
    /* user-data that is not text: refused */
    req = (ctl_seed_req){.keys = names, .n_keys = 1, .user_data = "#!/bin/sh\n\0", .user_data_len = 11};
    assert_null(ctl_seed_render(f->s, &f->alice, &req, &err));
    assert_non_null(strstr(err.msg, "not text"));

    req = (ctl_seed_req){.keys = names, .n_keys = 1, .user_data = "#cloud-config\nruncmd: [[true]]\n", .user_data_len = 31};
    char *ud = ctl_seed_render(f->s, &f->alice, &req, &err);
    assert_non_null(ud);
    assert_non_null(strstr(ud, "  - \"" ED "\""));
    assert_non_null(strstr(ud, "runcmd: [[true]]"));
    yun_vm vm = {.cpus = 1, .mem_mib = 128, .disk_mib = 1024, .image_id = f->img.id, .want = YUN_WANT_RUNNING};
    snprintf(vm.name, sizeof vm.name, "web1");
    assert_int_equal(model_vm_validate(&vm, &err), 0);
    sched_choice ch;
    assert_int_equal(ctl_vm_create_seeded(f->c, f->s, &f->alice, &vm, ud, strlen(ud), &ch, &err), 0);
    char *got = NULL;
    size_t n = 0;
    assert_int_equal(store_seed_get(f->s, vm.uuid, &got, &n, &err), 0);
    assert_string_equal(got, ud);
    free(got);
    /* the key's delete leaves the VM's seed as it was made */
    assert_int_equal(ctl_key_delete(f->c, f->s, &f->alice, "laptop", &err), 0);
    assert_int_equal(ctl_key_delete(f->c, f->s, &f->alice, "laptop", &err), -1);
    assert_int_equal(err.code, YUN_E_NOT_FOUND);
    assert_int_equal(store_seed_get(f->s, vm.uuid, &got, &n, &err), 0);
    assert_string_equal(got, ud);
    free(got);
    /* a create refused (the name is taken) keeps no second seed and no second VM */
    yun_vm dup = vm;
    dup.uuid[0] = '\0';
    assert_int_equal(ctl_vm_create_seeded(f->c, f->s, &f->alice, &dup, ud, strlen(ud), &ch, &err), -1);
    int64_t count = 0;
    assert_int_equal(store_vm_count(f->s, -1, -1, &count, &err), 0);
    assert_int_equal(count, 1);
    free(ud);
    ctl_free(f->c);
    store_close(f->s);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
