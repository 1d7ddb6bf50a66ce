import Foundation

/// Predicts the training step at M machines × L ranks from one machine's `bench train`
/// measurement (issue #22): the step's compute as measured, plus the communication the network
/// cannot hide, simulated bucket by bucket.
///
/// Each dense bucket becomes ready when it did in the measurement (its all-reduce's start, in ms
/// before the end of backward) and crosses the network in turn (one link per machine,
/// full duplex, first come first served): a ring over M machines — the flat ring at L = 1, the
/// hierarchy's ring across machines at L > 1 — sends 2(M−1)/M of the bucket each way and takes
/// 2(M−1) latencies. What is still in flight when backward ends, and the knowledge-path buffer
/// reduced after it, is exposed. The compute is rank 0 alone (L = 1) or the measured L ranks
/// together on one machine (their shared-memory reduction and shared caches included).
///
/// The simulated cluster (launch/netns-cluster.sh) runs all its machines on one machine's cores:
/// `predictSimulatedCluster` takes the compute of the measurement's P ranks together (without
/// their reduction) for P simulated machines of one rank, the way those ranks share the cores,
/// and adds what every host's TCP stack takes from those cores (`NetworkCost`).
public struct ScalingModel: Sendable {
    public struct Link: Sendable {
        public var bitsPerSecond: Double
        /// One message's latency (seconds).
        public var latency: Double
        public init(gbit: Double, latencyMicroseconds: Double = 50) {
            bitsPerSecond = gbit * 1e9
            latency = latencyMicroseconds * 1e-6
        }
    }

    /// The CPU a host's network stack spends per megabyte a rank sends (and the matching receive
    /// at the other end), taken from compute when every core computes: measured where the CPU,
    /// not the link, bounds an all-reduce (`bench allreduce` on unlimited simulated links:
    /// time × cores ÷ megabytes all ranks send).
    public struct NetworkCost: Sendable {
        public var coreMsPerMB: Double
        /// Cores the simulated cluster's ranks and network stacks share.
        public var cores: Int
        public init(coreMsPerMB: Double, cores: Int) {
            self.coreMsPerMB = coreMsPerMB
            self.cores = cores
        }
    }

    public struct Bucket: Sendable {
        public var bytes: Int
        /// Milliseconds after the end of backward that it is ready (negative: before).
        public var readyMs: Double
        public init(bytes: Int, readyMs: Double) {
            self.bytes = bytes
            self.readyMs = readyMs
        }
    }

    public struct Prediction: Sendable {
        public var machines: Int
        public var ranksPerMachine: Int
        public var computeMs: Double
        public var exposedMs: Double
        /// Compute time lost to the network stack's CPU work (simulated cluster only).
        public var networkCpuMs: Double = 0
        public var stepMs: Double { computeMs + networkCpuMs + exposedMs }
        /// Per-rank throughput against one rank alone on one machine.
        public var efficiency: Double
        /// Bytes each machine sends per step (dense buckets and path buffer).
        public var bytesPerMachine: Double
    }

    public enum Failure: Error, CustomStringConvertible {
        case needsSeveralRanks
        case ranksPerMachineNotMeasured(asked: Int, measured: Int)
        public var description: String {
            switch self {
            case .needsSeveralRanks:
                return "bench scale: the measurement must come from bench train on 2 or more ranks (one rank reduces nothing, so its buckets are not timed)"
            case let .ranksPerMachineNotMeasured(asked, measured):
                return "bench scale: \(asked) ranks per machine asked, but the measurement ran \(measured) on its machine: measure bench train with 1 (its 'alone' phases) or \(asked) ranks"
            }
        }
    }

    public let policy: String
    /// One rank alone: forward + backward + optimizer + other (ms).
    public let aloneMs: Double
    /// The measured ranks together on one machine (ms per step), and how many.
    public let togetherMs: Double
    public let measuredRanks: Int
    /// The measured ranks' compute together (their step less its exposed reduction).
    public let togetherComputeMs: Double
    public let buckets: [Bucket]
    /// Bytes reduced after backward (the packed knowledge paths).
    public let pathBytes: Int

    public init(measured r: TrainBenchmark.Result) throws {
        guard r.ranks > 1, !r.buckets.isEmpty else { throw Failure.needsSeveralRanks }
        policy = r.policy
        let a = r.phases_alone
        aloneMs = a.forward_ms + a.backward_ms + a.optimizer_ms + a.other_ms
        let t = r.phases
        togetherMs = t.forward_ms + t.backward_ms + t.exposed_comm_ms + t.optimizer_ms + t.other_ms
        // the median step (the phases' medians need not add up to it when steps vary) less its reduction
        togetherComputeMs = r.sec_per_step * 1000 - t.exposed_comm_ms
        measuredRanks = r.ranks
        buckets = r.buckets.map { Bucket(bytes: $0.bytes, readyMs: -$0.started_before_backward_end_ms) }
        pathBytes = max(0, r.bytes_allreduced - r.buckets.reduce(0) { $0 + $1.bytes })
    }

