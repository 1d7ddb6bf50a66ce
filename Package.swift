// swift-tools-version:6.0
import Foundation
import PackageDescription

// The numeric targets are compiled for x86-64-v3 (Haswell and later: AVX2, FMA, F16C) by default:
// the element-wise kernels' eight-lane SIMD then runs as one AVX instruction instead of two SSE
// halves. `kelm-dist` checks the CPU at start-up and says so when it lacks these. Build for any
// x86-64 with `KELM_TARGET_CPU=x86-64 swift build -c release` (or name another LLVM CPU).
#if arch(x86_64)
let targetCPU = ProcessInfo.processInfo.environment["KELM_TARGET_CPU"] ?? "haswell"
#else
let targetCPU = "native-default"
#endif
let buildsForV3 = targetCPU != "x86-64" && targetCPU != "native-default"
let computeSettings: [SwiftSetting] = buildsForV3 ? [.unsafeFlags(["-target-cpu", targetCPU])] : []
let startupSettings: [SwiftSetting] = buildsForV3 ? [.define("KELM_REQUIRES_X86_64_V3")] : []

let package = Package(
    name: "kelm-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kelm-dist", targets: ["kelm-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries: module maps and shims (static inline accessors for macros).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"])]),

        // Acquire/release atomics on words in memory shared between processes.
        .target(name: "CAtomics"),
        // Checked POSIX file operations: write-all, fsync of file and directory, atomic replace.
        .target(name: "KELMFiles"),

        // Thin owners of the C handles.
        .target(name: "KELMMPI", dependencies: ["CMPI"]),
        .target(name: "KELMHDF5", dependencies: ["CHDF5"]),

        // Flat buffers with named views, sgemm, kernels, random numbers, the Collective protocol.
        .target(name: "KELMNumerics", dependencies: ["CBLAS", "KELMHost"], swiftSettings: computeSettings),
        // BERT, GNN, MInt, heads, objectives; the parameter roles (one parser of names).
        .target(name: "KELMModel", dependencies: ["KELMNumerics"], swiftSettings: computeSettings),
        // TRELM attribution, the path selector, packed path gradients and their optimizer.
        .target(name: "KELMRouting", dependencies: ["KELMModel", "KELMNumerics"], swiftSettings: computeSettings),
        // JAKET entity-context memory, its encoder and schedule.
        .target(name: "KELMMemory", dependencies: ["KELMModel", "KELMNumerics"], swiftSettings: computeSettings),
        // Tokenizer, raw formats, WordNet importer, dataset file, subgraph retrieval, loader.
        .target(name: "KELMData", dependencies: ["KELMFiles", "KELMHDF5", "KELMNumerics"]),
        // The gradient exchange (buckets, path buffer, sparse rows), replica checks, the MPI
        // collective, node-shared memory and gradients, the collective watchdog.
        .target(name: "KELMDistributed", dependencies: ["CAtomics", "KELMMPI", "KELMNumerics"]),
        // Checkpoints, Hugging Face import/export.
        .target(name: "KELMCheckpoint", dependencies: ["KELMFiles", "KELMHDF5", "KELMModel", "KELMNumerics"]),
        // The Codable configuration (DESIGN §10): YAML, --set overrides, validation.
        .target(name: "KELMConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The model's batches from the data: FusionBatch and the training-data sources (a
        // prepared dataset, synthetic data), shared by training and evaluation.
        .target(name: "KELMBatches", dependencies: ["KELMConfig", "KELMData", "KELMMemory", "KELMModel", "KELMNumerics"],
                swiftSettings: computeSettings),
        // Held-out MLM and link-prediction evaluation, validation curves and their plot.
        .target(name: "KELMEvaluation",
                dependencies: ["KELMConfig", "KELMBatches", "KELMCheckpoint", "KELMData", "KELMDistributed", "KELMFiles", "KELMHDF5",
                               "KELMMemory", "KELMModel", "KELMNumerics"],
                swiftSettings: computeSettings),
        // Optimizer, trainer, training run (run directory, resume, signals); wires the rest together.
        .target(name: "KELMTraining",
                dependencies: ["KELMBatches", "KELMConfig", "KELMEvaluation", "KELMFiles", "KELMMPI", "KELMHDF5", "KELMNumerics", "KELMModel", "KELMCheckpoint", "KELMData", "KELMDistributed", "KELMMemory", "KELMRouting",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: computeSettings),
        // The `bench` measurements (only the command-line tool imports them).
        .target(name: "KELMBenchmarks",
                dependencies: ["KELMTraining", "KELMBatches", "KELMCheckpoint", "KELMConfig", "KELMData", "KELMDistributed", "KELMFiles",
                               "KELMHDF5", "KELMMemory", "KELMModel", "KELMNumerics", "KELMRouting"],
                swiftSettings: computeSettings),
        // What the build needs of the CPU, checked before any numeric code runs (compiled for
        // the baseline x86-64 so that the check itself runs everywhere).
        .target(name: "KELMHost", swiftSettings: startupSettings),
        .executableTarget(name: "kelm-dist",
                          dependencies: ["KELMHost", "KELMBatches", "KELMBenchmarks", "KELMConfig", "KELMEvaluation", "KELMTraining", "KELMMPI", "KELMNumerics", "KELMModel", "KELMData", "KELMDistributed",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")]),

        // Finite-difference checks and test data shared by the test targets (no MPI).
        .target(name: "KELMTestSupport", dependencies: ["KELMNumerics", "KELMHDF5", "KELMModel"], path: "Tests/KELMTestSupport"),
        // Where the ranks of a multi-rank test run.
        .target(name: "KELMMPITestSupport", dependencies: ["KELMMPI"], path: "Tests/KELMMPITestSupport"),
        // A small prepared dataset and a trainer on it, for the training and evaluation tests.
        .target(name: "KELMTrainingTestSupport", dependencies: ["KELMTraining", "KELMBatches", "KELMConfig", "KELMData", "KELMNumerics"],
                path: "Tests/KELMTrainingTestSupport"),

        .testTarget(name: "KELMHostTests", dependencies: ["KELMHost"]),
        .testTarget(name: "KELMMPITests", dependencies: ["KELMMPI"]),
        .testTarget(name: "KELMHDF5Tests", dependencies: ["KELMHDF5"]),
        .testTarget(name: "KELMFilesTests", dependencies: ["KELMFiles"]),
        .testTarget(name: "KELMConfigTests", dependencies: ["KELMConfig"]),
        .testTarget(name: "KELMNumericsTests", dependencies: ["KELMNumerics", "KELMTestSupport"]),
        .testTarget(name: "KELMModelTests", dependencies: ["KELMModel", "KELMNumerics", "KELMHDF5", "KELMCheckpoint", "KELMTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "KELMDataTests", dependencies: ["KELMData", "KELMHDF5", "KELMNumerics", "KELMTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "KELMRoutingTests", dependencies: ["KELMRouting", "KELMModel", "KELMNumerics", "KELMTestSupport"]),
        .testTarget(name: "KELMMemoryTests", dependencies: ["KELMMemory", "KELMModel", "KELMNumerics", "KELMDistributed", "KELMMPI", "KELMTestSupport"]),
        .testTarget(name: "KELMDistributedTests", dependencies: ["KELMDistributed", "KELMMPI", "KELMNumerics", "KELMTestSupport", "KELMMPITestSupport"]),
        .testTarget(name: "KELMCheckpointTests", dependencies: ["KELMCheckpoint", "KELMFiles", "KELMModel", "KELMHDF5", "KELMNumerics", "KELMTestSupport"]),
        .testTarget(name: "KELMTrainingTests", dependencies: ["KELMTraining", "KELMBatches", "KELMConfig", "KELMEvaluation", "KELMNumerics",
                                                               "KELMModel", "KELMHDF5", "KELMCheckpoint", "KELMDistributed", "KELMMPI",
                                                               "KELMTestSupport", "KELMMPITestSupport", "KELMTrainingTestSupport"]),
        .testTarget(name: "KELMEvaluationTests", dependencies: ["KELMEvaluation", "KELMTraining", "KELMBatches", "KELMConfig", "KELMData",
                                                                 "KELMModel", "KELMNumerics", "KELMDistributed", "KELMMPI", "KELMTrainingTestSupport"]),
        .testTarget(name: "KELMBenchmarksTests", dependencies: ["KELMBenchmarks", "KELMModel", "KELMNumerics"]),
        .testTarget(name: "kelm-distTests", dependencies: ["kelm-dist", "KELMNumerics", "KELMCheckpoint", "KELMHDF5", "KELMData"]),
    ],
    swiftLanguageModes: [.v5]
)
