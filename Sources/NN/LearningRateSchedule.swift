// Learning-rate schedules: linear warm-up, then cosine decay.

import RealModule

/// Linear warm-up from `peak/warmupSteps` to `peak` over `warmupSteps`, then cosine decay to
/// `final` at `totalSteps` (and `final` afterwards). Steps count from 0; a cycle that starts later
/// (a warm restart at `startStep`) counts its warm-up and `totalSteps` from there.
///
/// Reference: Loshchilov & Hutter 2017 (SGDR), https://arxiv.org/abs/1608.03983
public struct WarmupCosineSchedule: Sendable, Equatable {
    public var peak: Float
    public var final: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var startStep: Int

    public init(peak: Float, final: Float = 0, warmupSteps: Int, totalSteps: Int, startStep: Int = 0) {
        precondition(warmupSteps >= 0 && totalSteps > warmupSteps && startStep >= 0, "WarmupCosineSchedule: steps")
        self.peak = peak
        self.final = final
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.startStep = startStep
    }

    /// The learning rate for step `step` (0-based, counted from the run's start, not the cycle's).
    public func learningRate(at runStep: Int) -> Float {
        let step = runStep - startStep
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return final }
        let progress = Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
        return final + (peak - final) * Float(0.5 * (1 + Double.cos(Double.pi * progress)))
    }
}
