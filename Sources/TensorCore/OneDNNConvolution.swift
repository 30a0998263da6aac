// Training convolutions on oneDNN (Intel's deep-learning primitives, what PyTorch runs on CPUs),
// through the C shim in Sources/CDNNLConv: oneDNN picks its own blocked layouts and JIT kernels
// (`jit:avx512_core` on the machines here), the engine's NCHW/OIHW tensors are reordered in and out.
//
// Used by `Conv2d` in training mode only. Inference (`vqz encode`/`decode`) stays on the engine's
// kernels, whose results are tested bit-identical across thread counts; training with oneDNN is
// deterministic for a given machine and thread count (tested), not across them.
//
// `VQZ_CONV=engine` turns it off (the engine's kernels everywhere); `VQZ_CONV=onednn-bf16` computes
// in bfloat16 with f32 accumulation, `VQZ_CONV=onednn` in f32. Unset, `vqz train` uses bf16 on CPUs
// that compute it natively and f32 elsewhere (`Backend.trainingDefault`); the library default
// (tests, benchmarks) is f32.

import CDNNLConv
import Foundation

/// One convolution shape on oneDNN, with its primitives built once.
public final class OneDNNConvolution {
    /// Which kernels train: the engine's, oneDNN f32, or oneDNN bf16.
    public enum Backend: String, Sendable {
        case engine, onednn, onednnBF16 = "onednn-bf16"

        /// From `VQZ_CONV` (default: oneDNN f32). `vqz train` sets it once, before any layer runs,
        /// to `trainingDefault` when `VQZ_CONV` is unset.
        nonisolated(unsafe) public static var current: Backend = ProcessInfo.processInfo.environment["VQZ_CONV"].flatMap(Backend.init(rawValue:)) ?? .onednn

        /// What `vqz train` uses when `VQZ_CONV` is unset: bf16 where the CPU computes it natively
        /// (AVX512_BF16 or AMX-BF16: 1.5× the f32 step, the same validation PSNR after 2,000 steps,
        /// docs/design/speed.md), else f32 (emulated bf16 would be slower).
        public static var trainingDefault: Backend {
            if let chosen = ProcessInfo.processInfo.environment["VQZ_CONV"].flatMap(Backend.init(rawValue:)) { return chosen }
            return cpuHasNativeBF16 ? .onednnBF16 : .onednn
        }

        /// Whether /proc/cpuinfo lists `avx512_bf16` or `amx_bf16`.
        public static let cpuHasNativeBF16: Bool = cpuFlags.contains("avx512_bf16") || cpuFlags.contains("amx_bf16")

        /// The flags line of /proc/cpuinfo (empty where there is none).
        public static let cpuFlags: Set<String> = {
            guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
            return Set(line.split(separator: " ").map(String.init))
        }()
    }

    public let inputShape: [Int]
    public let weightShape: [Int]
    public let stride: Int
    public let padding: Int
    public let outputShape: [Int]
    private let handle: OpaquePointer

    /// Builds the primitives; nil (with oneDNN's reason in `failure`) when it cannot.
    public init(inputShape: [Int], weightShape: [Int], stride: Int, padding: Int, bf16: Bool) throws {
        precondition(inputShape.count == 4 && weightShape.count == 4 && inputShape[1] == weightShape[1] && weightShape[2] == weightShape[3])
        self.inputShape = inputShape
        self.weightShape = weightShape
        self.stride = stride
        self.padding = padding
        let k = weightShape[2]
        let oh = (inputShape[2] + 2 * padding - k) / stride + 1, ow = (inputShape[3] + 2 * padding - k) / stride + 1
        outputShape = [inputShape[0], weightShape[0], oh, ow]
        Self.configureThreads
        var message = [CChar](repeating: 0, count: 256)
        guard let h = vqz_dnnl_conv_create(Int32(inputShape[0]), Int32(inputShape[1]), Int32(inputShape[2]), Int32(inputShape[3]),
                                           Int32(weightShape[0]), Int32(k), Int32(stride), Int32(padding), bf16 ? 1 : 0,
                                           &message, message.count) else {
            throw OneDNNError(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        handle = h
    }

    deinit { vqz_dnnl_conv_destroy(handle) }

    /// oneDNN's OpenMP threads match the engine's pool (`VQZ_THREADS`, else the cores).
    private static let configureThreads: Void = vqz_dnnl_set_threads(Int32(ThreadPool.current.threadCount))

    /// Whether libdnnl can be loaded on this machine.
    public static var isAvailable: Bool {
        configureThreads
        return vqz_dnnl_available() != 0
    }

    /// oneDNN's name for the forward implementation it chose.
    public var implementation: String { String(cString: vqz_dnnl_conv_implementation(handle)) }

    /// `conv(x, w) + b`.
    public func forward(input x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.shape == inputShape && weight.shape == weightShape)
        var y = Tensor(uninitializedShape: outputShape)
        let zeros = bias == nil ? [Float](repeating: 0, count: weightShape[0]) : []
        let status = x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                (bias?.scalars ?? zeros).withUnsafeBufferPointer { pb in
                    y.withUnsafeMutableBufferPointer { py in
                        vqz_dnnl_conv_forward(handle, px.baseAddress, pw.baseAddress, pb.baseAddress, py.baseAddress)
                    }
                }
            }
        }
        precondition(status == 0, "oneDNN convolution forward failed")
        return y
    }

    /// Backward of the last `forward` (same `x`, `weight`): accumulates `dWeight`, `dBias` (skipped
    /// when empty) and returns `∂L/∂x` when `inputGradient`.
    public func backward(input x: Tensor, weight: Tensor, dOut: Tensor, dWeight: inout Tensor, dBias: inout Tensor,
                         inputGradient: Bool) -> Tensor? {
        precondition(dOut.shape == outputShape && dWeight.shape == weightShape && (dBias.count == 0 || dBias.count == weightShape[0]))
        var dx = Tensor(uninitializedShape: inputGradient ? inputShape : [0])
        // The shim accumulates into dW and dB itself (a NULL dB skips the bias gradient).
        let status = x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                dOut.withUnsafeBufferPointer { pdy in
                    dWeight.withUnsafeMutableBufferPointer { pdw in
                        dBias.withUnsafeMutableBufferPointer { pdb in
                            dx.withUnsafeMutableBufferPointer { pdx in
                                vqz_dnnl_conv_backward(handle, px.baseAddress, pw.baseAddress, pdy.baseAddress, pdw.baseAddress,
                                                       pdb.count > 0 ? pdb.baseAddress : nil, inputGradient ? pdx.baseAddress : nil)
                            }
                        }
                    }
                }
            }
        }
        precondition(status == 0, "oneDNN convolution backward failed")
        return inputGradient ? dx : nil
    }
}

/// oneDNN could not build a primitive.
public struct OneDNNError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
