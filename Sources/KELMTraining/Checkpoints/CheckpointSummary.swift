import Foundation
import KELMCheckpoint
import KELMDistributed
import KELMHDF5
import KELMModel

/// What `kelm-dist inspect` reports about a checkpoint: its header, the stored configuration's
/// architecture and policies, parameter counts by group (DESIGN §5) with each group's policy
/// under the stored `train.param_policy`, the optimizer, the entity memory and its refresh state,
/// the routed share of every layer, and the file size. Every dataset is read once and its
/// checksum verified, so a summary also says the file is intact.
///
/// In KELMTraining because the groups, policies and configuration are training concepts
/// (KELMCheckpoint cannot import them); the command only prints it.
public struct CheckpointSummary: Codable, Equatable, Sendable {
    public struct Architecture: Codable, Equatable, Sendable {
        public var hidden_size: Int
        public var num_layers: Int
        public var num_heads: Int
        public var ffn_size: Int
        public var vocab_size: Int
        /// K
        public var fusion_layers: Int
        /// d_g
        public var gnn_hidden: Int
        /// J
        public var max_nodes: Int
        /// T
        public var max_tokens: Int
        /// R (from `linkpred.relation.weight`)
        public var relations: Int
    }

    public struct Group: Codable, Equatable, Sendable {
        public var name: String
        public var tensors: Int
        public var parameters: Int
        /// dense, routed or frozen under the stored preset.
        public var policy: String
    }

    public struct Optimizer: Codable, Equatable, Sendable {
        public var step: Int
        public var lr_pretrained: Double?
        public var lr_new: Double?
    }

    public struct Memory: Codable, Equatable, Sendable {
        public var entities: Int
        public var width: Int
        /// How the rows are stored: `float32` or `float16` (`memory.dtype`).
        public var dtype: String
        /// Stored bytes: entities · width · (4 or 2).
        public var bytes: Int
        public var refresh_count: Int
        public var next_refresh_step: Int
        public var next_block: Int
        public var momentum: Double
    }

    public struct RoutedLayer: Codable, Equatable, Sendable {
        public var layer: Int
        public var selected: Int
        public var ffn_size: Int
        /// selected / ffn_size
        public var fraction: Double
    }

    public struct Routing: Codable, Equatable, Sendable {
        public var last_refresh_step: Int
        public var layers: [RoutedLayer]
    }

    public struct Checksums: Codable, Equatable, Sendable {
        /// Datasets read in full.
        public var datasets: Int
        /// Of them, those with a crc32 that matched.
        public var verified: Int
        public var bytes: Int
        /// Float datasets holding NaN or infinity (a run that diverged, or damage): each with how
        /// many such values and the first one's index. Empty for a healthy checkpoint.
        public var non_finite: [NonFinite]
    }

    public struct NonFinite: Codable, Equatable, Sendable {
        public var dataset: String
        public var count: Int
        public var first_index: Int
    }

    public var file: String
    public var file_bytes: Int
    public var format: String
    public var format_version: Int
    public var kelm_version: String
    public var step: Int
    public var epoch: Int
    public var samples_seen: Int
    public var world_size: Int
    public var architecture: Architecture
    public var param_policy: String
    public var routing_fraction: Double
    public var parameters: Int
    public var groups: [Group]
    public var optimizer: Optimizer?
    public var memory: Memory?
    public var routing: Routing?
    public var checksums: Checksums

