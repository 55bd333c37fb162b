#include "power/power.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/proc.h"

static bool is(const yun_host *h, const char *driver)
{
    return !strcmp(h->power_driver, driver);
}

bool power_can_fence(const yun_host *h)
{
    return is(h, "ipmi") || is(h, "script");
}

bool power_managed(const yun_host *h)
{
    return h->power_driver[0] && !is(h, "none");
}

/* "aa:bb:cc:dd:ee:ff" (or with '-') into mac. */
static bool parse_mac(const char *s, unsigned char mac[6])
{
    unsigned v[6];
    char sep[5];
    if (strlen(s) != 17 || sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x", &v[0], &sep[0], &v[1], &sep[1], &v[2], &sep[2],
                                  &v[3], &sep[3], &v[4], &sep[4], &v[5]) != 11)
        return false;
    for (int i = 0; i < 5; i++)
        if (sep[i] != ':' && sep[i] != '-')
            return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (unsigned char)v[i];
    return true;
}

int power_config_check(const yun_host *h, yun_err *err)
{
    if (!power_managed(h))
        return 0;
    if (is(h, "ipmi")) {
        if (!h->power_address[0] || !h->power_user[0])
            return yun_err_set(err, YUN_E_INVALID,
                               "driver ipmi needs the BMC's address (host or host:port) and a user; the password "
                               "goes with them");
        return 0;
    }
    if (is(h, "wol")) {
        unsigned char mac[6];
        if (!parse_mac(h->power_address, mac))
            return yun_err_set(err, YUN_E_INVALID,
                               "driver wol needs the host's MAC address as address (aa:bb:cc:dd:ee:ff), not \"%.32s\"",
                               h->power_address);
        if (!h->power_command[0])
            return yun_err_set(err, YUN_E_INVALID,
                               "driver wol needs a command that switches the host off (wake-on-LAN only wakes it), "
                               "e.g. \"ssh root@HOST systemctl suspend\"");
        return 0;
    }
    if (is(h, "script")) {
        if (!h->power_command[0])
            return yun_err_set(err, YUN_E_INVALID,
                               "driver script needs a command; yund runs it with on, off or status (which prints "
                               "on or off)");
        return 0;
    }
    return yun_err_set(err, YUN_E_INVALID, "unknown power driver \"%.32s\": none, ipmi, wol or script",
                       h->power_driver);
}

/* The operator's command with one argument, YUN_HOST set; its stdout into out. */
static int run_command(const yun_host *h, const char *arg, yun_buf *out, yun_err *err)
{
    char script[sizeof h->power_command + 16];
    snprintf(script, sizeof script, "%s \"$@\"", h->power_command);
    char hostvar[sizeof h->name + 16];
    snprintf(hostvar, sizeof hostvar, "YUN_HOST=%s", h->name);
    char *argv[] = {"sh", "-c", script, "sh", (char *)arg, NULL};
    char *env[] = {hostvar, NULL};
    yun_buf etext = YUN_BUF_INIT;
    int rc = proc_run(argv, env, POWER_TIMEOUT_MS, out, &etext, NULL, err);
    if (rc > 0)
        yun_err_set(err, YUN_E_UNAVAILABLE, "host %s's power command (%s) failed with status %d: %.300s", h->name, arg,
                    rc, etext.data ? etext.data : "");
    buf_free(&etext);
    return rc == 0 ? 0 : -1;
}

