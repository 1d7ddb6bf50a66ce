/// Row lookup in an embedding table, with the scatter-add backward.
public enum Embedding {
    /// out[rows, width] (+)= table[ids[r]]. With `accumulate` false, `out` is overwritten.
    public static func forward(out: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>,
                               ids: UnsafePointer<Int32>, rows: Int, width: Int, accumulate: Bool) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.embedding, kp) }
        for r in 0..<rows {
            let src = table + Int(ids[r]) * width
            let dst = out + r * width
            if accumulate {
                for i in 0..<width { dst[i] += src[i] }
            } else {
                dst.update(from: src, count: width)
            }
        }
    }

    /// dTable[ids[r]] += dOut[r] for every row whose id is not `skipId`
    /// (Hugging Face's `padding_idx`: the `[PAD]` row gets no gradient from the input side).
    public static func backward(dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                ids: UnsafePointer<Int32>, rows: Int, width: Int, skipId: Int32? = nil) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.embedding, kp) }
        for r in 0..<rows where ids[r] != skipId {
            let dst = dTable + Int(ids[r]) * width
            let src = dOut + r * width
            for i in 0..<width { dst[i] += src[i] }
        }
    }
}