    /// For tests: the parts directly.
    public init(policy: String, aloneMs: Double, togetherMs: Double, togetherComputeMs: Double? = nil, measuredRanks: Int,
                buckets: [Bucket], pathBytes: Int) {
        self.policy = policy
        self.aloneMs = aloneMs
        self.togetherMs = togetherMs
        self.togetherComputeMs = togetherComputeMs ?? togetherMs
        self.measuredRanks = measuredRanks
        self.buckets = buckets
        self.pathBytes = pathBytes
    }

    /// Seconds for one ring all-reduce of `bytes` over `machines` machines.
    public static func ringSeconds(bytes: Double, machines m: Int, link: Link) -> Double {
        guard m > 1 else { return 0 }
        let share = 2 * Double(m - 1) / Double(m)
        return share * bytes * 8 / link.bitsPerSecond + 2 * Double(m - 1) * link.latency
    }

    public func predict(machines m: Int, ranksPerMachine l: Int, link: Link) throws -> Prediction {
        guard l == 1 || l == measuredRanks else { throw Failure.ranksPerMachineNotMeasured(asked: l, measured: measuredRanks) }
        return predict(machines: m, ranksPerMachine: l, computeMs: l == 1 ? aloneMs : togetherMs, link: link)
    }

    /// The simulated cluster of as many one-rank machines as the measurement had ranks, all on
    /// the measuring machine's cores: each rank computes as the measured ranks did together.
    public func predictSimulatedCluster(link: Link, network: NetworkCost? = nil) -> Prediction {
        var p = predict(machines: measuredRanks, ranksPerMachine: 1, computeMs: togetherComputeMs, link: link)
        if let network {
            // every host sends bytesPerMachine a step; their stacks share the cores with compute
            p.networkCpuMs = Double(p.machines) * p.bytesPerMachine / 1e6 * network.coreMsPerMB / Double(network.cores)
            p.efficiency = aloneMs / p.stepMs
        }
        return p
    }

    func predict(machines m: Int, ranksPerMachine l: Int, computeMs compute: Double, link: Link) -> Prediction {
        // the link serves the buckets in the order they become ready
        var free = -Double.infinity
        for b in buckets.sorted(by: { $0.readyMs < $1.readyMs }) {
            free = max(free, b.readyMs) + Self.ringSeconds(bytes: Double(b.bytes), machines: m, link: link) * 1000
        }
        var exposed = max(0, free)
        if pathBytes > 0 { exposed += Self.ringSeconds(bytes: Double(pathBytes), machines: m, link: link) * 1000 }
        if m == 1 { exposed = 0 }
        let total = Double(buckets.reduce(0) { $0 + $1.bytes } + pathBytes)
        return Prediction(machines: m, ranksPerMachine: l, computeMs: compute, exposedMs: exposed,
                          efficiency: aloneMs / (compute + exposed),
                          bytesPerMachine: m > 1 ? 2 * Double(m - 1) / Double(m) * total : 0)
    }

    /// The entity memory's refresh per step, in steady state (every `interval` steps): the
    /// `entities` a refresh covers (`memory.block_entities` for `rolling`, |E| for `full`) are
    /// shared out over the `ranks` ranks, each encoding its part at `entitiesPerSecond`, then every
    /// machine receives the others' rows (`MPI_Allgatherv`, ring: (M−1)/M of entities·d values).
    public static func refreshPerStepMs(entities: Int, hidden: Int, bytesPerValue: Int, interval: Int,
                                        entitiesPerSecondPerRank: Double, machines m: Int, ranks: Int,
                                        link: Link) -> (encode: Double, gather: Double) {
        let encode = Double(entities) / Double(ranks) / entitiesPerSecondPerRank
        let bytes = Double(entities * hidden * bytesPerValue)
        let gather = m > 1 ? Double(m - 1) / Double(m) * bytes * 8 / link.bitsPerSecond + Double(m - 1) * link.latency : 0
        return (encode * 1000 / Double(interval), gather * 1000 / Double(interval))
    }

    /// The knowledge-path attribution's score gather per step: every rank receives the scores of
    /// every attribution sample (layers × FFN neurons, float64), every `interval` steps.
    public static func scoreGatherPerStepMs(samples: Int, layers: Int, ffn: Int, interval: Int, machines m: Int, link: Link) -> Double {
        guard m > 1 else { return 0 }
        let bytes = Double(samples * layers * ffn * 8)
        return (Double(m - 1) / Double(m) * bytes * 8 / link.bitsPerSecond + Double(m - 1) * link.latency) * 1000 / Double(interval)
    }
}
