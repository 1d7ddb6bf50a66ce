#ifndef KELM_ATOMICS_H
#define KELM_ATOMICS_H
#include <stdint.h>

/* Acquire loads and release stores of 64-bit words that other processes of the node read
 * and write through shared memory (the node-shared gradient reduction's flags). Swift's own
 * atomics need storage Swift allocated; these work on any aligned word, e.g. in an MPI
 * shared-memory window. */
static inline int64_t kelm_atomic_load_acquire(const int64_t *word) {
    return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

static inline void kelm_atomic_store_release(int64_t *word, int64_t value) {
    __atomic_store_n(word, value, __ATOMIC_RELEASE);
}

#endif
