import CHDF5

extension HDF5File {
    /// Makes the groups and datasets created from now on use the HDF5 1.8 object formats
    /// (`H5Fset_libver_bounds(V18, V18)`), whose metadata (object headers, link storage) carries
    /// checksums that HDF5 verifies when reading. With the default (earliest) formats a flipped
    /// byte in a file's metadata goes unnoticed or can crash the reader; with these it is an
    /// error. Files stay readable by HDF5 1.8 and later (h5py included). Call it right after
    /// `create`.
    public func useChecksummedFormat() throws {
        try h5check(H5Fset_libver_bounds(id, H5F_LIBVER_V18, H5F_LIBVER_V18), "H5Fset_libver_bounds", site)
    }
}
