import Foundation
import KELMBatches
import KELMConfig
import KELMDistributed
import KELMMPI
import KELMNumerics
import KELMTestSupport
import KELMMPITestSupport
import XCTest
@testable import KELMTraining

/// The training step allocates no buffers: activations, gradients, bucket and path buffers are
/// all made when the trainer is built. Counted by the allocation counter that the test script
/// preloads (Tests/allocation-counter, `LD_PRELOAD`); without it the test is skipped.
///
/// What a step may still allocate is Swift bookkeeping of a few small arrays (the loss sums, the
/// metrics record); the bounds are far below any activation- or gradient-sized buffer, so a
/// per-step allocation of one shows up as a failure naming the policy.
final class StepAllocationTests: XCTestCase {
    typealias Counter = @convention(c) () -> Int

    /// The preloaded counters, or nil when the process runs without them.
    static func counters() -> (count: Counter, bytes: Counter, largest: Counter)? {
        guard let process = dlopen(nil, RTLD_NOW),
              let count = dlsym(process, "kelm_allocation_count"),
              let bytes = dlsym(process, "kelm_allocated_bytes"),
              let largest = dlsym(process, "kelm_largest_allocation") else { return nil }
        return (unsafeBitCast(count, to: Counter.self), unsafeBitCast(bytes, to: Counter.self),
                unsafeBitCast(largest, to: Counter.self))
    }

    /// No single allocation inside a step reaches this size: the smallest activation of the
    /// model below is twice as large.
    static let largestAllowed = 16 * 1024
    /// Small bookkeeping allocations (metrics, sums; unoptimised builds add more) stay below
    /// these per step on average; a per-token or per-element allocation would not.
    static let callsPerStep = 2_500
    static let bytesPerStep = 128 * 1024

    static func check(policy: String, accumulation: Int = 1, collective: Collective = SingleProcess(),
               allreduce: String = "auto", expectSharedGradients: Bool = false) throws {
        guard let counters = Self.counters() else {
            throw XCTSkip("run with LD_PRELOAD=…/allocation-counter.so (Tests/run-tests.sh does)")
        }
        // big enough that any activation or gradient buffer is far above the byte bound:
        // the smallest activation [B·T, d] is 32 KB, the word-embedding gradient 512 KB
        var config = try ConfigLoader.load(overrides: [
            "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4", "model.ffn_size=128",
            "model.vocab_size=2000", "model.max_positions=32", "model.fusion_layers=1", "model.gnn_hidden=16",
            "model.gnn_heads=2", "model.max_tokens=32", "model.max_nodes=8", "memory.description_tokens=8",
            "train.micro_batch=4", "train.accumulation=\(accumulation)", "train.steps=100", "train.warmup_steps=1",
            "train.param_policy=\(policy)", "train.consistency_every=0", "train.allreduce=\(allreduce)",
            "routing.interval=1000",        // no attribution inside the counted steps
            "memory.init_interval=1000", "memory.max_interval=1000",   // no memory refresh either
        ])
        config.train.bucketMB = 0.1
        let data = SyntheticTrainingData(segments: 200, entities: 50, relations: 3, vocabSize: 2000, tokens: 32,
                                         nodesPerSegment: 8, seed: 3)
        let t = try Trainer(config: config, data: data, collective: collective, nodeSharing: collective as? NodeSharing)
        XCTAssertEqual(t.reducer.shared != nil, expectSharedGradients)
        // first-use growth (thread pool, caches; across machines also the MPI library's fragment
        // lists, which grow over the first steps to the most messages in flight at once)
        for _ in 0..<(collective.size > 1 ? 12 : 3) { _ = try t.trainStep() }
        let steps = 10
        let calls0 = counters.count(), bytes0 = counters.bytes()
        _ = counters.largest()
        for _ in 0..<steps {
            let m = try t.trainStep()
            XCTAssertNil(m.attribution_ms)
            XCTAssertNil(m.memory_refresh_ms)
        }
        let largest = counters.largest()
        let calls = (counters.count() - calls0) / steps, bytes = (counters.bytes() - bytes0) / steps
        print("StepAllocationTests: \(policy), accumulation \(accumulation), \(collective.size) rank(s), allreduce \(allreduce): \(calls) allocations, \(bytes) bytes per step, largest \(largest) bytes")
        XCTAssertLessThan(largest, Self.largestAllowed, "\(policy): an activation- or gradient-sized allocation inside the step")
        XCTAssertLessThanOrEqual(calls, Self.callsPerStep, "\(policy): allocation calls per step")
        XCTAssertLessThanOrEqual(bytes, Self.bytesPerStep, "\(policy): bytes allocated per step")
    }

