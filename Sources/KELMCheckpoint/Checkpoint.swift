import Foundation
import KELMFiles
import KELMHDF5
import KELMModel
import KELMNumerics

/// The checkpoint files of DESIGN §7: `DIR/checkpoints/ckpt-<step, 8 digits>.h5`, written by
/// rank 0 under a temporary name, made durable and renamed; the `latest` pointer file replaced
/// the same way; older checkpoints pruned to `keep`.
public enum Checkpoint {
    public static let format = "kelm-dist-checkpoint"
    public static let formatVersion = 1
    public static let version = "0.1.0"
    /// Root attribute saying that every dataset carries a `crc32` attribute (see `StoredTensor`).
    /// Files without it (written before checksums were added) load unverified.
    public static let checksumsAttribute = "checksums"
    public static let checksumsValue = "crc32"
    /// Root attribute: CRC-32 of the other root attributes (see `headerChecksum`). The root
    /// group's own metadata has no HDF5 checksum, so this is what notices a flipped byte there.
    public static let headerChecksumAttribute = "header_crc32"
    /// Root attribute: the vocabulary's fingerprint (`VocabularyDigest` of the dataset trained on).
    public static let vocabularyDigestAttribute = "vocabulary_digest"

    /// CRC-32 of the UTF-8 text `format=…\nformat_version=…\nstep=…\nepoch=…\nsamples_seen=…\n`
    /// `world_size=…\nkelm_version=…\nconfig=…` (integers in decimal, no trailing newline).
    public static func headerChecksum(format: String, formatVersion: Int, step: Int, epoch: Int, samplesSeen: Int,
                                      worldSize: Int, config: String, kelmVersion: String) -> UInt32 {
        let text = "format=\(format)\nformat_version=\(formatVersion)\nstep=\(step)\nepoch=\(epoch)\nsamples_seen=\(samplesSeen)\n"
            + "world_size=\(worldSize)\nkelm_version=\(kelmVersion)\nconfig=\(config)"
        return CRC32.checksum(Array(text.utf8))
    }

    /// The entity memory's schedule state (attributes of /memory/entity_context).
    public struct MemoryState: Equatable, Sendable {
        public var refreshCount = 0
        public var nextRefreshStep = 0
        public var nextBlock = 0
        public var momentum = 0.8
        public init(refreshCount: Int = 0, nextRefreshStep: Int = 0, nextBlock: Int = 0, momentum: Double = 0.8) {
            self.refreshCount = refreshCount
            self.nextRefreshStep = nextRefreshStep
            self.nextBlock = nextBlock
            self.momentum = momentum
        }
    }

    /// The routing state (DESIGN §7: /routing/scores/<layer>, /routing/paths/<layer>,
    /// /optimizer/neuron_steps/<layer>).
    public struct RoutingState: Equatable, Sendable {
        public var paths: [[Int32]]
        public var scores: [[Double]]
        public var neuronSteps: [[Int64]]
        public var lastRefreshStep: Int
        public init(paths: [[Int32]], scores: [[Double]], neuronSteps: [[Int64]], lastRefreshStep: Int) {
            self.paths = paths
            self.scores = scores
            self.neuronSteps = neuronSteps
            self.lastRefreshStep = lastRefreshStep
        }
    }

    /// What a checkpoint holds.
    /// The best held-out evaluation of the run so far (group `/evaluation`, attributes
    /// `best_mlm_loss`, `best_step`, `split`), written into every checkpoint saved after an
    /// evaluation, so that `--resume` knows what a later evaluation must beat to become `best`.
    /// Not in DESIGN §7's list (like the checksums); files without it load as before.
    public struct BestEvaluation: Equatable, Sendable {
        /// The lowest validation MLM loss so far (what chooses `best`, docs/evaluation.md).
        public var mlmLoss: Double
        /// The step of the evaluation that measured it (its checkpoint is `ckpt-<step>.h5`).
        public var step: Int
        /// The held-out split evaluated (`valid` or `test`).
        public var split: String

