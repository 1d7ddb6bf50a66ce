import Foundation
@testable import KELMData
import XCTest

final class BatchLoaderTests: XCTestCase {
    /// A synthetic dataset file (60 training segments, dense KG) shared by the tests.
    func datasetPath() throws -> String {
        let directory = try temporaryDirectory(self)
        try DatasetWriter.write(SyntheticDataset.make(), to: directory.path)
        return directory.path
    }

    func loader(_ path: String, rank: Int = 0, size: Int = 1, batch: Int, accumulation: Int = 1, seed: UInt64 = 11,
                cursor: LoaderCursor = LoaderCursor()) throws -> BatchLoader {
        var options = LoaderOptions()
        options.rank = rank
        options.worldSize = size
        options.microBatch = batch
        options.accumulation = accumulation
        options.seed = seed
        options.maxNodes = 12
        return try BatchLoader(dataset: try DatasetFile(path: path), options: options, cursor: cursor)
    }

    /// The global batches of `steps` steps, as per-segment contents (local node ids) in global
    /// sample order: for each micro-step, rank 0's segments, then rank 1's, …
    func globalBatches(_ path: String, size: Int, batch: Int, accumulation: Int, steps: Int) throws -> [[TrainingBatchContents]] {
        let loaders = try (0..<size).map { try loader(path, rank: $0, size: size, batch: batch, accumulation: accumulation) }
        var result: [[TrainingBatchContents]] = []
        for _ in 0..<steps {
            var global: [TrainingBatchContents] = []
            for _ in 0..<accumulation {
                for rankLoader in loaders {
                    let b = try rankLoader.next()
                    let snapshot = b.snapshot()
                    for s in 0..<b.segmentCount { global.append(snapshot.segment(s, tokens: b.tokensPerSegment)) }
                }
            }
            result.append(global)
        }
        return result
    }

    /// 1, 2 and 3 ranks (and accumulation) see exactly the same global batches, over epochs.
    func testRanksSeeTheSameGlobalBatches() throws {
        let path = try datasetPath()
        // 60 segments, global batch 6: 10 steps per epoch; 25 steps cross two epoch boundaries.
        let one = try globalBatches(path, size: 1, batch: 6, accumulation: 1, steps: 25)
        XCTAssertEqual(one.count, 25)
        XCTAssertTrue(one.allSatisfy { $0.count == 6 })
        XCTAssertEqual(try globalBatches(path, size: 2, batch: 3, accumulation: 1, steps: 25), one)
        XCTAssertEqual(try globalBatches(path, size: 3, batch: 2, accumulation: 1, steps: 25), one)
        XCTAssertEqual(try globalBatches(path, size: 3, batch: 1, accumulation: 2, steps: 25), one)
        XCTAssertEqual(try globalBatches(path, size: 1, batch: 2, accumulation: 3, steps: 25), one)
        // Every epoch visits each segment once.
        let epoch0 = one.prefix(10).flatMap { $0.flatMap(\.sampleIndices) }
        XCTAssertEqual(epoch0.sorted(), (0..<60).map { Int64($0) })
        let epoch1 = one[10..<20].flatMap { $0.flatMap(\.sampleIndices) }
        XCTAssertEqual(epoch1.sorted(), (0..<60).map { Int64($0) })
        XCTAssertNotEqual(epoch0, epoch1)
        // The batches hold masked tokens and link-prediction positives.
        XCTAssertGreaterThan(one.flatMap { $0 }.map(\.maskedTokenCount).reduce(0, +), 0)
        XCTAssertGreaterThan(one.flatMap { $0 }.map(\.positiveCount).reduce(0, +), 0)
    }

    /// A sample is masked and sampled identically whatever N and B are.
    func testSampleTreatedTheSameWhateverN() throws {
        let path = try datasetPath()
        var bySample: [Int64: TrainingBatchContents] = [:]
        let single = try loader(path, batch: 4)
        for _ in 0..<15 {
            let b = try single.next()
            let snapshot = b.snapshot()
            for s in 0..<b.segmentCount { bySample[snapshot.sampleIndices[s]] = snapshot.segment(s, tokens: b.tokensPerSegment) }
        }
        XCTAssertEqual(bySample.count, 60)
        for size in 2...3 {
            for rank in 0..<size {
                let rankLoader = try loader(path, rank: rank, size: size, batch: 5)
                for _ in 0..<(60 / (5 * size)) {
                    let b = try rankLoader.next()
                    let snapshot = b.snapshot()
                    for s in 0..<b.segmentCount {
                        XCTAssertEqual(snapshot.segment(s, tokens: b.tokensPerSegment), bySample[snapshot.sampleIndices[s]])
                    }
                }
            }
        }
    }

