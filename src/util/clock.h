/* clock.h: time in milliseconds. */
#ifndef YUN_UTIL_CLOCK_H
#define YUN_UTIL_CLOCK_H

#include <stdint.h>

int64_t yun_now_ms(void);       /* wall clock, ms since the epoch: for timestamps that are stored */
int64_t yun_mono_ms(void);      /* monotonic ms: for timeouts and durations */
double yun_mono_s(void);        /* monotonic seconds with ns resolution: for benchmarks and step timing */
void yun_sleep_ms(int64_t ms);

#endif