    func testFullStepDoesNotAllocate() throws { try Self.check(policy: "full") }
    func testKnowledgePathsStepDoesNotAllocate() throws { try Self.check(policy: "knowledge-paths") }
    func testAccumulatingStepDoesNotAllocate() throws { try Self.check(policy: "full", accumulation: 2) }

    /// The counter itself works: a 1 MB array is one call of at least 1 MB, and the largest.
    func testCounterSeesAnAllocation() throws {
        guard let counters = Self.counters() else { throw XCTSkip("run with LD_PRELOAD=…/allocation-counter.so") }
        let calls0 = counters.count(), bytes0 = counters.bytes()
        _ = counters.largest()
        let array = [Float](repeating: 1, count: 262_144)
        XCTAssertEqual(array.count, 262_144)
        XCTAssertGreaterThanOrEqual(counters.count() - calls0, 1)
        XCTAssertGreaterThanOrEqual(counters.bytes() - bytes0, 1 << 20)
        XCTAssertGreaterThanOrEqual(counters.largest(), 1 << 20)
        XCTAssertLessThan(counters.largest(), 1 << 20, "a new window starts at each read")
    }
}

/// The same under mpirun with every rank on this machine, the buckets through the node's shared
/// memory, then through MPI (and the step's MPI calls are counted too). The test script runs it with
/// the counter preloaded on every rank; under test-mpi.sh and `swift test` it is skipped.
final class MultiRankStepAllocationTests: XCTestCase {
    /// The policies checked: both on one node; across nodes (the multihost tests) only those
    /// without sparse word-embedding rows. `full` gathers those rows with `MPI_Allgatherv`, and a
    /// neighbour's message that arrives before MPI posts its receive is buffered in memory Open
    /// MPI allocates (seen once in six 2 × 2 runs: one 64 KB allocation; docs/multihost.md); the
    /// gradient reductions themselves are the same under both policies.
    static func policies(_ world: Communicator, _ candidates: [String]) throws -> [String] {
        try MPITopology.everyRankOnOneNode(world) || world.size == 1 ? candidates : candidates.filter { $0 != "full" }
    }

    /// Runs the allocation check under `allreduce` for every policy of `policies(_:_:)`, on a
    /// collective over the world made and closed here.
    static func checkEveryPolicy(allreduce: String, expectSharedGradients: (Communicator) throws -> Bool) throws {
        guard StepAllocationTests.counters() != nil else {
            throw XCTSkip("run with LD_PRELOAD=…/allocation-counter.so on every rank (Tests/run-tests.sh does)")
        }
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let shared = try expectSharedGradients(world)
        for policy in try policies(world, ["full", "knowledge-paths"]) {
            try StepAllocationTests.check(policy: policy, collective: collective, allreduce: allreduce,
                                          expectSharedGradients: shared)
        }
    }

    func testSharedMemoryStepDoesNotAllocate() throws {
        try Self.checkEveryPolicy(allreduce: "auto") { try MPITopology.autoUsesSharedMemory($0) }
    }

    /// Through MPI (`train.allreduce: mpi`, the path of jobs over several machines): the ring over
    /// persistent requests, for the dense buckets and the knowledge-path buffer.
    func testMPIRingStepDoesNotAllocate() throws {
        try Self.checkEveryPolicy(allreduce: "mpi") { _ in false }
    }

    /// `train.allreduce: hierarchical`: on one machine the node's shared memory; across machines
    /// (the multihost tests run this on the simulated cluster) each node's window, then the ring
    /// among the ranks of one local index.
    func testHierarchicalStepDoesNotAllocate() throws {
        try Self.checkEveryPolicy(allreduce: "hierarchical") { $0.size > 1 }
    }
}
