/// Errors that stop training.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case nonFiniteLoss(step: Int, loss: Double)
    case noData(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, loss):
            return "step \(step): the loss is \(loss) (set train.nonfinite: skip to skip such steps)"
        case let .noData(m): return "no training data: \(m)"
        }
    }
}
