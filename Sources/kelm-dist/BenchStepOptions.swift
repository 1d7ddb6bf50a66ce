import ArgumentParser

/// The options `bench lm` and `bench model` share.
struct BenchStepOptions: ParsableArguments {
    @Option(help: "Compute threads: sgemm (split over them, OpenBLAS single-threaded per call), attention, the element-wise kernels and AdamW.")
    var threads = 1

    @Option(help: "Segments per batch.")
    var batch = 8

    @Option(help: "Tokens per segment.")
    var tokens = 128

    @Option(help: "Timed steps (the median is reported).")
    var steps = 15

    @Option(help: "Untimed warm-up steps.")
    var warmup = 3

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Also time every kernel (sgemm by shape, attention, GELU, LayerNorm, cross-entropy, ..., AdamW).")
    var kernels = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard tokens >= 3 && tokens <= 512 else { throw ValidationError("--tokens must be in 3...512 (the MiniLM's positions)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }
}
