import Foundation

/// What one evaluation measured (docs/evaluation.md). The JSON keys are those of
/// `kelm-dist eval --json`; a metric with nothing to average (no masked token inside a mention,
/// no held-out triple, a part switched off) is `null`.
public struct EvaluationResult: Codable, Equatable, Sendable {
    /// The training step evaluated (set by the caller; `null` when unknown).
    public var step: Int?
    /// `valid` or `test`.
    public var split: String

    /// Masked LM on the held-out segments: mean cross-entropy over the masked tokens, its
    /// exponential, and the share of masked tokens whose arg-max is the original token.
    public var mlmLoss: Double?
    public var mlmPerplexity: Double?
    public var mlmAccuracy: Double?
    /// The same over the masked tokens inside entity mentions.
    public var mentionMLMLoss: Double?
    public var mentionMLMPerplexity: Double?
    public var mentionMLMAccuracy: Double?
    /// The training link-prediction objective (DESIGN §3, sampled positives and negatives) on
    /// the held-out segments' subgraphs, per positive.
    public var lpLoss: Double?

    /// Filtered link prediction on the held-out triples, both directions ((h, r, ?) and (?, r, t)).
    public var mrr: Double?
    public var hits1: Double?
    public var hits3: Double?
    public var hits10: Double?

    /// Held-out segments evaluated, their masked tokens, the masked tokens inside mentions,
    /// and the link-prediction positives of their subgraphs.
    public var segments: Int
    public var maskedTokens: Int
    public var mentionMaskedTokens: Int
    public var lpPositives: Int
    /// Held-out triples ranked (each gives two rankings), and the candidate entities ranked.
    public var triples: Int
    public var candidates: Int
    /// Wall-clock seconds of the evaluation (rank 0's).
    public var seconds: Double
    /// Every masked token's loss, in split order, when `EvaluationOptions.recordTokenLosses` is
    /// set (`kelm-dist eval --token-losses`); not part of the JSON object. The masking does not
    /// depend on the model, so two checkpoints' lists pair token for token.
    public var tokenLosses: [MaskedTokenLoss]? = nil

    public init(split: String) {
        self.split = split
        segments = 0
        maskedTokens = 0
        mentionMaskedTokens = 0
        lpPositives = 0
        triples = 0
        candidates = 0
        seconds = 0
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case step, split
        case mlmLoss = "mlm_loss", mlmPerplexity = "mlm_perplexity", mlmAccuracy = "mlm_accuracy"
        case mentionMLMLoss = "mention_mlm_loss", mentionMLMPerplexity = "mention_mlm_perplexity"
        case mentionMLMAccuracy = "mention_mlm_accuracy"
        case lpLoss = "lp_loss"
        case mrr, hits1 = "hits@1", hits3 = "hits@3", hits10 = "hits@10"
        case segments, maskedTokens = "masked_tokens", mentionMaskedTokens = "mention_masked_tokens"
        case lpPositives = "lp_positives", triples, candidates, seconds
    }

    /// Every key is written; absent values as `null`.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(split, forKey: .split)
        try c.encode(mlmLoss, forKey: .mlmLoss)
        try c.encode(mlmPerplexity, forKey: .mlmPerplexity)
        try c.encode(mlmAccuracy, forKey: .mlmAccuracy)
        try c.encode(mentionMLMLoss, forKey: .mentionMLMLoss)
        try c.encode(mentionMLMPerplexity, forKey: .mentionMLMPerplexity)
        try c.encode(mentionMLMAccuracy, forKey: .mentionMLMAccuracy)
        try c.encode(lpLoss, forKey: .lpLoss)
        try c.encode(mrr, forKey: .mrr)
        try c.encode(hits1, forKey: .hits1)
        try c.encode(hits3, forKey: .hits3)
        try c.encode(hits10, forKey: .hits10)
        try c.encode(segments, forKey: .segments)
        try c.encode(maskedTokens, forKey: .maskedTokens)
        try c.encode(mentionMaskedTokens, forKey: .mentionMaskedTokens)
        try c.encode(lpPositives, forKey: .lpPositives)
        try c.encode(triples, forKey: .triples)
        try c.encode(candidates, forKey: .candidates)
        try c.encode(seconds, forKey: .seconds)
    }

    /// One JSON object, keys sorted (non-finite numbers as the strings "inf", "-inf", "nan").
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The metrics as the `--json` keys with their values (nil for `null`), for printing.
    public var summaryLines: [String] {
        func f(_ v: Double?, _ format: String = "%.4f") -> String { v.map { String(format: format, $0) } ?? "n/a" }
        var lines = ["split: \(split)"]
        if let step { lines.append("step: \(step)") }
        lines.append("segments: \(segments) (\(maskedTokens) masked tokens, \(mentionMaskedTokens) inside mentions)")
        lines.append("mlm_loss: \(f(mlmLoss))")
        lines.append("mlm_perplexity: \(f(mlmPerplexity, "%.2f"))")
        lines.append("mlm_accuracy: \(f(mlmAccuracy))")
        lines.append("mention_mlm_loss: \(f(mentionMLMLoss))")
        lines.append("mention_mlm_perplexity: \(f(mentionMLMPerplexity, "%.2f"))")
        lines.append("mention_mlm_accuracy: \(f(mentionMLMAccuracy))")
        lines.append("lp_loss: \(f(lpLoss)) (\(lpPositives) positives)")
        lines.append("triples: \(triples) (ranked among \(candidates) candidate entities, both directions, filtered)")
        lines.append("mrr: \(f(mrr))")
        lines.append("hits@1: \(f(hits1))")
        lines.append("hits@3: \(f(hits3))")
        lines.append("hits@10: \(f(hits10))")
        lines.append(String(format: "seconds: %.1f", seconds))
        return lines
    }

    /// Whether this result is better than `other` for keeping the `best` checkpoint: a lower
    /// validation `mlm_loss` (docs/evaluation.md explains the choice); a result without an
    /// MLM loss is never better, and any result is better than none.
    public func isBetter(than other: EvaluationResult?) -> Bool {
        guard let loss = mlmLoss, loss.isFinite else { return false }
        guard let other, let previous = other.mlmLoss, previous.isFinite else { return true }
        return loss < previous
    }
}

/// One masked held-out token and the model's cross-entropy on it.
public struct MaskedTokenLoss: Codable, Equatable, Sendable {
    /// Index of the segment in its split, and of the token in the segment.
    public var segment: Int
    public var position: Int
    /// The original token id (the label).
    public var token: Int
    /// Whether the token is inside an entity mention.
    public var mention: Bool
    public var loss: Double

    public init(segment: Int, position: Int, token: Int, mention: Bool, loss: Double) {
        self.segment = segment
        self.position = position
        self.token = token
        self.mention = mention
        self.loss = loss
    }

    /// The TSV written by `kelm-dist eval --token-losses FILE`: a header line, then one line per token.
    public static func tsv(_ tokens: [MaskedTokenLoss]) -> String {
        var text = "segment\tposition\ttoken\tmention\tloss\n"
        for t in tokens { text += "\(t.segment)\t\(t.position)\t\(t.token)\t\(t.mention ? 1 : 0)\t\(t.loss)\n" }
        return text
    }
}

/// A line of `metrics.jsonl` for an evaluation: `{"step": …, "eval": {…}}`, so that it cannot
/// be mistaken for a training step's line (both have an `mlm_loss`).
public struct EvaluationLogRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var eval: EvaluationResult

    public init(step: Int, eval: EvaluationResult) {
        self.step = step
        self.eval = eval
    }
}
