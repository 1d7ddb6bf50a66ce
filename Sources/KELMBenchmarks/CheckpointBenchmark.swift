import Foundation
import KELMBatches
import KELMConfig
import KELMFiles
import KELMCheckpoint
import KELMModel
import KELMNumerics

/// `kelm-dist bench checkpoint` (the checkpoint issue): the size and time of saving the model's
/// full checkpoint — parameters, both Adam moments, routing state and the entity memory — the way
/// `train` saves it (HDF5 writes, CRC-32s, fsync, rename, directory fsync, `latest`, pruning),
/// and of loading it back with verification. Training waits for the save (every rank agrees the
/// checkpoint is complete before going on), so the save time is the stall.
/// The floor on the disk is measured too: the same bytes with `write(2)` and one `fsync`.
public struct CheckpointBenchmark {
    public struct Options: Sendable {
        /// The architecture and `memory.dtype` come from here.
        public var config: KELMConfig
        /// Rows of the entity memory (default: WordNet 3.0's synsets) and relations of the KG.
        public var entities = 117_659
        public var relations = 18
        /// Timed saves (and loads); the median and the best are reported.
        public var repeats = 5
        /// Folder the checkpoints are written in (a fresh subfolder, removed afterwards).
        public var directory: String

        public init(config: KELMConfig, directory: String) {
            self.config = config
            self.directory = directory
        }
    }

    public struct Result: Codable, Sendable {
        public var benchmark = "checkpoint"
        public var parameters: Int
        public var entities: Int
        public var width: Int
        public var memory_dtype: String
        /// Bytes of the tensors (params, two moments, memory) and of the file.
        public var tensor_bytes: Int
        public var file_bytes: Int
        public var save_s: [Double]
        public var save_median_s: Double
        public var save_best_s: Double
        public var load_s: [Double]
        public var load_median_s: Double
        /// The same bytes with write(2) and fsync, no HDF5: the disk's floor.
        public var raw_write_fsync_s: [Double]
        public var directory: String

        public var report: String {
            func list(_ v: [Double]) -> String { v.map { String(format: "%.3f", $0) }.joined(separator: ", ") }
            return [
                String(format: "checkpoint: %d parameters + 2 Adam moments, memory %d × %d (%@); file %.1f MB (tensors %.1f MB)",
                       parameters, entities, width, memory_dtype, Double(file_bytes) / 1e6, Double(tensor_bytes) / 1e6),
                String(format: "  save (HDF5, CRC-32, fsync, rename, directory fsync, latest, prune): median %.3f s, best %.3f s  [%@]",
                       save_median_s, save_best_s, list(save_s)),
                String(format: "  load + verify: median %.3f s  [%@]", load_median_s, list(load_s)),
                "  floor, write(2) + fsync of the same bytes: [\(list(raw_write_fsync_s))] s",
                "  in \(directory)",
            ].joined(separator: "\n")
        }
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let o = options
        let fusion = o.config.fusionConfig(numRelations: o.relations)
        var table = ParameterTable()
        _ = try FusionModel.Parameters(&table, config: fusion)
        let d = fusion.bert.hiddenSize, ff = fusion.bert.ffnSize, layers = fusion.bert.numLayers
        func filled(_ n: Int, _ seed: Float) -> FlatBuffer {
            let b = FlatBuffer(count: n)
            for i in 0..<n { b.pointer[i] = seed * Float(i % 1013) * 1e-3 }
            return b
        }
        let dtype: EntityMemoryDType = o.config.memory.dtype == .float16 ? .float16 : .float32
        let memory = EntityMemoryStorage(dtype: dtype, count: o.entities * d)
        let row = filled(d, 4)
        for e in 0..<o.entities { memory.store(row.pointer, at: e * d, count: d) }
        var c = Checkpoint.Contents(step: 1000, epoch: 0, samplesSeen: 8000, worldSize: 1, configJSON: "{}", table: table,
                                    params: filled(table.count, 1), expAvg: filled(table.count, 2),
                                    expAvgSq: filled(table.count, 3), optimizerStep: 1000,
                                    lrPretrained: o.config.train.lrPretrained, lrNew: o.config.train.lrNew,
                                    memory: (memory, o.entities, d))
        let selected = Int((o.config.routing.fraction * Double(ff)).rounded(.up))
        c.routing = Checkpoint.RoutingState(paths: Array(repeating: (0..<selected).map { Int32($0) }, count: layers),
                                            scores: Array(repeating: Array(repeating: 0.5, count: ff), count: layers),
                                            neuronSteps: Array(repeating: Array(repeating: 7, count: ff), count: layers),
                                            lastRefreshStep: 800)
        let run = (o.directory as NSString).appendingPathComponent("kelm-bench-checkpoint-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(atPath: run) }  // the benchmark's own scratch folder
        var saves: [Double] = [], loads: [Double] = []
        var path = ""
        let loadParams = FlatBuffer(count: table.count)
        let loadMemory = EntityMemoryStorage(dtype: dtype, count: o.entities * d)
        for i in 0..<o.repeats {
            c.step = 1000 + i
            let t0 = Profiler.now()
            path = try Checkpoint.save(c, runDirectory: run, keep: 1)
            saves.append(Double(Profiler.now() - t0) / 1e9)
            let t1 = Profiler.now()
            let (f, _) = try Checkpoint.open(path)
            for group in ["params", "optimizer/exp_avg", "optimizer/exp_avg_sq"] {
                try Checkpoint.read(group, from: f, into: loadParams, table: table)
            }
            try Checkpoint.readMemory(from: f, into: loadMemory, entities: o.entities, width: d)
            _ = try Checkpoint.readRouting(from: f, layers: layers)
            try f.close()
            loads.append(Double(Profiler.now() - t1) / 1e9)
            progress(String(format: "save %d/%d: %.3f s, load %.3f s", i + 1, o.repeats, saves[i], loads[i]))
        }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        let tensorBytes = 4 * 3 * table.count + o.entities * d * dtype.byteWidth
        var raw: [Double] = []
        for _ in 0..<min(3, o.repeats) {
            raw.append(try rawWrite(directory: run, pieces: [
                (UnsafeRawPointer(c.params.pointer), 4 * table.count),
                (UnsafeRawPointer(c.expAvg!.pointer), 4 * table.count),
                (UnsafeRawPointer(c.expAvgSq!.pointer), 4 * table.count),
                (memory.bytes.baseAddress!, memory.byteCount),
            ]))
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        return Result(parameters: table.count, entities: o.entities, width: d, memory_dtype: dtype.rawValue,
                      tensor_bytes: tensorBytes, file_bytes: fileBytes, save_s: saves, save_median_s: median(saves),
                      save_best_s: saves.min() ?? 0, load_s: loads, load_median_s: median(loads),
                      raw_write_fsync_s: raw, directory: o.directory)
    }

    /// Seconds to write `pieces` to a new file with write(2) and fsync it.
    private func rawWrite(directory: String, pieces: [(UnsafeRawPointer, Int)]) throws -> Double {
        let path = (directory as NSString).appendingPathComponent("raw.bin")
        let t = Profiler.now()
        let fd = try AtomicFile.openForWriting(path)
        defer { close(fd) }
        for (pointer, count) in pieces { try AtomicFile.appendAll(UnsafeRawBufferPointer(start: pointer, count: count), fd: fd, path: path) }
        guard fsync(fd) == 0 else { throw AtomicFileError.systemCall(call: "fsync", path: path, errno: errno) }
        let seconds = Double(Profiler.now() - t) / 1e9
        try FileManager.default.removeItem(atPath: path)
        return seconds
    }
}
