/// Where dropout masks come from: the rate and the random coordinates of the batch.
///
/// Mask element j of batch item b at site s is a pure function of
/// (seed, epoch, s, sampleIndex[b], j), so a sample gets the same mask whatever the number of
/// ranks or its position in the micro-batch (DESIGN §6).
public struct DropoutContext {
    public var rate: Float
    public var seed: UInt64
    public var epoch: UInt32
    /// Global sample index of each batch item.
    public var sampleIndices: UnsafePointer<UInt64>

    public init(rate: Float, seed: UInt64, epoch: UInt32, sampleIndices: UnsafePointer<UInt64>) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1)")
        self.rate = rate
        self.seed = seed
        self.epoch = epoch
        self.sampleIndices = sampleIndices
    }

    public var isActive: Bool { rate > 0 }
}

/// Inverted dropout: y = x ⊙ m, m ∈ {0, 1/(1−p)}.
public enum Dropout {
    /// mask[items, perItem] ← 0 with probability p, else 1/(1−p).
    public static func makeMask(mask: UnsafeMutablePointer<Float>, items: Int, perItem: Int,
                                site: UInt32, context: DropoutContext) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.dropout, kp) }
        // items in parallel (each item's mask is its own random stream)
        let parallel = Parallel.chunkCount(items * perItem, grain: 65536) > 1
        typealias State = (mask: UnsafeMutablePointer<Float>, items: Int, perItem: Int, site: UInt32, context: DropoutContext,
                           parallel: Bool)
        Parallel.run(chunks: parallel ? items : 1, with: State(mask, items, perItem, site, context, parallel)) { raw, chunk, _ in
            let s = raw.load(as: State.self)
            for b in (s.parallel ? chunk..<(chunk + 1) : 0..<s.items) {
                Dropout.fillMask(s.mask + b * s.perItem, count: s.perItem, item: b, site: s.site, context: s.context)
            }
        }
    }

    /// One item's mask.
    static func fillMask(_ m: UnsafeMutablePointer<Float>, count perItem: Int, item b: Int, site: UInt32,
                         context: DropoutContext) {
        let keep = 1 / (1 - context.rate)
        let p = context.rate
        let key = RandomKey(seed: context.seed, epoch: context.epoch, purpose: .dropout,
                            stream: site, item: context.sampleIndices[b])
        var j = 0
        while j < perItem {
            let w = key.block(UInt64(j >> 2))
            let n = min(4, perItem - j)
            m[j] = Philox.unitFloat(w.0) < p ? 0 : keep
            if n > 1 { m[j + 1] = Philox.unitFloat(w.1) < p ? 0 : keep }
            if n > 2 { m[j + 2] = Philox.unitFloat(w.2) < p ? 0 : keep }
            if n > 3 { m[j + 3] = Philox.unitFloat(w.3) < p ? 0 : keep }
            j += 4
        }
    }

    /// y = x ⊙ mask (y may alias x).
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                               mask: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.dropout, kp) }
        typealias State = (y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, mask: UnsafePointer<Float>)
        Parallel.forRanges(count, grain: ElementWise.grain, with: State(y, x, mask)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            var i = lower
            while i + 8 <= upper {
                VectorMath.store(VectorMath.load(s.x + i) * VectorMath.load(s.mask + i), s.y + i)
                i += 8
            }
            while i < upper { s.y[i] = s.x[i] * s.mask[i]; i += 1 }
        }
    }

    /// dx += dy ⊙ mask (with `accumulate` false: dx = dy ⊙ mask).
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                mask: UnsafePointer<Float>, count: Int, accumulate: Bool = true) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.dropout, kp) }
        if accumulate {
            ElementWise.accumulateProduct(dx, dy, mask, count: count)
        } else {
            forward(y: dx, x: dy, mask: mask, count: count)
        }
    }
}
