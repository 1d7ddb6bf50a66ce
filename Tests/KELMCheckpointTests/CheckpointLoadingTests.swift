import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMModel
import KELMNumerics
import XCTest

/// Loading checks of checkpoints (DESIGN §7): a damaged or mismatched file is a
/// `CheckpointError` naming the file and the item. The files are built from a real small
/// checkpoint written by `Checkpoint.save`.
final class CheckpointLoadingTests: XCTestCase {
    static let bert = BertConfig(vocabSize: 50, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 16, maxPositions: 16)
    static let fusion = FusionConfig(bert: bert, fusionLayers: 1, gnnHidden: 8, gnnHeads: 4, numRelations: 3)
    /// Enough rows that the memory is most of the file, so its middle is tensor data.
    static let entities = 20000

    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-ckpt-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    static func table(_ c: FusionConfig = fusion, dropping: String? = nil) throws -> ParameterTable {
        var full = ParameterTable()
        _ = try FusionModel.Parameters(&full, config: c)
        guard let dropping else { return full }
        var t = ParameterTable()
        for e in full.entries where e.name != dropping {
            try t.add(e.name, shape: e.shape, initialization: e.initialization, weightDecay: e.weightDecay)
        }
        return t
    }

    static func filled(_ count: Int, seed: UInt64) -> FlatBuffer {
        let b = FlatBuffer(count: count)
        var rng = RandomStream(RandomKey(seed: seed, purpose: .parameterInit, stream: 0))
        for i in 0..<count { b.pointer[i] = rng.nextNormal() }
        return b
    }

    /// Writes a complete checkpoint (parameters, moments, memory, routing) under `run` and returns its path.
    func makeCheckpoint(_ run: String = "run", table: ParameterTable? = nil) throws -> (path: String, contents: Checkpoint.Contents) {
        let t = try table ?? Self.table()
        let d = Self.bert.hiddenSize, ff = Self.bert.ffnSize
        var c = Checkpoint.Contents(step: 7, epoch: 1, samplesSeen: 56, worldSize: 2, configJSON: "{\"model\":{}}", table: t,
                                    params: Self.filled(t.count, seed: 1), expAvg: Self.filled(t.count, seed: 2),
                                    expAvgSq: Self.filled(t.count, seed: 3), optimizerStep: 7, lrPretrained: 5e-5, lrNew: 1e-3,
                                    memory: (.float32(Self.filled(Self.entities * d, seed: 4)), Self.entities, d))
        c.memoryState = Checkpoint.MemoryState(refreshCount: 3, nextRefreshStep: 10, nextBlock: 4, momentum: 0.8)
        c.routing = Checkpoint.RoutingState(paths: [[1, 5, 9, 12], [0, 2, 3, 15]], scores: [Array(repeating: 0.5, count: ff), Array(repeating: 0.25, count: ff)],
                                            neuronSteps: [Array(repeating: 3, count: ff), Array(repeating: 4, count: ff)], lastRefreshStep: 5)
        let path = try Checkpoint.save(c, runDirectory: (directory as NSString).appendingPathComponent(run), keep: 2)
        return (path, c)
    }

    /// Reads everything a resume reads.
    func readAll(_ path: String, table: ParameterTable? = nil) throws {
        let t = try table ?? Self.table()
        let (f, _) = try Checkpoint.open(path)
        let buffer = FlatBuffer(count: t.count)
        try Checkpoint.read("params", from: f, into: buffer, table: t)
        try Checkpoint.read("optimizer/exp_avg", from: f, into: buffer, table: t)
        try Checkpoint.read("optimizer/exp_avg_sq", from: f, into: buffer, table: t)
        try Checkpoint.readMemory(from: f, into: FlatBuffer(count: Self.entities * Self.bert.hiddenSize),
                                  entities: Self.entities, width: Self.bert.hiddenSize)
        _ = try Checkpoint.readRouting(from: f, layers: 2)
        try f.close()
    }

