// KELMHDF5: thin owners of HDF5 handles (DESIGN §1). Every HDF5 return code goes through
// `h5check`, which turns a failure into an `HDF5Error` carrying the message from HDF5's error stack.
//
// HDF5 (the serial build used here) is not thread-safe: use these types from one thread at a time.

import CHDF5
import Foundation

/// A failed HDF5 operation: which C call failed, on which object of which file, and why.
///
/// `description` reads like
/// `HDF5 H5Dopen2 failed for /params/lm/x in run/ckpt.h5: unable to open dataset (object 'x' doesn't exist)`.
public struct HDF5Error: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// What kind of failure this is, for callers that branch on it.
    public enum Kind: Equatable, Sendable {
        /// The HDF5 library reported the failure; `message` comes from its error stack.
        case library
        /// The stored element type cannot be read or written as the requested Swift type
        /// (e.g. strings read as `Float`).
        case wrongElementKind
        /// A buffer or value count does not match the element count of the dataset or attribute,
        /// or a shape is unusable for the request.
        case sizeMismatch
        /// A row range lies outside the dataset, or a value does not fit the stored or requested type.
        case outOfRange
        /// An argument HDF5 cannot represent (e.g. a negative dimension, a string containing NUL).
        case invalidArgument
        /// The file still has open groups, datasets or attributes, so it cannot be closed.
        case objectsStillOpen
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// The HDF5 C function that failed (e.g. `"H5Dopen2"`) or that the failed check guards.
    public let call: String
    /// File-system path of the HDF5 file.
    public let filePath: String
    /// Path of the object inside the file (attributes read `/group attribute "name"`).
    public let objectPath: String
    /// Why it failed: HDF5's error-stack message or the failed check.
    public let message: String

    /// Creates an error; `kind` defaults to a library failure.
    public init(kind: Kind = .library, call: String, filePath: String, objectPath: String, message: String) {
        self.kind = kind
        self.call = call
        self.filePath = filePath
        self.objectPath = objectPath
        self.message = message
    }

    /// `HDF5 <call> failed for <object path> in <file path>: <message>`.
    public var description: String {
        "HDF5 \(call) failed for \(objectPath) in \(filePath): \(message)"
    }

    /// Same as `description`, so `localizedDescription` reads well too.
    public var errorDescription: String? { description }
}

/// Where an operation happens, for error messages: the file path and the object inside it.
struct Site {
    let file: String
    let object: String

    /// An error of the given kind at this site (for failures found by our own checks).
    func error(_ kind: HDF5Error.Kind, _ call: String, _ message: String) -> HDF5Error {
        HDF5Error(kind: kind, call: call, filePath: file, objectPath: object, message: message)
    }
}

/// Checks the return code of an HDF5 call and throws an `HDF5Error` naming `call` and `site`
/// when it signals failure (by default: negative, which covers `herr_t`, `hid_t`, `htri_t` and
/// `ssize_t`). The error message is taken from HDF5's error stack.
@discardableResult
func h5check<T: BinaryInteger>(_ result: T, _ call: String, _ site: Site,
                               failed: (T) -> Bool = { $0 < 0 }) throws -> T {
    guard failed(result) else { return result }
    throw site.error(.library, call, takeErrorStackMessage())
}

/// The result of switching off HDF5's automatic printing of error stacks (done once, lazily).
private let automaticErrorPrintingOff: herr_t = H5Eset_auto2(kelm_h5e_default(), nil, nil)

/// Makes sure HDF5 does not print error stacks itself; called before opening or creating files.
func prepareLibrary(_ site: Site) throws {
    try h5check(automaticErrorPrintingOff, "H5Eset_auto2", site)
}

/// Reads the current thread's HDF5 error stack into one line (the next API call clears it).
///
/// The outermost entry says what the API call could not do ("unable to open dataset"), the
/// innermost why ("object 'x' doesn't exist"); the message is `outermost (innermost)`.
private func takeErrorStackMessage() -> String {
    var descriptions: [String] = []
    let walked = withUnsafeMutablePointer(to: &descriptions) { pointer in
        H5Ewalk2(kelm_h5e_default(), H5E_WALK_DOWNWARD, { _, entry, clientData in
            guard let entry, let clientData else { return 0 }
            let descriptions = clientData.assumingMemoryBound(to: [String].self)
            if let text = entry.pointee.desc {
                let description = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
                if !description.isEmpty { descriptions.pointee.append(description) }
            }
            return 0
        }, pointer)
    }
    if walked < 0 { return "HDF5 error stack could not be read" }
    guard let outermost = descriptions.first, let innermost = descriptions.last else {
        return "no message on the HDF5 error stack"
    }
    return outermost == innermost ? outermost : "\(outermost) (\(innermost))"
}
