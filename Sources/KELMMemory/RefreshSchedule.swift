/// When the entity memory is refreshed (DESIGN §4): at step 0 it is filled; after the i-th
/// refresh the next comes T(i) = min(I_init · a^⌊i/r⌋, I_max) steps later
/// (defaults 10, 2, 3, 500: 10, 10, 10, 20, 20, 20, 40, …, 500).
public struct RefreshSchedule: Equatable, Sendable, Codable {
    public var initialInterval: Int
    public var growth: Int
    public var repeats: Int
    public var maxInterval: Int
    /// Refreshes done so far (the step-0 fill not counted).
    public var refreshCount = 0
    /// The step at whose start the next refresh runs.
    public var nextRefreshStep: Int
    /// Rolling refresh: the first entity id of the next block.
    public var nextBlock = 0

    public init(initialInterval: Int = 10, growth: Int = 2, repeats: Int = 3, maxInterval: Int = 500) {
        self.initialInterval = initialInterval
        self.growth = growth
        self.repeats = repeats
        self.maxInterval = maxInterval
        nextRefreshStep = initialInterval
    }

    /// T(i), the steps between refresh i and refresh i+1 (refresh 0 being the step-0 fill).
    public func interval(after i: Int) -> Int {
        var t = initialInterval
        for _ in 0..<(i / max(1, repeats)) {
            if t >= maxInterval { break }
            t *= growth
        }
        return min(t, maxInterval)
    }

    public func isDue(step: Int) -> Bool { step >= nextRefreshStep }

    /// Records a refresh at `step` and schedules the next.
    public mutating func recordRefresh(at step: Int) {
        refreshCount += 1
        nextRefreshStep = step + interval(after: refreshCount)
    }
}