    /// The `CheckpointError` `body` throws; fails the test if it throws nothing or something else.
    func checkpointError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
        do {
            try body()
            XCTFail("no error", file: file, line: line)
        } catch let e as CheckpointError {
            return e
        } catch {
            XCTFail("not a CheckpointError: \(type(of: error)) \(error)", file: file, line: line)
        }
        return nil
    }

    func copy(_ path: String, _ name: String) throws -> String {
        let out = (directory as NSString).appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: path, toPath: out)
        return out
    }

    func edit(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let f = try HDF5File.open(path, mode: .readWrite)
        try body(f)
        try f.close()
    }

    // MARK: -

    func testCRC32MatchesZlib() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)), 0x414F_A339)
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let whole = CRC32.checksum(bytes)
        let split = bytes.withUnsafeBytes { b in
            CRC32.checksum(UnsafeRawBufferPointer(rebasing: b[333...]), continuing: CRC32.checksum(UnsafeRawBufferPointer(rebasing: b[..<333])))
        }
        XCTAssertEqual(whole, split)
    }

    func testRoundTripWithChecksums() throws {
        let (path, c) = try makeCheckpoint()
        let (f, header) = try Checkpoint.open(path)
        XCTAssertTrue(header.checksummed)
        XCTAssertEqual(header.step, 7)
        XCTAssertEqual(header.formatVersion, 1)
        XCTAssertEqual(header.memoryState, c.memoryState)
        let params = FlatBuffer(count: c.table.count)
        try Checkpoint.read("params", from: f, into: params, table: c.table)
        XCTAssertEqual(params.toArray(), c.params.toArray())
        XCTAssertEqual(try Checkpoint.readRouting(from: f, layers: 2), c.routing)
        XCTAssertEqual(try Checkpoint.routedLayers(in: f), [0, 1])
        let stored = try Checkpoint.storedParameters(in: f)
        XCTAssertEqual(Set(stored.map(\.name)), Set(c.table.entries.map(\.name)))
        try Checkpoint.checkParameters(in: f, expected: c.table, architecture: "test")
        let v = try Checkpoint.verify(f)
        XCTAssertEqual(v.datasets, 3 * c.table.entries.count + 1 + 3 * 2)
        XCTAssertEqual(v.checksummed, v.datasets)
        try f.close()
    }

    func testWrongFormat() throws {
        let path = try copy(try makeCheckpoint().path, "format.h5")
        try edit(path) { try $0.setAttribute("format", "kelm-dist-batch") }
        let e = checkpointError { _ = try Checkpoint.open(path) }
        XCTAssertEqual(e?.file, path)
        XCTAssertEqual(e?.item, "attribute format")
        XCTAssertEqual(e?.description, "checkpoint \(path): attribute format: is \"kelm-dist-batch\", expected \"kelm-dist-checkpoint\" (not a kelm-dist checkpoint)")
    }

    func testNewerFormatVersion() throws {
        let path = try copy(try makeCheckpoint().path, "version.h5")
        try edit(path) { try $0.setAttribute("format_version", Int64(2)) }
        let e = checkpointError { _ = try Checkpoint.open(path) }
        XCTAssertEqual(e?.item, "attribute format_version")
        XCTAssertTrue(e?.description.contains("is 2, newer than this build reads (1)") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.description.contains(path) ?? false)
    }

    func testMissingAttribute() throws {
        let path = try copy(try makeCheckpoint().path, "attribute.h5")
        try edit(path) { try $0.deleteAttribute("samples_seen") }
        let e = checkpointError { _ = try Checkpoint.open(path) }
        XCTAssertEqual(e?.description, "checkpoint \(path): attribute samples_seen: missing")
    }

    func testMissingParameter() throws {
        let path = try copy(try makeCheckpoint().path, "missing.h5")
        try edit(path) { try $0.unlink("/params/mlm/bias") }
        let e = checkpointError { try readAll(path) }
        XCTAssertEqual(e?.file, path)
        XCTAssertEqual(e?.item, "/params/mlm/bias")
        XCTAssertEqual(e?.problem, "missing (the model has parameter mlm.bias)")
        // and against the architecture of the stored configuration
        let (f, _) = try Checkpoint.open(path)
        let a = checkpointError { try Checkpoint.checkParameters(in: f, expected: try Self.table(), architecture: "hidden_size 8") }
        XCTAssertEqual(a?.description, "checkpoint \(path): /params/mlm/bias: missing; the architecture in attribute config (hidden_size 8) has it")
        try f.close()
    }

    func testParameterOfTheWrongShape() throws {
        let path = try makeCheckpoint().path
        var bigger = Self.fusion
        bigger.bert.ffnSize = 32
        let e = checkpointError { try readAll(path, table: try Self.table(bigger)) }
        XCTAssertEqual(e?.item, "/params/lm/encoder/layer/0/intermediate/dense/weight")
        XCTAssertEqual(e?.problem, "has shape [16, 8], but the model built for this run has [32, 8]")
        let (f, _) = try Checkpoint.open(path)
        let a = checkpointError { try Checkpoint.checkParameters(in: f, expected: try Self.table(bigger), architecture: "ffn_size 32") }
        XCTAssertEqual(a?.problem, "has shape [16, 8], but the architecture in attribute config (ffn_size 32) gives [32, 8]")
        try f.close()
    }

    func testParameterTheArchitectureDoesNotHave() throws {
        let path = try makeCheckpoint().path
        let (f, _) = try Checkpoint.open(path)
        let e = checkpointError {
            try Checkpoint.checkParameters(in: f, expected: try Self.table(dropping: "mint.norm.bias"), architecture: "x")
        }
        XCTAssertEqual(e?.item, "/params/mint/norm/bias")
        XCTAssertEqual(e?.problem, "is not a parameter of the architecture in attribute config (x)")
        try f.close()
    }

    func testTruncatedFile() throws {
        let path = try copy(try makeCheckpoint().path, "truncated.h5")
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber).intValue
        XCTAssertEqual(truncate(path, off_t(size / 2)), 0)
        let e = checkpointError { _ = try Checkpoint.open(path) }
        XCTAssertEqual(e?.file, path)
        XCTAssertEqual(e?.item, "file")
        XCTAssertTrue(e?.problem.hasPrefix("is not a readable HDF5 file (truncated or corrupt?): ") ?? false, e?.problem ?? "")
        XCTAssertTrue(e?.problem.contains("truncated file") ?? false, e?.problem ?? "")
    }

    func testFlippedBytesInTheMiddle() throws {
        let path = try copy(try makeCheckpoint().path, "flipped.h5")
        try flip(path, at: nil)
        let e = checkpointError { try readAll(path) }
        XCTAssertEqual(e?.file, path)
        XCTAssertTrue(e?.problem.hasPrefix("checksum mismatch (stored crc32 ") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.problem.hasSuffix("the file is corrupt") ?? false)
        XCTAssertEqual(e?.item, "/memory/entity_context")
        let (f, _) = try Checkpoint.open(path)
        let v = checkpointError { _ = try Checkpoint.verify(f) }
        XCTAssertEqual(v?.item, e?.item)
        try f.close()
    }

    /// A NaN or infinity with a valid checksum (another writer, or a checksum recomputed over
    /// damage) is named with the tensor and element, in parameters, moments and memory alike.
    func testNonFiniteValuesAreNamed() throws {
        let original = try makeCheckpoint().path
        let t = try Self.table()
        let cases: [(item: String, index: Int, value: Float)] = [
            ("/params/mlm/bias", 3, .nan), ("/optimizer/exp_avg_sq/gnn/final/h0/weight", 0, .infinity),
            ("/memory/entity_context", 17, -.infinity),
        ]
        for (n, c) in cases.enumerated() {
            let path = try copy(original, "nonfinite-\(n).h5")
            try edit(path) { f in
                try f.withDataset(c.item) { ds in
                    var values = try ds.readFloats()
                    values[c.index] = c.value
                    try ds.write(values)
                    try ds.setAttribute(StoredTensor.checksumAttribute, Int64(CRC32.checksum(values)))
                }
            }
            let e = checkpointError { try readAll(path, table: t) }
            XCTAssertEqual(e?.file, path)
            XCTAssertEqual(e?.item, c.item)
            XCTAssertEqual(e?.problem, "holds \(c.value) at element \(c.index); stored weights, moments and memory must be finite")
        }
    }

    /// Found by InputFuzzTests: a step of 2⁶³−1 under a recomputed header checksum overflowed
    /// when resuming. Counts must be plausible, named otherwise.
    func testImplausibleCountsAreNamed() throws {
        let original = try makeCheckpoint().path
        let cases: [(String, (HDF5File) throws -> Void, String, String)] = [
            ("step", { try $0.setAttribute("step", Int64.max) }, "attribute step", "is \(Int64.max), expected 0…\(1 << 40)"),
            ("world", { try $0.setAttribute("world_size", Int64(0)) }, "attribute world_size", "is 0, expected 1…\(1 << 24)"),
            ("adam", { try $0.withGroup("/optimizer") { try $0.setAttribute("step", Int64(-1)) } }, "/optimizer attribute step", "is -1, expected 0…\(1 << 40)"),
            ("block", { try $0.withDataset("/memory/entity_context") { try $0.setAttribute("next_block", Int64(-5)) } },
             "/memory/entity_context attribute next_block", "is -5, expected 0…\(1 << 40)"),
            ("momentum", { try $0.withDataset("/memory/entity_context") { try $0.setAttribute("momentum", 2.5) } },
             "/memory/entity_context attribute momentum", "is 2.5, expected 0…1"),
        ]
        for (name, change, item, problem) in cases {
            let path = try copy(original, "implausible-\(name).h5")
            try edit(path) { f in
                try change(f)
                let crc = Checkpoint.headerChecksum(
                    format: try f.stringAttribute("format"), formatVersion: try f.intAttribute("format_version"),
                    step: try f.intAttribute("step"), epoch: try f.intAttribute("epoch"), samplesSeen: try f.intAttribute("samples_seen"),
                    worldSize: try f.intAttribute("world_size"), config: try f.stringAttribute("config"),
                    kelmVersion: try f.stringAttribute("kelm_version"))
                try f.setAttribute(Checkpoint.headerChecksumAttribute, Int64(crc))
            }
            let e = checkpointError { _ = try Checkpoint.open(path) }
            XCTAssertEqual(e?.item, item, name)
            XCTAssertEqual(e?.problem, problem, name)
        }
    }

    func testFlippedSignature() throws {
        let path = try copy(try makeCheckpoint().path, "signature.h5")
        try flip(path, at: 0)
        let e = checkpointError { _ = try Checkpoint.open(path) }
        XCTAssertEqual(e?.item, "file")
        XCTAssertTrue(e?.problem.contains("file signature not found") ?? false, e?.problem ?? "")
    }

    func testChangedRootAttributeBreaksTheHeaderChecksum() throws {
        let path = try copy(try makeCheckpoint().path, "header.h5")
        try edit(path) { try $0.setAttribute("step", Int64(8)) }
        let e = checkpointError { _ = try Checkpoint.open(path) }
        XCTAssertEqual(e?.item, "root attributes")
        XCTAssertTrue(e?.problem.hasPrefix("checksum mismatch (stored header_crc32") ?? false, e?.problem ?? "")
    }

    func testFilesWithoutChecksumsStillLoad() throws {
        let path = try copy(try makeCheckpoint().path, "legacy.h5")
        try edit(path) { f in
            try f.deleteAttribute(Checkpoint.checksumsAttribute)
            try f.deleteAttribute(Checkpoint.headerChecksumAttribute)
            try f.withDataset("/params/mlm/bias") { try $0.deleteAttribute(StoredTensor.checksumAttribute) }
        }
        XCTAssertFalse(try Checkpoint.open(path).header.checksummed)
        try readAll(path)
    }

    func testDatasetWithoutItsChecksumInAChecksummedFile() throws {
        let path = try copy(try makeCheckpoint().path, "nocrc.h5")
        try edit(path) { f in try f.withDataset("/params/mlm/bias") { try $0.deleteAttribute(StoredTensor.checksumAttribute) } }
        let e = checkpointError { try readAll(path) }
        XCTAssertEqual(e?.item, "/params/mlm/bias")
        XCTAssertTrue(e?.problem.hasPrefix("has no crc32 attribute") ?? false)
    }

    func testMissingEmptyAndDirectoryPaths() throws {
        let missing = (directory as NSString).appendingPathComponent("nope.h5")
        XCTAssertEqual(checkpointError { _ = try Checkpoint.open(missing) }?.description, "checkpoint \(missing): file: does not exist")
        XCTAssertEqual(checkpointError { _ = try Checkpoint.resolve(missing) }?.description, "checkpoint \(missing): file: does not exist")
        let empty = (directory as NSString).appendingPathComponent("empty.h5")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertEqual(checkpointError { _ = try Checkpoint.open(empty) }?.description, "checkpoint \(empty): file: is empty (0 bytes)")
        XCTAssertEqual(checkpointError { _ = try Checkpoint.resolve(directory) }?.item, "latest")
        // a run directory resolves to its latest checkpoint; a dangling pointer is named
        let (path, _) = try makeCheckpoint("run")
        let run = (directory as NSString).appendingPathComponent("run")
        XCTAssertEqual(try Checkpoint.resolve(run), path)
        try FileManager.default.removeItem(atPath: path)
        let dangling = checkpointError { _ = try Checkpoint.resolve(run) }
        XCTAssertEqual(dangling?.file, run + "/checkpoints/latest")
        XCTAssertTrue(dangling?.problem.contains("ckpt-00000007.h5") ?? false)
    }

    func testWeightsFile() throws {
        let (path, c) = try makeCheckpoint()
        let (f, header) = try Checkpoint.open(path)
        let word = try c.table.entry(named: "lm.embeddings.word_embeddings.weight")
        let expected = Array(UnsafeBufferPointer(start: word.ref.pointer(in: c.params.pointer), count: word.count))
        for dtype in StoredTensor.FloatStorage.allCases {
            let out = (directory as NSString).appendingPathComponent("export/weights-\(dtype).h5")
            let s = try WeightsFile.write(from: f, header: header, to: out, dtype: dtype, withMemory: true)
            XCTAssertEqual(s.tensors, c.table.entries.count)
            XCTAssertEqual(s.parameters, c.table.count)
            XCTAssertEqual(s.memoryRows, Self.entities)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".tmp"))
            let w = try HDF5File.open(out)
            XCTAssertEqual(try w.stringAttribute("format"), "kelm-dist-weights")
            XCTAssertEqual(try w.intAttribute("format_version"), 1)
            XCTAssertEqual(try w.intAttribute("step"), 7)
            XCTAssertEqual(try w.stringAttribute("config"), c.configJSON)
            XCTAssertFalse(try w.exists("/optimizer"))
            XCTAssertFalse(try w.exists("/routing"))
            XCTAssertEqual(try w.withDataset("/memory/entity_context") { try $0.shape() }, [Self.entities, Self.bert.hiddenSize])
            XCTAssertEqual(try w.withDataset("/memory/entity_context") { try $0.intAttribute("refresh_count") }, 3)
            let ds = "/params/lm/embeddings/word_embeddings/weight"
            XCTAssertEqual(try w.withDataset(ds) { try $0.elementKind() }, .float(bytes: dtype == .float32 ? 4 : 2))
            XCTAssertEqual(try w.withDataset(ds) { try $0.shape() }, word.shape)
            let values = try w.withDataset(ds) { try $0.readFloats() }
            for (a, b) in zip(values, expected) {
                XCTAssertLessThanOrEqual(abs(a - b), dtype == .float32 ? 0 : abs(b) * 0x1p-11 + 0x1p-24)
            }
            let v = try Checkpoint.verify(w)
            XCTAssertEqual(v.datasets, c.table.entries.count + 1)
            XCTAssertEqual(v.checksummed, v.datasets)
            try w.close()
        }
        let bare = (directory as NSString).appendingPathComponent("bare.h5")
        XCTAssertNil(try WeightsFile.write(from: f, header: header, to: bare, dtype: .float32, withMemory: false).memoryRows)
        XCTAssertFalse(try HDF5File.open(bare).exists("/memory"))
        try f.close()
        // a checkpoint without memory cannot export it
        let noMemory = try copy(path, "nomemory.h5")
        try edit(noMemory) { try $0.unlink("/memory") }
        let (g, h) = try Checkpoint.open(noMemory)
        let e = checkpointError { try WeightsFile.write(from: g, header: h, to: bare, dtype: .float32, withMemory: true) }
        XCTAssertEqual(e?.description, "checkpoint \(noMemory): /memory/entity_context: missing, so --with-memory cannot export it")
        try g.close()
    }

    /// Flips 8 bytes at `offset` (nil: the middle of the file).
    func flip(_ path: String, at offset: Int?) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let start = offset ?? bytes.count / 2
        for i in start..<(start + 8) { bytes[i] ^= 0xFF }
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}
