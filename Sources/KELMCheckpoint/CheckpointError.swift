import Foundation

/// A checkpoint that cannot be used, naming the file and the item.
///
/// `description` reads `checkpoint <file>: <item>: <problem>`, e.g.
/// `checkpoint run/checkpoints/ckpt-00000003.h5: /params/mlm/bias: missing`.
public struct CheckpointError: Error, Equatable, CustomStringConvertible, LocalizedError {
    public let file: String
    public let item: String
    public let problem: String

    public init(file: String, item: String, _ problem: String) {
        self.file = file
        self.item = item
        self.problem = problem
    }

    public var description: String { "checkpoint \(file): \(item): \(problem)" }
    public var errorDescription: String? { description }
}
