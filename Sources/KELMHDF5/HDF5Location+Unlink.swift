import CHDF5

extension HDF5Location {
    /// Removes the link `path` (a group or dataset) from this location (`H5Ldelete`). The
    /// object's space in the file is not reclaimed. Used to build damaged files in tests.
    public func unlink(_ path: String) throws {
        try h5check(H5Ldelete(id, path, kelm_h5p_default()), "H5Ldelete", childSite(path))
    }
}
