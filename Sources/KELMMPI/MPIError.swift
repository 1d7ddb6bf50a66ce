import CMPI

/// A failure of the MPI layer. Every MPI return code is checked by `mpiCheck(_:_:)`, which
/// throws `.callFailed` naming the MPI function and carrying `MPI_Error_string`'s text.
public enum MPIError: Error, Equatable, CustomStringConvertible {
    /// The MPI function `call` returned `code` (not `MPI_SUCCESS`); `message` is MPI's text for it.
    case callFailed(call: String, code: Int32, message: String)
    /// `call` was attempted after `MPIRuntime.finalize()` (MPI cannot be used or re-initialised then).
    case finalized(call: String)
    /// `call` was attempted on a communicator after its `close()`.
    case communicatorClosed(call: String)
    /// The MPI library provides a lower thread level than `MPI_THREAD_FUNNELED`.
    case insufficientThreadSupport(required: Int32, provided: Int32)
    /// An argument was rejected before reaching MPI (e.g. a count that does not fit MPI's `int`).
    case invalidArgument(call: String, reason: String)

    /// A one-line text naming the MPI call and the cause.
    public var description: String {
        switch self {
        case let .callFailed(call, code, message):
            return "\(call) failed with error \(code): \(message)"
        case let .finalized(call):
            return "\(call) called after MPI was finalized"
        case let .communicatorClosed(call):
            return "\(call) called on a closed communicator"
        case let .insufficientThreadSupport(required, provided):
            return "MPI_Init_thread provided thread level \(provided), need at least \(required) (MPI_THREAD_FUNNELED)"
        case let .invalidArgument(call, reason):
            return "\(call): invalid argument: \(reason)"
        }
    }
}

/// The one place where MPI return codes are checked: throws `MPIError.callFailed` naming `call`
/// unless `code` is `MPI_SUCCESS`.
@inline(__always)
func mpiCheck(_ code: Int32, _ call: String) throws {
    if code != kelm_mpi_success() {
        throw MPIError.callFailed(call: call, code: code, message: mpiErrorString(code))
    }
}

/// MPI's text for an error code (`MPI_Error_string`), or a generic text if even that fails.
func mpiErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(kelm_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    let rc = MPI_Error_string(code, &buffer, &length)
    guard rc == kelm_mpi_success(), length > 0 else { return "unknown MPI error code \(code)" }
    let bytes = buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Converts an element count, rank or key to MPI's `int`, throwing if it does not fit.
func mpiInt(_ value: Int, _ call: String, _ what: String) throws -> Int32 {
    guard let converted = Int32(exactly: value) else {
        throw MPIError.invalidArgument(call: call, reason: "\(what) \(value) does not fit in MPI's int")
    }
    return converted
}
