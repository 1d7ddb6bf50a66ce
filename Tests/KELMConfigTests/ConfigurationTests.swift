import Foundation
import XCTest
@testable import KELMConfig

/// Tests of the configuration system (DESIGN §10): defaults, YAML files, `--set` overrides,
/// errors naming the key, validation, serialisation and the fingerprint.
final class ConfigurationTests: XCTestCase {

    // MARK: - Helpers

    /// Runs `body`, which must throw a `ConfigError`, and returns it (nil, with a failure, otherwise).
    @discardableResult
    private func configError<T>(_ body: () throws -> T,
                                file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            let value = try body()
            XCTFail("expected a ConfigError, got \(value)", file: file, line: line)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("expected a ConfigError, got \(type(of: error)): \(error)", file: file, line: line)
            return nil
        }
    }

    /// Writes `text` to a fresh temporary file and returns its path.
    private func temporaryFile(_ text: String, name: String = "config.yaml") throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("kelm-config-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock {
            do {
                try FileManager.default.removeItem(at: directory)
            } catch {
                XCTFail("cannot remove \(directory.path): \(error)")
            }
        }
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The package's `configs/` directory, found from this file's path.
    private var configsDirectory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()   // KELMTrainingTests
            .deletingLastPathComponent()   // Tests
            .deletingLastPathComponent()   // package root
            .appendingPathComponent("configs")
    }

    // MARK: - Defaults

    func testDefaultsAreDesignValues() throws {
        let c = KELMConfig()
        XCTAssertNil(c.model.initFrom)
        XCTAssertEqual(c.model.fusionLayers, 3)
        XCTAssertEqual(c.model.gnnHidden, 128)
        XCTAssertEqual(c.model.gnnHeads, 4)
        XCTAssertNil(c.model.mintHidden)
        XCTAssertEqual(c.model.resolvedMintHidden, 384)
        XCTAssertEqual(c.model.maxTokens, 128)
        XCTAssertEqual(c.model.maxNodes, 64)
        XCTAssertEqual(c.model.dropout, 0.1)
        XCTAssertEqual(c.model.gnnDropout, 0.2)
        XCTAssertEqual(c.model.hiddenSize, 384)
        XCTAssertEqual(c.model.numLayers, 6)
        XCTAssertEqual(c.model.numHeads, 12)
        XCTAssertEqual(c.model.ffnSize, 1536)
        XCTAssertEqual(c.model.vocabSize, 30522)
        XCTAssertEqual(c.model.maxPositions, 512)
        XCTAssertEqual(c.model.typeVocabSize, 2)
        XCTAssertEqual(c.model.padTokenId, 0)
        XCTAssertEqual(c.model.layerNormEps, 1e-12)
        XCTAssertEqual(c.model.firstFusionLayer, 3)

        XCTAssertNil(c.data.path)
        XCTAssertEqual(c.data.seed, 0)

        XCTAssertEqual(c.train.steps, 1000)
        XCTAssertEqual(c.train.microBatch, 8)
        XCTAssertEqual(c.train.accumulation, 1)
        XCTAssertEqual(c.train.lrPretrained, 5e-5)
        XCTAssertEqual(c.train.lrNew, 1e-3)
        XCTAssertEqual(c.train.warmupSteps, 0)
        XCTAssertEqual(c.train.weightDecay, 0.01)
        XCTAssertEqual(c.train.clip, 1.0)
        XCTAssertEqual(c.train.paramPolicy, .knowledgePaths)
        XCTAssertEqual(c.train.bucketMB, 4)
        XCTAssertEqual(c.train.mlmWeight, 1)
        XCTAssertEqual(c.train.lpWeight, 1)
        XCTAssertEqual(c.train.consistencyEvery, 100)
        XCTAssertEqual(c.train.nonfinite, .stop)
        XCTAssertEqual(c.train.collectiveTimeoutSeconds, 300)
        XCTAssertEqual(c.train.allreduce, .auto)

        XCTAssertEqual(c.routing.fraction, 0.1)
        XCTAssertEqual(c.routing.interval, 200)
        XCTAssertEqual(c.routing.samples, 8)
        XCTAssertEqual(c.routing.igSteps, 20)
        XCTAssertEqual(c.routing.igMode, .joint)

        XCTAssertEqual(c.memory.features, .memory)
        XCTAssertEqual(c.memory.refresh, .rolling)
        XCTAssertEqual(c.memory.blockEntities, 4096)
        XCTAssertEqual(c.memory.scope, .reachable)
        XCTAssertEqual(c.memory.initInterval, 10)
        XCTAssertEqual(c.memory.growth, 2)
        XCTAssertEqual(c.memory.repeats, 3)
        XCTAssertEqual(c.memory.maxInterval, 500)
        XCTAssertEqual(c.memory.momentum, 0.8)
        XCTAssertEqual(c.memory.descriptionTokens, 64)
        XCTAssertEqual(c.memory.dtype, .float32)

        XCTAssertEqual(c.checkpoint.every, 1000)
        XCTAssertEqual(c.checkpoint.keep, 3)
        XCTAssertEqual(c.eval.every, 0)
        XCTAssertEqual(c.eval.split, .valid)
        XCTAssertNil(c.eval.maxEntities)
        XCTAssertNil(c.eval.maxSegments)
        XCTAssertNil(c.eval.maxTriples)
        XCTAssertEqual(c.log.every, 1)
    }

    func testDefaultsValidate() throws {
        XCTAssertEqual(KELMConfig().validationErrors(), [])
        try KELMConfig().validate()
    }

    func testEmptyInputGivesDefaults() throws {
        XCTAssertEqual(try ConfigLoader.load(yaml: ""), KELMConfig())
        XCTAssertEqual(try ConfigLoader.load(yaml: "# only a comment\n"), KELMConfig())
        XCTAssertEqual(try ConfigLoader.load(file: nil), KELMConfig())
        XCTAssertEqual(try ConfigLoader.load(overrides: []), KELMConfig())
    }

    func testAllKeysListsEverySectionKey() {
        let keys = KELMConfig.allKeys
        XCTAssertEqual(keys.count, Set(keys).count)
        for key in ["model.init_from", "model.mint_hidden", "model.layer_norm_eps", "data.path",
                    "train.micro_batch", "train.collective_timeout_s", "train.allreduce", "routing.ig_mode",
                    "memory.block_entities", "checkpoint.keep", "eval.split", "log.every", "train.adapt_steps", "memory.anchor"] {
            XCTAssertTrue(keys.contains(key), key)
        }
        XCTAssertEqual(keys.count, 18 + 2 + 17 + 5 + 12 + 2 + 5 + 1)
    }

    // MARK: - Loading

    func testLoadFile() throws {
        let path = try temporaryFile("""
            model:
              hidden_size: 64
              num_heads: 4
              mint_hidden: 32
              init_from: /models/minilm
            train:
              micro_batch: 4
              lr_new: 2.5e-4
              param_policy: full
              nonfinite: skip
            memory:
              dtype: float16
              scope: all
              refresh: full
            routing:
              ig_mode: per-layer
            eval:
              every: 50
              split: test
            """)
        let c = try ConfigLoader.load(file: path)
        XCTAssertEqual(c.model.hiddenSize, 64)
        XCTAssertEqual(c.model.numHeads, 4)
        XCTAssertEqual(c.model.mintHidden, 32)
        XCTAssertEqual(c.model.resolvedMintHidden, 32)
        XCTAssertEqual(c.model.initFrom, "/models/minilm")
        XCTAssertEqual(c.train.microBatch, 4)
        XCTAssertEqual(c.train.lrNew, 2.5e-4)
        XCTAssertEqual(c.train.paramPolicy, .full)
        XCTAssertEqual(c.train.nonfinite, .skip)
        XCTAssertEqual(c.memory.dtype, .float16)
        XCTAssertEqual(c.memory.scope, .all)
        XCTAssertEqual(c.memory.refresh, .full)
        XCTAssertEqual(c.routing.igMode, .perLayer)
        XCTAssertEqual(c.eval.every, 50)
        XCTAssertEqual(c.eval.split, .test)
    }

    func testPartialSectionKeepsOtherDefaults() throws {
        let c = try ConfigLoader.load(yaml: "train:\n  micro_batch: 2\n")
        var expected = KELMConfig()
        expected.train.microBatch = 2
        XCTAssertEqual(c, expected)
    }

    func testMissingAndEmptySectionsTakeDefaults() throws {
        let c = try ConfigLoader.load(yaml: "train:\nmemory:\nlog:\n  every: 10\n")
        var expected = KELMConfig()
        expected.log.every = 10
        XCTAssertEqual(c, expected)
    }

    func testNullClearsOptionalKeys() throws {
        let c = try ConfigLoader.load(yaml: "model:\n  init_from: ~\n  mint_hidden: null\ndata:\n  path:\n")
        XCTAssertNil(c.model.initFrom)
        XCTAssertNil(c.model.mintHidden)
        XCTAssertNil(c.data.path)
    }

    func testIntegerValuesAreAcceptedForNumbers() throws {
        let c = try ConfigLoader.load(yaml: "train:\n  clip: 2\n  bucket_mb: 1\n")
        XCTAssertEqual(c.train.clip, 2.0)
        XCTAssertEqual(c.train.bucketMB, 1.0)
    }

    // MARK: - Overrides

    func testOverrideInteger() throws {
        let c = try ConfigLoader.load(overrides: ["train.micro_batch=16"])
        XCTAssertEqual(c.train.microBatch, 16)
    }

    func testOverrideFloat() throws {
        let c = try ConfigLoader.load(overrides: ["train.lr_new=1e-3", "train.lr_pretrained=2.0e-5", "model.dropout=0"])
        XCTAssertEqual(c.train.lrNew, 1e-3)
        XCTAssertEqual(c.train.lrPretrained, 2e-5)
        XCTAssertEqual(c.model.dropout, 0)
    }

    func testOverrideEnum() throws {
        let c = try ConfigLoader.load(overrides: ["train.param_policy=full", "routing.ig_mode=per-layer",
                                                  "memory.dtype=float16", "eval.split=test"])
        XCTAssertEqual(c.train.paramPolicy, .full)
        XCTAssertEqual(c.routing.igMode, .perLayer)
        XCTAssertEqual(c.memory.dtype, .float16)
        XCTAssertEqual(c.eval.split, .test)
    }

    func testOverrideStringAndNull() throws {
        let c = try ConfigLoader.load(yaml: "model:\n  mint_hidden: 64\n",
                                      overrides: ["data.path=/data/wordnet.h5", "model.init_from=runs/a b/ckpt",
                                                  "model.mint_hidden=null"])
        XCTAssertEqual(c.data.path, "/data/wordnet.h5")
        XCTAssertEqual(c.model.initFrom, "runs/a b/ckpt")
        XCTAssertNil(c.model.mintHidden)
        let cleared = try ConfigLoader.load(yaml: "data:\n  path: x.h5\n", overrides: ["data.path="])
        XCTAssertNil(cleared.data.path)
    }

    func testOverrideValueWithEqualsSign() throws {
        let c = try ConfigLoader.load(overrides: ["data.path=a=b.h5"])
        XCTAssertEqual(c.data.path, "a=b.h5")
    }

    func testOverrideBooleanIsTypeCheckedAgainstIntegerKey() {
        let error = configError { try ConfigLoader.load(overrides: ["train.steps=true"]) }
        XCTAssertEqual(error?.key, "train.steps")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "an integer", found: "true"))
        XCTAssertEqual(error?.source, "--set train.steps=true")
    }

    func testParseOverride() throws {
        let o = try ConfigLoader.parseOverride("train.micro_batch=8")
        XCTAssertEqual(o.section, "train")
        XCTAssertEqual(o.key, "micro_batch")
        XCTAssertEqual(o.value, "8")
        XCTAssertEqual(o.dottedKey, "train.micro_batch")
    }

    func testPrecedenceDefaultsFileOverrides() throws {
        let path = try temporaryFile("train:\n  micro_batch: 4\n  steps: 50\n")
        let c = try ConfigLoader.load(file: path, overrides: ["train.micro_batch=2"])
        XCTAssertEqual(c.train.microBatch, 2)        // override beats file
        XCTAssertEqual(c.train.steps, 50)            // file beats default
        XCTAssertEqual(c.train.accumulation, 1)      // default
        let later = try ConfigLoader.load(file: path, overrides: ["train.micro_batch=2", "train.micro_batch=3"])
        XCTAssertEqual(later.train.microBatch, 3)    // the last override wins
    }

    func testOverrideCreatesMissingSection() throws {
        let c = try ConfigLoader.load(yaml: "train:\n  steps: 5\n", overrides: ["memory.momentum=0.5"])
        XCTAssertEqual(c.memory.momentum, 0.5)
        XCTAssertEqual(c.train.steps, 5)
    }

    func testMalformedOverrides() {
        for text in ["train", "=3", "train=3", "model.x.y=1", ".steps=1", "train.=1", "  =1"] {
            let error = configError { try ConfigLoader.load(overrides: [text]) }
            guard case .malformedOverride(let override, _)? = error?.kind else {
                XCTFail("\(text): expected malformedOverride, got \(String(describing: error))")
                continue
            }
            XCTAssertEqual(override, text)
            XCTAssertTrue(error?.description.contains("'\(text)'") ?? false, error?.description ?? "")
        }
    }

    func testMalformedOverrideValueIsSyntaxError() {
        let error = configError { try ConfigLoader.load(overrides: ["data.path=[unclosed"]) }
        guard case .syntax? = error?.kind else {
            return XCTFail("expected a syntax error, got \(String(describing: error))")
        }
        XCTAssertEqual(error?.source, "--set data.path=[unclosed")
    }

    // MARK: - Unknown keys

    func testUnknownTopLevelKey() {
        let error = configError { try ConfigLoader.load(yaml: "trian:\n  steps: 3\n") }
        XCTAssertEqual(error?.key, "trian")
        XCTAssertEqual(error?.kind, .unknownKey(suggestion: "train"))
        XCTAssertEqual(error?.description, "<string>:1:1: unknown config key 'trian' (did you mean 'train'?)")
    }

    func testTopLevelKeyNameSuggestsItsSection() {
        let error = configError { try ConfigLoader.load(yaml: "micro_batch: 3\n") }
        XCTAssertEqual(error?.kind, .unknownKey(suggestion: "train.micro_batch"))
    }

    func testUnknownKeyInSection() throws {
        let path = try temporaryFile("train:\n  steps: 3\n  micro_batchs: 4\n", name: "typo.yaml")
        let error = configError { try ConfigLoader.load(file: path) }
        XCTAssertEqual(error?.key, "train.micro_batchs")
        XCTAssertEqual(error?.kind, .unknownKey(suggestion: "train.micro_batch"))
        XCTAssertEqual(error?.source, path)
        XCTAssertEqual(error?.line, 3)
        XCTAssertEqual(error?.column, 3)
        XCTAssertEqual(error?.description,
                       "\(path):3:3: unknown config key 'train.micro_batchs' (did you mean 'train.micro_batch'?)")
    }

    func testUnknownKeyWithoutSuggestion() {
        let error = configError { try ConfigLoader.load(yaml: "log:\n  colour: blue\n") }
        XCTAssertEqual(error?.key, "log.colour")
        XCTAssertEqual(error?.kind, .unknownKey(suggestion: nil))
        XCTAssertEqual(error?.message, "unknown config key 'log.colour'")
    }

    func testUnknownKeyInEverySection() {
        for section in ["model", "data", "train", "routing", "memory", "checkpoint", "eval", "log"] {
            let error = configError { try ConfigLoader.load(yaml: "\(section):\n  bogus_key_xyz: 1\n") }
            XCTAssertEqual(error?.key, "\(section).bogus_key_xyz")
        }
    }

    func testUnknownKeyViaSet() {
        let error = configError { try ConfigLoader.load(overrides: ["train.micro_batchs=4"]) }
        XCTAssertEqual(error?.key, "train.micro_batchs")
        XCTAssertEqual(error?.kind, .unknownKey(suggestion: "train.micro_batch"))
        XCTAssertEqual(error?.description,
                       "--set train.micro_batchs=4: unknown config key 'train.micro_batchs' (did you mean 'train.micro_batch'?)")
    }

    func testUnknownSectionViaSet() {
        let error = configError { try ConfigLoader.load(overrides: ["trian.steps=4"]) }
        XCTAssertEqual(error?.key, "trian.steps")
        XCTAssertEqual(error?.kind, .unknownKey(suggestion: "train.steps"))
        let misplaced = configError { try ConfigLoader.load(overrides: ["model.micro_batch=4"]) }
        XCTAssertEqual(misplaced?.kind, .unknownKey(suggestion: "train.micro_batch"))
    }

    // MARK: - Ill-typed values

    func testStringForInteger() {
        let error = configError { try ConfigLoader.load(yaml: "train:\n  micro_batch: eight\n") }
        XCTAssertEqual(error?.key, "train.micro_batch")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "an integer", found: "\"eight\""))
        XCTAssertEqual(error?.line, 2)
        XCTAssertEqual(error?.description,
                       "<string>:2:16: config key 'train.micro_batch': expected an integer, found \"eight\"")
    }

    func testFloatAndQuotedNumberForInteger() {
        let float = configError { try ConfigLoader.load(yaml: "train:\n  steps: 8.5\n") }
        XCTAssertEqual(float?.kind, .typeMismatch(expected: "an integer", found: "8.5"))
        let quoted = configError { try ConfigLoader.load(yaml: "train:\n  steps: \"8\"\n") }
        XCTAssertEqual(quoted?.kind, .typeMismatch(expected: "an integer", found: "\"8\""))
    }

    func testListForFloat() {
        let error = configError { try ConfigLoader.load(yaml: "routing:\n  fraction: [0.1, 0.2]\n") }
        XCTAssertEqual(error?.key, "routing.fraction")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "a number", found: "[0.1, 0.2]"))
    }

    func testMappingForInteger() {
        let error = configError { try ConfigLoader.load(yaml: "log:\n  every:\n    steps: 3\n") }
        XCTAssertEqual(error?.key, "log.every")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "an integer", found: "{steps: 3}"))
    }

    func testNullForRequiredKey() {
        let error = configError { try ConfigLoader.load(yaml: "train:\n  micro_batch: null\n") }
        XCTAssertEqual(error?.key, "train.micro_batch")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "an integer", found: "null"))
    }

    func testListForString() {
        let error = configError { try ConfigLoader.load(yaml: "data:\n  path: [a, b]\n") }
        XCTAssertEqual(error?.key, "data.path")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "a string or null", found: "[\"a\", \"b\"]"))
    }

    func testSectionThatIsNotAMapping() {
        let error = configError { try ConfigLoader.load(yaml: "train: 5\n") }
        XCTAssertEqual(error?.key, "train")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "a mapping", found: "5"))
        let list = configError { try ConfigLoader.load(yaml: "model:\n  - 1\n") }
        XCTAssertEqual(list?.key, "model")
    }

    func testTopLevelThatIsNotAMapping() {
        let error = configError { try ConfigLoader.load(yaml: "- a\n- b\n", source: "list.yaml") }
        XCTAssertNil(error?.key)
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "a mapping", found: "[\"a\", \"b\"]"))
        XCTAssertEqual(error?.source, "list.yaml")
    }

    func testIllTypedValueViaSet() {
        let error = configError { try ConfigLoader.load(yaml: "train:\n  micro_batch: 4\n",
                                                        overrides: ["train.micro_batch=eight"]) }
        XCTAssertEqual(error?.key, "train.micro_batch")
        XCTAssertEqual(error?.source, "--set train.micro_batch=eight")
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "an integer", found: "\"eight\""))
    }

    // MARK: - Enums

    func testBadEnumListsAllowedValues() {
        let error = configError { try ConfigLoader.load(yaml: "train:\n  param_policy: everything\n") }
        XCTAssertEqual(error?.key, "train.param_policy")
        XCTAssertEqual(error?.kind,
                       .invalidValue("invalid value \"everything\"; allowed values: knowledge-paths, ffn-routed, full"))
    }

    func testEveryEnumKeyRejectsUnknownSpelling() {
        let keys: [(String, String)] = [
            ("train.param_policy", "knowledge-paths, ffn-routed, full"),
            ("train.nonfinite", "stop, skip"),
            ("train.allreduce", "auto, mpi, hierarchical"),
            ("routing.ig_mode", "joint, per-layer"),
            ("memory.refresh", "full, rolling"),
            ("memory.scope", "all, reachable"),
            ("memory.dtype", "float32, float16"),
            ("memory.features", "memory, random"),
            ("eval.split", "valid, test"),
        ]
        for (key, allowed) in keys {
            let error = configError { try ConfigLoader.load(overrides: ["\(key)=Bogus"]) }
            XCTAssertEqual(error?.key, key)
            XCTAssertEqual(error?.kind, .invalidValue("invalid value \"Bogus\"; allowed values: \(allowed)"), key)
        }
    }

    func testEnumGivenAList() {
        let error = configError { try ConfigLoader.load(yaml: "eval:\n  split: [valid]\n") }
        XCTAssertEqual(error?.kind, .typeMismatch(expected: "one of valid, test", found: "[\"valid\"]"))
    }

    // MARK: - Validation

    func testRangeValidationNamesTheKey() {
        let cases: [(String, String)] = [
            ("train.micro_batch=0", "train.micro_batch"),
            ("train.accumulation=0", "train.accumulation"),
            ("train.steps=0", "train.steps"),
            ("train.lr_new=-1e-3", "train.lr_new"),
            ("train.weight_decay=-0.1", "train.weight_decay"),
            ("train.clip=-1", "train.clip"),
            ("train.bucket_mb=0", "train.bucket_mb"),
            ("train.collective_timeout_s=0", "train.collective_timeout_s"),
            ("routing.fraction=0", "routing.fraction"),
            ("routing.fraction=1.5", "routing.fraction"),
            ("routing.ig_steps=0", "routing.ig_steps"),
            ("model.dropout=1", "model.dropout"),
            ("model.dropout=-0.1", "model.dropout"),
            ("model.gnn_dropout=1.0", "model.gnn_dropout"),
            ("model.fusion_layers=7", "model.fusion_layers"),
            ("model.fusion_layers=-1", "model.fusion_layers"),
            ("model.hidden_size=100", "model.hidden_size"),
            ("model.gnn_hidden=130", "model.gnn_hidden"),
            ("model.mint_hidden=0", "model.mint_hidden"),
            ("model.max_tokens=600", "model.max_tokens"),
            ("model.pad_token_id=30522", "model.pad_token_id"),
            ("model.layer_norm_eps=0", "model.layer_norm_eps"),
            ("model.layer_norm_eps=.nan", "model.layer_norm_eps"),
            ("memory.momentum=1", "memory.momentum"),
            ("memory.max_interval=5", "memory.max_interval"),
            ("memory.growth=0", "memory.growth"),
            ("memory.block_entities=0", "memory.block_entities"),
            ("checkpoint.keep=0", "checkpoint.keep"),
            ("eval.every=-1", "eval.every"),
            ("eval.max_entities=-1", "eval.max_entities"),
            ("eval.max_segments=-2", "eval.max_segments"),
            ("eval.max_triples=-1", "eval.max_triples"),
            ("log.every=0", "log.every"),
            ("data.path=''", "data.path"),
        ]
        for (override, key) in cases {
            let error = configError { try ConfigLoader.load(overrides: [override]) }
            XCTAssertEqual(error?.key, key, override)
            guard case .invalidValue? = error?.kind else {
                XCTFail("\(override): expected invalidValue, got \(String(describing: error))")
                continue
            }
            XCTAssertEqual(error?.source, "--set " + override)
        }
    }

    func testRangeMessages() {
        var c = KELMConfig()
        c.train.microBatch = 0
        c.model.fusionLayers = 7
        c.model.hiddenSize = 100
        c.routing.fraction = 1.5
        let messages = c.validationErrors().map { $0.description }
        XCTAssertEqual(messages, [
            "config key 'model.fusion_layers': must be <= model.num_layers (6), found 7",
            "config key 'model.hidden_size': must be divisible by model.num_heads (12), found 100",
            "config key 'train.micro_batch': must be >= 1, found 0",
            "config key 'routing.fraction': must be in (0, 1], found 1.5",
        ])
        XCTAssertThrowsError(try c.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.key, "model.fusion_layers")
        }
    }

    func testValidationErrorInFileHasLine() {
        let error = configError { try ConfigLoader.load(yaml: "routing:\n  interval: 5\n  fraction: 0\n",
                                                        source: "run.yaml") }
        XCTAssertEqual(error?.key, "routing.fraction")
        XCTAssertEqual(error?.description, "run.yaml:3:13: config key 'routing.fraction': must be in (0, 1], found 0.0")
    }

    func testCrossKeyViolationOfADefault() {
        // num_layers 2 makes the default fusion_layers 3 invalid; the error names fusion_layers.
        let error = configError { try ConfigLoader.load(overrides: ["model.num_layers=2"]) }
        XCTAssertEqual(error?.key, "model.fusion_layers")
        XCTAssertNil(error?.source)
        XCTAssertNoThrow(try ConfigLoader.load(overrides: ["model.num_layers=2", "model.fusion_layers=2"]))
    }

    // MARK: - Files and syntax

    func testYAMLSyntaxErrorNamesFileAndLine() throws {
        let path = try temporaryFile("train:\n  steps: 3\n  micro_batch: [1, 2\nmodel:\n  dropout: 0.1\n", name: "broken.yaml")
        let error = configError { try ConfigLoader.load(file: path) }
        guard case .syntax? = error?.kind else {
            return XCTFail("expected a syntax error, got \(String(describing: error))")
        }
        XCTAssertEqual(error?.source, path)
        XCTAssertNotNil(error?.line)
        XCTAssertTrue(error?.description.hasPrefix(path + ":") ?? false, error?.description ?? "")
        XCTAssertTrue(error?.description.contains("YAML syntax error") ?? false)
    }

    func testBadIndentationIsSyntaxErrorWithLine() {
        let error = configError { try ConfigLoader.load(yaml: "train:\n  steps: 3\n    micro_batch: 2\n", source: "x.yaml") }
        guard case .syntax? = error?.kind else {
            return XCTFail("expected a syntax error, got \(String(describing: error))")
        }
        XCTAssertEqual(error?.line, 3)
    }

    func testDuplicateKeyIsAnError() {
        let error = configError { try ConfigLoader.load(yaml: "train:\n  steps: 3\n  steps: 4\n") }
        guard case .syntax(let reason)? = error?.kind else {
            return XCTFail("expected a syntax error, got \(String(describing: error))")
        }
        XCTAssertTrue(reason.contains("steps"), reason)
    }

    func testMissingFileIsAnError() {
        let error = configError { try ConfigLoader.load(file: "/nonexistent/kelm/config.yaml") }
        XCTAssertEqual(error?.kind, .unreadable("no such file or directory"))
        XCTAssertEqual(error?.source, "/nonexistent/kelm/config.yaml")
        let directory = configError { try ConfigLoader.load(file: "/tmp") }
        XCTAssertEqual(directory?.kind, .unreadable("is a directory"))
    }

    /// Issue 20: `--config /dev/null` failed with "permission" (Foundation refused a device);
    /// an empty file is the defaults.
    func testEmptyConfigFromADeviceIsTheDefaults() throws {
        XCTAssertEqual(try ConfigLoader.load(file: "/dev/null"), KELMConfig())
    }

    // MARK: - Serialisation

    /// A configuration with a non-default value in every section, and both optionals set.
    private func modifiedConfig() -> KELMConfig {
        var c = KELMConfig()
        c.model.initFrom = "/models/minilm"
        c.model.mintHidden = 256
        c.model.layerNormEps = 1e-5
        c.data.path = "/data/wordnet.h5"
        c.data.seed = 17
        c.train.lrNew = 3e-4
        c.train.paramPolicy = .ffnRouted
        c.train.bucketMB = 0.5
        c.routing.igMode = .perLayer
        c.memory.dtype = .float16
        c.memory.momentum = 0.9
        c.checkpoint.keep = 5
        c.eval.split = .test
        c.log.every = 10
        return c
    }

    func testJSONRoundTrip() throws {
        for c in [KELMConfig(), modifiedConfig()] {
            let json = try c.canonicalJSONData()
            XCTAssertEqual(try KELMConfig(json: json), c)
            XCTAssertEqual(try KELMConfig(json: try c.prettyJSON()), c)
        }
    }

    func testCanonicalJSONHasEveryKeySortedAndSnakeCase() throws {
        let json = try KELMConfig().canonicalJSON()
        XCTAssertFalse(json.contains("\n"))
        XCTAssertTrue(json.hasPrefix("{\"checkpoint\":{\"every\":1000,\"keep\":3},\"data\":{\"path\":null,\"seed\":0},"), json)
        XCTAssertTrue(json.contains("\"micro_batch\":8"))
        XCTAssertTrue(json.contains("\"init_from\":null"))
        XCTAssertTrue(json.contains("\"mint_hidden\":null"))
        XCTAssertTrue(json.contains("\"param_policy\":\"knowledge-paths\""))
        XCTAssertFalse(json.contains("microBatch"))

        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        guard let sections = object as? [String: Any] else {
            return XCTFail("not a JSON object")
        }
        var keys: [String] = []
        for (section, value) in sections {
            guard let mapping = value as? [String: Any] else {
                return XCTFail("section \(section) is not an object")
            }
            keys += mapping.keys.map { section + "." + $0 }
        }
        XCTAssertEqual(Set(keys), Set(KELMConfig.allKeys))
    }

    /// `eval.max_entities`, `eval.max_segments` and `eval.max_triples` limit `train`'s periodic
    /// evaluation exactly as `kelm-dist eval --max-entities/--max-segments/--max-triples` limit
    /// the command's; null (the default) means no limit; `memory.features` and
    /// `model.fusion_layers: 0` parse.
    func testEvaluationLimitsAndAblationKeys() throws {
        let c = try ConfigLoader.load(yaml: "eval:\n  every: 50\n  max_entities: 1000\n  max_segments: 200\n",
                                      overrides: ["eval.max_triples=150", "memory.features=random", "model.fusion_layers=0",
                                                  "data.seed=9", "model.max_nodes=12"])
        XCTAssertEqual(c.eval.maxEntities, 1000)
        XCTAssertEqual(c.eval.maxSegments, 200)
        XCTAssertEqual(c.eval.maxTriples, 150)
        XCTAssertEqual(c.memory.features, .random)
        XCTAssertEqual(c.model.fusionLayers, 0)
        XCTAssertEqual(c.model.firstFusionLayer, 6)
        XCTAssertEqual(try KELMConfig(json: try c.canonicalJSONData()), c)

        let unlimited = try ConfigLoader.load(overrides: ["eval.max_entities=null"])
        XCTAssertNil(unlimited.eval.maxEntities)
        let zero = try ConfigLoader.load(overrides: ["eval.max_entities=0"])
        XCTAssertEqual(zero.eval.maxEntities, 0, "0 is allowed, as --max-entities 0: only the ranked triples' entities")
        let wrongType = configError { try ConfigLoader.load(overrides: ["eval.max_entities=many"]) }
        XCTAssertEqual(wrongType?.key, "eval.max_entities")
    }

    func testCanonicalJSONIsDeterministic() throws {
        let a = try modifiedConfig().canonicalJSON()
        let b = try KELMConfig(json: a).canonicalJSON()
        XCTAssertEqual(a, b)
    }

    func testPathsAreNotEscapedInJSON() throws {
        XCTAssertTrue(try modifiedConfig().canonicalJSON().contains("\"/data/wordnet.h5\""))
    }

    func testJSONDecodingIsStrict() {
        let unknown = configError { try KELMConfig(json: "{\"train\": {\"micro_batchs\": 4}}") }
        XCTAssertEqual(unknown?.key, "train.micro_batchs")
        XCTAssertEqual(unknown?.kind, .unknownKey(suggestion: "train.micro_batch"))
        let typed = configError { try KELMConfig(json: "{\"train\": {\"micro_batch\": \"eight\"}}") }
        XCTAssertEqual(typed?.kind, .typeMismatch(expected: "an integer", found: "\"eight\""))
        let fraction = configError { try KELMConfig(json: "{\"train\": {\"steps\": 2.5}}") }
        XCTAssertEqual(fraction?.key, "train.steps", String(describing: fraction))
        let range = configError { try KELMConfig(json: "{\"train\": {\"micro_batch\": 0}}") }
        XCTAssertEqual(range?.key, "train.micro_batch")
        let garbage = configError { try KELMConfig(json: "{not json") }
        guard case .syntax? = garbage?.kind else {
            return XCTFail("expected a syntax error, got \(String(describing: garbage))")
        }
        XCTAssertEqual(try KELMConfig(json: "{}"), KELMConfig())
    }

    func testNonFiniteNumberCannotBeEncodedToJSON() {
        var c = KELMConfig()
        c.train.clip = .infinity
        let error = configError { try c.canonicalJSON() }
        XCTAssertEqual(error?.key, "train.clip")
    }

    func testYAMLRoundTrip() throws {
        var awkward = modifiedConfig()
        awkward.data.path = "null"
        awkward.model.initFrom = "8"
        for c in [KELMConfig(), modifiedConfig(), awkward] {
            let yaml = try c.yaml()
            XCTAssertTrue(yaml.contains("micro_batch:"), yaml)
            XCTAssertEqual(try ConfigLoader.load(yaml: yaml), c, yaml)
        }
    }

    // MARK: - Shipped configs

    func testEveryShippedConfigLoadsAndValidates() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: configsDirectory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
        XCTAssertTrue(files.contains("tiny.yaml"), "\(files)")
        XCTAssertTrue(files.contains("base.yaml"), "\(files)")
        for name in files {
            let config = try ConfigLoader.load(file: configsDirectory.appendingPathComponent(name).path)
            XCTAssertEqual(config.validationErrors(), [], name)
        }
    }

    func testTinyConfig() throws {
        let c = try ConfigLoader.load(file: configsDirectory.appendingPathComponent("tiny.yaml").path)
        XCTAssertEqual(c.model.hiddenSize, 32)
        XCTAssertEqual(c.model.numLayers, 2)
        XCTAssertEqual(c.model.numHeads, 4)
        XCTAssertEqual(c.model.ffnSize, 64)
        XCTAssertLessThan(c.model.vocabSize, 1000)
        XCTAssertEqual(c.model.fusionLayers, 1)
        XCTAssertEqual(c.model.gnnHidden, 16)
        XCTAssertEqual(c.model.maxTokens, 32)
        XCTAssertEqual(c.model.maxNodes, 16)
        XCTAssertEqual(c.model.dropout, 0.1)
        XCTAssertEqual(c.train.microBatch, 2)
        XCTAssertEqual(c.train.steps, 20)
    }

    func testBaseConfig() throws {
        let c = try ConfigLoader.load(file: configsDirectory.appendingPathComponent("base.yaml").path)
        XCTAssertEqual(c.model.hiddenSize, 768)
        XCTAssertEqual(c.model.numLayers, 12)
        XCTAssertEqual(c.model.numHeads, 12)
        XCTAssertEqual(c.model.ffnSize, 3072)
        XCTAssertEqual(c.model.vocabSize, 30522)
        XCTAssertEqual(c.model.fusionLayers, 5)
        XCTAssertEqual(c.model.gnnHidden, 200)
        XCTAssertEqual(c.model.maxTokens, 128)
        XCTAssertEqual(c.model.maxNodes, 200)
    }

    // MARK: - Suggestions

    func testEditDistance() {
        XCTAssertEqual(ConfigSchema.editDistance("micro_batchs", "micro_batch"), 1)
        XCTAssertEqual(ConfigSchema.editDistance("trian", "train"), 1)
        XCTAssertEqual(ConfigSchema.editDistance("", "abc"), 3)
        XCTAssertEqual(ConfigSchema.closest(to: "micro-batch", among: ["micro_batch", "steps"]), "micro_batch")
        XCTAssertNil(ConfigSchema.closest(to: "zzz", among: ["micro_batch", "steps"]))
    }
}