    /// Reads the summary of the checkpoint `path` (a file, or a run directory meaning its
    /// latest); throws `CheckpointError` for a file that is not a usable checkpoint.
    public init(path: String) throws {
        let stored = try StoredCheckpoint(path: path)
        let f = stored.file, h = stored.header, c = stored.config
        file = stored.path
        file_bytes = (try FileManager.default.attributesOfItem(atPath: stored.path)[.size] as? NSNumber)?.intValue ?? 0
        format = Checkpoint.format
        format_version = h.formatVersion
        kelm_version = h.kelmVersion
        step = h.step
        epoch = h.epoch
        samples_seen = h.samplesSeen
        world_size = h.worldSize
        let m = c.model
        architecture = Architecture(hidden_size: m.hiddenSize, num_layers: m.numLayers, num_heads: m.numHeads,
                                    ffn_size: m.ffnSize, vocab_size: m.vocabSize, fusion_layers: m.fusionLayers,
                                    gnn_hidden: m.gnnHidden, max_nodes: m.maxNodes, max_tokens: m.maxTokens,
                                    relations: stored.numRelations)
        param_policy = c.train.paramPolicy.rawValue
        routing_fraction = c.routing.fraction
        let policies = GroupPolicies(preset: c.train.paramPolicy)
        var counts: [ParameterGroup: (tensors: Int, parameters: Int)] = [:]
        for e in stored.table.entries {
            let g = ParameterGroup.of(e.name)
            counts[g, default: (0, 0)].tensors += 1
            counts[g, default: (0, 0)].parameters += e.count
        }
        groups = ParameterGroup.allCases.map { g in
            Group(name: g.rawValue, tensors: counts[g]?.tensors ?? 0, parameters: counts[g]?.parameters ?? 0,
                  policy: Self.name(policies[g]))
        }
        parameters = stored.table.count
        optimizer = try Checkpoint.guarding(stored.path) {
            guard try f.exists("/optimizer") else { return nil }
            return try f.withGroup("/optimizer") { g in
                Optimizer(step: h.optimizerStep,
                          lr_pretrained: try g.hasAttribute("lr_pretrained") ? try g.doubleAttribute("lr_pretrained") : nil,
                          lr_new: try g.hasAttribute("lr_new") ? try g.doubleAttribute("lr_new") : nil)
            }
        }
        if let state = h.memoryState {
            let shape = try Checkpoint.guarding(stored.path) { try f.withDataset("/memory/entity_context") { try $0.shape() } }
            guard shape.count == 2 else {
                throw CheckpointError(file: stored.path, item: "/memory/entity_context", "has shape \(shape), expected [entities, hidden_size]")
            }
            let dtype = h.memoryDType ?? .float32
            memory = Memory(entities: shape[0], width: shape[1], dtype: dtype.rawValue,
                            bytes: shape[0] * shape[1] * dtype.byteWidth, refresh_count: state.refreshCount,
                            next_refresh_step: state.nextRefreshStep, next_block: state.nextBlock, momentum: state.momentum)
        } else {
            memory = nil
        }
        let layers = try Checkpoint.routedLayers(in: f)
        if layers.isEmpty {
            routing = nil
        } else {
            guard layers == Array(0..<layers.count) else {
                throw CheckpointError(file: stored.path, item: "/routing/paths", "holds layers \(layers), expected 0..<\(layers.count)")
            }
            guard let state = try Checkpoint.readRouting(from: f, layers: layers.count) else {
                throw CheckpointError(file: stored.path, item: "/routing/paths/0", "missing")
            }
            let ff = m.ffnSize
            routing = Routing(last_refresh_step: state.lastRefreshStep, layers: state.paths.enumerated().map { l, p in
                RoutedLayer(layer: l, selected: p.count, ffn_size: ff, fraction: Double(p.count) / Double(ff))
            })
        }
        let v = try Checkpoint.verify(f)
        checksums = Checksums(datasets: v.datasets, verified: h.checksummed ? v.checksummed : 0, bytes: v.bytes,
                              non_finite: v.nonFinite.map { NonFinite(dataset: $0.item, count: $0.count, first_index: $0.first) })
        try stored.close()
    }

    static func name(_ p: GroupPolicy) -> String { p.rawValue }

    /// The summary as indented JSON (keys sorted).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The summary for people, one `key: value` line per item.
    public var text: String {
        var lines: [String] = []
        func add(_ key: String, _ value: String) { lines.append("\(key): \(value)") }
        add("checkpoint", file)
        add("file size", "\(Self.bytes(file_bytes)) (\(file_bytes) bytes)")
        add("format", "\(format) version \(format_version)" + (kelm_version.isEmpty ? "" : ", written by kelm-dist \(kelm_version)"))
        add("step", "\(step)")
        add("epoch", "\(epoch)")
        add("samples seen", "\(samples_seen)")
        add("world size", "\(world_size)")
        let a = architecture
        add("architecture", "hidden \(a.hidden_size), layers \(a.num_layers), heads \(a.num_heads), d_ff \(a.ffn_size), "
            + "vocab \(a.vocab_size), K \(a.fusion_layers), d_g \(a.gnn_hidden), J \(a.max_nodes), T \(a.max_tokens), R \(a.relations)")
        add("param policy", param_policy)
        add("routing fraction", "\(routing_fraction)")
        add("parameters", "\(parameters)")
        for g in groups {
            let label = (g.name + ":").padding(toLength: 15, withPad: " ", startingAt: 0)
            lines.append("  " + label + String(format: "%12d in %3d tensors  ", g.parameters, g.tensors) + g.policy)
        }
        if let o = optimizer {
            add("optimizer", "AdamW step \(o.step), lr_pretrained \(o.lr_pretrained.map { "\($0)" } ?? "-"), lr_new \(o.lr_new.map { "\($0)" } ?? "-")")
        } else {
            add("optimizer", "none (no Adam moments)")
        }
        if let mem = memory {
            add("memory", "\(mem.entities) × \(mem.width) entity context, \(mem.dtype), \(Self.bytes(mem.bytes))")
            add("memory refresh", "refresh_count \(mem.refresh_count), next refresh at step \(mem.next_refresh_step), next block starts at entity \(mem.next_block), momentum \(mem.momentum)")
        } else {
            add("memory", "none")
        }
        if let r = routing {
            add("routing", "\(r.layers.count) routed layers, paths selected at step \(r.last_refresh_step)")
            for l in r.layers {
                lines.append(String(format: "  layer %d: %d/%d neurons (%.3f)", l.layer, l.selected, l.ffn_size, l.fraction))
            }
        } else {
            add("routing", "none")
        }
        add("checksums", "\(checksums.verified) of \(checksums.datasets) datasets verified (crc32), \(Self.bytes(checksums.bytes)) read")
        add("non-finite values", checksums.non_finite.isEmpty ? "none"
            : "WARNING: " + checksums.non_finite.map { "\($0.dataset) holds \($0.count) NaN/infinity (first at element \($0.first_index))" }.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    static func bytes(_ n: Int) -> String {
        if n >= 1 << 30 { return String(format: "%.2f GiB", Double(n) / Double(1 << 30)) }
        if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) }
        if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / Double(1 << 10)) }
        return "\(n) B"
    }
}
