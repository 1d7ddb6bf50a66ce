import CHDF5

/// An open group. Create or open one through `HDF5Location`; close it when done.
public final class HDF5Group: HDF5Location {
    init(id: hid_t, site: Site, parent: HDF5Location) {
        super.init(id: id, site: site, parent: parent, closeCall: "H5Gclose", closeFunction: H5Gclose)
    }
}
