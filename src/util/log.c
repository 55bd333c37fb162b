#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Set once at start-up, before any thread exists; read-only afterwards. */
static const char *log_program = "yun";
static yun_log_level log_threshold = YUN_LOG_INFO;

void yun_log_init(const char *program)
{
    log_program = program;
    const char *l = getenv("YUN_LOG");
    if (!l)
        return;
    if (!strcmp(l, "debug"))
        log_threshold = YUN_LOG_DEBUG;
    else if (!strcmp(l, "warn"))
        log_threshold = YUN_LOG_WARN;
    else if (!strcmp(l, "error"))
        log_threshold = YUN_LOG_ERROR;
}

void yun_log(yun_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < log_threshold)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000),
                     log_program, (int)getpid(), names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* one write per line so lines from several threads do not interleave */
    ssize_t r = write(2, line, (size_t)n);
    (void)r;
}
