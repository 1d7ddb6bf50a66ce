#if canImport(Glibc)
import Glibc
#endif
import KELMNumerics

/// Gradient work buffers shared by all GNN layers (backward runs one layer at a time).
public final class GNNLayerScratch {
    let dz: FlatBuffer, dq: FlatBuffer, dkmz: FlatBuffer, dkme: FlatBuffer
    let dk: FlatBuffer, dm: FlatBuffer, dAlpha: FlatBuffer, dAgg: FlatBuffer
    let dO1: FlatBuffer, dNormed: FlatBuffer, dRelu: FlatBuffer, dO2: FlatBuffer, dGelu: FlatBuffer

    public init(config c: FusionConfig, maxNodes: Int, maxEdges: Int, kinds: Int) {
        let g = c.gnnHidden
        dz = FlatBuffer(count: maxNodes * 2 * g); dq = FlatBuffer(count: maxNodes * g)
        dkmz = FlatBuffer(count: maxNodes * 2 * g); dkme = FlatBuffer(count: kinds * 2 * g)
        dk = FlatBuffer(count: maxEdges * g); dm = FlatBuffer(count: maxEdges * g)
        dAlpha = FlatBuffer(count: maxEdges * c.gnnHeads); dAgg = FlatBuffer(count: maxNodes * g)
        dO1 = FlatBuffer(count: maxNodes * g); dNormed = FlatBuffer(count: maxNodes * g)
        dRelu = FlatBuffer(count: maxNodes * g); dO2 = FlatBuffer(count: maxNodes * g); dGelu = FlatBuffer(count: maxNodes * g)
        nodeWide = [dO1, dNormed, dRelu, dO2, dGelu, dAgg, dq]
    }

    /// The [N, d_g] buffers, zeroed together before each layer's backward.
    let nodeWide: [FlatBuffer]
}

/// `gnn.layers.<ℓ>`: graph attention over each node's incoming edges (DESIGN §2).
///
/// z_v = [x_v ; u_v]; q_t = W_q z_t + b_q; k_st = W_k [z_s ; e_st] + b_k; m_st = W_m [z_s ; e_st] + b_m;
/// α = softmax over the incoming edges of t of q_t·k_st/√(d_g/H_g), per head;
/// x_t ← Dropout(GELU(W_o2 · ReLU(LN(W_o1 Σ_s α_st m_st + b_o1)) + b_o2)).
/// The key and message projections split into a node part (one `sgemm` over nodes) and an
/// edge-kind part (one `sgemm` over the edge kinds); edges only gather and add.
public final class GNNLayer {
    public struct Parameters {
        public let query: ParameterRef
        /// key.weight then message.weight, back to back: one [2d_g, 3d_g] matrix.
        public let keyMessage: ParameterRef
        public let queryBias: ParameterRef
        /// key.bias then message.bias: one [2d_g] vector.
        public let keyMessageBias: ParameterRef
        public let o1: ParameterRef, o1Bias: ParameterRef, normWeight: ParameterRef, normBias: ParameterRef
        public let o2: ParameterRef, o2Bias: ParameterRef

        public init(_ t: inout ParameterTable, layer: Int, config c: FusionConfig) throws {
            let g = c.gnnHidden, pre = "gnn.layers.\(layer)."
            query = try t.addWeight(pre + "query.weight", shape: [g, 2 * g])
            let k = try t.addWeight(pre + "key.weight", shape: [g, 3 * g])
            try t.addWeight(pre + "message.weight", shape: [g, 3 * g])
            keyMessage = ParameterRef(offset: k.offset, count: 6 * g * g)
            queryBias = try t.addBias(pre + "query.bias", count: g)
            let kb = try t.addBias(pre + "key.bias", count: g)
            try t.addBias(pre + "message.bias", count: g)
            keyMessageBias = ParameterRef(offset: kb.offset, count: 2 * g)
            o1 = try t.addWeight(pre + "out.0.weight", shape: [g, g])
            o1Bias = try t.addBias(pre + "out.0.bias", count: g)
            (normWeight, normBias) = try t.addLayerNorm(pre + "out.1", width: g)
            o2 = try t.addWeight(pre + "out.2.weight", shape: [g, g])
            o2Bias = try t.addBias(pre + "out.2.bias", count: g)
        }
    }

