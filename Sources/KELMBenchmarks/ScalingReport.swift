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
        public init() {}
    }

    public let models: [ScalingModel]
    public let options: Options
    public init(models: [ScalingModel], options: Options) {
        self.models = models
        self.options = options
    }

    public var text: String {
        var lines: [String] = []
        for model in models {
            let layouts = Set([1, model.measuredRanks]).sorted()
            lines.append("\(model.policy): one rank alone \(fmt(model.aloneMs)) ms/step, \(model.measuredRanks) ranks together on one machine \(fmt(model.togetherMs)) ms/step; \(model.buckets.count) buckets, \(fmt(Double(model.buckets.reduce(0) { $0 + $1.bytes } + model.pathBytes) / 1e6)) MB reduced per step")
            lines.append("| ranks per machine | link | " + options.machines.map { "\($0) machines" }.joined(separator: " | ") + " |")
            lines.append("| --- | --- | " + options.machines.map { _ in "---" }.joined(separator: " | ") + " |")
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
        lines.append("| refresh | link | " + options.machines.map { "\($0) machines" }.joined(separator: " | ") + " |")
        lines.append("| --- | --- | " + options.machines.map { _ in "---" }.joined(separator: " | ") + " |")
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
        lines.append("| link | " + options.machines.map { "\($0) machines" }.joined(separator: " | ") + " |")
        lines.append("| --- | " + options.machines.map { _ in "---" }.joined(separator: " | ") + " |")
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

    func fmt(_ x: Double) -> String {
        x >= 100 ? String(format: "%.0f", x) : x >= 10 ? String(format: "%.1f", x) : x >= 1 ? String(format: "%.2f", x) : String(format: "%.3f", x)
    }
}
