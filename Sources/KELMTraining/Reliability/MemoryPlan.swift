import Foundation
import KELMConfig
import KELMModel
import KELMNumerics

/// The memory a rank's trainer will take, estimated from the configuration before anything is
/// allocated, and compared with what the machine has (`MemAvailable` of /proc/meminfo), so that
/// a size that cannot fit is a clear error naming the keys instead of an allocation failure deep
/// inside (or the out-of-memory killer).
public struct MemoryPlan: Sendable {
    /// Bytes of each part, for one rank (the entity memory: one copy per node).
    public var parameters: Int
    public var activations: Int
    public var descriptionEncoder: Int
    public var entityMemory: Int
    /// Ranks of this job on this node (they each allocate their own parameters and activations).
    public var ranksOnNode: Int

    /// The bytes this node needs.
    public var nodeBytes: Int { ranksOnNode * (parameters + activations + descriptionEncoder) + entityMemory }

    /// The plan of `config` over `fusion` (architecture resolved), with `entities` rows in the
    /// entity memory.
    public init(config: KELMConfig, fusion c: FusionConfig, entities: Int, ranksOnNode: Int) throws {
        var table = ParameterTable()
        _ = try FusionModel.Parameters(&table, config: c)
        let f = MemoryLayout<Float>.stride
        // values, gradients and AdamW's two moments
        parameters = 4 * table.count * f
        let B = config.train.microBatch, T = config.model.maxTokens, d = c.bert.hiddenSize, ff = c.bert.ffnSize
        let L = c.bert.numLayers, H = c.bert.numHeads, rows = B * T
        // per layer: the saved activations (about 10 d + 2 d_ff floats per row, dropout masks
        // included) and the attention probabilities (B·H·T², with their dropout copies); the
        // logits of the masked positions (15%) and their gradient; the GNN's node and edge states
        let layers = L * (rows * (12 * d + 2 * ff) + 3 * B * H * T * T)
        let logits = 2 * (rows * 15 / 100 + 1) * c.bert.vocabSize
        let nodes = B * config.model.maxNodes
        let graph = c.fusionLayers * (nodes * 16 * c.gnnHidden + 32 * nodes * 4 * c.gnnHidden)
        activations = (layers + logits + graph) * f * max(1, config.train.accumulation > 1 ? 2 : 1)
        // the memory's encoder: 2,048 rows through the first L − K layers
        let encoderRows = max(2048, 2 * config.memory.descriptionTokens)
        descriptionEncoder = c.firstFusionLayer * encoderRows * (12 * d + 2 * ff + 12 * config.memory.descriptionTokens) * f
        entityMemory = entities * d * (config.memory.dtype == .float16 ? 2 : 4)
        self.ranksOnNode = max(1, ranksOnNode)
    }

    /// Ranks of this job on this node as Open MPI tells each process (1 without mpirun).
    public static var localRanks: Int {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
    }

    /// `MemAvailable` of /proc/meminfo in bytes (nil where there is none).
    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kB = Int(fields[1]) { return kB * 1024 }
        }
        return nil
    }

    /// Throws when the node's plan exceeds `available` bytes (default: `MemAvailable`).
    public func check(available: Int? = MemoryPlan.availableBytes()) throws {
        guard let available, nodeBytes > available else { return }
        throw MemoryPlanError(plan: self, available: available)
    }
}

/// The planned memory does not fit the machine.
public struct MemoryPlanError: Error, CustomStringConvertible {
    public var plan: MemoryPlan
    public var available: Int

    public var description: String {
        func gb(_ b: Int) -> String { String(format: "%.1f GB", Double(b) / 1e9) }
        let parts = [("parameters, gradients and Adam moments (model.vocab_size, model.hidden_size, model.num_layers, model.ffn_size, the GNN sizes)", plan.parameters),
                     ("activations (train.micro_batch × model.max_tokens, model.hidden_size, model.ffn_size, model.num_heads, model.max_nodes)", plan.activations),
                     ("the entity memory's encoder (memory.description_tokens, the first L − K layers)", plan.descriptionEncoder)]
            .sorted { $0.1 > $1.1 }
        let perRank = parts.map { "\(gb($0.1)) \($0.0)" }.joined(separator: "; ")
        return "the model and its buffers need about \(gb(plan.nodeBytes)) on this node, \(gb(available)) is available: per rank \(perRank)"
            + " (× \(plan.ranksOnNode) rank(s)), and \(gb(plan.entityMemory)) for the entity memory (entities × model.hidden_size, memory.dtype); reduce the largest"
    }
}
