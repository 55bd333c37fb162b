/* hv-check: drives src/hv from the shell, for tests/integration/test_hv.sh. One operation per run:
 *   hv-check -c URI node | list | get UUID | start|shutdown|destroy|reboot|undefine UUID
 *   hv-check -c URI define --uuid U --name N --owner O [--desc D] [--cpus N] [--mem MIB] [--max-mem MIB]
 *                          [--shares N] [--cap PCT] [--disk F] [--kernel F --initrd F --cmdline S]
 *                          [--console F] [--accel kvm|tcg]
 *   hv-check -c URI sched UUID SHARES CAP | setmem UUID MIB
 *   hv-check -c URI migrate UUID DEST_URI [tcp://ADDR]       (prints total_ms, downtime_ms, data_mib)
 *   hv-check overlay BASE PATH MIB | import SRC DEST | rm PATH
 *   hv-check probe KERNEL INITRD CACHE [TIMEOUT_MS [QEMU]]     (CACHE "" = none)
 * Results go to stdout as key=value lines; a failure prints "error: CODE: message" on stderr and exits
 * 1 (2 for not_found), so the test can check that libvirt itself printed nothing. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv.h"

static int fail(const yun_err *err)
{
    fprintf(stderr, "error: %s: %s\n", yun_err_code_name(err->code), err->msg);
    return err->code == YUN_E_NOT_FOUND ? 2 : 1;
}

static const char *state_name(hv_dom_state s)
{
    static const char *names[] = {"running", "paused", "shutoff", "crashed", "other"};
    return s <= HV_DOM_OTHER ? names[s] : "?";
}

static void print_info(const hv_domain_info *d, const char *prefix)
{
    printf("%suuid=%s\n%sname=%s\n%sstate=%s\n%syun_owned=%d\n%sowner=%s\n%scpus=%d\n%smem_mib=%" PRIu64
           "\n%smax_mem_mib=%" PRIu64 "\n%scpu_shares=%d\n%scpu_cap=%d\n",
           prefix, d->uuid, prefix, d->name, prefix, state_name(d->state), prefix, d->yun_owned, prefix, d->owner,
           prefix, d->cpus, prefix, d->mem_mib, prefix, d->max_mem_mib, prefix, d->cpu_shares, prefix, d->cpu_cap);
}

static int define(yun_hv *hv, int argc, char **argv)
{
    hv_domain_spec s = {0};
    s.cpus = 1;
    s.mem_mib = 128;
    static const struct option opts[] = {
        {"uuid", 1, 0, 'u'},    {"name", 1, 0, 'n'},    {"owner", 1, 0, 'o'},   {"desc", 1, 0, 'd'},
        {"cpus", 1, 0, 'C'},    {"mem", 1, 0, 'm'},     {"max-mem", 1, 0, 'M'}, {"shares", 1, 0, 's'},
        {"cap", 1, 0, 'p'},     {"disk", 1, 0, 'D'},    {"kernel", 1, 0, 'k'},  {"initrd", 1, 0, 'i'},
        {"cmdline", 1, 0, 'l'}, {"console", 1, 0, 'S'}, {"accel", 1, 0, 'a'},   {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            s.uuid = optarg;
            break;
        case 'n':
            s.name = optarg;
            break;
        case 'o':
            s.owner = optarg;
            break;
        case 'd':
            s.description = optarg;
            break;
        case 'C':
            s.cpus = atoi(optarg);
            break;
        case 'm':
            s.mem_mib = strtoull(optarg, NULL, 10);
            break;
        case 'M':
            s.max_mem_mib = strtoull(optarg, NULL, 10);
            break;
        case 's':
            s.cpu_shares = atoi(optarg);
            break;
        case 'p':
            s.cpu_cap = atoi(optarg);
            break;
        case 'D':
            s.disk_path = optarg;
            break;
        case 'k':
            s.kernel = optarg;
            break;
        case 'i':
            s.initrd = optarg;
            break;
        case 'l':
            s.cmdline = optarg;
            break;
        case 'S':
            s.console_log = optarg;
            break;
        case 'a':
            s.accel = optarg;
            break;
        default:
            return 64;
        }
    }
    yun_err err = YUN_ERR_INIT;
    if (hv_domain_define(hv, &s, &err) < 0)
        return fail(&err);
    return 0;
}

int main(int argc, char **argv)
{
    const char *uri = NULL;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-c") == 0) {
        uri = argv[2];
        i = 3;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: see the comment at the top of tests/integration/hv_check.c\n");
        return 64;
    }
    const char *op = argv[i];
    int nargs = argc - i - 1;
    char **args = argv + i + 1;
    yun_err err = YUN_ERR_INIT;

    /* Operations without a connection. */
    if (strcmp(op, "overlay") == 0 && nargs == 3)
        return hv_disk_create_overlay(args[0], args[1], strtoull(args[2], NULL, 10), &err) < 0 ? fail(&err) : 0;
    if (strcmp(op, "import") == 0 && nargs == 2) {
        uint64_t mib = 0;
        if (hv_disk_import(args[0], args[1], NULL, &mib, &err) < 0)
            return fail(&err);
        printf("size_mib=%" PRIu64 "\n", mib);
        return 0;
    }
    if (strcmp(op, "rm") == 0 && nargs == 1)
        return hv_disk_remove(args[0], &err) < 0 ? fail(&err) : 0;
    if (strcmp(op, "probe") == 0 && nargs >= 3 && nargs <= 5) {
        hv_probe_opts o = {.kernel = args[0],
                           .initrd = args[1],
                           .cache_path = *args[2] ? args[2] : NULL,
                           .timeout_ms = nargs >= 4 ? atoi(args[3]) : 0,
                           .qemu = nargs == 5 ? args[4] : NULL};
        char accel[8], detail[512];
        if (hv_accel_probe(&o, accel, detail, sizeof detail, &err) < 0)
            return fail(&err);
        printf("accel=%s\ndetail=%s\n", accel, detail);
        return 0;
    }

    yun_hv *hv = hv_libvirt_open(uri, &err);
    if (!hv)
        return fail(&err);
    int rc = 0;
    if (strcmp(op, "node") == 0) {
        hv_node_info ni;
        if (hv_node_info_get(hv, &ni, &err) < 0)
            rc = fail(&err);
        else
            printf("hostname=%s\ncores=%d\nmhz=%d\nmem_mib=%" PRIu64 "\nhypervisor=%s\naccel=%s\n", ni.hostname,
                   ni.cores, ni.mhz, ni.mem_mib, ni.hypervisor, ni.accel);
    } else if (strcmp(op, "list") == 0) {
        hv_domain_info *d = NULL;
        size_t n = 0;
        if (hv_domain_list(hv, &d, &n, &err) < 0)
            rc = fail(&err);
        for (size_t k = 0; k < n; k++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "%zu.", k);
            print_info(&d[k], prefix);
        }
        printf("count=%zu\n", n);
        free(d);
    } else if (strcmp(op, "get") == 0 && nargs == 1) {
        hv_domain_info d;
        if (hv_domain_get(hv, args[0], &d, &err) < 0)
            rc = fail(&err);
        else
            print_info(&d, "");
    } else if (strcmp(op, "define") == 0) {
        rc = define(hv, nargs + 1, args - 1);
    } else if (nargs == 1 && (strcmp(op, "start") == 0 || strcmp(op, "shutdown") == 0 || strcmp(op, "destroy") == 0 ||
                              strcmp(op, "reboot") == 0 || strcmp(op, "undefine") == 0)) {
        int r = strcmp(op, "start") == 0      ? hv_domain_start(hv, args[0], &err)
                : strcmp(op, "shutdown") == 0 ? hv_domain_shutdown(hv, args[0], &err)
                : strcmp(op, "destroy") == 0  ? hv_domain_destroy(hv, args[0], &err)
                : strcmp(op, "reboot") == 0   ? hv_domain_reboot(hv, args[0], &err)
                                              : hv_domain_undefine(hv, args[0], &err);
        if (r < 0)
            rc = fail(&err);
    } else if (strcmp(op, "sched") == 0 && nargs == 3) {
        if (hv_domain_set_sched(hv, args[0], atoi(args[1]), atoi(args[2]), &err) < 0)
            rc = fail(&err);
    } else if (strcmp(op, "setmem") == 0 && nargs == 2) {
        if (hv_domain_set_memory(hv, args[0], strtoull(args[1], NULL, 10), &err) < 0)
            rc = fail(&err);
    } else if (strcmp(op, "migrate") == 0 && (nargs == 2 || nargs == 3)) {
        hv_migrate_opts o = {.dest_uri = args[1], .migrate_uri = nargs == 3 ? args[2] : NULL};
        hv_migrate_stats st;
        if (hv_domain_migrate(hv, args[0], &o, &st, &err) < 0)
            rc = fail(&err);
        else
            printf("total_ms=%" PRId64 "\ndowntime_ms=%" PRId64 "\ndata_mib=%" PRIu64 "\n", st.total_ms, st.downtime_ms,
                   st.data_mib);
    } else {
        fprintf(stderr, "hv-check: unknown operation or wrong arguments: %s\n", op);
        rc = 64;
    }
    hv_close(hv);
    return rc;
}
