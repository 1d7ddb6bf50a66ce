import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMModel

/// How a run resumes from a checkpoint (DESIGN §7, §10): the architecture comes from the
/// checkpoint; the global batch is kept, adjusting the accumulation (or else the micro-batch)
/// when the number of ranks changed.
public struct ResumePlan {
    public let checkpoint: String
    public let header: Checkpoint.Header
    public let config: KELMConfig
    /// What was adjusted, for the start-up log.
    public let notes: [String]

    /// What `--resume path --out runDirectory` means. nil when `path` is the run directory itself
    /// and it holds no checkpoint yet (`checkpoints/latest`): the job was stopped before its first
    /// save (killed, preempted, requeued with the same command), so there is nothing to continue
    /// from and the run starts at step 0 in that directory. Any other path must name a checkpoint.
    public static func plan(requested: KELMConfig, path: String, runDirectory: String, worldSize: Int) throws -> ResumePlan? {
        if startsAfresh(resume: path, runDirectory: runDirectory) { return nil }
        return try ResumePlan(requested: requested, path: path, worldSize: worldSize)
    }

    /// `path` and `runDirectory` are one existing directory (through links) without a `latest`
    /// pointer in it or in its `checkpoints` folder.
    static func startsAfresh(resume path: String, runDirectory: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
        func canonical(_ p: String) -> String { URL(fileURLWithPath: p).resolvingSymlinksInPath().standardizedFileURL.path }
        guard canonical(path) == canonical(runDirectory) else { return false }
        return !Checkpoint.hasLatestPointer(path)
    }

    /// `requested` is the run's own configuration (file and --set); `path` a checkpoint file
    /// or a run directory (its `latest`).
    public init(requested: KELMConfig, path: String, worldSize: Int) throws {
        // format, version, stored config and the parameters' shapes against that config's
        // architecture; tensor contents (and their checksums) are read by Trainer.restore
        let stored = try StoredCheckpoint(path: path)
        checkpoint = stored.path
        let header = stored.header
        try stored.close()
        self.header = header
        let saved = stored.config
        var config = requested
        var notes: [String] = []
        let differing = Self.architectureDifferences(requested: requested.model, saved: saved.model)
        if !differing.isEmpty {
            notes.append("the checkpoint's architecture is used (DESIGN §10); the configuration's differs in \(differing.joined(separator: ", "))")
        }
        config.model = saved.model
        config.model.initFrom = nil
        if let stored = header.memoryDType, let note = Self.memoryConversion(stored: stored, requested: requested.memory.dtype.storage) {
            notes.append(note)
        }
        let global = saved.train.microBatch * header.worldSize * saved.train.accumulation
        let B = config.train.microBatch, A = config.train.accumulation
        if B * worldSize * A != global {
            if global % (B * worldSize) == 0 {
                config.train.accumulation = global / (B * worldSize)
                notes.append("resuming on \(worldSize) rank(s) instead of \(header.worldSize): accumulation \(A) → \(config.train.accumulation) keeps the global batch of \(global)")
            } else if global % worldSize == 0 {
                config.train.microBatch = global / worldSize
                config.train.accumulation = 1
                notes.append("resuming on \(worldSize) rank(s) instead of \(header.worldSize): micro-batch \(B) → \(config.train.microBatch), accumulation 1, keeps the global batch of \(global)")
            } else {
                throw CheckpointError(file: checkpoint, item: "global batch",
                                      "\(global) segments cannot be split over \(worldSize) ranks; resume on a number of ranks that divides it")
            }
        } else if worldSize != header.worldSize {
            notes.append("resuming on \(worldSize) rank(s) instead of \(header.worldSize): micro-batch \(B) × \(worldSize) rank(s) × accumulation \(A) keeps the global batch of \(global)")
        }
        self.config = config
        self.notes = notes
    }

    /// What loading a memory stored as `stored` into a run whose `memory.dtype` is `requested`
    /// does (nil when they agree): the memory is converted, never refused, since the dtype is a
    /// storage choice that a resumed run may change (e.g. to float16 to fit a larger node).
    static func memoryConversion(stored: EntityMemoryDType, requested: EntityMemoryDType) -> String? {
        switch (stored, requested) {
        case (.float32, .float16):
            return "the checkpoint's entity memory is float32 and memory.dtype is float16: its rows are rounded to float16 (to nearest) on loading, so the run continues close to, not bit-identical with, a float32 run"
        case (.float16, .float32):
            return "the checkpoint's entity memory is float16 and memory.dtype is float32: its rows are widened to float32 (exactly) on loading; refreshes from here on are stored in float32"
        default:
            return nil
        }
    }

    /// The architecture keys whose values differ, as `key saved (configuration: requested)`.
    static func architectureDifferences(requested r: KELMConfig.ModelSection, saved s: KELMConfig.ModelSection) -> [String] {
        var out: [String] = []
        func compare<T: Equatable>(_ key: String, _ a: T, _ b: T) {
            if a != b { out.append("model.\(key) \(b) (configuration: \(a))") }
        }
        compare("hidden_size", r.hiddenSize, s.hiddenSize)
        compare("num_layers", r.numLayers, s.numLayers)
        compare("num_heads", r.numHeads, s.numHeads)
        compare("ffn_size", r.ffnSize, s.ffnSize)
        compare("vocab_size", r.vocabSize, s.vocabSize)
        compare("max_positions", r.maxPositions, s.maxPositions)
        compare("fusion_layers", r.fusionLayers, s.fusionLayers)
        compare("gnn_hidden", r.gnnHidden, s.gnnHidden)
        compare("gnn_heads", r.gnnHeads, s.gnnHeads)
        compare("mint_hidden", r.resolvedMintHidden, s.resolvedMintHidden)
        compare("max_tokens", r.maxTokens, s.maxTokens)
        compare("max_nodes", r.maxNodes, s.maxNodes)
        return out
    }
}
