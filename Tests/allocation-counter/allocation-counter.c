// Counts the heap allocations of a process: preloaded (LD_PRELOAD) under the test that checks
// the training step does not allocate (Tests/KELMTrainingTests/StepAllocationTests.swift),
// which reads the counters through dlsym. Every allocation entry point of glibc is wrapped and
// passed on to glibc's own implementation; the counters are atomic (compute threads allocate too).
//
//   cc -O2 -shared -fPIC -o allocation-counter.so allocation-counter.c
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_long allocations;
static atomic_long allocated_bytes;
static atomic_long largest;

static void count(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&allocated_bytes, (long)size, memory_order_relaxed);
    long seen = atomic_load_explicit(&largest, memory_order_relaxed);
    while ((long)size > seen && !atomic_compare_exchange_weak(&largest, &seen, (long)size)) {}
}

/// Allocation calls since the process started.
long kelm_allocation_count(void) { return atomic_load(&allocations); }
/// Bytes requested by those calls.
long kelm_allocated_bytes(void) { return atomic_load(&allocated_bytes); }
/// The largest single request since the last call (which starts a new window).
long kelm_largest_allocation(void) { return atomic_exchange(&largest, 0); }

void *malloc(size_t size) { count(size); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(n * size); return __libc_calloc(n, size); }
void *realloc(void *pointer, size_t size) { count(size); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return 12; // ENOMEM
    *out = p;
    return 0;
}
