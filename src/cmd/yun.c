/* yun: the command-line client. Everything but the process's own setup lives in yun_*.c (yun_cli.h). */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/yun_cli.h"
#include "util/http_client.h"

static const char *env(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    http_global_init();
    cli_ctx ctx = {.out = stdout, .err = stderr, .env = env, .poll_ms = 1000, .wait_timeout_ms = 10L * 60 * 1000};
    int rc = cli_main(&ctx, argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == 0) {
        perror("yun: writing the output");
        rc = 1;
    }
    return rc;
}
