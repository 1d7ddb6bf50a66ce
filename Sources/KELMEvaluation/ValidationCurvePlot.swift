import Foundation

/// Writes the validation curves of several runs as one SVG: one panel per metric (x = training
/// step, y = the metric), one coloured line with point markers per run, a shared legend.
/// Plain SVG 1.1 with no script or external reference, so any browser or Markdown viewer shows it.
public struct ValidationCurvePlot {
    public var curves: [ValidationCurve]
    public var metrics: [ValidationMetric]
    public var title: String
    /// Size of one panel in pixels, and panels per row.
    public var panelWidth = 440.0, panelHeight = 300.0
    public var columns = 2

    /// Colours of the runs, in order (then repeated): a palette that stays distinct in grey.
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]

    public init(curves: [ValidationCurve], metrics: [ValidationMetric] = [.mlmLoss, .mentionMLMLoss, .mrr, .hits10],
                title: String = "validation curves") throws {
        guard !curves.isEmpty else { throw PlotError.argument("nothing to plot: give at least one metrics.jsonl") }
        guard !metrics.isEmpty else { throw PlotError.argument("nothing to plot: give at least one metric") }
        self.curves = curves
        self.metrics = metrics
        self.title = title
    }

    /// "Nice" tick values inside lo…hi: steps of 1, 2 or 5 × 10^k, about `count` of them.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        // the nice step nearest (in ratio) to the raw one
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.min { abs(log($0 / raw)) < abs(log($1 / raw)) } ?? magnitude
        var t = ceil(lo / step - 1e-9) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1000 || a < 0.001 { return String(format: "%.1e", v) }
        if v == v.rounded() { return String(format: "%.0f", v) }
        var s = String(format: a >= 1 ? "%.2f" : "%.4f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The SVG document.
    public func svg() -> String {
        let rows = (metrics.count + columns - 1) / columns
        let header = 40.0, legendRow = 20.0
        let legendHeight = legendRow * Double((curves.count + 2) / 3) + 10
        let width = panelWidth * Double(min(columns, metrics.count))
        let height = header + legendHeight + panelHeight * Double(rows)
        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
        <text x="\(width / 2)" y="26" text-anchor="middle" font-size="16">\(Self.escape(title))</text>

        """
        // legend: three entries per row
        for (i, c) in curves.enumerated() {
            let x = 60 + Double(i % 3) * (width - 80) / 3, y = header + legendRow * Double(i / 3) + 10
            let colour = Self.palette[i % Self.palette.count]
            s += "<g class=\"legend\"><line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x + 24)\" y2=\"\(y)\" stroke=\"\(colour)\" stroke-width=\"2.5\"/>"
            s += "<text x=\"\(x + 30)\" y=\"\(y + 4)\">\(Self.escape(c.label))</text></g>\n"
        }
        for (k, metric) in metrics.enumerated() {
            let ox = panelWidth * Double(k % columns), oy = header + legendHeight + panelHeight * Double(k / columns)
            s += panel(metric, x: ox, y: oy)
        }
        s += "</svg>\n"
        return s
    }

    func panel(_ metric: ValidationMetric, x ox: Double, y oy: Double) -> String {
        let left = ox + 64, right = ox + panelWidth - 16, top = oy + 28, bottom = oy + panelHeight - 44
        let series = curves.map { $0.series(metric) }
        let all = series.flatMap { $0 }
        var s = "<g class=\"panel\" data-metric=\"\(metric.rawValue)\">\n"
        s += "<text x=\"\((left + right) / 2)\" y=\"\(oy + 18)\" text-anchor=\"middle\" font-size=\"13\">\(Self.escape(metric.title))</text>\n"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(right - left)\" height=\"\(bottom - top)\" fill=\"none\" stroke=\"#444\"/>\n"
        guard !all.isEmpty else {
            s += "<text x=\"\((left + right) / 2)\" y=\"\((top + bottom) / 2)\" text-anchor=\"middle\" fill=\"#888\">no values</text>\n</g>\n"
            return s
        }
        var x0 = Double(all.map(\.step).min()!), x1 = Double(all.map(\.step).max()!)
        var y0 = all.map(\.value).min()!, y1 = all.map(\.value).max()!
        if x1 == x0 { x0 -= 1; x1 += 1 }
        if y1 == y0 { let pad = max(abs(y0) * 0.05, 1e-3); y0 -= pad; y1 += pad }
        let ypad = (y1 - y0) * 0.06
        y0 -= ypad; y1 += ypad
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * (right - left) }
        func py(_ v: Double) -> Double { bottom - (v - y0) / (y1 - y0) * (bottom - top) }
        for t in Self.ticks(x0, x1) {
            let x = px(t)
            s += "<line x1=\"\(x)\" y1=\"\(bottom)\" x2=\"\(x)\" y2=\"\(bottom + 4)\" stroke=\"#444\"/>"
            s += "<text x=\"\(x)\" y=\"\(bottom + 17)\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
        }
        for t in Self.ticks(y0, y1) {
            let y = py(t)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(right)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        s += "<text x=\"\((left + right) / 2)\" y=\"\(bottom + 34)\" text-anchor=\"middle\">training step</text>\n"
        for (i, points) in series.enumerated() where !points.isEmpty {
            let colour = Self.palette[i % Self.palette.count]
            let coordinates = points.map { String(format: "%.2f,%.2f", px(Double($0.step)), py($0.value)) }
            s += "<polyline class=\"curve\" data-run=\"\(Self.escape(curves[i].label))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(coordinates.joined(separator: " "))\"/>\n"
            for p in points {
                let at = String(format: "cx=\"%.2f\" cy=\"%.2f\"", px(Double(p.step)), py(p.value))
                s += "<circle \(at) r=\"3\" fill=\"\(colour)\"><title>\(Self.escape(curves[i].label)) step \(p.step): \(String(format: "%.5g", p.value))</title></circle>\n"
            }
        }
        s += "</g>\n"
        return s
    }

    /// Writes ``svg()`` to `path` (atomically).
    public func write(to path: String) throws {
        try svg().write(toFile: path, atomically: true, encoding: .utf8)
    }
}
