import Foundation

/// `kelm-dist bench scale`: the scaling model's tables (docs/scaling.md).
public struct ScalingReport {
    public struct Options: Sendable {
        public var machines = [1, 2, 3, 8, 16, 64, 256]
        public var gbit = [1.0, 10.0, 100.0]
        public var latencyMicroseconds = 50.0
        /// Knowledge graphs to tabulate the memory refresh for: (name, entities).
        public var graphs: [(String, Int)] = [("WordNet", 117_659), ("4.6M entities", 4_600_000)]
        /// Entities a `rolling` refresh covers (`memory.block_entities`).
        public var blockEntities = 8192
        public var hidden = 384
        public var memoryBytesPerValue = 4
        public var refreshInterval = 500
        public var entitiesPerSecondPerRank = 360.0
        public var attributionSamples = 64
        public var attributionInterval = 200
        public var attributionLayers = 6
        public var ffn = 1536
        /// Runs on the simulated cluster to check the model against (each with its link's rate):
        /// when given, the report is the check table alone.
        public var checks: [Check] = []
        /// The network stack's CPU cost on the simulated cluster's shared cores (checks only).
        public var networkCost: ScalingModel.NetworkCost? = nil
        public init() {}
    }

    /// One `bench train --json` run on the simulated cluster (P hosts of one rank).
    public struct Check: Sendable {
        public var name: String
        public var gbit: Double
        public var measured: TrainBenchmark.Result
        public init(name: String, gbit: Double, measured: TrainBenchmark.Result) {
            self.name = name
            self.gbit = gbit
            self.measured = measured
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case noModelFor(check: String, policy: String, ranks: Int)
        case notOneRankPerHost(check: String, allreduce: String)
        public var description: String {
            switch self {
            case let .notOneRankPerHost(check, allreduce):
                return "bench scale: \(check) summed its buckets through \(allreduce); a check needs a run of one rank per simulated host (the MPI ring)"
            case let .noModelFor(check, policy, ranks):
                return "bench scale: \(check) ran \(policy) on \(ranks) hosts; give the bench train --json of \(ranks) ranks on one machine with that policy to predict it from"
            }
        }
    }

    public let models: [ScalingModel]
    public let options: Options
    public init(models: [ScalingModel], options: Options) {
        self.models = models
        self.options = options
    }

    /// The check table: per simulated-cluster run, the model's prediction from the measurement
    /// of as many ranks on one machine with the same policy (`predictSimulatedCluster`).
    public func checkTable() throws -> String {
        var lines = ["| policy | hosts | link | predicted step | measured step | error | predicted network CPU | predicted exposed | measured exposed (rank 0, longest) | run |",
                     "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for check in options.checks {
            let r = check.measured
            guard r.allreduce.hasPrefix("MPI ring") else { throw Failure.notOneRankPerHost(check: check.name, allreduce: r.allreduce) }
            guard let model = models.first(where: { $0.policy == r.policy && $0.measuredRanks == r.ranks }) else {
                throw Failure.noModelFor(check: check.name, policy: r.policy, ranks: r.ranks)
            }
            let p = model.predictSimulatedCluster(link: ScalingModel.Link(gbit: check.gbit, latencyMicroseconds: options.latencyMicroseconds),
                                                  network: options.networkCost)
            let measured = r.sec_per_step * 1000
            let error = (p.stepMs - measured) / measured * 100
            lines.append("| \(r.policy) | \(r.ranks) | \(fmt(check.gbit)) Gbit/s | \(fmt(p.stepMs)) ms | \(fmt(measured)) ms | \(String(format: "%+.1f", error)) % | \(fmt(p.networkCpuMs)) ms | \(fmt(p.exposedMs)) ms | \(fmt(r.exposed_comm_ms)), \(fmt(r.exposed_comm_longest_wait_ms)) ms | \(check.name) |")
        }
        return lines.joined(separator: "\n")
    }

