import KELMNumerics

/// `gnn.node_in` and `gnn.node_type`: the initial node states
/// x⁰_v = GELU(W_in · M[entity(v)] + b_in), and x⁰ = 0 for interaction nodes. No gradient flows into M.
public final class NodeInput {
    public struct Parameters {
        public let weight: ParameterRef, bias: ParameterRef
        /// U: [3, d_g] node-type features (used by the GNN layers).
        public let nodeType: ParameterRef

        public init(_ t: inout ParameterTable, config c: FusionConfig) throws {
            weight = try t.addWeight("gnn.node_in.weight", shape: [c.gnnHidden, c.bert.hiddenSize])
            bias = try t.addBias("gnn.node_in.bias", count: c.gnnHidden)
            nodeType = try t.addWeight("gnn.node_type.weight", shape: [3, c.gnnHidden])
        }
    }

    public let p: Parameters
    let config: FusionConfig
    let memoryRows: FlatBuffer    // [N, d] gathered M rows (zero for interaction nodes)
    let pre: FlatBuffer           // [N, d_g]
    /// [N, d_g] x⁰
    public let output: FlatBuffer
    let dPre: FlatBuffer

    public init(_ p: Parameters, config c: FusionConfig, maxNodes: Int) {
        self.p = p
        config = c
        memoryRows = FlatBuffer(count: maxNodes * c.bert.hiddenSize)
        pre = FlatBuffer(count: maxNodes * c.gnnHidden)
        output = FlatBuffer(count: maxNodes * c.gnnHidden)
        dPre = FlatBuffer(count: maxNodes * c.gnnHidden)
    }

    /// output[N, d_g] from the entity memory M ([|E|, d], row per entity; float16 rows are
    /// widened to float32 here).
    public func forward(graph: GraphBatch, memory: EntityRows, params: UnsafeMutablePointer<Float>) {
        let d = config.bert.hiddenSize, g = config.gnnHidden, N = graph.nodes
        precondition(memory.width == d, "NodeInput: memory rows of \(memory.width) values, hidden size \(d)")
        for v in 0..<N {
            let e = Int(graph.nodeEntity.pointer[v]), row = memoryRows.pointer + v * d
            if e < 0 { row.update(repeating: 0, count: d) } else { memory.copy(row: e, into: row) }
        }
        Linear.forward(y: pre.pointer, x: memoryRows.pointer, weight: p.weight.pointer(in: params),
                       bias: p.bias.pointer(in: params), rows: N, inFeatures: d, outFeatures: g)
        GELU.forward(y: output.pointer, x: pre.pointer, count: N * g)
        for v in 0..<N where graph.nodeEntity.pointer[v] < 0 {
            (output.pointer + v * g).update(repeating: 0, count: g)
        }
    }

    /// Adds the gradients of W_in and b_in for dOutput ([N, d_g]); interaction rows carry none.
    public func backward(dOutput: UnsafePointer<Float>, graph: GraphBatch, params: UnsafeMutablePointer<Float>,
                         grads: UnsafeMutablePointer<Float>?) {
        guard let grads else { return }
        let d = config.bert.hiddenSize, g = config.gnnHidden, N = graph.nodes
        dPre.pointer.update(repeating: 0, count: N * g)
        GELU.backward(dx: dPre.pointer, dy: dOutput, x: pre.pointer, count: N * g)
        for v in 0..<N where graph.nodeEntity.pointer[v] < 0 {
            (dPre.pointer + v * g).update(repeating: 0, count: g)
        }
        Linear.backward(dx: nil, dWeight: p.weight.pointer(in: grads), dBias: p.bias.pointer(in: grads),
                        dy: dPre.pointer, x: memoryRows.pointer, weight: p.weight.pointer(in: params),
                        rows: N, inFeatures: d, outFeatures: g)
    }
}

/// `gnn.final`: the final node states n_v = GELU(V_h x⁰_v + V_x x^K_v) (both with bias).
public final class FinalNodeStates {
    public struct Parameters {
        public let h0: ParameterRef, h0Bias: ParameterRef, hK: ParameterRef, hKBias: ParameterRef

        public init(_ t: inout ParameterTable, config c: FusionConfig) throws {
            let g = c.gnnHidden
            h0 = try t.addWeight("gnn.final.h0.weight", shape: [g, g])
            h0Bias = try t.addBias("gnn.final.h0.bias", count: g)
            hK = try t.addWeight("gnn.final.hK.weight", shape: [g, g])
            hKBias = try t.addBias("gnn.final.hK.bias", count: g)
        }
    }

    public let p: Parameters
    let config: FusionConfig
    var x0: UnsafePointer<Float>? = nil, xK: UnsafePointer<Float>? = nil
    let pre: FlatBuffer
    /// [N, d_g] n
    public let output: FlatBuffer
    let dPre: FlatBuffer

    public init(_ p: Parameters, config c: FusionConfig, maxNodes: Int) {
        self.p = p
        config = c
        pre = FlatBuffer(count: maxNodes * c.gnnHidden)
        output = FlatBuffer(count: maxNodes * c.gnnHidden)
        dPre = FlatBuffer(count: maxNodes * c.gnnHidden)
    }

    public func forward(x0: UnsafePointer<Float>, xK: UnsafePointer<Float>, nodes N: Int, params: UnsafeMutablePointer<Float>) {
        let g = config.gnnHidden
        self.x0 = x0
        self.xK = xK
        Linear.forward(y: pre.pointer, x: x0, weight: p.h0.pointer(in: params), bias: p.h0Bias.pointer(in: params),
                       rows: N, inFeatures: g, outFeatures: g)
        Linear.forward(y: pre.pointer, x: xK, weight: p.hK.pointer(in: params), bias: p.hKBias.pointer(in: params),
                       rows: N, inFeatures: g, outFeatures: g, accumulate: true)
        GELU.forward(y: output.pointer, x: pre.pointer, count: N * g)
    }

    /// Adds into dX0 and dXK ([N, d_g]) and the parameter gradients.
    public func backward(dX0: UnsafeMutablePointer<Float>, dXK: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                         nodes N: Int, params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>?) {
        guard let x0, let xK else { preconditionFailure("FinalNodeStates.backward before forward") }
        let g = config.gnnHidden
        dPre.pointer.update(repeating: 0, count: N * g)
        GELU.backward(dx: dPre.pointer, dy: dOutput, x: pre.pointer, count: N * g)
        Linear.backward(dx: dX0, dWeight: p.h0.gradient(in: grads), dBias: p.h0Bias.gradient(in: grads), dy: dPre.pointer,
                        x: x0, weight: p.h0.pointer(in: params), rows: N, inFeatures: g, outFeatures: g)
        Linear.backward(dx: dXK, dWeight: p.hK.gradient(in: grads), dBias: p.hKBias.gradient(in: grads), dy: dPre.pointer,
                        x: xK, weight: p.hK.pointer(in: params), rows: N, inFeatures: g, outFeatures: g)
    }
}
