/// CRC-32 as zlib computes it (IEEE 802.3 polynomial, reflected, initial value and final XOR
/// 0xFFFFFFFF), so Python's `zlib.crc32(array.tobytes())` gives the same number.
///
/// Checkpoints and dataset files store it in the `crc32` attribute of every dataset (the checksum
/// of the stored little-endian bytes), and loading compares: HDF5 keeps no checksum of raw data,
/// so a flipped byte would otherwise load silently.
public enum CRC32 {
    /// 16 × 256 lookup tables for slicing-by-16 (table 0 is the classic byte-wise table).
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 16 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<16 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }()

    /// The CRC-32 of `bytes`, continuing from `crc` (the checksum of the preceding bytes; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        let n = bytes.count
        tables.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            var i = 0
            let p = base.assumingMemoryBound(to: UInt8.self)
            while i + 16 <= n {
                let r = UnsafeRawPointer(p + i)
                let w0 = UInt32(littleEndian: r.loadUnaligned(as: UInt32.self)) ^ c
                let w1 = UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                let w2 = UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                let w3 = UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                let a = t[15 * 256 + Int(w0 & 0xFF)] ^ t[14 * 256 + Int((w0 >> 8) & 0xFF)]
                    ^ t[13 * 256 + Int((w0 >> 16) & 0xFF)] ^ t[12 * 256 + Int(w0 >> 24)]
                let b = t[11 * 256 + Int(w1 & 0xFF)] ^ t[10 * 256 + Int((w1 >> 8) & 0xFF)]
                    ^ t[9 * 256 + Int((w1 >> 16) & 0xFF)] ^ t[8 * 256 + Int(w1 >> 24)]
                let d = t[7 * 256 + Int(w2 & 0xFF)] ^ t[6 * 256 + Int((w2 >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((w2 >> 16) & 0xFF)] ^ t[4 * 256 + Int(w2 >> 24)]
                let e = t[3 * 256 + Int(w3 & 0xFF)] ^ t[2 * 256 + Int((w3 >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((w3 >> 16) & 0xFF)] ^ t[Int(w3 >> 24)]
                c = a ^ b ^ d ^ e
                i += 16
            }
            while i < n {
                c = t[Int((c ^ UInt32(p[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return ~c
    }

    /// The CRC-32 of the little-endian bytes of `values` (this machine is little-endian, as
    /// every platform Swift runs kelm-dist on).
    public static func checksum<T>(_ values: UnsafeBufferPointer<T>) -> UInt32 {
        checksum(UnsafeRawBufferPointer(values))
    }

    /// The CRC-32 of the little-endian bytes of `values`.
    public static func checksum<T>(_ values: [T]) -> UInt32 {
        values.withUnsafeBufferPointer { checksum($0) }
    }
}