        public init(mlmLoss: Double, step: Int, split: String) {
            self.mlmLoss = mlmLoss
            self.step = step
            self.split = split
        }
    }

    public struct Contents {
        public var step: Int
        public var epoch: Int
        public var samplesSeen: Int
        public var worldSize: Int
        public var configJSON: String
        public var table: ParameterTable
        public var params: FlatBuffer
        /// Adam moments in the table's layout, and Adam's step.
        public var expAvg: FlatBuffer?
        public var expAvgSq: FlatBuffer?
        public var optimizerStep: Int
        public var lrPretrained: Double
        public var lrNew: Double
        /// The entity memory [|E|, d], if any (stored in its own dtype, float32 or float16), and
        /// its schedule state.
        public var memory: (values: EntityMemoryStorage, entities: Int, width: Int)?
        public var memoryState = MemoryState()
        /// Knowledge-path routing: per routed layer its selected neurons, their scores and the
        /// per-neuron Adam step counts.
        public var routing: RoutingState?
        /// The best evaluation so far, if the run has evaluated (see ``BestEvaluation``).
        public var bestEvaluation: BestEvaluation?
        /// The fingerprint of the vocabulary the run trained on (its dataset's
        /// `vocabulary_digest`), compared by `--resume` and `eval` (root attribute
        /// `vocabulary_digest`; none for synthetic data).
        public var vocabularyDigest: String?

        public init(step: Int, epoch: Int, samplesSeen: Int, worldSize: Int, configJSON: String, table: ParameterTable,
                    params: FlatBuffer, expAvg: FlatBuffer?, expAvgSq: FlatBuffer?, optimizerStep: Int,
                    lrPretrained: Double, lrNew: Double, memory: (values: EntityMemoryStorage, entities: Int, width: Int)?) {
            self.step = step
            self.epoch = epoch
            self.samplesSeen = samplesSeen
            self.worldSize = worldSize
            self.configJSON = configJSON
            self.table = table
            self.params = params
            self.expAvg = expAvg
            self.expAvgSq = expAvgSq
            self.optimizerStep = optimizerStep
            self.lrPretrained = lrPretrained
            self.lrNew = lrNew
            self.memory = memory
        }
    }

    /// A float tensor to save, in its stored type.
    enum SavedValues {
        case float32(UnsafeBufferPointer<Float>)
        case float16(UnsafeBufferPointer<Float16>)

        var bytes: UnsafeRawBufferPointer {
            switch self {
            case .float32(let v): return UnsafeRawBufferPointer(v)
            case .float16(let v): return UnsafeRawBufferPointer(v)
            }
        }
    }

    public static func fileName(step: Int) -> String { String(format: "ckpt-%08d.h5", step) }

