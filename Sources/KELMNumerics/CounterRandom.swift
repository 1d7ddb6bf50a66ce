/// Philox4x32-10 (Salmon et al., 2011): a counter-based generator. The same (key, counter)
/// always gives the same four words, so any random number of the run is a pure function of
/// its coordinates — seed, epoch, global sample index, purpose, element — and does not depend
/// on the number of ranks or on what was drawn before (DESIGN §6).
public enum Philox {
    @inlinable
    public static func block(key: (UInt32, UInt32),
                             counter: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var c = counter
        var k = key
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c.0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0,
                 UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1,
                 UInt32(truncatingIfNeeded: p0))
            k = (k.0 &+ 0x9E37_79B9, k.1 &+ 0xBB67_AE85)
        }
        return c
    }

    /// A uniform float in [0, 1) from 24 random bits.
    @inlinable
    public static func unitFloat(_ word: UInt32) -> Float {
        Float(word >> 8) * (1.0 / 16_777_216.0)
    }

    /// A uniform double in (0, 1] from 32 random bits (never 0, safe for `log`).
    @inlinable
    public static func unitDoubleOpen(_ word: UInt32) -> Double {
        (Double(word) + 1.0) * (1.0 / 4_294_967_296.0)
    }
}

/// What a random stream is used for; part of the counter, so streams never overlap.
public enum RandomPurpose: UInt32, Sendable {
    case parameterInit = 1
    case masking = 2
    case linkSampling = 3
    case dropout = 4
    case shuffle = 5
    case benchmark = 6
    case test = 7
    case entityFeatures = 8
    /// The order of a segment's 1-hop neighbours in its subgraph (DESIGN §6).
    case neighbourSampling = 9
}

/// A position in the run's random space: everything but the element index.
///
/// `stream` identifies the use within a purpose (a dropout site, a parameter tensor);
/// `item` is typically the global sample index.
public struct RandomKey: Sendable, Equatable {
    public var seed: UInt64
    public var epoch: UInt32
    public var purpose: RandomPurpose
    public var stream: UInt32
    public var item: UInt64

    public init(seed: UInt64, epoch: UInt32 = 0, purpose: RandomPurpose, stream: UInt32 = 0, item: UInt64 = 0) {
        self.seed = seed
        self.epoch = epoch
        self.purpose = purpose
        self.stream = stream
        self.item = item
    }

    @inlinable var philoxKey: (UInt32, UInt32) {
        (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32) ^ (epoch &* 0x9E37_79B9))
    }

    /// Four random words for block `index` (elements 4·index … 4·index+3) of this key's stream.
    @inlinable
    public func block(_ index: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        // counter: (block low, block high ⊕ purpose, stream, item low ⊕ item high rotated)
        let itemMix = UInt32(truncatingIfNeeded: item) ^ (UInt32(truncatingIfNeeded: item >> 32) &* 0x85EB_CA6B)
        return Philox.block(key: philoxKey,
                            counter: (UInt32(truncatingIfNeeded: index),
                                      UInt32(truncatingIfNeeded: index >> 32) ^ (purpose.rawValue << 24),
                                      stream, itemMix))
    }

    /// Random word number `index` of this stream.
    @inlinable
    public func word(_ index: UInt64) -> UInt32 {
        let b = block(index >> 2)
        switch index & 3 {
        case 0: return b.0
        case 1: return b.1
        case 2: return b.2
        default: return b.3
        }
    }
}

/// A sequential reader over one `RandomKey` stream, for code that draws a varying number of
/// values (masking, sampling). Deterministic: the n-th draw is always word n of the stream.
public struct RandomStream {
    public let key: RandomKey
    public private(set) var position: UInt64 = 0
    private var cached: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)

    public init(_ key: RandomKey) { self.key = key }

    public mutating func nextWord() -> UInt32 {
        let lane = position & 3
        if lane == 0 { cached = key.block(position >> 2) }
        position += 1
        switch lane {
        case 0: return cached.0
        case 1: return cached.1
        case 2: return cached.2
        default: return cached.3
        }
    }

    /// Uniform in [0, 1).
    public mutating func nextFloat() -> Float { Philox.unitFloat(nextWord()) }

    /// Uniform integer in 0..<bound (bound > 0), by 64-bit multiply (Lemire), bias < 2⁻³².
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "RandomStream.nextInt: bound must be positive")
        let wide = (UInt64(nextWord()) << 32) | UInt64(nextWord())
        return Int(wide.multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Standard normal by Box–Muller (uses two words).
    public mutating func nextNormal() -> Float {
        let u1 = Philox.unitDoubleOpen(nextWord())
        let u2 = Philox.unitDoubleOpen(nextWord())
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@usableFromInline func _log(_ x: Double) -> Double { Darwin.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