    static let layerNormEps: Float = 1e-5
    public let p: Parameters
    public let index: Int
    let config: FusionConfig
    let nodeType: ParameterRef
    var input: UnsafePointer<Float>? = nil
    let z: FlatBuffer, q: FlatBuffer, kmz: FlatBuffer, kme: FlatBuffer
    let k: FlatBuffer, m: FlatBuffer, alpha: FlatBuffer, agg: FlatBuffer
    let o1: FlatBuffer, mean: FlatBuffer, rstd: FlatBuffer, normed: FlatBuffer, relu: FlatBuffer, o2: FlatBuffer
    let dropMask: FlatBuffer
    /// [N, d_g] the layer's output node states.
    public let output: FlatBuffer
    private var dropoutApplied = false

    public init(_ p: Parameters, index: Int, nodeType: ParameterRef, config c: FusionConfig,
                maxNodes: Int, maxEdges: Int, kinds: Int) {
        self.p = p
        self.index = index
        self.nodeType = nodeType
        config = c
        let g = c.gnnHidden
        z = FlatBuffer(count: maxNodes * 2 * g); q = FlatBuffer(count: maxNodes * g)
        kmz = FlatBuffer(count: maxNodes * 2 * g); kme = FlatBuffer(count: kinds * 2 * g)
        k = FlatBuffer(count: maxEdges * g); m = FlatBuffer(count: maxEdges * g)
        alpha = FlatBuffer(count: maxEdges * c.gnnHeads); agg = FlatBuffer(count: maxNodes * g)
        o1 = FlatBuffer(count: maxNodes * g); mean = FlatBuffer(count: maxNodes); rstd = FlatBuffer(count: maxNodes)
        normed = FlatBuffer(count: maxNodes * g); relu = FlatBuffer(count: maxNodes * g); o2 = FlatBuffer(count: maxNodes * g)
        dropMask = FlatBuffer(count: c.gnnDropout > 0 ? maxNodes * g : 0)
        output = FlatBuffer(count: maxNodes * g)
    }

    /// output[N, d_g] = layer(x[N, d_g]) over `graph`; `edges` is the edge encoder (its table
    /// must be current). `x` must stay valid until backward.
    public func forward(x: UnsafePointer<Float>, graph: GraphBatch, edges: EdgeEncoder, text: TokenBatch,
                        params: UnsafeMutablePointer<Float>, mode: ForwardMode) {
        let g = config.gnnHidden, H = config.gnnHeads, dh = g / H, N = graph.nodes, E = graph.edges
        let scale = 1 / Float(dh).squareRoot()
        input = x
        // z = [x ; U[type]]
        let U = nodeType.pointer(in: params)
        for v in 0..<N {
            let row = z.pointer + v * 2 * g
            row.update(from: x + v * g, count: g)
            (row + g).update(from: U + Int(graph.nodeType.pointer[v]) * g, count: g)
        }
        let km = p.keyMessage.pointer(in: params)
        Linear.forward(y: q.pointer, x: z.pointer, weight: p.query.pointer(in: params), bias: p.queryBias.pointer(in: params),
                       rows: N, inFeatures: 2 * g, outFeatures: g)
        // node part: [N, 2g] = z · W_km[:, 0:2g]ᵀ ; kind part: [kinds, 2g] = e · W_km[:, 2g:3g]ᵀ + b
        Linear.forward(y: kmz.pointer, x: z.pointer, weight: km, bias: nil, rows: N, inFeatures: 2 * g,
                       outFeatures: 2 * g, ldw: 3 * g)
        Linear.forward(y: kme.pointer, x: edges.table.pointer, weight: km + 2 * g, bias: p.keyMessageBias.pointer(in: params),
                       rows: edges.kinds, inFeatures: g, outFeatures: 2 * g, ldw: 3 * g)
        for e in 0..<E {
            let s = Int(graph.edgeSource.pointer[e]), t = Int(graph.edgeTarget.pointer[e])
            let kind = EdgeEncoder.kind(relation: graph.edgeRelation.pointer[e], sourceType: graph.nodeType.pointer[s],
                                        targetType: graph.nodeType.pointer[t])
            let a = kmz.pointer + s * 2 * g, b = kme.pointer + kind * 2 * g
            let ke = k.pointer + e * g, me = m.pointer + e * g
            for c in 0..<g {
                ke[c] = a[c] + b[c]
                me[c] = a[g + c] + b[g + c]
            }
        }
        // attention over incoming edges, per head
        agg.pointer.update(repeating: 0, count: N * g)
        for t in 0..<N {
            let start = Int(graph.incomingPtr.pointer[t]), end = Int(graph.incomingPtr.pointer[t + 1])
            if start == end { continue }
            let qt = q.pointer + t * g, out = agg.pointer + t * g
            for h in 0..<H {
                var mx = -Float.infinity
                for i in start..<end {
                    let e = Int(graph.incomingOrder.pointer[i])
                    let ke = k.pointer + e * g + h * dh
                    var s: Float = 0
                    for c in 0..<dh { s += qt[h * dh + c] * ke[c] }
                    s *= scale
                    alpha.pointer[e * H + h] = s
                    mx = max(mx, s)
                }
                var sum: Float = 0
                for i in start..<end {
                    let e = Int(graph.incomingOrder.pointer[i])
                    let v = expf(alpha.pointer[e * H + h] - mx)
                    alpha.pointer[e * H + h] = v
                    sum += v
                }
                let inv = 1 / sum
                for i in start..<end {
                    let e = Int(graph.incomingOrder.pointer[i])
                    let a = alpha.pointer[e * H + h] * inv
                    alpha.pointer[e * H + h] = a
                    let me = m.pointer + e * g + h * dh
                    for c in 0..<dh { out[h * dh + c] += a * me[c] }
                }
            }
        }
        // output MLP
        Linear.forward(y: o1.pointer, x: agg.pointer, weight: p.o1.pointer(in: params), bias: p.o1Bias.pointer(in: params),
                       rows: N, inFeatures: g, outFeatures: g)
        LayerNorm.forward(y: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, x: o1.pointer,
                          weight: p.normWeight.pointer(in: params), bias: p.normBias.pointer(in: params),
                          rows: N, width: g, eps: Self.layerNormEps)
        ReLU.forward(y: relu.pointer, x: normed.pointer, count: N * g)
        Linear.forward(y: o2.pointer, x: relu.pointer, weight: p.o2.pointer(in: params), bias: p.o2Bias.pointer(in: params),
                       rows: N, inFeatures: g, outFeatures: g)
        GELU.forward(y: output.pointer, x: o2.pointer, count: N * g)
        dropoutApplied = mode.dropout && config.gnnDropout > 0
        if dropoutApplied {
            for b in 0..<graph.graphs {
                let start = Int(graph.nodePtr.pointer[b]), end = Int(graph.nodePtr.pointer[b + 1])
                let ctx = DropoutContext(rate: config.gnnDropout, seed: mode.seed, epoch: mode.epoch,
                                         sampleIndices: UnsafePointer(text.sampleIndices + b))
                Dropout.makeMask(mask: dropMask.pointer + start * g, items: 1, perItem: (end - start) * g,
                                 site: DropoutSite.gnnOutput(index), context: ctx)
            }
            Dropout.forward(y: output.pointer, x: output.pointer, mask: dropMask.pointer, count: N * g)
        }
    }

