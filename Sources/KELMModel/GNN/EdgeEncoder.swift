import KELMNumerics

/// `gnn.edge_encoder` (shared by all fusion layers): e_st = W_e2 · ReLU(LN(W_e1 · a_st + b_e1)) + b_e2,
/// a_st = onehot(rel) ‖ onehot(type s) ‖ onehot(type t).
///
/// An edge's feature depends only on its (relation, source type, target type), so the encoder
/// runs once over the (2R+3)·3·3 combinations ("kinds") and edges look their kind up.
public final class EdgeEncoder {
    public struct Parameters {
        public let w1: ParameterRef, b1: ParameterRef, normWeight: ParameterRef, normBias: ParameterRef
        public let w2: ParameterRef, b2: ParameterRef

        public init(_ t: inout ParameterTable, config c: FusionConfig) throws {
            let g = c.gnnHidden
            w1 = try t.addWeight("gnn.edge_encoder.0.weight", shape: [g, c.edgeFeatureWidth])
            b1 = try t.addBias("gnn.edge_encoder.0.bias", count: g)
            (normWeight, normBias) = try t.addLayerNorm("gnn.edge_encoder.1", width: g)
            w2 = try t.addWeight("gnn.edge_encoder.2.weight", shape: [g, g])
            b2 = try t.addBias("gnn.edge_encoder.2.bias", count: g)
        }
    }

    static let layerNormEps: Float = 1e-5
    public let p: Parameters
    let config: FusionConfig
    /// Number of edge kinds, (2R+3)·9.
    public let kinds: Int
    let h1: FlatBuffer, mean: FlatBuffer, rstd: FlatBuffer, normed: FlatBuffer, relu: FlatBuffer
    /// [kinds, d_g] the feature of every edge kind.
    public let table: FlatBuffer
    /// [kinds, d_g] gradient of the loss with respect to `table` (the GNN layers add into it).
    public let dTable: FlatBuffer
    let dRelu: FlatBuffer, dNormed: FlatBuffer, dH1: FlatBuffer

    public init(_ p: Parameters, config: FusionConfig) {
        self.p = p
        self.config = config
        kinds = config.edgeRelations * 9
        let n = kinds * config.gnnHidden
        h1 = FlatBuffer(count: n); mean = FlatBuffer(count: kinds); rstd = FlatBuffer(count: kinds)
        normed = FlatBuffer(count: n); relu = FlatBuffer(count: n); table = FlatBuffer(count: n)
        dTable = FlatBuffer(count: n); dRelu = FlatBuffer(count: n); dNormed = FlatBuffer(count: n); dH1 = FlatBuffer(count: n)
    }

    /// The kind of an edge with relation `rel` from a node of type `ts` to one of type `tt`.
    @inlinable
    public static func kind(relation rel: Int32, sourceType ts: Int32, targetType tt: Int32) -> Int {
        (Int(rel) * 3 + Int(ts)) * 3 + Int(tt)
    }

    /// table[kinds, d_g].
    public func forward(params: UnsafeMutablePointer<Float>) {
        let g = config.gnnHidden, F = config.edgeFeatureWidth, R3 = config.edgeRelations
        let w1 = p.w1.pointer(in: params), b1 = p.b1.pointer(in: params)
        for rel in 0..<R3 {
            for ts in 0..<3 {
                for tt in 0..<3 {
                    let row = h1.pointer + ((rel * 3 + ts) * 3 + tt) * g
                    for o in 0..<g {
                        let w = w1 + o * F
                        row[o] = w[rel] + w[R3 + ts] + w[R3 + 3 + tt] + b1[o]
                    }
                }
            }
        }
        LayerNorm.forward(y: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, x: h1.pointer,
                          weight: p.normWeight.pointer(in: params), bias: p.normBias.pointer(in: params),
                          rows: kinds, width: g, eps: Self.layerNormEps)
        ReLU.forward(y: relu.pointer, x: normed.pointer, count: kinds * g)
        Linear.forward(y: table.pointer, x: relu.pointer, weight: p.w2.pointer(in: params), bias: p.b2.pointer(in: params),
                       rows: kinds, inFeatures: g, outFeatures: g)
    }

    /// Adds the parameter gradients for `dTable` (filled by the GNN layers' backward).
    public func backward(params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>?) {
        guard let grads else { return }
        let g = config.gnnHidden, F = config.edgeFeatureWidth, R3 = config.edgeRelations, n = kinds * g
        dRelu.pointer.update(repeating: 0, count: n)
        dNormed.pointer.update(repeating: 0, count: n)
        dH1.pointer.update(repeating: 0, count: n)
        Linear.backward(dx: dRelu.pointer, dWeight: p.w2.pointer(in: grads), dBias: p.b2.pointer(in: grads),
                        dy: dTable.pointer, x: relu.pointer, weight: p.w2.pointer(in: params),
                        rows: kinds, inFeatures: g, outFeatures: g)
        ReLU.backward(dx: dNormed.pointer, dy: dRelu.pointer, x: normed.pointer, count: n)
        LayerNorm.backward(dx: dH1.pointer, dWeight: p.normWeight.pointer(in: grads), dBias: p.normBias.pointer(in: grads),
                           dy: dNormed.pointer, x: h1.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           weight: p.normWeight.pointer(in: params), rows: kinds, width: g)
        let dw1 = p.w1.pointer(in: grads), db1 = p.b1.pointer(in: grads)
        for rel in 0..<R3 {
            for ts in 0..<3 {
                for tt in 0..<3 {
                    let row = dH1.pointer + ((rel * 3 + ts) * 3 + tt) * g
                    for o in 0..<g {
                        let v = row[o]
                        let w = dw1 + o * F
                        w[rel] += v
                        w[R3 + ts] += v
                        w[R3 + 3 + tt] += v
                        db1[o] += v
                    }
                }
            }
        }
    }
}
