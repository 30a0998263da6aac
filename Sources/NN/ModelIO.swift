// Maps parameters to and from the named arrays of a .vqzm model file (Container.ModelFile). The
// architecture comes from the metadata; shapes are checked against the layers built from it, never
// used to infer them.

import Container
import TensorCore

extension ModelFile {
    /// A model file holding `parameters` under their dotted names, after `metadata` (which must
    /// include `architecture`). `dtype` is `.f32` or `.f16`.
    public init(metadata: [MetadataEntry], parameters: [Parameter], dtype: DType = .f32) {
        precondition(dtype != .u8, "ModelFile: parameters are stored as f32 or f16")
        self.init(
            metadata: metadata,
            arrays: parameters.map {
                NamedArray(name: $0.name, shape: $0.shape, floats: $0.value.scalars, dtype: dtype)
            })
    }
}

/// Copies the file's arrays into `parameters`, by name.
///
/// - Throws: `ModelFileError.architectureMismatch` when `architecture` is given and differs;
///   `.missingTensor(name)` for a parameter the file lacks; `.shapeMismatch` naming the tensor;
///   `.dtypeMismatch` for a `u8` array where a parameter is expected; `.unexpectedTensor(name)` for
///   a float array no parameter claims (`u8` arrays are opaque payloads and are ignored).
///   Nothing is modified unless every check passes.
public func loadParameters(
    _ parameters: [Parameter], from file: ModelFile, architecture: String? = nil
) throws(ModelFileError) {
    if let architecture, file.architecture != architecture {
        throw .architectureMismatch(expected: architecture, found: file.architecture ?? "(none)")
    }
    var byName: [String: ModelFile.NamedArray] = [:]
    for a in file.arrays { byName[a.name] = a }
    var values: [[Float]] = []
    for p in parameters {
        guard let a = byName.removeValue(forKey: p.name) else { throw .missingTensor(p.name) }
        guard let floats = a.floats else {
            throw .dtypeMismatch(tensor: p.name, expected: "f32 or f16", found: "\(a.dtype)")
        }
        guard a.shape == p.shape else { throw .shapeMismatch(tensor: p.name, expected: p.shape, found: a.shape) }
        values.append(floats)
    }
    if let extra = file.arrays.first(where: { byName[$0.name] != nil && $0.dtype != .u8 }) {
        throw .unexpectedTensor(extra.name)
    }
    for (p, v) in zip(parameters, values) { p.value = Tensor(shape: p.shape, scalars: v) }
}
