import Foundation
import KELMFiles
import KELMHDF5
import KELMModel
import KELMNumerics

/// The debug batch dump of DESIGN §9: one HDF5 file holding everything needed to recompute a
/// step elsewhere (dropout off): the batch, the memory, the parameters and the gradient.
public enum BatchDump {
    public static let format = "kelm-dist-batch"
    /// 2: source nodes (x⁰ = 0) with `/graph/node_source_entity`; 1: before them.
    public static let formatVersion = 2

    /// `/params/…` and `/grads/…` path of a parameter: '.' → '/'.
    public static func tensorPath(_ group: String, _ name: String) -> String {
        "/\(group)/" + name.replacingOccurrences(of: ".", with: "/")
    }

    /// Writes the dump of one forward/backward of `model` (atomically).
    public static func write(to path: String, configJSON: String, model: FusionModel, text: TokenBatch,
                             mentionMask: [Int32], graph: GraphBatch, links: LinkBatch, memory: UnsafePointer<Float>,
                             entityCount: Int, output: FusionModel.Output, normalization: LossNormalization) throws {
        let B = text.batch, T = text.tokens, n = text.rows
        precondition(mentionMask.count == n, "one mention flag per token")
        try AtomicFile.write(path) { tmp in
            let file = try HDF5File.create(tmp)
            try file.setAttribute("format", format)
            try file.setAttribute("format_version", Int64(formatVersion))
            try file.setAttribute("B", Int64(B))
            try file.setAttribute("T", Int64(T))
            try file.setAttribute("config", configJSON)
            try file.setAttribute("loss", normalization.total(mlmSum: output.mlmLossSum, lpSum: output.lpLossSum))
            try file.setAttribute("mlm_loss", normalization.mlmLoss(output.mlmLossSum))
            try file.setAttribute("lp_loss", normalization.lpLoss(output.lpLossSum))
            try file.setAttribute("mlm_count", Int64(normalization.mlmCount))
            try file.setAttribute("lp_count", Int64(normalization.lpCount))
            func ints(_ b: IndexBuffer, _ count: Int) -> [Int32] { Array(UnsafeBufferPointer(start: b.pointer, count: count)) }
            try file.writeDataset("/tokens/input_ids", ints(text.inputIds, n), shape: [B, T])
            try file.writeDataset("/tokens/attention_mask", ints(text.attentionMask, n), shape: [B, T])
            try file.writeDataset("/tokens/mlm_labels", ints(text.labels, n), shape: [B, T])
            try file.writeDataset("/tokens/mention_mask", mentionMask, shape: [B, T])
            let N = graph.nodes, E = graph.edges, P = links.count, K = LinkBatch.negativesPerSide
            try file.writeDataset("/graph/node_ptr", ints(graph.nodePtr, B + 1))
            try file.writeDataset("/graph/node_entity", ints(graph.nodeEntity, N))
            try file.writeDataset("/graph/node_type", ints(graph.nodeType, N))
            try file.writeDataset("/graph/node_source_entity", ints(graph.nodeSourceEntity, N))
            try file.writeDataset("/graph/edge_index", ints(graph.edgeSource, E) + ints(graph.edgeTarget, E), shape: [2, E])
            try file.writeDataset("/graph/edge_type", ints(graph.edgeRelation, E))
            try file.writeDataset("/linkpred/pos", ints(links.positives, 3 * P), shape: [P, 3])
            try file.writeDataset("/linkpred/neg_head", ints(links.negativeHeads, K * P), shape: [P, K])
            try file.writeDataset("/linkpred/neg_tail", ints(links.negativeTails, K * P), shape: [P, K])
            let d = model.config.bert.hiddenSize
            try file.writeDataset("/memory/entity_context", UnsafeBufferPointer(start: memory, count: entityCount * d),
                                  shape: [entityCount, d])
            for e in model.store.table.entries {
                try file.writeDataset(tensorPath("params", e.name),
                                      UnsafeBufferPointer(start: e.ref.pointer(in: model.store.values.pointer), count: e.count),
                                      shape: e.shape)
                try file.writeDataset(tensorPath("grads", e.name),
                                      UnsafeBufferPointer(start: e.ref.pointer(in: model.store.grads.pointer), count: e.count),
                                      shape: e.shape)
            }
            try file.close()
        }
    }

