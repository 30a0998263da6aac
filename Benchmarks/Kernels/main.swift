// KernelBench: GFLOP/s of sgemm and of conv forward/backward at codec training shapes, and the
// wall time of one full training step (forward, backward, Adam) of the calibration autoencoder.
// Writes Benchmarks/Results/kernels.json. Run through `make bench-kernels` (release build,
// OPENBLAS_CORETYPE unset so OpenBLAS picks its native kernel).
//
// Options for development: --step-only (training step only, for perf), --cases-only (conv cases
// only), --gemm-shapes (GEMM orientation experiment), --pool-check (items run by workers).

import ArgumentParser
import BenchSupport
import COpenBLAS
import Container
import Foundation
import NN
import TensorCore

// MARK: timing helpers


/// Best (minimum) of `repeats` timings after `warmup` untimed runs; repeats shrink for slow
/// bodies. The minimum, not the median: this machine is shared, and the minimum is the run least
/// disturbed by other processes (timeit's rule).
func bestTime(warmup: Int = 1, minRepeats: Int = 5, budget: Double = 1.5, _ body: () -> Void) -> Double {
    var first = 0.0
    for _ in 0..<warmup { first = seconds(body) }
    let repeats = max(minRepeats, min(20, Int(budget / max(first, 1e-6))))
    let times = (0..<repeats).map { _ in seconds(body) }
    return times.min()!
}

/// User + system CPU time of the process, in seconds (robust to other processes on the machine).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}


