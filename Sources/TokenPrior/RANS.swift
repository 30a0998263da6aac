// A byte-wise rANS coder (Duda 2013; the layout of Fabian Giesen's ryg_rans "rans_byte"):
// 32-bit state in [2^23, 2^31), probabilities in units of 2^-16, renormalisation one byte at a time.
// Integer only, so it decodes bit-exactly on every machine. docs/FORMAT.md, "Prior token coding".

/// Probability resolution: every symbol's frequency is in 1 … 2^16 − 1 and a distribution sums to 2^16.
public enum RANS {
    public static let probBits: UInt32 = 16
    public static let total: UInt32 = 1 << probBits
    /// The lower bound of the normalised state interval.
    public static let lowerBound: UInt32 = 1 << 23
}

/// Encodes symbols in *reverse* decoding order: push the last symbol first, then `finish()`.
public struct RANSEncoder {
    var state: UInt32 = RANS.lowerBound
    /// Output bytes, reversed (the stream is read back to front by `finish`).
    var reversed: [UInt8] = []

    public init() {}

    /// Pushes one symbol of frequency `freq` whose cumulative frequency (the sum of the frequencies
    /// of the symbols before it) is `start`.
    public mutating func put(start: UInt32, freq: UInt32) {
        precondition(freq > 0 && start + freq <= RANS.total)
        let xMax = ((RANS.lowerBound >> RANS.probBits) << 8) * freq
        var x = state
        while x >= xMax {
            reversed.append(UInt8(truncatingIfNeeded: x))
            x >>= 8
        }
        state = ((x / freq) << RANS.probBits) + (x % freq) + start
    }

    /// The stream: the final state (4 bytes, little-endian) followed by the renormalisation bytes,
    /// in the order the decoder reads them.
    public mutating func finish() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(reversed.count + 4)
        for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: state >> (8 * UInt32(k)))) }
        out.append(contentsOf: reversed.reversed())
        return out
    }
}

/// Why a stream could not be decoded.
public struct RANSError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Decodes a stream written by `RANSEncoder`, symbol by symbol.
public struct RANSDecoder {
    var state: UInt32
    let bytes: [UInt8]
    var next: Int

    /// - Throws: `RANSError` when the stream is shorter than its 4-byte initial state or the state is
    ///   outside the normalised interval.
    public init(_ stream: some Collection<UInt8>) throws(RANSError) {
        bytes = Array(stream)
        guard bytes.count >= 4 else { throw RANSError(description: "the stream has \(bytes.count) bytes, fewer than its 4-byte state") }
        state = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        next = 4
        guard state >= RANS.lowerBound, state < (1 << 31) else {
            throw RANSError(description: "the stream's initial state \(state) is outside [2^23, 2^31)")
        }
    }

    /// The slot of the next symbol: a value in 0 ..< 2^16; the symbol is the one whose interval
    /// [start, start + freq) holds it.
    public var slot: UInt32 { state & (RANS.total - 1) }

    /// Consumes the symbol whose interval is [start, start + freq) (it must hold `slot`).
    public mutating func advance(start: UInt32, freq: UInt32) throws(RANSError) {
        var x = freq &* (state >> RANS.probBits) &+ slot &- start
        while x < RANS.lowerBound {
            guard next < bytes.count else { throw RANSError(description: "the stream ends before its last symbol") }
            x = (x << 8) | UInt32(bytes[next])
            next += 1
        }
        state = x
    }

    /// Checks that the whole stream was consumed and the state returned to the encoder's initial one.
    public func finish() throws(RANSError) {
        guard next == bytes.count else { throw RANSError(description: "\(bytes.count - next) bytes of the stream are left after its last symbol") }
        guard state == RANS.lowerBound else { throw RANSError(description: "the stream's final state \(state) is not the initial state 2^23") }
    }
}
