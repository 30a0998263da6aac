// Training convolutions on oneDNN (Debian libdnnl-dev, C API) behind one opaque handle per layer
// and shape: NCHW/OIHW f32 in and out, oneDNN's own blocked layouts inside (reorders on the way
// in and out), primitives created once per handle. Errors come back as -1 and a message.
#ifndef VQZ_DNNL_CONV_H
#define VQZ_DNNL_CONV_H

#include <stddef.h>

typedef struct vqz_dnnl_conv vqz_dnnl_conv;

/// Threads oneDNN should use (OMP_NUM_THREADS, unless set); call before the first use.
void vqz_dnnl_set_threads(int threads);

/// Loads libdnnl.so.2 (once); 0 when it cannot be loaded.
int vqz_dnnl_available(void);

/// A convolution of `x [n, ic, ih, iw]` with `w [oc, ic, k, k]` and bias `[oc]`, `stride`,
/// zero `padding` on every side (PyTorch Conv2d semantics). `bf16`: compute in bfloat16 with f32
/// accumulation (inputs, weights and output gradients rounded to bf16; weight gradients in f32).
/// Returns NULL and a message when oneDNN cannot build it.
vqz_dnnl_conv *vqz_dnnl_conv_create(int n, int ic, int ih, int iw, int oc, int k, int stride, int padding, int bf16,
                                    char *message, size_t message_capacity);
void vqz_dnnl_conv_destroy(vqz_dnnl_conv *conv);

/// `y = conv(x, w) + b` (`y` is `[n, oc, oh, ow]`, NCHW). Keeps oneDNN's copy of `x` for backward.
int vqz_dnnl_conv_forward(vqz_dnnl_conv *conv, const float *x, const float *w, const float *b, float *y);

/// Backward of the last forward (the same `x` and `w` again): `dw += ∂L/∂w`, `db += ∂L/∂b` (db may
/// be NULL), and `dx = ∂L/∂x` when `dx` is not NULL.
int vqz_dnnl_conv_backward(vqz_dnnl_conv *conv, const float *x, const float *w, const float *dy, float *dw, float *db,
                           float *dx);

/// The implementation oneDNN chose for the forward pass (e.g. "jit:avx512_core").
const char *vqz_dnnl_conv_implementation(const vqz_dnnl_conv *conv);

#endif
