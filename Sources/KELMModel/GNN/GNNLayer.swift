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
    }
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
        let g = config.gnnHidden, N = graph.nodes, E = graph.edges
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
        // edges gather: k_e = kmz[s, :g] + kme[kind, :g], m_e = kmz[s, g:] + kme[kind, g:]; then
        // attention over incoming edges, per head, each target node one task (it writes its
        // own agg row and the α of its own incoming edges)
        let kp = KernelProfile.begin()
        let st = attentionState(graph: graph, dAgg: nil, dq: nil, dk: nil, dm: nil, dAlpha: nil)
        Parallel.forRanges(E, grain: max(1, ElementWise.grain / (2 * g)), align: 1, with: st) { raw, lower, upper in
            GNNLayer.gatherEdges(lower..<upper, raw.load(as: AttentionState.self))
        }
        Parallel.forRanges(N, grain: 16, align: 1, with: st) { raw, lower, upper in
            GNNLayer.attendForward(lower..<upper, raw.load(as: AttentionState.self))
        }
        KernelProfile.end(.graph, kp)
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
        let g = config.gnnHidden, N = graph.nodes, E = graph.edges
        guard input != nil else { preconditionFailure("GNNLayer.backward before forward") }
        // every other gradient buffer is written whole by its first kernel (overwrite modes)
        s.dkmz.pointer.update(repeating: 0, count: N * 2 * g)
        s.dkme.pointer.update(repeating: 0, count: edges.kinds * 2 * g)

        // output MLP, in reverse
        var dOut2 = dOutput
        if dropoutApplied {
            Dropout.backward(dx: s.dGelu.pointer, dy: dOutput, mask: dropMask.pointer, count: N * g, accumulate: false)
            dOut2 = UnsafePointer(s.dGelu.pointer)
        }
        GELU.backward(dx: s.dO2.pointer, dy: dOut2, x: o2.pointer, count: N * g, accumulate: false)
        Linear.backward(dx: s.dRelu.pointer, dWeight: p.o2.gradient(in: grads), dBias: p.o2Bias.gradient(in: grads),
                        dy: s.dO2.pointer, x: relu.pointer, weight: p.o2.pointer(in: params), rows: N, inFeatures: g, outFeatures: g,
                        accumulateDx: false)
        ReLU.backward(dx: s.dNormed.pointer, dy: s.dRelu.pointer, x: normed.pointer, count: N * g, accumulate: false)
        LayerNorm.backward(dx: s.dO1.pointer, dWeight: p.normWeight.gradient(in: grads), dBias: p.normBias.gradient(in: grads),
                           dy: s.dNormed.pointer, x: o1.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           weight: p.normWeight.pointer(in: params), rows: N, width: g, accumulate: false)
        Linear.backward(dx: s.dAgg.pointer, dWeight: p.o1.gradient(in: grads), dBias: p.o1Bias.gradient(in: grads),
                        dy: s.dO1.pointer, x: agg.pointer, weight: p.o1.pointer(in: params), rows: N, inFeatures: g, outFeatures: g,
                        accumulateDx: false)

        // attention, in reverse: dα = dagg·m, dm = α dagg, dγ = α(dα − Σ α dα), dq += dγ k/√dh, dk = dγ q/√dh;
        // each target node is one task: it writes its dq row and the dk, dm, dα of its incoming edges
        let kp = KernelProfile.begin()
        let st = attentionState(graph: graph, dAgg: s.dAgg.pointer, dq: s.dq.pointer, dk: s.dk.pointer, dm: s.dm.pointer,
                                dAlpha: s.dAlpha.pointer)
        Parallel.forRanges(N, grain: 16, align: 1, with: st) { raw, lower, upper in
            GNNLayer.attendBackward(lower..<upper, raw.load(as: AttentionState.self))
        }
        // edges scatter: k_e = kmz[s, :g] + kme[kind, :g]; m_e = kmz[s, g:] + kme[kind, g:]
        // (sources and kinds repeat across edges: one thread)
        for e in 0..<E {
            let src = Int(graph.edgeSource.pointer[e]), t = Int(graph.edgeTarget.pointer[e])
            let kind = EdgeEncoder.kind(relation: graph.edgeRelation.pointer[e], sourceType: graph.nodeType.pointer[src],
                                        targetType: graph.nodeType.pointer[t])
            let a = s.dkmz.pointer + src * 2 * g, b = s.dkme.pointer + kind * 2 * g
            let dke = UnsafePointer(s.dk.pointer + e * g), dme = UnsafePointer(s.dm.pointer + e * g)
            GraphKernels.accumulate(a, dke, g)
            GraphKernels.accumulate(b, dke, g)
            GraphKernels.accumulate(a + g, dme, g)
            GraphKernels.accumulate(b + g, dme, g)
        }
        KernelProfile.end(.graph, kp)
        let km = p.keyMessage.pointer(in: params), dkm = p.keyMessage.gradient(in: grads)
        Linear.backward(dx: edges.dTable.pointer, dWeight: dkm.map { $0 + 2 * g }, dBias: p.keyMessageBias.gradient(in: grads),
                        dy: s.dkme.pointer, x: edges.table.pointer, weight: km + 2 * g,
                        rows: edges.kinds, inFeatures: g, outFeatures: 2 * g, ldw: 3 * g)
        Linear.backward(dx: s.dz.pointer, dWeight: dkm, dBias: nil, dy: s.dkmz.pointer, x: z.pointer, weight: km,
                        rows: N, inFeatures: 2 * g, outFeatures: 2 * g, ldw: 3 * g, accumulateDx: false)
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

    /// The pointers the per-edge and per-node loops of one layer read and write.
    struct AttentionState {
        let source: UnsafePointer<Int32>, target: UnsafePointer<Int32>, relation: UnsafePointer<Int32>
        let nodeType: UnsafePointer<Int32>, incomingPtr: UnsafePointer<Int32>, incomingOrder: UnsafePointer<Int32>
        let kmz: UnsafePointer<Float>, kme: UnsafePointer<Float>
        let q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>
        let agg: UnsafeMutablePointer<Float>, alpha: UnsafeMutablePointer<Float>
        let dAgg: UnsafeMutablePointer<Float>?, dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?
        let dm: UnsafeMutablePointer<Float>?, dAlpha: UnsafeMutablePointer<Float>?
        let g: Int, heads: Int, headDim: Int
        let scale: Float
    }

    func attentionState(graph: GraphBatch, dAgg: UnsafeMutablePointer<Float>?, dq: UnsafeMutablePointer<Float>?,
                        dk: UnsafeMutablePointer<Float>?, dm: UnsafeMutablePointer<Float>?,
                        dAlpha: UnsafeMutablePointer<Float>?) -> AttentionState {
        let g = config.gnnHidden, H = config.gnnHeads
        return AttentionState(source: graph.edgeSource.pointer, target: graph.edgeTarget.pointer,
                              relation: graph.edgeRelation.pointer, nodeType: graph.nodeType.pointer,
                              incomingPtr: graph.incomingPtr.pointer, incomingOrder: graph.incomingOrder.pointer,
                              kmz: kmz.pointer, kme: kme.pointer, q: q.pointer, k: k.pointer, m: m.pointer,
                              agg: agg.pointer, alpha: alpha.pointer, dAgg: dAgg, dq: dq, dk: dk, dm: dm, dAlpha: dAlpha,
                              g: g, heads: H, headDim: g / H, scale: 1 / Float(g / H).squareRoot())
    }

    /// k_e = kmz[s, :g] + kme[kind, :g], m_e = kmz[s, g:] + kme[kind, g:] for the edges in `range`.
    static func gatherEdges(_ range: Range<Int>, _ st: AttentionState) {
        let g = st.g
        for e in range {
            let s = Int(st.source[e]), t = Int(st.target[e])
            let kind = EdgeEncoder.kind(relation: st.relation[e], sourceType: st.nodeType[s], targetType: st.nodeType[t])
            let a = st.kmz + s * 2 * g, b = st.kme + kind * 2 * g
            GraphKernels.add(st.k + e * g, a, b, g)
            GraphKernels.add(st.m + e * g, a + g, b + g, g)
        }
    }

    /// α and agg for the target nodes in `range`.
    static func attendForward(_ range: Range<Int>, _ st: AttentionState) {
        let g = st.g, H = st.heads, dh = st.headDim
        for t in range {
            let start = Int(st.incomingPtr[t]), end = Int(st.incomingPtr[t + 1])
            let qt = st.q + t * g, out = st.agg + t * g
            out.update(repeating: 0, count: g)
            if start == end { continue }
            for h in 0..<H {
                var mx = -Float.infinity
                for i in start..<end {
                    let e = Int(st.incomingOrder[i])
                    let s = GraphKernels.dot(qt + h * dh, st.k + e * g + h * dh, dh) * st.scale
                    st.alpha[e * H + h] = s
                    mx = max(mx, s)
                }
                var sum: Float = 0
                for i in start..<end {
                    let e = Int(st.incomingOrder[i])
                    let v = expf(st.alpha[e * H + h] - mx)
                    st.alpha[e * H + h] = v
                    sum += v
                }
                let inv = 1 / sum
                for i in start..<end {
                    let e = Int(st.incomingOrder[i])
                    let a = st.alpha[e * H + h] * inv
                    st.alpha[e * H + h] = a
                    GraphKernels.axpy(out + h * dh, a, st.m + e * g + h * dh, dh)
                }
            }
        }
    }

    /// dq of the target nodes in `range` and dk, dm, dα of their incoming edges.
    static func attendBackward(_ range: Range<Int>, _ st: AttentionState) {
        let g = st.g, H = st.heads, dh = st.headDim
        guard let dAgg = st.dAgg, let dq = st.dq, let dk = st.dk, let dm = st.dm, let dAlpha = st.dAlpha else { return }
        for t in range {
            let start = Int(st.incomingPtr[t]), end = Int(st.incomingPtr[t + 1])
            let qt = st.q + t * g, dqt = dq + t * g, dAggT = dAgg + t * g
            dqt.update(repeating: 0, count: g)
            if start == end { continue }
            for h in 0..<H {
                var dot: Float = 0
                for i in start..<end {
                    let e = Int(st.incomingOrder[i])
                    let a = st.alpha[e * H + h]
                    let da = GraphKernels.dot(dAggT + h * dh, st.m + e * g + h * dh, dh)
                    GraphKernels.scale(dm + e * g + h * dh, a, dAggT + h * dh, dh)
                    dAlpha[e * H + h] = da
                    dot += a * da
                }
                for i in start..<end {
                    let e = Int(st.incomingOrder[i])
                    let dGamma = st.alpha[e * H + h] * (dAlpha[e * H + h] - dot) * st.scale
                    GraphKernels.axpy(dqt + h * dh, dGamma, st.k + e * g + h * dh, dh)
                    GraphKernels.scale(dk + e * g + h * dh, dGamma, qt + h * dh, dh)
                }
            }
        }
    }
}
