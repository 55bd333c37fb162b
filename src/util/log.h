/* log.h: one line per event on stderr: "2026-11-22T04:30:00.123Z yund[123] info: message".
 * The level threshold is read once from YUN_LOG (debug|info|warn|error), default info. */
#ifndef YUN_UTIL_LOG_H
#define YUN_UTIL_LOG_H

typedef enum { YUN_LOG_DEBUG, YUN_LOG_INFO, YUN_LOG_WARN, YUN_LOG_ERROR } yun_log_level;

void yun_log_init(const char *program); /* the name printed before the pid */
void yun_log(yun_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) yun_log(YUN_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) yun_log(YUN_LOG_INFO, __VA_ARGS__)
#define log_warn(...) yun_log(YUN_LOG_WARN, __VA_ARGS__)
#define log_error(...) yun_log(YUN_LOG_ERROR, __VA_ARGS__)

#endif
