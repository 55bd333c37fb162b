/* proc.h: running another program by an argument vector (never a shell, so nothing is interpreted),
 * collecting what it prints. The one way yun runs a program and waits for it: qemu-img (src/hv), ipmitool
 * and the operators' power commands (src/power). */
#ifndef YUN_UTIL_PROC_H
#define YUN_UTIL_PROC_H

#include "util/buf.h"
#include "util/err.h"

/* Runs argv[0] (searched in PATH) with stdin from /dev/null and, beside the environment, env ("K=V" strings,
 * NULL-terminated; NULL for none: a secret passed there is not on the command line). Collects stdout into
 * out and stderr into errtext (both may be NULL). timeout_ms > 0: the program is killed after that long, and
 * that is an UNAVAILABLE error naming it. Returns the exit status (128 + the signal when killed by one), or -1
 * with err when it could not run at all; package names the Debian package to install when it is missing. */
int proc_run(char *const argv[], char *const env[], int timeout_ms, yun_buf *out, yun_buf *errtext, const char *package,
             yun_err *err);

#endif
