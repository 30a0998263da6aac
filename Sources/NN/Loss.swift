// Losses return their value and the gradient with respect to the prediction together.

import TensorCore

/// Mean squared error `mean((prediction − target)²)` over all elements, and
/// `dPrediction = 2·(prediction − target)/count`.
public func mseLoss(_ prediction: Tensor, _ target: Tensor) -> (value: Float, dPrediction: Tensor) {
    precondition(
        prediction.shape == target.shape,
        "mseLoss: prediction \(prediction.shape) vs target \(target.shape)")
    let diff = prediction - target
    let value = diff.squaredNorm() / Double(max(1, diff.count))
    return (Float(value), diff * (2 / Float(max(1, diff.count))))
}
