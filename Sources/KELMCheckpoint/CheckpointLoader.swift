import Foundation
import KELMHDF5
import KELMNumerics

/// A checkpoint that cannot be used, naming the file and the item.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let item: String
    public let problem: String

    public init(file: String, item: String, _ problem: String) {
        self.file = file
        self.item = item
        self.problem = problem
    }

    public var description: String { "checkpoint \(file): \(item): \(problem)" }
}

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
    }

    /// Opens a checkpoint and checks its format and version.
    public static func open(_ path: String) throws -> (file: HDF5File, header: Header) {
        let f = try HDF5File.open(path)
        func attribute<T>(_ name: String, _ read: (String) throws -> T) throws -> T {
            guard try f.hasAttribute(name) else { throw CheckpointError(file: path, item: "attribute \(name)", "missing") }
            return try read(name)
        }
        let format = try attribute("format", f.stringAttribute)
        guard format == Self.format else {
            throw CheckpointError(file: path, item: "attribute format", "is \"\(format)\", expected \"\(Self.format)\"")
        }
        let version = try attribute("format_version", f.intAttribute)
        guard version <= formatVersion else {
            throw CheckpointError(file: path, item: "attribute format_version",
                                  "is \(version), newer than this build reads (\(formatVersion)); use a newer kelm-dist")
        }
        var memory: MemoryState? = nil
        if try f.exists("/memory/entity_context") {
            memory = try f.withDataset("/memory/entity_context") { ds in
                var m = MemoryState()
                m.refreshCount = try ds.intAttribute("refresh_count")
                m.nextRefreshStep = try ds.intAttribute("next_refresh_step")
                m.nextBlock = try ds.intAttribute("next_block")
                m.momentum = try ds.doubleAttribute("momentum")
                return m
            }
        }
        let optimizerStep = try f.exists("/optimizer") ? try f.withGroup("/optimizer") { try $0.intAttribute("step") } : 0
        let header = Header(step: try attribute("step", f.intAttribute), epoch: try attribute("epoch", f.intAttribute),
                            samplesSeen: try attribute("samples_seen", f.intAttribute),
                            worldSize: try attribute("world_size", f.intAttribute),
                            configJSON: try attribute("config", f.stringAttribute), optimizerStep: optimizerStep,
                            memoryState: memory)
        return (f, header)
    }

    /// Reads `group`'s tensors (params, optimizer/exp_avg, …) into `buffer` laid out by `table`:
    /// every tensor must be present with its shape.
    public static func read(_ group: String, from f: HDF5File, into buffer: FlatBuffer, table: ParameterTable) throws {
        for e in table.entries {
            let p = "/\(group)/" + e.name.replacingOccurrences(of: ".", with: "/")
            guard try f.exists(p) else { throw CheckpointError(file: f.filePath, item: p, "missing") }
            try f.withDataset(p) { ds in
                let shape = try ds.shape()
                guard shape == e.shape else {
                    throw CheckpointError(file: f.filePath, item: p, "has shape \(shape), the model has \(e.shape)")
                }
                try ds.read(into: UnsafeMutableBufferPointer(start: e.ref.pointer(in: buffer.pointer), count: e.count))
            }
        }
    }

    /// Reads the routing state of `layers` routed layers, if the checkpoint has one.
    public static func readRouting(from f: HDF5File, layers: Int) throws -> RoutingState? {
        guard try f.exists("/routing/paths/0") else { return nil }
        var paths: [[Int32]] = [], scores: [[Double]] = [], steps: [[Int64]] = []
        for l in 0..<layers {
            for p in ["/routing/paths/\(l)", "/routing/scores/\(l)", "/optimizer/neuron_steps/\(l)"] where try !f.exists(p) {
                throw CheckpointError(file: f.filePath, item: p, "missing")
            }
            paths.append(try f.withDataset("/routing/paths/\(l)") { try $0.readInt32s() })
            scores.append(try f.withDataset("/routing/scores/\(l)") { try $0.readDoubles() })
            steps.append(try f.withDataset("/optimizer/neuron_steps/\(l)") { try $0.readInt64s() })
        }
        let last = try f.withGroup("/routing") { try $0.intAttribute("last_refresh_step") }
        return RoutingState(paths: paths, scores: scores, neuronSteps: steps, lastRefreshStep: last)
    }

    /// Reads the entity memory into `values` ([entities, width]).
    public static func readMemory(from f: HDF5File, into values: FlatBuffer, entities: Int, width: Int) throws {
        let p = "/memory/entity_context"
        guard try f.exists(p) else { throw CheckpointError(file: f.filePath, item: p, "missing") }
        try f.withDataset(p) { ds in
            let shape = try ds.shape()
            guard shape == [entities, width] else {
                throw CheckpointError(file: f.filePath, item: p, "has shape \(shape), the run has [\(entities), \(width)]")
            }
            try ds.read(into: values.buffer)
        }
    }
}
