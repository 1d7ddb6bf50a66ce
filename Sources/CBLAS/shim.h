#ifndef KELM_CBLAS_SHIM_H
#define KELM_CBLAS_SHIM_H
/* cblas_sgemm plus OpenBLAS's own extensions (openblas_get_corename, openblas_set_num_threads, ...). */
#include <cblas.h>
#endif
