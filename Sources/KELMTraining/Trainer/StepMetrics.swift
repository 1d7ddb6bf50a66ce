import KELMModel

/// What one optimizer step measured; the JSON keys of `metrics.jsonl`.
public struct StepMetrics: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var mlm_loss: Double
    public var lp_loss: Double
    public var mlm_accuracy: Double
    public var lr: Double
    public var grad_norm: Double
    /// Token positions of the global batch (B·T per segment, padding included) per second.
    public var tokens_per_s: Double
    /// Real (non-padding) tokens of the global batch per second.
    public var real_tokens_per_s: Double
    /// Share of the global batch's token positions that are padding.
    public var padding_fraction: Double
    public var time_forward_ms: Double
    public var time_backward_ms: Double
    public var time_comm_exposed_ms: Double
    public var time_optimizer_ms: Double
    public var bytes_allreduced: Int
    public var bytes_dense_equivalent: Int
    public var skipped: Bool
    /// The parameter policy of this step's stage (`full` in the MLM-adaptation stage).
    public var param_policy: String
    /// Milliseconds spent on knowledge-path attribution at this step (absent when it did not run).
    public var attribution_ms: Double?
    /// The entity-memory refresh at the start of this step (absent when none ran): its
    /// milliseconds, the entities it covered and their rate.
    public var memory_refresh_ms: Double?
    public var memory_refreshed_entities: Int?
    public var memory_entities_per_s: Double?
}

extension StepMetrics {
    /// The metrics of step `step` from what the trainer measured: the loss sums and counts
    /// (`sums`: MLM loss, link-prediction loss, correct MLM predictions), token counts, times in
    /// nanoseconds, bytes, and the attribution and memory refresh when they ran.
    init(step: Int, loss: Double, norm: LossNormalization, sums: [Double], realTokens: Double, tokensPerStep: Double,
         seconds: Double, lr: Double, gradNorm: Double, forwardNs: UInt64, backwardNs: UInt64, exposedNs: UInt64,
         optimizerNs: UInt64, bytes: Int, denseEquivalentBytes: Int, skipped: Bool, policy: String,
         attributionMs: Double?, refresh: (ms: Double, entities: Int)?) {
        self.init(step: step, loss: loss, mlm_loss: norm.mlmLoss(sums[0]), lp_loss: norm.lpLoss(sums[1]),
                  mlm_accuracy: norm.mlmCount > 0 ? sums[2] / Double(norm.mlmCount) : 0, lr: lr, grad_norm: gradNorm,
                  tokens_per_s: tokensPerStep / seconds, real_tokens_per_s: realTokens / seconds,
                  padding_fraction: tokensPerStep > 0 ? max(0, 1 - realTokens / tokensPerStep) : 0,
                  time_forward_ms: Double(forwardNs) * 1e-6, time_backward_ms: Double(backwardNs) * 1e-6,
                  time_comm_exposed_ms: Double(exposedNs) * 1e-6, time_optimizer_ms: Double(optimizerNs) * 1e-6,
                  bytes_allreduced: bytes, bytes_dense_equivalent: denseEquivalentBytes, skipped: skipped,
                  param_policy: policy, attribution_ms: attributionMs, memory_refresh_ms: refresh?.ms,
                  memory_refreshed_entities: refresh?.entities,
                  memory_entities_per_s: refresh.map { $0.ms > 0 ? Double($0.entities) / ($0.ms * 1e-3) : 0 })
    }
}
