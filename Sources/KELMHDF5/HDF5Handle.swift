import CHDF5

/// Owner of one HDF5 identifier (`hid_t`): files, groups, datasets, attributes, and internally
/// dataspaces, datatypes and property lists.
///
/// Call `close()` when done; it checks HDF5's return code. `deinit` closes a handle that is still
/// open only as a safety net, and cannot report a failure.
public class HDF5Handle {
    /// The HDF5 identifier, or `H5I_INVALID_HID` (-1) once closed.
    private(set) var id: hid_t
    /// Where this handle lives, for error messages.
    let site: Site
    /// Name of the C function that closes this kind of handle, e.g. `"H5Dclose"`.
    private let closeCall: String
    /// The C function that closes this kind of handle.
    private let closeFunction: (hid_t) -> herr_t
    /// The file, group or dataset this handle was opened from, kept alive so that a forgotten
    /// handle is closed (by `deinit`) before its file, which could not be closed otherwise.
    private let parent: HDF5Handle?

    init(id: hid_t, site: Site, parent: HDF5Handle?, closeCall: String, closeFunction: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.site = site
        self.parent = parent
        self.closeCall = closeCall
        self.closeFunction = closeFunction
    }

    /// File-system path of the HDF5 file this handle belongs to.
    public var filePath: String { site.file }

    /// Whether the handle is still open.
    public var isOpen: Bool { id >= 0 }

    /// Closes the handle, checking HDF5's return code. Closing a closed handle does nothing.
    /// If closing fails the handle stays open (and `deinit` tries once more).
    public func close() throws {
        guard id >= 0 else { return }
        try h5check(closeFunction(id), closeCall, site)
        id = -1
    }

    /// Closes the handle without checking the result; for cleanup while another error is
    /// already being thrown, and for `deinit` (a safety net: call `close()`).
    func closeDiscardingResult() {
        guard id >= 0 else { return }
        _ = closeFunction(id)
        id = -1
    }

    deinit {
        closeDiscardingResult()
    }
}

/// Runs `body` with `handle` and closes the handle afterwards, checking the close. If `body`
/// throws, the handle is closed without checking and `body`'s error is rethrown.
func withClosing<Handle: HDF5Handle, Result>(_ handle: Handle,
                                             _ body: (Handle) throws -> Result) throws -> Result {
    let result: Result
    do {
        result = try body(handle)
    } catch {
        handle.closeDiscardingResult()
        throw error
    }
    try handle.close()
    return result
}

/// Runs `body` to finish setting up a freshly created `handle` and returns the handle; if `body`
/// throws, the handle is closed without checking and the error rethrown.
func withCleanupOnFailure<Handle: HDF5Handle>(_ handle: Handle, _ body: (Handle) throws -> Void) throws -> Handle {
    do {
        try body(handle)
    } catch {
        handle.closeDiscardingResult()
        throw error
    }
    return handle
}
