/// LayerNorm over the last dimension: y = (x − μ)/sqrt(σ² + ε) · w + b (biased variance, as PyTorch).
public enum LayerNorm {
    /// y[rows, width]; mean[rows] and rstd[rows] are saved for backward. `y` may not alias `x`.
    public static func forward(
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, width: Int, eps: Float
    ) {
        let n = Float(width)
        for r in 0..<rows {
            let xr = x + r * width
            let yr = y + r * width
            var sum: Float = 0
            for i in 0..<width { sum += xr[i] }
            let mu = sum / n
            var sq: Float = 0
            for i in 0..<width { let d = xr[i] - mu; sq += d * d }
            let s = 1 / (sq / n + eps).squareRoot()
            for i in 0..<width { yr[i] = (xr[i] - mu) * s * weight[i] + bias[i] }
            mean[r] = mu
            rstd[r] = s
        }
    }

    /// dx += rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) with ĝ = dy ⊙ w; dw += Σ dy ⊙ x̂; db += Σ dy.
    public static func backward(
        dx: UnsafeMutablePointer<Float>,
        dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, width: Int
    ) {
        let n = Float(width)
        for r in 0..<rows {
            let xr = x + r * width
            let dyr = dy + r * width
            let dxr = dx + r * width
            let mu = mean[r], s = rstd[r]
            var sumG: Float = 0, sumGX: Float = 0
            for i in 0..<width {
                let xh = (xr[i] - mu) * s
                let g = dyr[i] * weight[i]
                sumG += g
                sumGX += g * xh
            }
            let mG = sumG / n, mGX = sumGX / n
            for i in 0..<width {
                let xh = (xr[i] - mu) * s
                dxr[i] += s * (dyr[i] * weight[i] - mG - xh * mGX)
            }
            if let dWeight { for i in 0..<width { dWeight[i] += dyr[i] * (xr[i] - mu) * s } }
            if let dBias { for i in 0..<width { dBias[i] += dyr[i] } }
        }
    }
}
