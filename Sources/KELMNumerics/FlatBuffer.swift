/// An owned, 64-byte aligned, zero-initialised array whose address never moves.
///
/// Parameters, gradients, Adam moments, activations and index arrays live in these; layers
/// keep raw pointers into them, so a buffer is never resized.
public final class AlignedBuffer<Element: Numeric> {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Element>
    /// False for a view of memory owned elsewhere (e.g. an MPI shared-memory window).
    public let ownsMemory: Bool

    /// A view of `count` elements at `external`, which must outlive the buffer.
    public init(external: UnsafeMutablePointer<Element>, count: Int) {
        self.count = count
        pointer = external
        ownsMemory = false
    }

    public init(count: Int) {
        ownsMemory = true
        precondition(count >= 0, "AlignedBuffer: negative count")
        self.count = count
        let capacity = max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * MemoryLayout<Element>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Element.self, capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
    }

    deinit { if ownsMemory { UnsafeMutableRawPointer(pointer).deallocate() } }

    public var buffer: UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy of the contents (for tests and checkpoints; not for the training loop).
    public func toArray() -> [Element] { Array(buffer) }
}

/// Floats: parameters, gradients, moments, activations.
public typealias FlatBuffer = AlignedBuffer<Float>

/// Token ids, positions, node ids.
public typealias IndexBuffer = AlignedBuffer<Int32>
