/// Learning rate at a step: linear warm-up from 0 over `warmup` steps, then linear decay to 0
/// at `total` (Hugging Face's `get_linear_schedule_with_warmup`).
public struct LinearSchedule: Equatable, Sendable {
    public var warmup: Int
    public var total: Int

    public init(warmup: Int, total: Int) {
        self.warmup = warmup
        self.total = total
    }

    /// The multiplier of the peak learning rate for the update at `step` (0-based).
    public func factor(step: Int) -> Double {
        if step < warmup { return Double(step) / Double(max(1, warmup)) }
        return max(0, Double(total - step) / Double(max(1, total - warmup)))
    }
}