MemoryTuning.keepLargeAllocations()
let pool = ThreadPool.shared
let coreName = String(cString: openblas_get_corename())
/// KernelBench's flags (ArgumentParser: an unknown flag is an error, not silently ignored).
struct KernelBenchOptions: ParsableArguments {
    @Flag(help: "Only check that the thread pool's workers run items, then exit.") var poolCheck = false
    @Flag(help: "Only time the training step (for profiling).") var stepOnly = false
    @Flag(help: "Only the per-case kernel timings.") var casesOnly = false
    @Flag(help: "Run the GEMM orientation experiment.") var gemmShapes = false
}
let flags = KernelBenchOptions.parseOrExit()
let environment = ProcessInfo.processInfo.environment
let commit = SourceRevision.commit()
let cpu = cpuModelName()
print("OpenBLAS core: \(coreName); OPENBLAS_CORETYPE=\(environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
print("threads: \(pool.threadCount); cpu: \(cpu); commit: \(commit)")

var rng = Xoshiro256(seed: 2024)

/// Per-call overhead of `parallelFor` with one trivial item per thread, back to back (the
/// workers are spinning, as inside a training step).
func poolOverheadMicroseconds() -> Double {
    var sink = [Int](repeating: 0, count: pool.threadCount)
    let calls = 20_000
    let t = sink.withUnsafeMutableBufferPointer { p -> Double in
        let p = p.baseAddress!
        pool.parallelFor(count: pool.threadCount) { i in p[i] &+= 1 }
        return seconds {
            for _ in 0..<calls { pool.parallelFor(count: pool.threadCount) { i in p[i] &+= 1 } }
        }
    }
    return t / Double(calls) * 1e6
}
let poolOverhead = poolOverheadMicroseconds()
print(String(format: "thread pool: %.2f µs per parallelFor call (%d trivial items, back to back)", poolOverhead, pool.threadCount))

/// Fork–join cost with real work: `threadCount` items of ~10 µs each. Returns (wall per call,
/// the same work run serially per call), both in µs; ideal parallel wall = serial / threads.
func poolForkJoinMicroseconds() -> (parallel: Double, serial: Double) {
    var sink = [Float](repeating: 0, count: pool.threadCount * 16)
    let work = 4_000
    func item(_ p: UnsafeMutablePointer<Float>, _ i: Int) {
        var x = p[i * 16]
        for k in 0..<work { x = x * 0.999_9 + Float(k & 7) }
        p[i * 16] = x
    }
    let calls = 2_000
    return sink.withUnsafeMutableBufferPointer { p in
        let p = p.baseAddress!
        let serial = seconds { for _ in 0..<calls { for i in 0..<pool.threadCount { item(p, i) } } }
        let parallel = seconds { for _ in 0..<calls { pool.parallelFor(count: pool.threadCount) { i in item(p, i) } } }
        return (parallel / Double(calls) * 1e6, serial / Double(calls) * 1e6)
    }
}
if flags.poolCheck {
    // How many items did threads other than the caller run?
    let caller = pthread_self()
    var others = [Int](repeating: 0, count: 64)
    others.withUnsafeMutableBufferPointer { p in
        let p = p.baseAddress!
        for _ in 0..<200 {
            pool.parallelFor(count: 64) { i in
                var x: Float = 1
                for k in 0..<20_000 { x = x * 0.9999 + Float(k & 3) }
                if pthread_equal(pthread_self(), caller) == 0 { p[i] += 1 }
                if x == 0 { p[i] += 1000 }
            }
        }
    }
    print("items run by workers: \(others.reduce(0, +)) of \(64 * 200)")
    exit(0)
}
let forkJoin = poolForkJoinMicroseconds()
print(String(format: "thread pool fork–join: %.1f µs per call vs %.1f µs serial (%d items)", forkJoin.parallel, forkJoin.serial, pool.threadCount))

// MARK: sgemm

/// GFLOP/s of `Kernels.matmul` (row bands over the pool, single-threaded OpenBLAS per band).
func sgemmGFLOPs(m: Int, n: Int, k: Int) -> Double {
    let a = Tensor.randomNormal([m, k], using: &rng)
    let b = Tensor.randomNormal([k, n], using: &rng)
    let t = bestTime { _ = Kernels.matmul(a, b) }
    return 2 * Double(m * n * k) / t * 1e-9
}

let stepOnly = flags.stepOnly  // for profiling the training step
let casesOnly = flags.casesOnly
if flags.gemmShapes {
    // Orientation experiment: C[m,n] = A[m,k]·B[k,n] single-threaded, for small-M conv GEMMs.
    for (m, n, k, ta, tb) in [(12, 4096, 576, false, false), (4096, 12, 576, true, true), (12, 576, 4096, false, true), (576, 12, 4096, false, true),
                              (64, 1024, 1600, false, false), (1024, 64, 1600, true, true), (64, 256, 1600, false, false), (64, 128, 1600, false, false)] {
        let a = Tensor.randomNormal(ta ? [k, m] : [m, k], using: &rng)
        let b = Tensor.randomNormal(tb ? [n, k] : [k, n], using: &rng)
        var c = Tensor(shape: [m, n])
        let t = bestTime(budget: 0.5) {
            Kernels.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: a.scalars, lda: a.shape[1], b: b.scalars, ldb: b.shape[1], beta: 0, c: &c.scalars, ldc: n)
        }
        print(String(format: "gemm m%5d n%5d k%5d tA %d tB %d: %6.1f GFLOP/s", m, n, k, ta ? 1 : 0, tb ? 1 : 0, 2 * Double(m * n * k) / t * 1e-9))
    }
    exit(0)
}
let loadAverage = shell("cat /proc/loadavg")
print("load average before the run: \(loadAverage)")
let sgemmPool = stepOnly ? 1 : sgemmGFLOPs(m: 1024, n: 1024, k: 1024)
/// OpenBLAS's own threading on the whole product, for comparison (then back to one thread).
func sgemmOpenBLASThreads(_ threads: Int) -> Double {
    openblas_set_num_threads(Int32(threads))
    defer { openblas_set_num_threads(1) }
    let a = Tensor.randomNormal([1024, 1024], using: &rng)
    let b = Tensor.randomNormal([1024, 1024], using: &rng)
    var c = Tensor(shape: [1024, 1024])
    let t = bestTime {
        Kernels.gemm(transposeA: false, transposeB: false, m: 1024, n: 1024, k: 1024, a: a.scalars, lda: 1024, b: b.scalars, ldb: 1024, beta: 0, c: &c.scalars, ldc: 1024)
    }
    return 2 * 1024 * 1024 * 1024 / t * 1e-9
}
let sgemmNative = stepOnly ? 1 : sgemmOpenBLASThreads(pool.threadCount)
/// The reference every conv case is compared with: the better of the two 2-core sgemm figures.
let sgemm = max(sgemmPool, sgemmNative)
print(String(format: "sgemm 1024³ (%d threads): pool bands %.1f GFLOP/s, OpenBLAS threads %.1f GFLOP/s", pool.threadCount, sgemmPool, sgemmNative))
let sgemmOne: Double = stepOnly ? 1 : ThreadPool.$current.withValue(ThreadPool(threadCount: 1)) {
    sgemmGFLOPs(m: 1024, n: 1024, k: 1024)
}
print(String(format: "sgemm 1024³ (1 thread): %.1f GFLOP/s", sgemmOne))

