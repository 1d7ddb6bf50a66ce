/// The superblock of a file image taken with `H5Fget_file_image`.
///
/// HDF5 1.10 (Debian's 1.10.8) clears the superblock's status flags in the image it returns but,
/// for superblock versions 2 and 3 (the checksummed 1.8 formats), leaves the superblock checksum
/// of the live file in place, so the image does not open ("incorrect metadata checksum"). The
/// checksum is HDF5's Jenkins lookup3 over the superblock's fields; it is recomputed here when it
/// does not match (an image from a library without the bug is left untouched).
enum HDF5FileImage {
    /// Repairs the superblock checksum of `image` in place if it is wrong; returns whether it did.
    @discardableResult
    static func repairSuperblockChecksum(_ image: inout [UInt8]) -> Bool {
        // signature (8), version (1), size of offsets (1), size of lengths (1), flags (1), then four
        // addresses (base, extension, end of file, root object header), then the checksum
        guard image.count >= 12, image[0] == 0x89, image[1] == 0x48, image[2] == 0x44, image[3] == 0x46,
              image[8] == 2 || image[8] == 3 else { return false }
        let covered = 12 + 4 * Int(image[9])
        guard image.count >= covered + 4 else { return false }
        let computed = lookup3(image[0..<covered])
        let stored = UInt32(image[covered]) | UInt32(image[covered + 1]) << 8 | UInt32(image[covered + 2]) << 16 | UInt32(image[covered + 3]) << 24
        guard stored != computed else { return false }
        for k in 0..<4 { image[covered + k] = UInt8(truncatingIfNeeded: computed >> (8 * k)) }
        return true
    }

    /// Bob Jenkins' lookup3 `hashlittle` with initial value 0, as HDF5's `H5_checksum_lookup3`.
    static func lookup3(_ key: ArraySlice<UInt8>) -> UInt32 {
        @inline(__always) func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }
        var length = key.count
        var a = UInt32(0xDEAD_BEEF) &+ UInt32(truncatingIfNeeded: length)
        var b = a, c = a
        var i = key.startIndex
        func word(_ j: Int) -> UInt32 {
            var w: UInt32 = 0
            for k in 0..<4 where j + k < key.endIndex { w |= UInt32(key[j + k]) << (8 * UInt32(k)) }
            return w
        }
        while length > 12 {
            a = a &+ word(i); b = b &+ word(i + 4); c = c &+ word(i + 8)
            a = a &- c; a ^= rot(c, 4); c = c &+ b
            b = b &- a; b ^= rot(a, 6); a = a &+ c
            c = c &- b; c ^= rot(b, 8); b = b &+ a
            a = a &- c; a ^= rot(c, 16); c = c &+ b
            b = b &- a; b ^= rot(a, 19); a = a &+ c
            c = c &- b; c ^= rot(b, 4); b = b &+ a
            length -= 12
            i += 12
        }
        if length == 0 { return c }
        a = a &+ word(i); b = b &+ word(i + 4); c = c &+ word(i + 8)
        c ^= b; c = c &- rot(b, 14)
        a ^= c; a = a &- rot(c, 11)
        b ^= a; b = b &- rot(a, 25)
        c ^= b; c = c &- rot(b, 16)
        a ^= c; a = a &- rot(c, 4)
        b ^= a; b = b &- rot(a, 14)
        c ^= b; c = c &- rot(b, 24)
        return c
    }
}
