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
            for r in 0..<rows {
                let row = y + r * ldy
                if accumulate {
                    for o in 0..<outFeatures { row[o] += bias[o] }
                } else {
                    row.update(from: bias, count: outFeatures)
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
    public static func backward(
        dx: UnsafeMutablePointer<Float>?,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int,
        ldx: Int? = nil, lddx: Int? = nil, lddy: Int? = nil, ldw: Int? = nil
    ) {
        let lddy = lddy ?? outFeatures
        if let dx {
            sgemm(.none, .none, m: rows, n: inFeatures, k: outFeatures,
                  a: dy, lda: lddy, b: weight, ldb: ldw ?? inFeatures,
                  beta: 1, c: dx, ldc: lddx ?? inFeatures)
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
    public static func add(into out: UnsafeMutablePointer<Float>, from m: UnsafePointer<Float>,
                           rows: Int, columns: Int, ld: Int? = nil) {
        let ld = ld ?? columns
        for r in 0..<rows {
            let row = m + r * ld
            for c in 0..<columns { out[c] += row[c] }
        }
    }
}
