import CHDF5

/// An open HDF5 file; as an `HDF5Location` it is the root group `/`.
///
/// Close every group, dataset and attribute opened from it before closing the file: `close()`
/// refuses (with `.objectsStillOpen`, naming them) rather than leave the file half-closed.
public final class HDF5File: HDF5Location {
    /// How an existing file is opened.
    public enum Mode: Sendable {
        case readOnly
        case readWrite
    }

    private init(id: hid_t, site: Site) {
        super.init(id: id, site: site, parent: nil, closeCall: "H5Fclose", closeFunction: H5Fclose)
    }

    /// Creates the file `path`, replacing an existing file unless `overwrite` is false (then an
    /// existing file is an error).
    public static func create(_ path: String, overwrite: Bool = true) throws -> HDF5File {
        let site = Site(file: path, object: "/")
        try prepareLibrary(site)
        let flags = overwrite ? kelm_h5f_acc_trunc() : kelm_h5f_acc_excl()
        let id = try withClosing(try PropertyList.fileAccess(site: site)) { access in
            try h5check(H5Fcreate(path, flags, kelm_h5p_default(), access.id), "H5Fcreate", site)
        }
        return HDF5File(id: id, site: site)
    }

    /// Creates a file that lives in memory only (HDF5's core driver without a backing store),
    /// in the checksummed HDF5 1.8 object formats from its superblock on. Nothing touches the
    /// disk: `image()` gives the file's bytes, which the caller writes where and how it wants
    /// (with checked POSIX writes, so a full disk is an error, not a crash inside HDF5).
    public static func createInMemory(name: String, incrementBytes: Int = 1 << 24) throws -> HDF5File {
        let site = Site(file: name, object: "/")
        try prepareLibrary(site)
        let id: hid_t = try withClosing(try PropertyList.fileAccess(site: site)) { (access: PropertyList) -> hid_t in
            try h5check(H5Pset_fapl_core(access.id, incrementBytes, false), "H5Pset_fapl_core", site)
            try h5check(H5Pset_libver_bounds(access.id, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Pset_libver_bounds", site)
            return try h5check(H5Fcreate(name, kelm_h5f_acc_trunc(), kelm_h5p_default(), access.id), "H5Fcreate", site)
        }
        return HDF5File(id: id, site: site)
    }

    /// The bytes of the whole file as it would be on disk (`H5Fget_file_image`, after a flush).
    public func image() throws -> [UInt8] {
        try flush()
        let size = try h5check(H5Fget_file_image(id, nil, 0), "H5Fget_file_image", site)
        var bytes = [UInt8](repeating: 0, count: size)
        let written = try bytes.withUnsafeMutableBytes { buffer in
            try h5check(H5Fget_file_image(id, buffer.baseAddress, size), "H5Fget_file_image", site)
        }
        guard written == size else {
            throw site.error(.sizeMismatch, "H5Fget_file_image", "gave \(written) bytes of \(size)")
        }
        HDF5FileImage.repairSuperblockChecksum(&bytes)
        return bytes
    }

    /// Opens the existing file `path`.
    public static func open(_ path: String, mode: Mode = .readOnly) throws -> HDF5File {
        let site = Site(file: path, object: "/")
        try prepareLibrary(site)
        let flags = mode == .readOnly ? kelm_h5f_acc_rdonly() : kelm_h5f_acc_rdwr()
        let id = try withClosing(try PropertyList.fileAccess(site: site)) { access in
            try h5check(H5Fopen(path, flags, access.id), "H5Fopen", site)
        }
        return HDF5File(id: id, site: site)
    }

    /// Writes HDF5's buffers for this file to the operating system (`H5Fflush`). This is not an
    /// `fsync`; callers that need durability sync the file after closing it.
    public func flush() throws {
        try h5check(H5Fflush(id, H5F_SCOPE_GLOBAL), "H5Fflush", site)
    }

    /// Closes the file. Throws `.objectsStillOpen`, listing them, if groups, datasets or
    /// attributes opened from this file are still open; the file then stays open.
    public override func close() throws {
        guard isOpen else { return }
        let kinds = UInt32(H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL)
        let count = try h5check(H5Fget_obj_count(id, kinds), "H5Fget_obj_count", site)
        if count > 0 {
            var ids = [hid_t](repeating: -1, count: count)
            let listed = try h5check(H5Fget_obj_ids(id, kinds, count, &ids), "H5Fget_obj_ids", site)
            let names = try ids.prefix(listed).map { try describeOpenObject($0) }
            throw site.error(.objectsStillOpen, "H5Fclose",
                             "still open: \(names.joined(separator: ", ")); close them before the file")
        }
        try super.close()
    }

    /// "dataset /a/b", "group /a", "attribute of /a".
    private func describeOpenObject(_ object: hid_t) throws -> String {
        let name = try readName("H5Iget_name", site) { buffer, size in H5Iget_name(object, buffer, size) }
        let type = H5Iget_type(object)
        try h5check(type.rawValue, "H5Iget_type", site)
        switch type {
        case H5I_DATASET: return "dataset \(name)"
        case H5I_GROUP: return "group \(name)"
        case H5I_ATTR: return "attribute of \(name)"
        case H5I_DATATYPE: return "datatype \(name)"
        default: return name
        }
    }
}
