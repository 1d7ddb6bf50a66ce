import KELMBenchmarks
import XCTest

/// The scaling model's arithmetic (docs/scaling.md), on hand-made measurements.
final class ScalingModelTests: XCTestCase {
    /// 100 ms alone; one 125 MB bucket ready when backward ends; 1 Gbit/s, no latency.
    func model(buckets: [ScalingModel.Bucket], pathBytes: Int = 0) -> ScalingModel {
        ScalingModel(policy: "full", aloneMs: 100, togetherMs: 110, measuredRanks: 2, buckets: buckets, pathBytes: pathBytes)
    }
    let link = ScalingModel.Link(gbit: 1, latencyMicroseconds: 0)

    func testOneMachineExposesNothing() throws {
        let p = try model(buckets: [.init(bytes: 125_000_000, readyMs: 0)]).predict(machines: 1, ranksPerMachine: 1, link: link)
        XCTAssertEqual(p.exposedMs, 0)
        XCTAssertEqual(p.efficiency, 1)
        XCTAssertEqual(p.bytesPerMachine, 0)
        // L ranks together: the measured machine's step, its efficiency against one rank alone
        let together = try model(buckets: [.init(bytes: 1, readyMs: 0)]).predict(machines: 1, ranksPerMachine: 2, link: link)
        XCTAssertEqual(together.stepMs, 110)
        XCTAssertEqual(together.efficiency, 100.0 / 110, accuracy: 1e-12)
    }

    /// A bucket ready at the end of backward is exposed whole: 2(M−1)/M of 125 MB at 1 Gbit/s.
    func testABucketReadyAtTheEndIsExposedWhole() throws {
        let m = model(buckets: [.init(bytes: 125_000_000, readyMs: 0)])
        XCTAssertEqual(try m.predict(machines: 2, ranksPerMachine: 1, link: link).exposedMs, 1000, accuracy: 1e-6)
        XCTAssertEqual(try m.predict(machines: 4, ranksPerMachine: 1, link: link).exposedMs, 1500, accuracy: 1e-6)
        XCTAssertEqual(try m.predict(machines: 4, ranksPerMachine: 1, link: link).bytesPerMachine, 1.5 * 125_000_000, accuracy: 1)
        // latency: 2(M−1) messages
        let slow = ScalingModel.Link(gbit: 1, latencyMicroseconds: 1000)
        XCTAssertEqual(try m.predict(machines: 4, ranksPerMachine: 1, link: slow).exposedMs, 1506, accuracy: 1e-6)
    }

    /// Buckets ready early are hidden behind backward; the link serves them in turn.
    func testBucketsReadyEarlyAreHidden() throws {
        // 12.5 MB = 100 ms at 2 machines; ready 300 and 150 ms before the end: both done in time
        let hidden = model(buckets: [.init(bytes: 12_500_000, readyMs: -300), .init(bytes: 12_500_000, readyMs: -150)])
        XCTAssertEqual(try hidden.predict(machines: 2, ranksPerMachine: 1, link: link).exposedMs, 0)
        // ready 150 and 100 ms before: the second waits for the first (free at −50), ends at +50
        let queued = model(buckets: [.init(bytes: 12_500_000, readyMs: -150), .init(bytes: 12_500_000, readyMs: -100)])
        XCTAssertEqual(try queued.predict(machines: 2, ranksPerMachine: 1, link: link).exposedMs, 50, accuracy: 1e-9)
        // the path buffer goes after backward: exposed in full
        let routed = model(buckets: [.init(bytes: 12_500_000, readyMs: -300)], pathBytes: 1_250_000)
        XCTAssertEqual(try routed.predict(machines: 2, ranksPerMachine: 1, link: link).exposedMs, 10, accuracy: 1e-9)
    }

    func testMoreMachinesNeverScaleBetterOnTheSameLink() throws {
        let m = model(buckets: [.init(bytes: 40_000_000, readyMs: -200), .init(bytes: 40_000_000, readyMs: 0)])
        let efficiencies = try [2, 3, 8, 64].map { try m.predict(machines: $0, ranksPerMachine: 1, link: link).efficiency }
        XCTAssertEqual(efficiencies, efficiencies.sorted(by: >))
        XCTAssertThrowsError(try m.predict(machines: 2, ranksPerMachine: 4, link: link))
    }

    /// The simulated cluster: P one-rank machines on one machine's cores compute as the
    /// measurement's P ranks did together (less their reduction), and cross P machines' links.
    func testSimulatedClusterComputesAsTheMeasuredRanksTogether() throws {
        let m = ScalingModel(policy: "full", aloneMs: 100, togetherMs: 130, togetherComputeMs: 120, measuredRanks: 3,
                             buckets: [.init(bytes: 125_000_000, readyMs: 0)], pathBytes: 0)
        let p = m.predictSimulatedCluster(link: link)
        XCTAssertEqual(p.machines, 3)
        XCTAssertEqual(p.ranksPerMachine, 1)
        XCTAssertEqual(p.computeMs, 120)
        XCTAssertEqual(p.exposedMs, 4.0 / 3 * 1000, accuracy: 1e-6)
        XCTAssertEqual(p.stepMs, 120 + 4.0 / 3 * 1000, accuracy: 1e-6)
        // each of the 3 hosts sends 4/3 × 125 MB; at 1.5 core-ms per MB over 2 cores: 375 ms
        let costed = m.predictSimulatedCluster(link: link, network: .init(coreMsPerMB: 1.5, cores: 2))
        XCTAssertEqual(costed.networkCpuMs, 3 * 4.0 / 3 * 125 * 1.5 / 2, accuracy: 1e-9)
        XCTAssertEqual(costed.stepMs, 120 + 375 + 4.0 / 3 * 1000, accuracy: 1e-6)
        XCTAssertEqual(costed.efficiency, 100 / costed.stepMs, accuracy: 1e-12)
        // a real cluster of 3 one-rank machines computes as one rank alone
        XCTAssertEqual(try m.predict(machines: 3, ranksPerMachine: 1, link: link).computeMs, 100)
    }

    /// Refresh: |E| / ranks descriptions encoded, (M−1)/M of |E|·d·bytes gathered, over the interval.
    func testRefreshPerStep() {
        let r = ScalingModel.refreshPerStepMs(entities: 1_000_000, hidden: 250, bytesPerValue: 4, interval: 100,
                                              entitiesPerSecondPerRank: 1000, machines: 2, ranks: 4, link: link)
        XCTAssertEqual(r.encode, 250_000.0 / 100, accuracy: 1e-9)        // 250 s per refresh
        XCTAssertEqual(r.gather, 0.5 * 1e9 * 8 / 1e9 * 1000 / 100, accuracy: 1e-9)  // 4 s per refresh
        XCTAssertEqual(ScalingModel.scoreGatherPerStepMs(samples: 10, layers: 1, ffn: 1000, interval: 1, machines: 1, link: link), 0)
    }
}