// MARK: conv cases

struct Case {
    var name: String
    var n, cin, cout, size, k, s: Int
}

// Codec training shapes: batch 8, 128² and 64² inputs (and the 32²/16² layers they lead to),
// 64–192 channels, 3×3 and 5×5, stride 1 and 2.
let cases: [Case] = [
    Case(name: "enc1 3→64 k5 s2 128²", n: 8, cin: 3, cout: 64, size: 128, k: 5, s: 2),
    Case(name: "enc2 64→64 k5 s2 64²", n: 8, cin: 64, cout: 64, size: 64, k: 5, s: 2),
    Case(name: "enc3 64→32 k5 s2 32²", n: 8, cin: 64, cout: 32, size: 32, k: 5, s: 2),
    Case(name: "128→128 k5 s2 128²", n: 8, cin: 128, cout: 128, size: 128, k: 5, s: 2),
    Case(name: "192→192 k5 s2 64²", n: 8, cin: 192, cout: 192, size: 64, k: 5, s: 2),
    Case(name: "64→64 k3 s1 128²", n: 8, cin: 64, cout: 64, size: 128, k: 3, s: 1),
    Case(name: "128→128 k3 s1 64²", n: 8, cin: 128, cout: 128, size: 64, k: 3, s: 1),
    Case(name: "192→192 k3 s1 64²", n: 8, cin: 192, cout: 192, size: 64, k: 3, s: 1),
    Case(name: "dec1 32→256 k3 s1 16²", n: 8, cin: 32, cout: 256, size: 16, k: 3, s: 1),
    Case(name: "dec2 64→256 k3 s1 32²", n: 8, cin: 64, cout: 256, size: 32, k: 3, s: 1),
    Case(name: "dec3 64→12 k3 s1 64²", n: 8, cin: 64, cout: 12, size: 64, k: 3, s: 1),
]

var entries: [[String: Any]] = []
func record(_ name: String, _ flops: Double, _ time: Double) {
    let gflops = flops / time * 1e-9
    entries.append([
        "name": name, "gflops": (gflops * 10).rounded() / 10, "ms": (time * 1e4).rounded() / 10,
        "sgemm_gflops": (sgemm * 10).rounded() / 10, "ratio": (gflops / sgemm * 1000).rounded() / 1000,
    ])
    print(String(format: "%-40@ %7.1f GFLOP/s  %7.2f ms  %3.0f%% of sgemm", name as NSString, gflops, time * 1e3, 100 * gflops / sgemm))
}

for c in stepOnly ? [] : cases {
    let pad = c.k / 2
    let x = Tensor.randomNormal([c.n, c.cin, c.size, c.size], using: &rng)
    let w = Tensor.randomNormal([c.cout, c.cin, c.k, c.k], using: &rng)
    let b = Tensor.randomNormal([c.cout], using: &rng)
    let out = (c.size + 2 * pad - c.k) / c.s + 1
    let flops = 2.0 * Double(c.n * c.cout * out * out * c.cin * c.k * c.k)
    var y = Tensor(shape: [0])
    let tf = bestTime { y = Kernels.conv2dForward(input: x, weight: w, bias: b, stride: c.s, padding: pad) }
    record("conv fwd " + c.name, flops, tf)
    var dW = Tensor(shape: w.shape), dB = Tensor(shape: b.shape)
    let tb = bestTime {
        _ = Kernels.conv2dBackward(input: x, weight: w, dOut: y, stride: c.s, padding: pad, dWeight: &dW, dBias: &dB)
    }
    record("conv bwd " + c.name, 2 * flops, tb)
}

// MARK: other kernels of a codec step (time only)