    /// Resuming from a cursor continues exactly as an uninterrupted run, across an epoch boundary.
    func testResumptionFromACursor() throws {
        let path = try datasetPath()
        let full = try loader(path, rank: 1, size: 2, batch: 3, accumulation: 2)
        var expected: [TrainingBatchContents] = []
        var cursors: [LoaderCursor] = []
        for _ in 0..<30 {
            cursors.append(full.cursor)
            expected.append(try full.next().snapshot())
        }
        XCTAssertEqual(full.stepsPerEpoch, 5)
        for start in [7, 9, 10, 23] {
            let resumed = try loader(path, rank: 1, size: 2, batch: 3, accumulation: 2, cursor: cursors[start])
            for k in start..<30 { XCTAssertEqual(try resumed.next().snapshot(), expected[k], "resumed at \(cursors[start]), batch \(k)") }
        }
        assertDataError(.invalidArgument) {
            try self.loader(path, batch: 3, cursor: LoaderCursor(epoch: 0, step: 20, microStep: 0))
        }
    }

    /// A different seed masks differently; the same seed reproduces.
    func testSeed() throws {
        let path = try datasetPath()
        let a = try loader(path, batch: 4, seed: 1).next().snapshot()
        let b = try loader(path, batch: 4, seed: 1).next().snapshot()
        let c = try loader(path, batch: 4, seed: 2).next().snapshot()
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a.inputIDs, c.inputIDs)
    }

    func testPaddingAndMasks() throws {
        let path = try datasetPath()
        let file = try DatasetFile(path: path)
        let l = try loader(path, batch: 4)
        let b = try l.next()
        let snapshot = b.snapshot()
        let T = b.tokensPerSegment
        for s in 0..<b.segmentCount {
            let record = try file.segment(Int(snapshot.sampleIndices[s]), split: .train)
            let row = (s * T)..<((s + 1) * T)
            let attention = Array(snapshot.attentionMask[row])
            XCTAssertEqual(attention, (0..<T).map { $0 < record.tokens.count ? 1 : 0 })
            for t in record.tokens.count..<T { XCTAssertEqual(snapshot.inputIDs[s * T + t], 0, "[PAD]") }
            var mentionMask = [Int32](repeating: 0, count: T)
            for m in stride(from: 0, to: record.mentions.count, by: 3) {
                for t in Int(record.mentions[m])..<Int(record.mentions[m + 1]) { mentionMask[t] = 1 }
            }
            XCTAssertEqual(Array(snapshot.mentionMask[row]), mentionMask)
            for t in 0..<record.tokens.count {
                let label = snapshot.mlmLabels[s * T + t]
                if label == -100 {
                    XCTAssertEqual(snapshot.inputIDs[s * T + t], record.tokens[t])
                } else {
                    XCTAssertEqual(label, record.tokens[t])
                }
            }
        }
        XCTAssertEqual(b.maskedTokenCount, snapshot.mlmLabels.filter { $0 != -100 }.count)
        try file.close()
    }

    /// Packed segments hold a [SEP] after every text: masking never picks one (over every segment
    /// and several epochs' draws) nor lets a masked word run across it, and [SEP] stays in place.
    func testMaskingNeverTouchesSeparators() throws {
        var options = PrepareOptions()
        options.maxTokens = 32
        let out = try temporaryDirectory(self).appendingPathComponent("wn").path
        _ = try DatasetPreparation.prepareWordNet(source: DataFixtures.wordNetMini, vocabulary: DataFixtures.vocabulary,
                                                  options: options, outputDirectory: out)
        let file = try DatasetFile(path: out)
        defer { XCTAssertNoThrow(try file.close()) }
        let sep = file.specialTokens.sep
        var loaderOptions = LoaderOptions()
        loaderOptions.microBatch = 1
        let l = try BatchLoader(dataset: file, options: loaderOptions)
        var separators = 0, masked = 0, severalTexts = 0
        for _ in 0..<(4 * l.stepsPerEpoch) {
            let b = try l.next()
            let record = try file.segment(Int(b.sampleIndices.pointer[0]), split: .train)
            if record.tokens.filter({ $0 == sep }).count > 1 { severalTexts += 1 }
            for t in 0..<record.tokens.count {
                let label = b.mlmLabels.pointer[t]
                if record.tokens[t] == sep {
                    separators += 1
                    XCTAssertEqual(label, WholeWordMasking.ignoredLabel, "[SEP] at \(t) masked")
                    XCTAssertEqual(b.inputIDs.pointer[t], sep, "[SEP] at \(t) replaced")
                } else if label != WholeWordMasking.ignoredLabel {
                    masked += 1
                    // a masked continuation piece belongs to a word masked from its start
                    if record.wordStarts[t] == 0 { XCTAssertNotEqual(b.mlmLabels.pointer[t - 1], WholeWordMasking.ignoredLabel) }
                }
            }
        }
        XCTAssertGreaterThan(severalTexts, 4 * l.stepsPerEpoch / 2, "most segments pack several glosses")
        XCTAssertGreaterThan(separators, 20)
        XCTAssertGreaterThan(masked, 20)
    }

    func testTooFewSegmentsForOneGlobalBatch() throws {
        let path = try datasetPath()
        let error = assertDataError(.invalidArgument) { try self.loader(path, size: 8, batch: 8) }
        XCTAssertTrue(error?.description.contains("fewer than one global batch") ?? false)
    }
}
