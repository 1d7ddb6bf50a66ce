import Foundation

/// The held-out evaluations a training run logged: the `{"step": …, "eval": {…}}` lines of its
/// `metrics.jsonl` (training-step lines are skipped), in file order.
public struct ValidationCurve: Equatable, Sendable {
    /// The name shown in a plot's legend.
    public var label: String
    public var points: [EvaluationLogRecord]

    public init(label: String, points: [EvaluationLogRecord]) {
        self.label = label
        self.points = points
    }

    /// Reads the evaluation lines of `path` (a `metrics.jsonl`). A line that is not JSON, or an
    /// `eval` object that does not decode, is an error naming the file and line; a file without
    /// any evaluation line is an error too (the run had `eval.every: 0`, or stopped before).
    public init(label: String, metricsFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlotError.input(path, "cannot be read")
        }
        self.label = label
        points = []
        let decoder = JSONDecoder()
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(text.utf8))
            } catch {
                throw PlotError.input("\(path):\(i + 1)", "is not a JSON object")
            }
            guard let dictionary = object as? [String: Any] else { throw PlotError.input("\(path):\(i + 1)", "is not a JSON object") }
            guard dictionary["eval"] != nil else { continue }
            do {
                points.append(try decoder.decode(EvaluationLogRecord.self, from: Data(text.utf8)))
            } catch {
                throw PlotError.input("\(path):\(i + 1)", "an evaluation line that does not decode (expected {\"step\": Int, \"eval\": {…}}): \(error)")
            }
        }
        guard !points.isEmpty else {
            throw PlotError.input(path, "holds no evaluation line ({\"step\": …, \"eval\": {…}}): was the run trained with eval.every > 0?")
        }
    }

    /// (step, value) of `metric` at every evaluation where it is not null.
    public func series(_ metric: ValidationMetric) -> [(step: Int, value: Double)] {
        points.compactMap { p in metric.value(p.eval).map { (p.step, $0) } }
    }
}

/// A metric of ``EvaluationResult`` that a plot can show.
public enum ValidationMetric: String, CaseIterable, Sendable {
    case mlmLoss = "mlm_loss"
    case mentionMLMLoss = "mention_mlm_loss"
    case mlmAccuracy = "mlm_accuracy"
    case mrr
    case hits10 = "hits@10"

    public func value(_ r: EvaluationResult) -> Double? {
        let v: Double?
        switch self {
        case .mlmLoss: v = r.mlmLoss
        case .mentionMLMLoss: v = r.mentionMLMLoss
        case .mlmAccuracy: v = r.mlmAccuracy
        case .mrr: v = r.mrr
        case .hits10: v = r.hits10
        }
        return v.flatMap { $0.isFinite ? $0 : nil }
    }

    /// The panel title.
    public var title: String {
        switch self {
        case .mlmLoss: return "validation MLM loss"
        case .mentionMLMLoss: return "validation MLM loss on entity mentions"
        case .mlmAccuracy: return "validation MLM accuracy"
        case .mrr: return "validation MRR (filtered)"
        case .hits10: return "validation Hits@10 (filtered)"
        }
    }
}

/// Bad input to `kelm-dist plot`.
public enum PlotError: Error, CustomStringConvertible, Equatable {
    /// A file (or file:line) and what is wrong with it.
    case input(String, String)
    case argument(String)

    public var description: String {
        switch self {
        case .input(let where_, let what): return "\(where_): \(what)"
        case .argument(let what): return what
        }
    }
}
