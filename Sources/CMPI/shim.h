#ifndef KELM_CMPI_SHIM_H
#define KELM_CMPI_SHIM_H
#include <mpi.h>

/* Open MPI's handles are macros over global objects; Swift cannot import them. */
static inline MPI_Comm kelm_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm kelm_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype kelm_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype kelm_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype kelm_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype kelm_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype kelm_mpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype kelm_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op kelm_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op kelm_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op kelm_mpi_min(void) { return MPI_MIN; }
static inline void *kelm_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler kelm_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int kelm_mpi_success(void) { return MPI_SUCCESS; }
static inline int kelm_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int kelm_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int kelm_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int kelm_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info kelm_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Request kelm_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *kelm_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *kelm_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline MPI_Win kelm_mpi_win_null(void) { return MPI_WIN_NULL; }
static inline int kelm_mpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
static inline int kelm_mpi_tag_ub_key(void) { return MPI_TAG_UB; }
#endif