var otherEntries: [[String: Any]] = []
func recordTime(_ name: String, _ time: Double) {
    otherEntries.append(["name": name, "ms": (time * 1e4).rounded() / 10])
    print(String(format: "%-40@ %7.2f ms", name as NSString, time * 1e3))
}
if !stepOnly {
    let x = Tensor.randomNormal([8, 64, 64, 64], using: &rng)
    let beta = Tensor(shape: [64], repeating: 1)
    let gamma = Tensor.randomUniform([64, 64], low: 0, high: 0.1, using: &rng)
    var norm = Tensor(shape: [0])
    recordTime("sgdn fwd 8×64×64²", bestTime { norm = Kernels.gdnForward(input: x, beta: beta, gamma: gamma, kind: .simplified).normalizer })
    var dBeta = Tensor(shape: [64]), dGamma = Tensor(shape: [64, 64])
    recordTime("sgdn bwd 8×64×64²", bestTime {
        _ = Kernels.gdnBackward(input: x, normalizer: norm, gamma: gamma, dOut: x, kind: .simplified, dBeta: &dBeta, dGamma: &dGamma)
    })
    let z = Tensor.randomNormal([8 * 16 * 16, 32], using: &rng)
    let codebook = Tensor.randomNormal([512, 32], using: &rng)
    recordTime("nearest code 2048×32, K=512", bestTime { _ = Kernels.nearestCodes(z, codebook: codebook) })
    let d = Tensor.randomNormal([8, 256, 32, 32], using: &rng)
    recordTime("depth-to-space r2 8×256×32²", bestTime { _ = Kernels.depthToSpace(d, blockSize: 2) })
}

// MARK: training step of the calibration model