    /// Adds into `dInput` ([N, d_g]) the gradient for `dOutput`, into `edges.dTable` the
    /// gradient of the edge features, and into the parameter gradients (`grads` nil = frozen;
    /// the node-type table gets its gradient too).
    public func backward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, graph: GraphBatch,
                         edges: EdgeEncoder, params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>?,
                         scratch s: GNNLayerScratch) {
        let g = config.gnnHidden, H = config.gnnHeads, dh = g / H, N = graph.nodes, E = graph.edges
        let scale = 1 / Float(dh).squareRoot()
        guard input != nil else { preconditionFailure("GNNLayer.backward before forward") }
        for b in s.nodeWide {
            b.pointer.update(repeating: 0, count: N * g)
        }
        s.dz.pointer.update(repeating: 0, count: N * 2 * g)
        s.dkmz.pointer.update(repeating: 0, count: N * 2 * g)
        s.dkme.pointer.update(repeating: 0, count: edges.kinds * 2 * g)
        s.dk.pointer.update(repeating: 0, count: E * g)
        s.dm.pointer.update(repeating: 0, count: E * g)

        // output MLP, in reverse
        var dOut2 = dOutput
        if dropoutApplied {
            Dropout.backward(dx: s.dGelu.pointer, dy: dOutput, mask: dropMask.pointer, count: N * g)
            dOut2 = UnsafePointer(s.dGelu.pointer)
        }
        GELU.backward(dx: s.dO2.pointer, dy: dOut2, x: o2.pointer, count: N * g)
        Linear.backward(dx: s.dRelu.pointer, dWeight: p.o2.gradient(in: grads), dBias: p.o2Bias.gradient(in: grads),
                        dy: s.dO2.pointer, x: relu.pointer, weight: p.o2.pointer(in: params), rows: N, inFeatures: g, outFeatures: g)
        ReLU.backward(dx: s.dNormed.pointer, dy: s.dRelu.pointer, x: normed.pointer, count: N * g)
        LayerNorm.backward(dx: s.dO1.pointer, dWeight: p.normWeight.gradient(in: grads), dBias: p.normBias.gradient(in: grads),
                           dy: s.dNormed.pointer, x: o1.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           weight: p.normWeight.pointer(in: params), rows: N, width: g)
        Linear.backward(dx: s.dAgg.pointer, dWeight: p.o1.gradient(in: grads), dBias: p.o1Bias.gradient(in: grads),
                        dy: s.dO1.pointer, x: agg.pointer, weight: p.o1.pointer(in: params), rows: N, inFeatures: g, outFeatures: g)

        // attention, in reverse: dα = dagg·m, dm = α dagg, dγ = α(dα − Σ α dα), dq += dγ k/√dh, dk = dγ q/√dh
        for t in 0..<N {
            let start = Int(graph.incomingPtr.pointer[t]), end = Int(graph.incomingPtr.pointer[t + 1])
            if start == end { continue }
            let qt = q.pointer + t * g, dqt = s.dq.pointer + t * g, dAggT = s.dAgg.pointer + t * g
            for h in 0..<H {
                var dot: Float = 0
                for i in start..<end {
                    let e = Int(graph.incomingOrder.pointer[i])
                    let a = alpha.pointer[e * H + h]
                    let me = m.pointer + e * g + h * dh, dme = s.dm.pointer + e * g + h * dh
                    var da: Float = 0
                    for c in 0..<dh {
                        da += dAggT[h * dh + c] * me[c]
                        dme[c] += a * dAggT[h * dh + c]
                    }
                    s.dAlpha.pointer[e * H + h] = da
                    dot += a * da
                }
                for i in start..<end {
                    let e = Int(graph.incomingOrder.pointer[i])
                    let dGamma = alpha.pointer[e * H + h] * (s.dAlpha.pointer[e * H + h] - dot) * scale
                    let ke = k.pointer + e * g + h * dh, dke = s.dk.pointer + e * g + h * dh
                    for c in 0..<dh {
                        dqt[h * dh + c] += dGamma * ke[c]
                        dke[c] += dGamma * qt[h * dh + c]
                    }
                }
            }
        }
        // edges: k_e = kmz[s, :g] + kme[kind, :g]; m_e = kmz[s, g:] + kme[kind, g:]
        for e in 0..<E {
            let src = Int(graph.edgeSource.pointer[e]), t = Int(graph.edgeTarget.pointer[e])
            let kind = EdgeEncoder.kind(relation: graph.edgeRelation.pointer[e], sourceType: graph.nodeType.pointer[src],
                                        targetType: graph.nodeType.pointer[t])
            let a = s.dkmz.pointer + src * 2 * g, b = s.dkme.pointer + kind * 2 * g
            let dke = s.dk.pointer + e * g, dme = s.dm.pointer + e * g
            for c in 0..<g {
                a[c] += dke[c]; b[c] += dke[c]
                a[g + c] += dme[c]; b[g + c] += dme[c]
            }
        }
        let km = p.keyMessage.pointer(in: params), dkm = p.keyMessage.gradient(in: grads)
        Linear.backward(dx: edges.dTable.pointer, dWeight: dkm.map { $0 + 2 * g }, dBias: p.keyMessageBias.gradient(in: grads),
                        dy: s.dkme.pointer, x: edges.table.pointer, weight: km + 2 * g,
                        rows: edges.kinds, inFeatures: g, outFeatures: 2 * g, ldw: 3 * g)
        Linear.backward(dx: s.dz.pointer, dWeight: dkm, dBias: nil, dy: s.dkmz.pointer, x: z.pointer, weight: km,
                        rows: N, inFeatures: 2 * g, outFeatures: 2 * g, ldw: 3 * g)
        Linear.backward(dx: s.dz.pointer, dWeight: p.query.gradient(in: grads), dBias: p.queryBias.gradient(in: grads),
                        dy: s.dq.pointer, x: z.pointer, weight: p.query.pointer(in: params), rows: N, inFeatures: 2 * g, outFeatures: g)
        // z = [x ; U[type]]
        let dU = nodeType.gradient(in: grads)
        for v in 0..<N {
            let row = s.dz.pointer + v * 2 * g
            ElementWise.accumulate(dInput + v * g, row, count: g)
            if let dU { ElementWise.accumulate(dU + Int(graph.nodeType.pointer[v]) * g, row + g, count: g) }
        }
    }
}
