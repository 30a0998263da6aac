// The empirical (order-0) entropy of a sequence of symbols: the rate an ideal coder of their
// observed frequencies would reach, used to report rates beside the real coded ones.

import RealModule

/// `−Σ n_s·log2(n_s/N)` over the distinct symbols `s` of `values` (total bits, not bits per symbol).
public func empiricalEntropyBits<S: Sequence>(_ values: S) -> Double where S.Element: Hashable {
    var counts: [S.Element: Int] = [:]
    var total = 0
    for v in values {
        counts[v, default: 0] += 1
        total += 1
    }
    var bits = 0.0
    for n in counts.values { bits -= Double(n) * Double.log2(Double(n) / Double(total)) }
    return bits
}
