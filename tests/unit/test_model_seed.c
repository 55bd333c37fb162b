/* Unit tests of the seed rules (src/model/seed.h): which SSH public keys are taken and how they are written,
 * their fingerprints as ssh-keygen -l shows them, which user-data is taken, and the seed files' text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/seed.h"

/* made with ssh-keygen -t ed25519 / -t rsa -b 2048; fingerprints from ssh-keygen -lf */
#define ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOEfGgqN8KEXXBmSYuHDYFAST+GQ9o/7hnDjBpHo13Kf alice@laptop"
#define ED_FP "SHA256:PaJZMqf5e4ZKEWLZ4hNqQPfx7Kf0FHWvTYCw/YtOdGQ"
#define RSA                                                                                                            \
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC9Te27WWOCmPT6lhYyYRhoN2fctmUWChmvvP3GOqAg8lCxgpagTIIHwyBWZsrAxVqRcL69GtjPTuY3" \
    "qKWeQWlv7f3Xp4guCcf7utsCSaNtt5L5L8vbp4iCuWVjp7wgBjvth+E7ENprNgyBXB9poaEDfmE1M6YrQYtnCnYnraJASaN2qc5l+otD7iWP379IykT0" \
    "N+9+IEEJ8dtx2dLr2Da9i37a27pGkHjHKZRWpvS0gTYdOgmgZRN7piGIGSxcJKRh/w8z2huZU++yn3dNX9Eu+i+g7t3qeCP9P95ioelkZKrbRtbXC9nFAP" \
    "VETmFn7nF3S23xxLEwdIgZswEwkSSD bob"
#define RSA_FP "SHA256:JvTPBKofITA8OlPw2NxG7pA6pQBWiJIjHw1UwuNLOys"

static void test_key_good(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    char out[YUN_SSH_KEY_MAX], fp[64];
    assert_int_equal(model_ssh_key_check("  " ED "\n", out, sizeof out, &err), 0);
    assert_string_equal(out, ED);
    model_ssh_key_fingerprint(out, fp, sizeof fp);
    assert_string_equal(fp, ED_FP);
    assert_int_equal(model_ssh_key_check(RSA, out, sizeof out, &err), 0);
    model_ssh_key_fingerprint(out, fp, sizeof fp);
    assert_string_equal(fp, RSA_FP);
    /* no comment is fine */
    assert_int_equal(model_ssh_key_check("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOEfGgqN8KEXXBmSYuHDYFAST+GQ9o/7hnDjBpHo13Kf",
                                         out, sizeof out, &err),
                     0);
}

static void test_key_bad(void **state)
{
    (void)state;
    struct {
        const char *key, *says;
    } bad[] = {
        {"", "empty"},
        {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n", "private"},
        {"ssh-dss AAAAB3NzaC1kc3MAAACBAP x", "not an SSH public key type"},
        {"hello world", "not an SSH public key type"},
        {"ssh-ed25519", "no body"},
        {"ssh-ed25519 not*base64 x", "not base64"},
        /* an RSA body under the ed25519 type */
        {"ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC9Te27WWOCmPT6lhYyYRhoN2fctmUWChmvvP3GOqAg8lCx x", "not a ssh-ed25519 key"},
        {ED "\n" RSA, "several lines"},
        {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOEfGgqN8KEXXBmSYuHDYFAST+GQ9o/7hnDjBpHo13Kf a\x01", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        yun_err err = YUN_ERR_INIT;
        char out[YUN_SSH_KEY_MAX];
        if (model_ssh_key_check(bad[i].key, out, sizeof out, &err) == 0)
            fail_msg("key %zu taken", i);
        assert_int_equal(err.code, YUN_E_INVALID);
        if (!strstr(err.msg, bad[i].says))
            fail_msg("key %zu: '%s' does not say '%s'", i, err.msg, bad[i].says);
    }
    /* too long */
    char *big = malloc(YUN_SSH_KEY_MAX + 10);
    memset(big, 'A', YUN_SSH_KEY_MAX + 9);
    memcpy(big, "ssh-rsa ", 8);
    big[YUN_SSH_KEY_MAX + 9] = '\0';
    yun_err err = YUN_ERR_INIT;
    char out[YUN_SSH_KEY_MAX];
    assert_int_equal(model_ssh_key_check(big, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "more than"));
    free(big);
}

static void test_user_data(void **state)
{
    (void)state;
    yun_err err = YUN_ERR_INIT;
    const char *cc = "#cloud-config\nruncmd:\n  - [touch, /x]\n";
    assert_int_equal(model_user_data_check(cc, strlen(cc), &err), 0);
    assert_int_equal(model_user_data_check("#!/bin/sh\necho hi\n", 18, &err), 0);
    assert_int_equal(model_user_data_check("hello\n", 6, &err), -1);
    assert_non_null(strstr(err.msg, "#cloud-config"));
    assert_int_equal(model_user_data_check("#!/bin/sh\n\0x", 12, &err), -1);
    assert_non_null(strstr(err.msg, "not text"));
    assert_int_equal(model_user_data_check("#!/bin/sh\n\xff", 11, &err), -1);
    assert_non_null(strstr(err.msg, "not UTF-8"));
    char *big = malloc(YUN_USER_DATA_MAX + 1);
    memset(big, 'a', YUN_USER_DATA_MAX + 1);
    memcpy(big, "#!", 2);
    assert_int_equal(model_user_data_check(big, YUN_USER_DATA_MAX + 1, &err), -1);
    assert_int_equal(err.code, YUN_E_TOO_LARGE);
    assert_int_equal(model_user_data_check(big, YUN_USER_DATA_MAX, &err), 0);
    free(big);
}

static void test_render(void **state)
{
    (void)state;
    const char *keys[] = {ED, "ssh-rsa AAAA \"q\\"};
    char *u = model_seed_user_data(keys, 2, NULL, 0);
    assert_string_equal(u, "#cloud-config\nssh_authorized_keys:\n  - \"" ED "\"\n  - \"ssh-rsa AAAA \\\"q\\\\\"\n");
    free(u);
    u = model_seed_user_data(NULL, 0, NULL, 0);
    assert_string_equal(u, "#cloud-config\n");
    free(u);
    const char *mine = "#!/bin/sh\necho hi";
    u = model_seed_user_data(keys, 1, mine, strlen(mine));
    assert_non_null(strstr(u, "Content-Type: multipart/mixed"));
    const char *script = strstr(u, "text/x-shellscript");
    const char *yun = strstr(u, "filename=\"yun-keys\"");
    assert_non_null(script);
    assert_non_null(yun);
    assert_true(script < yun); /* the user's first, then yun's, which appends */
    assert_non_null(strstr(u, "echo hi\n--"));
    assert_non_null(strstr(yun, "settings: [append]"));
    free(u);
    u = model_seed_meta_data("0b7c4a3e-2f1d-4c55-9a0e-4f5d2b8e9c01", "web1");
    assert_string_equal(u, "instance-id: 0b7c4a3e-2f1d-4c55-9a0e-4f5d2b8e9c01\nlocal-hostname: web1\n");
    free(u);
    u = model_seed_network_config("52:54:00:aa:bb:cc");
    assert_non_null(strstr(u, "version: 2\n"));
    assert_non_null(strstr(u, "macaddress: \"52:54:00:aa:bb:cc\""));
    assert_non_null(strstr(u, "dhcp4: true"));
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_good),
        cmocka_unit_test(test_key_bad),
        cmocka_unit_test(test_user_data),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
