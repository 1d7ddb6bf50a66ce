/// An owned, 64-byte aligned, zero-initialised array of `Float` whose address never moves.
///
/// Parameters, gradients, Adam moments and activations live in these; layers keep raw
/// pointers into them, so a buffer is never resized.
public final class FlatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "FlatBuffer: negative count")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy of the contents (for tests and checkpoints; not for the training loop).
    public func toArray() -> [Float] { Array(buffer) }
}

/// An owned, aligned array of `Int32` (token ids, positions, node ids) that never moves.
public final class IndexBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Int32>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Int32>.stride,
                                                   alignment: 64)
        pointer = raw.bindMemory(to: Int32.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Int32> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }
}
