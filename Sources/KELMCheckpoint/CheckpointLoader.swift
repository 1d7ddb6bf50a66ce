import Foundation
import KELMHDF5
import KELMModel
import KELMNumerics

extension Checkpoint {
    /// What a checkpoint's root attributes say.
    public struct Header: Equatable, Sendable {
        public var step: Int
        public var epoch: Int
        public var samplesSeen: Int
        public var worldSize: Int
        public var configJSON: String
        public var optimizerStep: Int
        public var memoryState: MemoryState?
        /// How `/memory/entity_context` is stored (float32 or float16), when there is one.
        public var memoryDType: EntityMemoryDType?
        /// `format_version` of the file (≤ `Checkpoint.formatVersion`).
        public var formatVersion: Int = Checkpoint.formatVersion
        /// `kelm_version` of the build that wrote it.
        public var kelmVersion: String = ""
        /// Whether every dataset carries a `crc32` checksum (root attribute `checksums`).
        public var checksummed: Bool = false
        /// The run's best evaluation up to this checkpoint (group `/evaluation`), if any.
        public var bestEvaluation: BestEvaluation?
        /// The vocabulary's fingerprint the run trained on (root attribute `vocabulary_digest`), if stored.
        public var vocabularyDigest: String?
    }

    /// Runs `body`, turning a failure of the HDF5 library into a `CheckpointError` naming the
    /// file `path` and the object (HDF5 cannot read a truncated or corrupt file's structure).
    public static func guarding<Result>(_ path: String, _ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let e as HDF5Error {
            if e.call == "H5Fopen" {
                throw CheckpointError(file: path, item: "file", "is not a readable HDF5 file (truncated or corrupt?): \(e.message)")
            }
            let item = e.objectPath.isEmpty ? "file" : e.objectPath
            throw CheckpointError(file: path, item: item, "cannot be read (truncated or corrupt file?): \(e.call): \(e.message)")
        }
    }

