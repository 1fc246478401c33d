/*
 * CPUs this process may run on, and pinning a thread to one of them.
 */
#ifndef MP_CPU_H
#define MP_CPU_H

#include <stdint.h>

/* How many CPUs the affinity mask allows (at least 1). Any thread. */
uint32_t mp_cpu_count_usable(void);

/*
 * Pins the calling thread to the index-th allowed CPU (counting from 0,
 * wrapping around).  Best effort: a refusal leaves the thread unpinned.
 */
void mp_cpu_pin_self(uint32_t index);

#endif
