// Monotonic seconds, for timing and budgets (never the wall clock, which can jump).
#ifndef TAP_CLOCK_H
#define TAP_CLOCK_H

double tap_now_seconds(void);

#endif
