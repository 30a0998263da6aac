// Shared test support (the swift-numerics _TestSupport pattern): elementwise comparison with
// llm.c-style failure reports. Linked only by test targets.

import Testing
import TensorCore

/// Elementwise `|a − b| ≤ atol + rtol·|ref|`; on failure records the max abs error, its index and
/// the first 5 mismatches (llm.c's `check_tensor`).
public func expectClose(
    _ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.shape == expected.shape else {
        Issue.record("\(label): shape \(actual.shape) ≠ expected \(expected.shape)",
            sourceLocation: sourceLocation)
        return
    }
    expectClose(actual.scalars, expected.scalars, atol: atol, rtol: rtol, label,
        sourceLocation: sourceLocation)
}

public func expectClose(
    _ actual: [Float], _ expected: [Float], atol: Float, rtol: Float, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.count == expected.count else {
        Issue.record("\(label): \(actual.count) elements ≠ \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var mismatches: [String] = []
    var bad = 0
    var maxErr: Float = 0
    var maxIndex = 0
    for i in 0..<actual.count {
        let err = abs(actual[i] - expected[i])
        if err > maxErr || err.isNaN {
            maxErr = err
            maxIndex = i
        }
        if !(err <= atol + rtol * abs(expected[i])) {
            bad += 1
            if mismatches.count < 5 { mismatches.append("[\(i)] \(actual[i]) vs \(expected[i])") }
        }
    }
    if bad > 0 {
        let first = mismatches.joined(separator: ", ")
        let message = "\(label): \(bad)/\(actual.count) mismatches (atol \(atol), rtol \(rtol)); "
            + "max |err| \(maxErr) at \(maxIndex); first: \(first)"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
}

/// Random tensor with entries bounded away from 0 (|x| ≥ 0.1), so |x| and ReLU kinks are not hit.
public func awayFromZero(_ shape: [Int], using rng: inout some RandomNumberGenerator) -> Tensor {
    var t = Tensor.randomNormal(shape, using: &rng)
    for i in 0..<t.count { t.scalars[i] = t.scalars[i] < 0 ? t.scalars[i] - 0.1 : t.scalars[i] + 0.1 }
    return t
}
