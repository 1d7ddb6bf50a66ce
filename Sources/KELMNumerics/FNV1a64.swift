/// The 64-bit FNV-1a hash (Fowler–Noll–Vo): for each byte, `h = (h XOR byte) · prime`,
/// starting from the offset basis, with wrapping multiplication. Digests that ranks compare
/// (configuration, parameter layout, shared gradient buckets) use it.
public enum FNV1a64 {
    /// The FNV-1a 64 offset basis.
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The FNV 64-bit prime.
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The hash of `bytes`.
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var h = offsetBasis
        mix(&h, bytes)
        return h
    }

    /// Continues the hash `h` over `bytes` (start from `offsetBasis`): hashing in parts gives
    /// the hash of the concatenation.
    public static func mix<Bytes: Sequence>(_ h: inout UInt64, _ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* prime
        }
    }

    /// FNV-1a over 32-bit words instead of bytes (one xor and multiply per word: four times
    /// fewer steps over a float tensor's bits or a list of ids); a digest ranks compare, not the
    /// byte-wise hash.
    public static func hash(words: UnsafeBufferPointer<UInt32>) -> UInt64 {
        var h = offsetBasis
        for w in words { h = (h ^ UInt64(w)) &* prime }
        return h
    }
}
