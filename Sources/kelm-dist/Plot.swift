import ArgumentParser
import Foundation
import KELMEvaluation
import KELMTraining

/// `kelm-dist plot LABEL=metrics.jsonl…`: the validation curves of one or more runs as an SVG
/// (the evaluation lines `train` writes every `eval.every` steps).
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plot the validation curves of training runs (their metrics.jsonl) as an SVG file.",
        discussion: "Each run is LABEL=PATH or PATH (a metrics.jsonl or a run directory holding one); the label defaults to the run directory's name.")

    @Argument(help: "Runs: LABEL=PATH or PATH, PATH a metrics.jsonl or a run directory.")
    var runs: [String]

    @Option(help: "The SVG file to write.")
    var out: String

    @Option(help: "Comma-separated metrics, one panel each: mlm_loss, mention_mlm_loss, mlm_accuracy, mrr, hits@10.")
    var metrics = "mlm_loss,mention_mlm_loss,mrr,hits@10"

    @Option(help: "The title above the panels.")
    var title = "validation curves"

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run (LABEL=PATH)") }
        for name in metrics.split(separator: ",") where ValidationMetric(rawValue: String(name)) == nil {
            throw ValidationError("--metrics: unknown metric \"\(name)\"; known: \(ValidationMetric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let curves = try runs.map { spec -> ValidationCurve in
            var label: String? = nil, path = spec
            if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
                label = String(spec[..<eq])
                path = String(spec[spec.index(after: eq)...])
            }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                path = (path as NSString).appendingPathComponent("metrics.jsonl")
            }
            let name = label ?? ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
            return try ValidationCurve(label: name, metricsFile: path)
        }
        let plot = try ValidationCurvePlot(curves: curves, metrics: metrics.split(separator: ",").compactMap { ValidationMetric(rawValue: String($0)) },
                                           title: title)
        try plot.write(to: out)
        print(out)
    }
}