    /// Checks that `path` is a non-empty regular file, so that the HDF5 library is not the one
    /// to report a missing file.
    static func requireFile(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(file: path, item: "file", "does not exist")
        }
        guard !isDirectory.boolValue else {
            throw CheckpointError(file: path, item: "file", "is a directory (name a checkpoint file, or resolve a run directory first)")
        }
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        guard size > 0 else { throw CheckpointError(file: path, item: "file", "is empty (0 bytes)") }
    }

    /// Opens a checkpoint and checks its root attributes: `format` must be
    /// "kelm-dist-checkpoint", `format_version` not newer than this build reads, and `step`,
    /// `epoch`, `samples_seen`, `world_size`, `config` present. Any failure is a
    /// `CheckpointError` naming the file and the item.
    public static func open(_ path: String) throws -> (file: HDF5File, header: Header) {
        try requireFile(path)
        return try guarding(path) {
            let f = try HDF5File.open(path)
            return (f, try readHeader(f))
        }
    }

    static func readHeader(_ f: HDF5File) throws -> Header {
        let path = f.filePath
        func attribute<T>(_ name: String, _ read: (String) throws -> T) throws -> T {
            guard try f.hasAttribute(name) else { throw CheckpointError(file: path, item: "attribute \(name)", "missing") }
            do {
                return try read(name)
            } catch let e as HDF5Error where e.kind != .library {
                throw CheckpointError(file: path, item: "attribute \(name)", "has the wrong type: \(e.message)")
            }
        }
        let format = try attribute("format", f.stringAttribute)
        guard format == Self.format else {
            throw CheckpointError(file: path, item: "attribute format", "is \"\(format)\", expected \"\(Self.format)\" (not a kelm-dist checkpoint)")
        }
        let version = try attribute("format_version", f.intAttribute)
        guard version <= formatVersion else {
            throw CheckpointError(file: path, item: "attribute format_version",
                                  "is \(version), newer than this build reads (\(formatVersion)); use a newer kelm-dist")
        }
        guard version >= 1 else {
            throw CheckpointError(file: path, item: "attribute format_version", "is \(version), expected 1...\(formatVersion)")
        }
        var memory: MemoryState? = nil
        var memoryDType: EntityMemoryDType? = nil
        if try f.exists("/memory/entity_context") {
            memoryDType = try f.withDataset("/memory/entity_context") { ds in
                let kind = try ds.elementKind()
                switch kind {
                case .float(bytes: 4): return .float32
                case .float(bytes: 2): return .float16
                default: throw CheckpointError(file: path, item: "/memory/entity_context", "is stored as \(kind), expected float32 or float16")
                }
            }
            memory = try f.withDataset("/memory/entity_context") { ds in
                func value<T>(_ name: String, _ read: (String) throws -> T) throws -> T {
                    guard try ds.hasAttribute(name) else {
                        throw CheckpointError(file: path, item: "/memory/entity_context attribute \(name)", "missing")
                    }
                    return try read(name)
                }
                var m = MemoryState()
                m.refreshCount = try value("refresh_count", ds.intAttribute)
                m.nextRefreshStep = try value("next_refresh_step", ds.intAttribute)
                m.nextBlock = try value("next_block", ds.intAttribute)
                m.momentum = try value("momentum", ds.doubleAttribute)
                return m
            }
        }
        var optimizerStep = 0
        if try f.exists("/optimizer") {
            optimizerStep = try f.withGroup("/optimizer") { g in
                guard try g.hasAttribute("step") else { throw CheckpointError(file: path, item: "/optimizer attribute step", "missing") }
                return try g.intAttribute("step")
            }
        }
        var header = Header(step: try attribute("step", f.intAttribute), epoch: try attribute("epoch", f.intAttribute),
                            samplesSeen: try attribute("samples_seen", f.intAttribute),
                            worldSize: try attribute("world_size", f.intAttribute),
                            configJSON: try attribute("config", f.stringAttribute), optimizerStep: optimizerStep,
                            memoryState: memory)
        header.memoryDType = memoryDType
        if try f.hasAttribute(vocabularyDigestAttribute) { header.vocabularyDigest = try f.stringAttribute(vocabularyDigestAttribute) }
        if try f.exists("/evaluation") {
            header.bestEvaluation = try f.withGroup("/evaluation") { g in
                func value<T>(_ name: String, _ read: (String) throws -> T) throws -> T {
                    guard try g.hasAttribute(name) else {
                        throw CheckpointError(file: path, item: "/evaluation attribute \(name)", "missing")
                    }
                    do {
                        return try read(name)
                    } catch let e as HDF5Error where e.kind != .library {
                        throw CheckpointError(file: path, item: "/evaluation attribute \(name)", "has the wrong type: \(e.message)")
                    }
                }
                return BestEvaluation(mlmLoss: try value("best_mlm_loss", g.doubleAttribute), step: try value("best_step", g.intAttribute),
                                      split: try value("split", g.stringAttribute))
            }
        }
        header.formatVersion = version
        header.kelmVersion = try f.hasAttribute("kelm_version") ? try f.stringAttribute("kelm_version") : ""
        header.checksummed = try isChecksummed(f)
        if header.checksummed {
            guard try f.hasAttribute(headerChecksumAttribute) else {
                throw CheckpointError(file: path, item: "attribute \(headerChecksumAttribute)", "missing, but the file says it has checksums: the file is corrupt")
            }
            let stored = try f.int64Attribute(headerChecksumAttribute)
            let actual = Int64(headerChecksum(format: format, formatVersion: version, step: header.step, epoch: header.epoch,
                                              samplesSeen: header.samplesSeen, worldSize: header.worldSize,
                                              config: header.configJSON, kelmVersion: header.kelmVersion))
            guard stored == actual else {
                throw CheckpointError(file: path, item: "root attributes",
                                      String(format: "checksum mismatch (stored header_crc32 %08llx, attributes %08llx): the file is corrupt", stored, actual))
            }
        }
        // Values a training run can have written: a file from another writer (or damage under a
        // recomputed checksum) could hold anything, and resuming computes with these.
        func require(_ item: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else {
                throw CheckpointError(file: path, item: item, "is \(value), expected \(range.lowerBound)…\(range.upperBound)")
            }
        }
        let counts = 0...(1 << 40)
        try require("attribute step", header.step, counts)
        try require("attribute epoch", header.epoch, counts)
        try require("attribute samples_seen", header.samplesSeen, counts)
        try require("attribute world_size", header.worldSize, 1...(1 << 24))
        try require("/optimizer attribute step", header.optimizerStep, counts)
        if let m = header.memoryState {
            try require("/memory/entity_context attribute refresh_count", m.refreshCount, counts)
            try require("/memory/entity_context attribute next_refresh_step", m.nextRefreshStep, counts)
            try require("/memory/entity_context attribute next_block", m.nextBlock, counts)
            guard m.momentum >= 0 && m.momentum <= 1 else {
                throw CheckpointError(file: path, item: "/memory/entity_context attribute momentum", "is \(m.momentum), expected 0…1")
            }
        }
        return header
    }

    /// Whether the file promises a `crc32` attribute on every dataset.
    static func isChecksummed(_ f: HDF5File) throws -> Bool {
        guard try f.hasAttribute(checksumsAttribute) else { return false }
        let value = try f.stringAttribute(checksumsAttribute)
        guard value == checksumsValue else {
            throw CheckpointError(file: f.filePath, item: "attribute \(checksumsAttribute)",
                                  "is \"\(value)\"; this build knows \"\(checksumsValue)\"")
        }
        return true
    }

    /// The dataset path of parameter `name` under `group` (`params`, `optimizer/exp_avg`, …).
    public static func datasetPath(_ group: String, _ name: String) -> String {
        "/\(group)/" + name.replacingOccurrences(of: ".", with: "/")
    }

    /// Reads `group`'s tensors (params, optimizer/exp_avg, …) into `buffer` laid out by `table`:
    /// every tensor must be present with its shape, and its checksum must match.
    public static func read(_ group: String, from f: HDF5File, into buffer: FlatBuffer, table: ParameterTable) throws {
        let file = f.filePath
        try guarding(file) {
            let required = try isChecksummed(f)
            for e in table.entries {
                let p = datasetPath(group, e.name)
                guard try f.exists(p) else { throw CheckpointError(file: file, item: p, "missing (the model has parameter \(e.name))") }
                try f.withDataset(p) { ds in
                    let shape = try ds.shape()
                    guard shape == e.shape else {
                        throw CheckpointError(file: file, item: p, "has shape \(shape), but the model built for this run has \(e.shape)")
                    }
                    let values = UnsafeMutableBufferPointer(start: e.ref.pointer(in: buffer.pointer), count: e.count)
                    try StoredTensor.read(ds, into: values, file: file, item: p, required: required)
                    try StoredTensor.requireFinite(UnsafeBufferPointer(values), file: file, item: p)
                }
            }
        }
    }

    /// The parameters stored under `/group` (default `/params`): names (with `.`) and shapes, in
    /// the file's (alphabetical) order.
    public static func storedParameters(in f: HDF5File, group: String = "params") throws -> [(name: String, shape: [Int])] {
        try guarding(f.filePath) {
            guard try f.exists("/" + group) else { throw CheckpointError(file: f.filePath, item: "/" + group, "missing") }
            return try f.leafObjects(under: "/" + group).map { child, type in
                guard type == .dataset else { throw CheckpointError(file: f.filePath, item: child, "is neither a group nor a dataset") }
                let name = child.dropFirst(group.count + 2).replacingOccurrences(of: "/", with: ".")
                return (name, try f.withDataset(child) { try $0.shape() })
            }
        }
    }

    /// Checks the stored parameters against `expected` (the parameter table of the architecture
    /// the checkpoint's own configuration describes, `architecture` in words): every expected
    /// tensor present with its shape, nothing else under `/params`.
    public static func checkParameters(in f: HDF5File, expected: ParameterTable, architecture: String) throws {
        let file = f.filePath
        let stored = try storedParameters(in: f)
        let shapes = Dictionary(stored.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for e in expected.entries {
            let p = datasetPath("params", e.name)
            guard let shape = shapes[e.name] else {
                throw CheckpointError(file: file, item: p, "missing; the architecture in attribute config (\(architecture)) has it")
            }
            guard shape == e.shape else {
                throw CheckpointError(file: file, item: p,
                                      "has shape \(shape), but the architecture in attribute config (\(architecture)) gives \(e.shape)")
            }
        }
        for s in stored where !expected.contains(s.name) {
            throw CheckpointError(file: file, item: datasetPath("params", s.name),
                                  "is not a parameter of the architecture in attribute config (\(architecture))")
        }
    }

    /// Reads one stored float tensor (any dataset path), verifying its checksum.
    public static func readTensor(_ path: String, from f: HDF5File) throws -> (values: [Float], shape: [Int]) {
        let file = f.filePath
        return try guarding(file) {
            guard try f.exists(path) else { throw CheckpointError(file: file, item: path, "missing") }
            let required = try isChecksummed(f)
            return try f.withDataset(path) { ds in
                let shape = try ds.shape()
                let count = shape.reduce(1, *)
                let values = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    try StoredTensor.read(ds, into: buffer, file: file, item: path, required: required)
                    initialized = count
                }
                return (values, shape)
            }
        }
    }

    /// Reads the routing state of `layers` routed layers, if the checkpoint has one.
    public static func readRouting(from f: HDF5File, layers: Int) throws -> RoutingState? {
        let file = f.filePath
        return try guarding(file) {
            guard try f.exists("/routing/paths/0") else { return nil }
            let required = try isChecksummed(f)
            var paths: [[Int32]] = [], scores: [[Double]] = [], steps: [[Int64]] = []
            for l in 0..<layers {
                for p in ["/routing/paths/\(l)", "/routing/scores/\(l)", "/optimizer/neuron_steps/\(l)"] where try !f.exists(p) {
                    throw CheckpointError(file: file, item: p, "missing")
                }
                paths.append(try f.withDataset("/routing/paths/\(l)") {
                    try StoredTensor.readInt32s($0, file: file, item: "/routing/paths/\(l)", required: required)
                })
                scores.append(try f.withDataset("/routing/scores/\(l)") {
                    try StoredTensor.readDoubles($0, file: file, item: "/routing/scores/\(l)", required: required)
                })
                steps.append(try f.withDataset("/optimizer/neuron_steps/\(l)") {
                    try StoredTensor.readInt64s($0, file: file, item: "/optimizer/neuron_steps/\(l)", required: required)
                })
            }
            let last = try f.withGroup("/routing") { g in
                guard try g.hasAttribute("last_refresh_step") else {
                    throw CheckpointError(file: file, item: "/routing attribute last_refresh_step", "missing")
                }
                return try g.intAttribute("last_refresh_step")
            }
            return RoutingState(paths: paths, scores: scores, neuronSteps: steps, lastRefreshStep: last)
        }
    }

    /// The LM layers with a routing state (`/routing/paths/<layer>`), ascending.
    public static func routedLayers(in f: HDF5File) throws -> [Int] {
        try guarding(f.filePath) {
            guard try f.exists("/routing/paths") else { return [] }
            let names = try f.withGroup("/routing/paths") { try $0.memberNames() }
            return try names.map { name in
                guard let l = Int(name) else {
                    throw CheckpointError(file: f.filePath, item: "/routing/paths/\(name)", "is not named by a layer index")
                }
                return l
            }.sorted()
        }
    }

    /// Reads the entity memory into `values` ([entities, width]) whatever its stored dtype: a
    /// float32 memory stored as float32, or as float16 (then widened, which is exact), or a float16
    /// memory stored as float16 (unchanged) or as float32 (then rounded to nearest, ties to even).
    /// Checksums are verified on the stored bytes. Rounding reads whole rows, about
    /// `chunkValues` values at a time.
    public static func readMemory(from f: HDF5File, into values: EntityMemoryStorage, entities: Int, width: Int,
                                  chunkValues: Int = 1 << 22) throws {
        switch values {
        case .float32(let b): try readMemory(from: f, into: b, entities: entities, width: width)
        case .float16(let b):
            try withMemoryDataset(f, entities: entities, width: width) { ds, file, item, required in
                guard b.count == entities * width else {
                    throw CheckpointError(file: file, item: item, "has shape \(try ds.shape()), the run has [\(entities), \(width)] (entities × hidden size)")
                }
                try StoredTensor.read(ds, into: b.buffer, rowWidth: width, file: file, item: item, required: required,
                                      chunkValues: chunkValues)
                // half-precision rows must be finite too (an exponent of all ones: NaN or infinity)
                let bits = UnsafeRawPointer(b.buffer.baseAddress!).assumingMemoryBound(to: UInt16.self)
                if let i = (0..<b.buffer.count).first(where: { bits[$0] & 0x7C00 == 0x7C00 }) {
                    throw CheckpointError(file: file, item: item, "holds \(Float(b.buffer[i])) at element \(i); stored weights, moments and memory must be finite")
                }
            }
        }
    }

    /// Reads the entity memory into the float32 `values` ([entities, width]).
    public static func readMemory(from f: HDF5File, into values: FlatBuffer, entities: Int, width: Int) throws {
        try withMemoryDataset(f, entities: entities, width: width) { ds, file, item, required in
            let stored = UnsafeMutableBufferPointer(start: values.pointer, count: entities * width)
            try StoredTensor.read(ds, into: stored, file: file, item: item, required: required)
            try StoredTensor.requireFinite(UnsafeBufferPointer(stored), file: file, item: item)
        }
    }

    /// Opens `/memory/entity_context` of `f`, checks it is there and [entities, width], and runs
    /// `body` on it with the file's path, the item's name and whether checksums are required.
    private static func withMemoryDataset(_ f: HDF5File, entities: Int, width: Int,
                                          _ body: (HDF5Dataset, String, String, Bool) throws -> Void) throws {
        let p = "/memory/entity_context", file = f.filePath
        try guarding(file) {
            guard try f.exists(p) else { throw CheckpointError(file: file, item: p, "missing") }
            let required = try isChecksummed(f)
            try f.withDataset(p) { ds in
                let shape = try ds.shape()
                guard shape == [entities, width] else {
                    throw CheckpointError(file: file, item: p, "has shape \(shape), the run has [\(entities), \(width)] (entities × hidden size)")
                }
                try body(ds, file, p, required)
            }
        }
    }

    /// What `verify` checked.
    public struct Verification: Equatable, Sendable {
        /// Datasets read in full.
        public var datasets: Int
        /// Of them, those whose checksum was compared (all of them in a checksummed file).
        public var checksummed: Int
        /// Bytes of data read.
        public var bytes: Int
        /// Float datasets holding NaN or infinity: name, how many such values, the first's index.
        public var nonFinite: [(item: String, count: Int, first: Int)] = []

        public static func == (a: Verification, b: Verification) -> Bool {
            a.datasets == b.datasets && a.checksummed == b.checksummed && a.bytes == b.bytes
                && a.nonFinite.map(\.item) == b.nonFinite.map(\.item) && a.nonFinite.map(\.count) == b.nonFinite.map(\.count)
        }
    }

    /// Reads every dataset of the file (a checkpoint or a weights file) in full and compares
    /// each checksum; throws `CheckpointError` at the first unreadable or corrupt one.
    public static func verify(_ f: HDF5File) throws -> Verification {
        let file = f.filePath
        return try guarding(file) {
            let required = try f.hasAttribute(checksumsAttribute)
            var result = Verification(datasets: 0, checksummed: 0, bytes: 0)
            for (child, type) in try f.leafObjects() {
                guard type == .dataset else {
                    throw CheckpointError(file: file, item: child, "is neither a group nor a dataset")
                }
                try f.withDataset(child) { ds in
                    let kind = try ds.elementKind()
                    let count = try ds.shape().reduce(1, *)
                    switch kind {
                    case .float(bytes: 4), .float(bytes: 2):
                        var values = [Float](repeating: 0, count: count)
                        try values.withUnsafeMutableBufferPointer {
                            try StoredTensor.read(ds, into: $0, file: file, item: child, required: required)
                        }
                        result.bytes += count * (kind == .float(bytes: 4) ? 4 : 2)
                        if let first = values.firstIndex(where: { !$0.isFinite }) {
                            result.nonFinite.append((child, values.lazy.filter { !$0.isFinite }.count, first))
                        }
                    case .float(bytes: 8):
                        let values = try StoredTensor.readDoubles(ds, file: file, item: child, required: required)
                        result.bytes += 8 * values.count
                        if let first = values.firstIndex(where: { !$0.isFinite }) {
                            result.nonFinite.append((child, values.lazy.filter { !$0.isFinite }.count, first))
                        }
                    case .integer(bytes: 4, signed: true):
                        result.bytes += 4 * (try StoredTensor.readInt32s(ds, file: file, item: child, required: required)).count
                    case .integer(bytes: 8, signed: true):
                        result.bytes += 8 * (try StoredTensor.readInt64s(ds, file: file, item: child, required: required)).count
                    default:
                        throw CheckpointError(file: file, item: child, "is stored as \(kind), which no checkpoint dataset is")
                    }
                    result.datasets += 1
                    if try ds.hasAttribute(StoredTensor.checksumAttribute) { result.checksummed += 1 }
                }
            }
            return result
        }
    }
}