    public var text: String {
        var lines: [String] = []
        for model in models {
            let layouts = Set([1, model.measuredRanks]).sorted()
            lines.append("\(model.policy): one rank alone \(fmt(model.aloneMs)) ms/step, \(model.measuredRanks) ranks together on one machine \(fmt(model.togetherMs)) ms/step; \(model.buckets.count) buckets, \(fmt(Double(model.buckets.reduce(0) { $0 + $1.bytes } + model.pathBytes) / 1e6)) MB reduced per step")
            lines += header(["ranks per machine", "link"])
            for l in layouts {
                for g in options.gbit {
                    let link = ScalingModel.Link(gbit: g, latencyMicroseconds: options.latencyMicroseconds)
                    let cells = options.machines.map { m -> String in
                        guard let p = try? model.predict(machines: m, ranksPerMachine: l, link: link) else { return "—" }
                        return "\(fmt(p.stepMs)) ms, \(String(format: "%.2f", p.efficiency))"
                    }
                    lines.append("| \(l) | \(fmt(g)) Gbit/s | " + cells.joined(separator: " | ") + " |")
                }
            }
            lines.append("(step time, weak-scaling efficiency against one rank alone)")
            lines.append("")
        }
        lines.append("Entity-memory refresh every \(options.refreshInterval) steps (d = \(options.hidden), \(options.memoryBytesPerValue) bytes a value, \(fmt(options.entitiesPerSecondPerRank)) descriptions/s per rank), per step: encode + all-gather (ms)")
        lines += header(["refresh", "link"])
        let l = models.first?.measuredRanks ?? 1
        let refreshes = [("rolling, \(options.blockEntities) entities", options.blockEntities)]
            + options.graphs.map { ("full, \($0.0) (\($0.1) entities)", $0.1) }
        for (name, e) in refreshes {
            for g in options.gbit {
                let link = ScalingModel.Link(gbit: g, latencyMicroseconds: options.latencyMicroseconds)
                let cells = options.machines.map { m -> String in
                    let r = ScalingModel.refreshPerStepMs(entities: e, hidden: options.hidden, bytesPerValue: options.memoryBytesPerValue,
                                                          interval: options.refreshInterval, entitiesPerSecondPerRank: options.entitiesPerSecondPerRank,
                                                          machines: m, ranks: m * l, link: link)
                    return "\(fmt(r.encode)) + \(fmt(r.gather))"
                }
                lines.append("| \(name) | \(fmt(g)) Gbit/s | " + cells.joined(separator: " | ") + " |")
            }
        }
        lines.append("(\(l) ranks per machine)")
        lines.append("")
        lines.append("Knowledge-path score gather (\(options.attributionSamples) samples × \(options.attributionLayers) layers × \(options.ffn) neurons, float64, every \(options.attributionInterval) steps), per step (ms)")
        lines += header(["link"])
        for g in options.gbit {
            let link = ScalingModel.Link(gbit: g, latencyMicroseconds: options.latencyMicroseconds)
            let cells = options.machines.map {
                fmt(ScalingModel.scoreGatherPerStepMs(samples: options.attributionSamples, layers: options.attributionLayers,
                                                      ffn: options.ffn, interval: options.attributionInterval, machines: $0, link: link))
            }
            lines.append("| \(fmt(g)) Gbit/s | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// A table's header and rule: the `leading` columns, then one column per machine count.
    func header(_ leading: [String]) -> [String] {
        let columns = leading + options.machines.map { "\($0) machines" }
        return ["| " + columns.joined(separator: " | ") + " |", "|" + String(repeating: " --- |", count: columns.count)]
    }

    func fmt(_ x: Double) -> String {
        x >= 100 ? String(format: "%.0f", x) : x >= 10 ? String(format: "%.1f", x) : x >= 1 ? String(format: "%.2f", x) : String(format: "%.3f", x)
    }
}
