/// A dense layer `y = x · Wᵀ + b` with PyTorch's weight layout `W: [out, in]`.
public enum Linear {
    /// y[rows, out] = x[rows, in] · Wᵀ + b, or y += x · Wᵀ + b with `accumulate`.
    /// - Parameters:
    ///   - ldx, ldy: row strides of `x` and `y` (default: `inFeatures`, `outFeatures`).
    ///   - ldw: row stride of `weight` (default `inFeatures`; wider when `weight` is a column
    ///     slice of a larger matrix).
    public static func forward(
        y: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows: Int, inFeatures: Int, outFeatures: Int,
        ldx: Int? = nil, ldy: Int? = nil, ldw: Int? = nil, accumulate: Bool = false
    ) {
        let ldy = ldy ?? outFeatures
        if let bias {
            let kp = KernelProfile.begin()
            defer { KernelProfile.end(.elementWise, kp) }
            typealias State = (y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, ldy: Int, outFeatures: Int, accumulate: Bool)
            Parallel.forRanges(rows, grain: max(1, 4 * ElementWise.grain / max(outFeatures, 1)), align: 1,
                               with: State(y, bias, ldy, outFeatures, accumulate)) { raw, lower, upper in
                let s = raw.load(as: State.self)
                for r in lower..<upper {
                    let row = s.y + r * s.ldy
                    if s.accumulate {
                        ElementWise.accumulate(row, s.bias, count: s.outFeatures)
                    } else {
                        row.update(from: s.bias, count: s.outFeatures)
                    }
                }
            }
        }
        sgemm(.none, .transposed, m: rows, n: outFeatures, k: inFeatures,
              a: x, lda: ldx ?? inFeatures, b: weight, ldb: ldw ?? inFeatures,
              beta: bias == nil && !accumulate ? 0 : 1, c: y, ldc: ldy)
    }

    /// Adds the gradients of `y = x · Wᵀ + b`:
    /// dx[rows, in] += dy · W, dW[out, in] += dyᵀ · x, db[out] += Σ_rows dy.
    /// Pass nil for a gradient that is not wanted (frozen weights, or no input gradient).
    /// `ldw` is the row stride of `weight` and `dWeight` (a column slice of a wider matrix).
    /// With `accumulateDx` false, dx is overwritten (dx = dy · W: no zeroing needed first);
    /// the parameter gradients are always added to.
    public static func backward(
        dx: UnsafeMutablePointer<Float>?,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int,
        ldx: Int? = nil, lddx: Int? = nil, lddy: Int? = nil, ldw: Int? = nil, accumulateDx: Bool = true
    ) {
        let lddy = lddy ?? outFeatures
        if let dx {
            sgemm(.none, .none, m: rows, n: inFeatures, k: outFeatures,
                  a: dy, lda: lddy, b: weight, ldb: ldw ?? inFeatures,
                  beta: accumulateDx ? 1 : 0, c: dx, ldc: lddx ?? inFeatures)
        }
        if let dWeight {
            sgemm(.transposed, .none, m: outFeatures, n: inFeatures, k: rows,
                  a: dy, lda: lddy, b: x, ldb: ldx ?? inFeatures,
                  beta: 1, c: dWeight, ldc: ldw ?? inFeatures)
        }
        if let dBias {
            ColumnSum.add(into: dBias, from: dy, rows: rows, columns: outFeatures, ld: lddy)
        }
    }
}

/// Column sums of a row-major matrix, added into a vector.
public enum ColumnSum {
    /// out[c] += Σ_r m[r, c]
    /// Columns are split over the compute threads; rows are summed in order.
    public static func add(into out: UnsafeMutablePointer<Float>, from m: UnsafePointer<Float>,
                           rows: Int, columns: Int, ld: Int? = nil) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.columnSum, kp) }
        let ld = ld ?? columns
        // blocks of at most 2048 columns (8 KB of `out`, kept in L1 across the rows), at least
        // one per thread when the sum is worth splitting
        var pieces = (columns + 2047) / 2048
        if Parallel.chunkCount(rows * columns, grain: ElementWise.grain) > 1 { pieces = max(pieces, Parallel.threads) }
        pieces = max(1, min(pieces, (columns + 15) / 16))
        typealias State = (out: UnsafeMutablePointer<Float>, m: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int, pieces: Int)
        Parallel.run(chunks: pieces, with: State(out, m, rows, columns, ld, pieces)) { raw, c, _ in
            let s = raw.load(as: State.self)
            let cols = Parallel.piece(c, of: s.pieces, count: s.columns, align: 16)
            for r in 0..<s.rows {
                let row = s.m + r * s.ld + cols.lowerBound, o = s.out + cols.lowerBound
                var i = 0
                while i + 8 <= cols.count {
                    VectorMath.store(VectorMath.load(o + i) + VectorMath.load(row + i), o + i)
                    i += 8
                }
                while i < cols.count { o[i] += row[i]; i += 1 }
            }
        }
    }
}
