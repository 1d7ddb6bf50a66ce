/// LayerNorm over the last dimension: y = (x − μ)/sqrt(σ² + ε) · w + b (biased variance, as PyTorch).
///
/// Rows are independent: they are split over the compute threads; within a row the sums run
/// eight lanes at a time (two passes over the row, which is in L1 by then).
public enum LayerNorm {
    /// Rows per parallel piece for a row of `width` floats.
    static func grain(width: Int) -> Int { max(1, 16384 / max(width, 1)) }

    /// y[rows, width]; mean[rows] and rstd[rows] are saved for backward. `y` may not alias `x`.
    public static func forward(
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, width: Int, eps: Float
    ) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.layerNorm, kp) }
        typealias State = (y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                           x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, width: Int, eps: Float)
        Parallel.forRanges(rows, grain: grain(width: width), align: 1,
                           with: State(y, mean, rstd, x, weight, bias, width, eps)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            LayerNorm.forwardRows(lower..<upper, y: s.y, mean: s.mean, rstd: s.rstd, x: s.x, weight: s.weight,
                                  bias: s.bias, width: s.width, eps: s.eps)
        }
    }

    static func forwardRows(
        _ range: Range<Int>, y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, width: Int, eps: Float
    ) {
        let n = Float(width)
        for r in range {
            let xr = x + r * width
            let yr = y + r * width
            let mu = VectorMath.sum(xr, count: width) / n
            let m = VectorMath.V(repeating: mu)
            var acc = VectorMath.V()
            var i = 0
            while i + 8 <= width {
                let d = VectorMath.load(xr + i) - m
                acc += d * d
                i += 8
            }
            var sq = VectorMath.sum(acc)
            while i < width { let d = xr[i] - mu; sq += d * d; i += 1 }
            let s = 1 / (sq / n + eps).squareRoot()
            i = 0
            while i + 8 <= width {
                let v = (VectorMath.load(xr + i) - m) * s * VectorMath.load(weight + i) + VectorMath.load(bias + i)
                VectorMath.store(v, yr + i)
                i += 8
            }
            while i < width { yr[i] = (xr[i] - mu) * s * weight[i] + bias[i]; i += 1 }
            mean[r] = mu
            rstd[r] = s
        }
    }

    /// dx += rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) with ĝ = dy ⊙ w; dw += Σ dy ⊙ x̂; db += Σ dy.
    /// With `accumulate` false, dx is overwritten (no zeroing needed first; the parameter
    /// gradients are always added to). `dx` may alias `dy`.
    public static func backward(
        dx: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, width: Int, accumulate: Bool = true
    ) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.layerNorm, kp) }
        let chunks = Parallel.chunkCount(rows, grain: grain(width: width), perThread: 1)
        if chunks <= 1 {
            backwardRows(0..<rows, dx: dx, dWeight: dWeight, dBias: dBias, dy: dy, x: x, mean: mean, rstd: rstd,
                         weight: weight, width: width, accumulate: accumulate)
            return
        }
        // per-chunk partial sums of dw and db, added in chunk order (deterministic)
        let partial = Parallel.scratch(chunks * 2 * width)
        typealias State = (dx: UnsafeMutablePointer<Float>, dWeight: Bool, dBias: Bool, dy: UnsafePointer<Float>,
                           x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                           weight: UnsafePointer<Float>, rows: Int, width: Int, accumulate: Bool,
                           partial: UnsafeMutablePointer<Float>, chunks: Int)
        let state = State(dx, dWeight != nil, dBias != nil, dy, x, mean, rstd, weight, rows, width, accumulate, partial, chunks)
        Parallel.run(chunks: chunks, with: state) { raw, c, _ in
            let s = raw.load(as: State.self)
            let p = s.partial + c * 2 * s.width
            p.update(repeating: 0, count: 2 * s.width)
            LayerNorm.backwardRows(Parallel.piece(c, of: s.chunks, count: s.rows), dx: s.dx,
                                   dWeight: s.dWeight ? p : nil, dBias: s.dBias ? p + s.width : nil, dy: s.dy, x: s.x,
                                   mean: s.mean, rstd: s.rstd, weight: s.weight, width: s.width, accumulate: s.accumulate)
        }
        for c in 0..<chunks {
            let p = partial + c * 2 * width
            if let dWeight { ElementWise.accumulate(dWeight, p, count: width) }
            if let dBias { ElementWise.accumulate(dBias, p + width, count: width) }
        }
    }

    static func backwardRows(
        _ range: Range<Int>, dx: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        width: Int, accumulate: Bool
    ) {
        let n = Float(width)
        for r in range {
            let xr = x + r * width
            let dyr = dy + r * width
            let dxr = dx + r * width
            let mu = mean[r], s = rstd[r]
            let muV = VectorMath.V(repeating: mu)
            var accG = VectorMath.V(), accGX = VectorMath.V()
            var i = 0
            while i + 8 <= width {
                let xh = (VectorMath.load(xr + i) - muV) * s
                let g = VectorMath.load(dyr + i) * VectorMath.load(weight + i)
                accG += g
                accGX += g * xh
                i += 8
            }
            var sumG = VectorMath.sum(accG), sumGX = VectorMath.sum(accGX)
            while i < width {
                let xh = (xr[i] - mu) * s
                let g = dyr[i] * weight[i]
                sumG += g
                sumGX += g * xh
                i += 1
            }
            let mG = sumG / n, mGX = sumGX / n
            i = 0
            while i + 8 <= width {
                let xv = VectorMath.load(xr + i), dyv = VectorMath.load(dyr + i)
                let xh = (xv - muV) * s
                if let dWeight { VectorMath.store(VectorMath.load(dWeight + i) + dyv * xh, dWeight + i) }
                if let dBias { VectorMath.store(VectorMath.load(dBias + i) + dyv, dBias + i) }
                let g = s * (dyv * VectorMath.load(weight + i) - mG - xh * mGX)
                VectorMath.store(accumulate ? VectorMath.load(dxr + i) + g : g, dxr + i)
                i += 8
            }
            while i < width {
                let xh = (xr[i] - mu) * s
                let dyv = dyr[i]
                if let dWeight { dWeight[i] += dyv * xh }
                if let dBias { dBias[i] += dyv }
                let g = s * (dyv * weight[i] - mG - xh * mGX)
                dxr[i] = accumulate ? dxr[i] + g : g
                i += 1
            }
        }
    }
}
