import CMPI

/// The MPI datatypes that KELMMPI transfers.
public enum MPIDatatype: Sendable {
    /// `MPI_FLOAT`.
    case float
    /// `MPI_DOUBLE`.
    case double
    /// `MPI_INT32_T`.
    case int32
    /// `MPI_INT64_T`.
    case int64
    /// `MPI_UINT8_T`.
    case uint8

    /// The MPI handle (`MPI_FLOAT`, `MPI_DOUBLE`, `MPI_INT32_T`, `MPI_INT64_T`, `MPI_UINT8_T`).
    var handle: MPI_Datatype {
        switch self {
        case .float: return kelm_mpi_float()
        case .double: return kelm_mpi_double()
        case .int32: return kelm_mpi_int32()
        case .int64: return kelm_mpi_int64()
        case .uint8: return kelm_mpi_uint8()
        }
    }
}

/// A fixed-size element type that MPI can transfer and reduce: it names its MPI datatype.
/// Conform only types whose memory layout is exactly that datatype's (Float, Double, Int32,
/// Int64 and UInt8 conform here).
public protocol MPIScalar {
    /// The MPI datatype with the same size and representation as `Self`.
    static var mpiDatatype: MPIDatatype { get }
}

extension Float: MPIScalar {
    /// `MPI_FLOAT`.
    public static var mpiDatatype: MPIDatatype { .float }
}

extension Double: MPIScalar {
    /// `MPI_DOUBLE`.
    public static var mpiDatatype: MPIDatatype { .double }
}

extension Int32: MPIScalar {
    /// `MPI_INT32_T`.
    public static var mpiDatatype: MPIDatatype { .int32 }
}

extension Int64: MPIScalar {
    /// `MPI_INT64_T`.
    public static var mpiDatatype: MPIDatatype { .int64 }
}

extension UInt8: MPIScalar {
    /// `MPI_UINT8_T`.
    public static var mpiDatatype: MPIDatatype { .uint8 }
}

/// A reduction operation for `Communicator.allReduce`.
public enum MPIReduceOp: Sendable {
    /// Element-wise sum (`MPI_SUM`).
    case sum
    /// Element-wise maximum (`MPI_MAX`).
    case max
    /// Element-wise minimum (`MPI_MIN`).
    case min

    var handle: MPI_Op {
        switch self {
        case .sum: return kelm_mpi_sum()
        case .max: return kelm_mpi_max()
        case .min: return kelm_mpi_min()
        }
    }
}