    /// Writes `DIR/checkpoints/ckpt-<step>.h5` and points `latest` at it; keeps the newest
    /// `keep` checkpoints. Returns the checkpoint's path.
    /// A failure to write (disk full, read-only or unwritable directory, …) is a
    /// ``CheckpointWriteError`` naming the file, the cause and the checkpoint `latest` still
    /// names, which the failed save has not touched.
    @discardableResult
    public static func save(_ c: Contents, runDirectory: String, keep: Int) throws -> String {
        let dir = (runDirectory as NSString).appendingPathComponent("checkpoints")
        let name = fileName(step: c.step)
        let path = (dir as NSString).appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try write(c, to: path)
            try writePointer(directory: dir, name: "latest", target: name)
        } catch {
            throw CheckpointWriteError(file: path, cause: error, latest: pointerTarget(directory: dir, name: "latest"))
        }
        try prune(directory: dir, keep: keep)
        return path
    }

    /// Writes the checkpoint file `path` atomically (`AtomicFile`).
    static func write(_ c: Contents, to path: String) throws {
        try AtomicFile.write(path) { tmp in
            let f = try HDF5File.create(tmp)
            try f.useChecksummedFormat()
            try f.setAttribute("format", format)
            try f.setAttribute("format_version", Int64(formatVersion))
            try f.setAttribute("step", Int64(c.step))
            try f.setAttribute("epoch", Int64(c.epoch))
            try f.setAttribute("samples_seen", Int64(c.samplesSeen))
            try f.setAttribute("world_size", Int64(c.worldSize))
            try f.setAttribute("config", c.configJSON)
            try f.setAttribute("kelm_version", version)
            try f.setAttribute(checksumsAttribute, checksumsValue)
            if let digest = c.vocabularyDigest { try f.setFixedLengthAttribute(vocabularyDigestAttribute, digest) }
            try f.setAttribute(headerChecksumAttribute, Int64(headerChecksum(
                format: format, formatVersion: formatVersion, step: c.step, epoch: c.epoch, samplesSeen: c.samplesSeen,
                worldSize: c.worldSize, config: c.configJSON, kelmVersion: version)))
            // The float tensors (almost all of the bytes): their checksums are computed on another
            // thread while this one writes them, and set as attributes afterwards.
            var tensors: [(path: String, values: SavedValues, shape: [Int])] = []
            func add(_ group: String, _ buffer: FlatBuffer) {
                for e in c.table.entries {
                    tensors.append((datasetPath(group, e.name),
                                    .float32(UnsafeBufferPointer(start: e.ref.pointer(in: buffer.pointer), count: e.count)), e.shape))
                }
            }
            add("params", c.params)
            if let m = c.expAvg, let v = c.expAvgSq {
                add("optimizer/exp_avg", m)
                add("optimizer/exp_avg_sq", v)
            }
            if let memory = c.memory {
                // the memory in its own dtype: a float16 memory is stored as float16, bit for bit
                let count = memory.entities * memory.width
                precondition(memory.values.count == count, "the memory holds \(memory.values.count) values, not \(count)")
                let values: SavedValues
                switch memory.values {
                case .float32(let b): values = .float32(UnsafeBufferPointer(start: b.pointer, count: count))
                case .float16(let b): values = .float16(UnsafeBufferPointer(start: b.pointer, count: count))
                }
                tensors.append(("/memory/entity_context", values, [memory.entities, memory.width]))
            }
            let checksums = ChecksumWorker(tensors.map(\.values.bytes))
            defer { checksums.wait() }
            for t in tensors {
                switch t.values {
                case .float32(let v): try f.writeDataset(t.path, v, shape: t.shape, as: .float32)
                case .float16(let v): try f.writeDataset(t.path, v, shape: t.shape, as: .float16)
                }
            }
            for (i, crc) in checksums.wait().enumerated() { try StoredTensor.setChecksum(f, tensors[i].path, crc) }
            if c.expAvg != nil && c.expAvgSq != nil {
                try f.withGroup("/optimizer") { g in
                    try g.setAttribute("step", Int64(c.optimizerStep))
                    try g.setAttribute("lr_pretrained", c.lrPretrained)
                    try g.setAttribute("lr_new", c.lrNew)
                }
            }
            if let r = c.routing {
                for l in 0..<r.paths.count {
                    try StoredTensor.write(f, "/routing/paths/\(l)", r.paths[l])
                    try StoredTensor.write(f, "/routing/scores/\(l)", r.scores[l])
                    try StoredTensor.write(f, "/optimizer/neuron_steps/\(l)", r.neuronSteps[l])
                }
                try f.withGroup("/routing") { try $0.setAttribute("last_refresh_step", Int64(r.lastRefreshStep)) }
            }
            if let b = c.bestEvaluation {
                try f.createGroup("/evaluation").close()
                try f.withGroup("/evaluation") { g in
                    try g.setAttribute("best_mlm_loss", b.mlmLoss)
                    try g.setAttribute("best_step", Int64(b.step))
                    try g.setAttribute("split", b.split)
                }
            }
            if c.memory != nil {
                try f.withDataset("/memory/entity_context") { ds in
                    try ds.setAttribute("refresh_count", Int64(c.memoryState.refreshCount))
                    try ds.setAttribute("next_refresh_step", Int64(c.memoryState.nextRefreshStep))
                    try ds.setAttribute("next_block", Int64(c.memoryState.nextBlock))
                    try ds.setAttribute("momentum", c.memoryState.momentum)
                }
            }
            try f.close()
        }
    }

    /// Replaces the pointer file `name` (holding a checkpoint's file name) atomically.
    public static func writePointer(directory: String, name: String, target: String) throws {
        let path = (directory as NSString).appendingPathComponent(name)
        try AtomicFile.write(path) { tmp in
            guard FileManager.default.createFile(atPath: tmp, contents: Data((target + "\n").utf8)) else {
                throw AtomicFileError.systemCall(call: "create", path: tmp, errno: errno)
            }
        }
    }

    /// Deletes all but the newest `keep` checkpoints (by step in the file name); the one the
    /// `best` pointer names, if any, is kept as well.
    public static func prune(directory: String, keep: Int) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("ckpt-") && $0.hasSuffix(".h5") }.sorted()
        let best = pointerTarget(directory: directory, name: "best")
        for name in names.dropLast(max(keep, 1)) where name != best {
            try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }

    /// The file name a pointer file (`latest`, `best`) in `directory` holds, if it exists.
    public static func pointerTarget(directory: String, name: String) -> String? {
        guard let text = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name)) else { return nil }
        let target = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return target.isEmpty ? nil : target
    }

    /// Points `best` (next to it, in its `checkpoints` directory) at the checkpoint file `path`,
    /// atomically; pruning then keeps that file.
    public static func markBest(_ path: String) throws {
        try writePointer(directory: (path as NSString).deletingLastPathComponent, name: "best",
                         target: (path as NSString).lastPathComponent)
    }

    /// Where a run directory's `latest` pointer may be: its `checkpoints` folder, or the
    /// directory itself (a `checkpoints` folder named directly).
    static func pointerDirectories(of directory: String) -> [String] {
        [(directory as NSString).appendingPathComponent("checkpoints"), directory]
    }

    /// Whether `directory` has a `latest` pointer where `resolve` looks for one.
    public static func hasLatestPointer(_ directory: String) -> Bool {
        pointerDirectories(of: directory).contains {
            FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("latest"))
        }
    }

    /// The checkpoint file a path means: a file as it is; a run directory (or its
    /// `checkpoints` folder) its `latest`. Throws `CheckpointError` when the path does not
    /// exist, a directory has no `latest` pointer, or the pointer names a missing file.
    public static func resolve(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(file: path, item: "file", "does not exist")
        }
        guard isDirectory.boolValue else {
            // a pointer file (`latest`, `best`) means the checkpoint it names
            let name = (path as NSString).lastPathComponent
            if name == "latest" || name == "best" {
                let dir = (path as NSString).deletingLastPathComponent
                if let target = pointerTarget(directory: dir, name: name) { return (dir as NSString).appendingPathComponent(target) }
            }
            return path
        }
        for dir in pointerDirectories(of: path) {
            let pointer = (dir as NSString).appendingPathComponent("latest")
            if let text = FileManager.default.contents(atPath: pointer) {
                let name = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                let target = (dir as NSString).appendingPathComponent(name)
                guard !name.isEmpty, FileManager.default.fileExists(atPath: target) else {
                    throw CheckpointError(file: pointer, item: "latest", "names \"\(name)\", which does not exist in \(dir)")
                }
                return target
            }
        }
        throw CheckpointError(file: path, item: "latest",
                              "is a directory without a checkpoints/latest pointer (not a run directory?); name a checkpoint file")
    }
}