static int ipmi(const yun_host *h, const char *what, yun_buf *out, yun_err *err)
{
    char addr[sizeof h->power_address], port[16] = "";
    snprintf(addr, sizeof addr, "%s", h->power_address);
    char *colon = strrchr(addr, ':');
    if (colon && !strchr(colon + 1, ']') && strchr(addr, ':') == colon) { /* host:port, not an IPv6 literal */
        snprintf(port, sizeof port, "%s", colon + 1);
        *colon = '\0';
    }
    char pass[sizeof h->power_secret + 16];
    snprintf(pass, sizeof pass, "IPMI_PASSWORD=%s", h->power_secret);
    char *argv[16];
    int k = 0;
    argv[k++] = "ipmitool";
    argv[k++] = "-I";
    argv[k++] = "lanplus";
    argv[k++] = "-H";
    argv[k++] = addr;
    if (port[0]) {
        argv[k++] = "-p";
        argv[k++] = port;
    }
    argv[k++] = "-C"; /* cipher suite 3 (HMAC-SHA1, AES): the one IPMI 2.0 asks every BMC to offer; spares */
    argv[k++] = "3";  /* ipmitool's discovery, which a BMC that does not answer it makes wait 10 s */
    argv[k++] = "-U";
    argv[k++] = (char *)h->power_user;
    argv[k++] = "-E";
    argv[k++] = "chassis";
    argv[k++] = "power";
    argv[k++] = (char *)what;
    argv[k] = NULL;
    char *env[] = {pass, NULL};
    yun_buf etext = YUN_BUF_INIT;
    int rc = proc_run(argv, env, POWER_TIMEOUT_MS, out, &etext, "ipmitool", err);
    if (rc > 0)
        yun_err_set(err, YUN_E_UNAVAILABLE, "host %s's BMC at %s (ipmitool chassis power %s) failed: %.300s", h->name,
                    h->power_address, what, etext.data ? etext.data : "");
    buf_free(&etext);
    return rc == 0 ? 0 : -1;
}

/* The magic packet: 6 x 0xff, then the MAC 16 times, to the broadcast address, port 9. */
static int wake_on_lan(const yun_host *h, yun_err *err)
{
    unsigned char mac[6], pkt[102];
    if (!parse_mac(h->power_address, mac))
        return yun_err_set(err, YUN_E_INVALID, "host %s: \"%.32s\" is not a MAC address", h->name, h->power_address);
    memset(pkt, 0xff, 6);
    for (int i = 0; i < 16; i++)
        memcpy(pkt + 6 + i * 6, mac, 6);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return yun_err_sys(err, YUN_E_UNAVAILABLE, errno, "wake-on-LAN for %s: socket", h->name);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_BROADCAST)};
    ssize_t n = sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to);
    int e = errno;
    close(fd);
    if (n != (ssize_t)sizeof pkt)
        return yun_err_sys(err, YUN_E_UNAVAILABLE, e, "wake-on-LAN for %s: sending the magic packet", h->name);
    return 0;
}

/* "on" or "off" anywhere in what a status printed (ipmitool: "Chassis Power is on"), as 1 or 0; else -1. */
static int on_off(const yun_buf *b)
{
    char word[8] = "";
    const char *s = b->data ? b->data : "";
    for (const char *p = s; *p; p++) {
        if (!isalpha((unsigned char)*p) || (p > s && isalpha((unsigned char)p[-1])))
            continue;
        size_t n = 0;
        while (isalpha((unsigned char)p[n]) && n < sizeof word - 1) {
            word[n] = (char)tolower((unsigned char)p[n]);
            n++;
        }
        word[n] = '\0';
        if (!strcmp(word, "on"))
            return 1;
        if (!strcmp(word, "off"))
            return 0;
    }
    return -1;
}

int power_run(const yun_host *h, power_op op, int *on, yun_err *err)
{
    if (!power_managed(h))
        return yun_err_set(err, YUN_E_CONFLICT,
                           "host %s has no power driver: yund cannot switch it (set one with `yun host power %s "
                           "--driver ...`)",
                           h->name, h->name);
    if (power_config_check(h, err) < 0)
        return -1;
    if (op == POWER_FENCE && !power_can_fence(h))
        return yun_err_set(err, YUN_E_CONFLICT,
                           "host %s's %s driver cannot fence it: only ipmi and script cut a host's power", h->name,
                           h->power_driver);
    static const char *const arg[] = {
        [POWER_ON] = "on", [POWER_OFF] = "off", [POWER_STATUS] = "status", [POWER_FENCE] = "fence"};
    yun_buf out = YUN_BUF_INIT;
    int rc;
    if (is(h, "ipmi"))
        rc = ipmi(h, op == POWER_OFF ? "soft" : op == POWER_FENCE ? "off" : arg[op], &out, err);
    else if (is(h, "wol") && op == POWER_ON)
        rc = wake_on_lan(h, err);
    else if (is(h, "wol") && op == POWER_STATUS)
        rc = 0; /* nothing to ask: unknown */
    else
        rc = run_command(h, arg[op], &out, err);
    if (rc == 0 && op == POWER_STATUS && on)
        *on = on_off(&out);
    buf_free(&out);
    return rc;
}
