/// Gradient rows of an embedding table kept apart from the table: (row id, values) pairs,
/// appended by backward. The word embeddings' input-side gradient touches at most B·T of
/// their rows; holding it here lets the dense part (the tied decoder's) be reduced early and
/// this small part be exchanged at the end.
public final class SparseRows {
    public let width: Int
    public let capacity: Int
    public private(set) var count = 0
    /// [capacity] row ids
    public let ids: IndexBuffer
    /// [capacity, width] row values
    public let values: FlatBuffer

    public init(capacity: Int, width: Int) {
        self.capacity = capacity
        self.width = width
        ids = IndexBuffer(count: capacity)
        values = FlatBuffer(count: capacity * width)
    }

    public func removeAll() { count = 0 }

    /// Appends row `id` with `row` (width values).
    public func append(id: Int32, row: UnsafePointer<Float>) {
        precondition(count < capacity, "SparseRows: more than \(capacity) rows")
        ids.pointer[count] = id
        (values.pointer + count * width).update(from: row, count: width)
        count += 1
    }

    /// table[ids[i]] += values[i] for every row.
    public func scatterAdd(into table: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            ElementWise.accumulate(table + Int(ids.pointer[i]) * width, values.pointer + i * width, count: width)
        }
    }
}
