/* The functions are static inline in include/kelm_atomics.h; SwiftPM needs one source file. */
#include "kelm_atomics.h"
