/// The collective operations the training code needs, as a small protocol so that the model,
/// routing and memory code runs and tests without MPI (DESIGN §1). `KELMDistributed` provides
/// the MPI implementation; `SingleProcess` is the one-rank one.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// In-place element-wise sum over ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// In-place element-wise maximum over ranks.
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// Starts an in-place sum; the returned operation completes it.
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction
    /// A reduction of these buckets, made once and run every step (collective: every rank the
    /// same buckets). The default is `StartedBucketReduction`; MPI's is allocation-free.
    func bucketReduction(_ buckets: [UnsafeMutableBufferPointer<Float>]) throws -> BucketReduction
    /// Copies `root`'s buffer to every rank.
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws
    /// Concatenation in rank order of every rank's `send` (counts may differ).
    func allGatherV(_ send: UnsafeBufferPointer<Float>) throws -> [Float]
    func allGatherV(_ send: UnsafeBufferPointer<Double>) throws -> [Double]
    func allGatherV(_ send: UnsafeBufferPointer<Int64>) throws -> [Int64]
    /// The same concatenation written into `receive` (which must hold it all); returns its count.
    func allGatherV(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws -> Int
    func allGatherV(_ send: UnsafeBufferPointer<Int64>, into receive: UnsafeMutableBufferPointer<Int64>) throws -> Int
    func barrier() throws
}

public enum CollectiveError: Error, CustomStringConvertible {
    case receiveTooSmall(needed: Int, available: Int)
    public var description: String {
        switch self {
        case let .receiveTooSmall(needed, available):
            return "all-gather: the receive buffer holds \(available) elements, the ranks send \(needed)"
        }
    }
}

/// A collective operation in flight.
public protocol PendingReduction: AnyObject {
    /// Waits until the operation is complete.
    func wait() throws
    /// Lets the operation progress; true when it is complete.
    func test() throws -> Bool
}

extension Collective {
    public func allReduceSum(_ values: inout [Int64]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }

    public func allReduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }
}

/// One process alone: every collective is the identity.
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction { Self.completed }
    private static let completed = Completed()
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {}
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws {}
    public func allGatherV(_ send: UnsafeBufferPointer<Float>) throws -> [Float] { Array(send) }
    public func allGatherV(_ send: UnsafeBufferPointer<Double>) throws -> [Double] { Array(send) }
    public func allGatherV(_ send: UnsafeBufferPointer<Int64>) throws -> [Int64] { Array(send) }
    public func allGatherV(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws -> Int {
        try Self.copy(send, into: receive)
    }
    public func allGatherV(_ send: UnsafeBufferPointer<Int64>, into receive: UnsafeMutableBufferPointer<Int64>) throws -> Int {
        try Self.copy(send, into: receive)
    }
    public func barrier() throws {}

    static func copy<T>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws -> Int {
        guard send.count <= receive.count else { throw CollectiveError.receiveTooSmall(needed: send.count, available: receive.count) }
        if let source = send.baseAddress { receive.baseAddress!.update(from: source, count: send.count) }
        return send.count
    }

    final class Completed: PendingReduction {
        func wait() throws {}
        func test() throws -> Bool { true }
    }
}