/// f = 8, 64 channels, simplified GDN, D = 32 (~404k parameters). Decoder: conv 3×3 + depth-to-space ×2,
/// three times, with inverse simplified GDN.
func calibrationModel() -> Sequential {
    var r = Xoshiro256(seed: 1)
    let conv1 = Conv2d(inputChannels: 3, outputChannels: 64, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv1", rng: &r)
    conv1.computesInputGradient = false
    return Sequential([
        conv1,
        GDN(channels: 64, kind: .simplified, name: "enc.gdn1"),
        Conv2d(inputChannels: 64, outputChannels: 64, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv2", rng: &r),
        GDN(channels: 64, kind: .simplified, name: "enc.gdn2"),
        Conv2d(inputChannels: 64, outputChannels: 32, kernelSize: 5, stride: 2, padding: 2, name: "enc.conv3", rng: &r),
        Conv2d(inputChannels: 32, outputChannels: 256, kernelSize: 3, padding: 1, name: "dec.conv1", rng: &r),
        DepthToSpace(blockSize: 2),
        GDN(channels: 64, kind: .simplifiedInverse, name: "dec.igdn1"),
        Conv2d(inputChannels: 64, outputChannels: 256, kernelSize: 3, padding: 1, name: "dec.conv2", rng: &r),
        DepthToSpace(blockSize: 2),
        GDN(channels: 64, kind: .simplifiedInverse, name: "dec.igdn2"),
        Conv2d(inputChannels: 64, outputChannels: 12, kernelSize: 3, padding: 1, name: "dec.conv3", rng: &r),
        DepthToSpace(blockSize: 2),
    ])
}

let model = calibrationModel()
let batch = Tensor.randomUniform([8, 3, 128, 128], using: &rng)
let adam = Adam(learningRate: 1e-4)
var lastLoss: Float = 0
func trainStep() {
    adam.zeroGrad(model.parameters)
    let y = model.forward(batch, mode: .training)
    let (loss, dY) = mseLoss(y, batch)
    lastLoss = loss
    _ = model.backward(dY)
    adam.step(model.parameters)
}
if casesOnly { exit(0) }
var stepWalls: [Double] = []
trainStep()
trainStep()
let cpuStart = cpuSeconds()
for _ in 0..<10 { stepWalls.append(seconds(trainStep)) }
let stepCPU = (cpuSeconds() - cpuStart) / 10
stepWalls.sort()
let stepTime = stepWalls[stepWalls.count / 2]
let stepBest = stepWalls[0]
print(String(format: "train step CPU time: %.1f ms per step (all threads); best wall %.1f ms of 10", stepCPU * 1e3, stepBest * 1e3))
// The same step on one thread: the 2-thread speed-up shows how much of the second core this run got.
let stepOneThread: Double = ThreadPool.$current.withValue(ThreadPool(threadCount: 1)) {
    trainStep()
    return (0..<5).map { _ in seconds(trainStep) }.min()!
}
print(String(format: "train step on 1 thread: best %.1f ms (2-thread speed-up %.2f×)", stepOneThread * 1e3, stepOneThread / stepBest))
print(String(format: "train step (calibration model, %d params, batch 8×128², MSE + Adam, no VQ): median %.1f ms (target ≤ 236 ms)",
    model.parameterCount, stepTime * 1e3))

// Per-layer breakdown of one step (forward and backward), for the closing note.
var layerTimes: [[String: Any]] = []
do {
    var h = batch
    var forwardTimes: [Double] = []
    adam.zeroGrad(model.parameters)
    for layer in model.layers {
        var out = h
        forwardTimes.append(seconds { out = layer.forward(h, mode: .training) })
        h = out
    }
    var d = mseLoss(h, batch).dPrediction
    var backwardTimes: [Double] = []
    for layer in model.layers.reversed() {
        var out = d
        backwardTimes.append(seconds { out = layer.backward(d) })
        d = out
    }
    backwardTimes.reverse()
    for (i, layer) in model.layers.enumerated() {
        let name = layer.parameters.first.map { String($0.name.split(separator: ".").dropLast().joined(separator: ".")) } ?? "\(type(of: layer))"
        layerTimes.append(["layer": name, "forward_ms": (forwardTimes[i] * 1e4).rounded() / 10, "backward_ms": (backwardTimes[i] * 1e4).rounded() / 10])
        print(String(format: "  %-16@ fwd %6.2f ms  bwd %6.2f ms", name as NSString, forwardTimes[i] * 1e3, backwardTimes[i] * 1e3))
    }
}

let result: [String: Any] = [
    "machine": ["cpu": cpu, "online_cpus": ProcessInfo.processInfo.activeProcessorCount],
    "openblas_core": coreName,
    "openblas_coretype_env": environment["OPENBLAS_CORETYPE"] ?? "unset",
    "threads": pool.threadCount,
    "pool_overhead_us_per_call": (poolOverhead * 100).rounded() / 100,
    "pool_fork_join_us": ["parallel": (forkJoin.parallel * 10).rounded() / 10, "serial": (forkJoin.serial * 10).rounded() / 10],
    "commit": commit,
    "date": ISO8601DateFormatter().string(from: Date()),
    "sgemm_gflops": (sgemm * 10).rounded() / 10,
    "sgemm_1thread_gflops": (sgemmOne * 10).rounded() / 10,
    "sgemm_pool_gflops": (sgemmPool * 10).rounded() / 10,
    "sgemm_openblas_threads_gflops": (sgemmNative * 10).rounded() / 10,
    "sgemm_shape": "1024x1024x1024; sgemm_gflops = max(row bands over the pool, OpenBLAS's own threads)",
    "load_average_before": loadAverage,
    "cases": entries,
    "other_kernels": otherEntries,
    "train_step": [
        "model": "calibration autoencoder: enc conv5x5 s2 3→64, sGDN, conv5x5 s2 64→64, sGDN, conv5x5 s2 64→32; dec (conv3x3 + depth-to-space 2) x3 with inverse sGDN",
        "parameters": model.parameterCount,
        "batch": "8x3x128x128",
        "loss": "MSE (autoencoder only: no VQ step is timed)",
        "optimizer": "Adam",
        "ms": (stepTime * 1e4).rounded() / 10,
        "best_ms": (stepBest * 1e4).rounded() / 10,
        "cpu_ms_all_threads": (stepCPU * 1e4).rounded() / 10,
        "best_ms_1thread": (stepOneThread * 1e4).rounded() / 10,
        "timing": "ms = median, best_ms = minimum of 10 steps after 2 warm-up steps; conv cases: minimum of 5-20 runs",
        "target_ms": 236,
        "layers": layerTimes,
    ],
]
let url = URL(fileURLWithPath: "Benchmarks/Results/kernels.json")
try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
let data = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
try data.write(to: url)
print("wrote \(url.path)")