    /// Checks that a dump is complete: the format attributes, every dataset of §9 with sizes
    /// consistent with B, T and each other, and a gradient of the right shape for every
    /// parameter. Returns the problems found (empty: complete).
    public static func verify(_ path: String) throws -> [String] {
        let file = try HDF5File.open(path)
        let problems = try verify(file)
        try file.close()
        return problems
    }

    static func verify(_ file: HDF5File) throws -> [String] {
        var problems: [String] = []
        func attribute<T>(_ name: String, _ read: (String) throws -> T) throws -> T? {
            guard try file.hasAttribute(name) else { problems.append("root attribute \(name) is missing"); return nil }
            return try read(name)
        }
        if let f = try attribute("format", file.stringAttribute), f != format { problems.append("format is \(f), expected \(format)") }
        if let v = try attribute("format_version", file.intAttribute), v != formatVersion { problems.append("format_version \(v)") }
        for name in ["loss", "mlm_loss", "lp_loss"] { _ = try attribute(name, file.doubleAttribute) }
        _ = try attribute("mlm_count", file.intAttribute)
        _ = try attribute("lp_count", file.intAttribute)
        _ = try attribute("config", file.stringAttribute)
        guard let B = try attribute("B", file.intAttribute), let T = try attribute("T", file.intAttribute) else { return problems }
        func shape(_ p: String) throws -> [Int]? {
            guard try file.exists(p) else { problems.append("\(p) is missing"); return nil }
            return try file.withDataset(p) { try $0.shape() }
        }
        func expect(_ p: String, _ expected: [Int?]) throws {
            guard let s = try shape(p) else { return }
            if s.count != expected.count || zip(s, expected).contains(where: { $1 != nil && $0 != $1! }) {
                problems.append("\(p) has shape \(s), expected \(expected.map { $0.map(String.init) ?? "·" })")
            }
        }
        for name in ["input_ids", "attention_mask", "mlm_labels", "mention_mask"] { try expect("/tokens/" + name, [B, T]) }
        try expect("/graph/node_ptr", [B + 1])
        let N = try shape("/graph/node_entity")?.first
        try expect("/graph/node_type", [N])
        try expect("/graph/node_source_entity", [N])
        let E = try shape("/graph/edge_index").flatMap { $0.count == 2 ? $0[1] : nil }
        try expect("/graph/edge_index", [2, E])
        try expect("/graph/edge_type", [E])
        let P = try shape("/linkpred/pos")?.first
        try expect("/linkpred/pos", [P, 3])
        try expect("/linkpred/neg_head", [P, LinkBatch.negativesPerSide])
        try expect("/linkpred/neg_tail", [P, LinkBatch.negativesPerSide])
        if let N, try file.exists("/graph/node_ptr") {
            let ptr = try file.withDataset("/graph/node_ptr") { try $0.readInt32s() }
            if ptr.last.map(Int.init) != N { problems.append("/graph/node_ptr ends at \(ptr.last ?? -1), but there are \(N) nodes") }
        }
        _ = try shape("/memory/entity_context")
        guard try file.exists("/params") else { problems.append("/params is missing"); return problems }
        var names: [String] = []
        func walk(_ group: String) throws {
            let members = try file.withGroup(group) { try $0.memberNames() }
            for member in members {
                let p = group + "/" + member
                if try file.objectType(p) == .group { try walk(p) } else { names.append(p) }
            }
        }
        try walk("/params")
        if names.isEmpty { problems.append("/params holds no parameters") }
        for p in names {
            let g = "/grads" + p.dropFirst("/params".count)
            guard let ps = try shape(p) else { continue }
            if let gs = try shape(g), gs != ps { problems.append("\(g) has shape \(gs), its parameter \(ps)") }
        }
        return problems
    }
}
