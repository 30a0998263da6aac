// Small C kernels of the engine that Swift's baseline x86-64 build cannot vectorize well:
// Winograd F(2×2, 3×3)'s input and output transforms (TensorCore/Kernels+Winograd.swift).
// AVX2 where the CPU has it (run-time choice); every path does the same additions in the same
// order, so the results are identical on all of them.
#ifndef VQZ_KERNELS_H
#define VQZ_KERNELS_H

#include <stdint.h>

/// Input transform of the tile rows [tr0, tr1) of one image `x` [ci, h, w] (padding 1):
/// `v[xi][c][(tr − tr0)·tw + tc] = (Bᵀ d B)[xi]` for the 4 × 4 input block at rows 2tr − 1 …,
/// columns 2tc − 1 …; `t` is the band's tile count, `scratch` holds 10·(tw + 1) floats.
void vqz_wino_input(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch);

/// Output transform: `y[o][2tr + a][2tc + b] = (Aᵀ M A)[a][b] + bias[o]` from
/// `m[xi][o][(tr − tr0)·tw + tc]`, for the band's tile rows; outputs past h × w are not written.
/// `bias` may be NULL.
void vqz_wino_output(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y);

/// `vqz_wino_input` of the space-to-depth ×2 of `x` [ci, 2h, 2w] (channel `4c + 2a + b` of the
/// virtual input [4ci, h, w] is `x[c][2r + a][2col + b]`), read in place: a 5 × 5 stride-2
/// convolution (padding 2) is a 3 × 3 stride-1 one (padding 1) on that input.
void vqz_wino_input_s2d(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch);

/// `vqz_wino_output` followed by depth-to-space ×2 (PyTorch `PixelShuffle(2)`), in one pass:
/// output channel `o = 4c + 2a + b` goes to `y[c][2r + a][2col + b]` of `y` [co/4, 2h, 2w].
void vqz_wino_output_d2s(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y);

/// F(4×4, 3×3): `u[ξ][o][c] = (G g Gᵀ)[ξ]` (36 points, ξ = 6i + j) of `w` [co, ci, 3, 3], for the
/// output channels [o0, o1) (the caller splits `co` across threads); AVX2 where the CPU has it,
/// 8 input channels per vector, the same values as the portable loop (`portable` forces it, for
/// the tests).
void vqz_wino4_filter_rows(const float *w, int co, int ci, int o0, int o1, float *u, int portable);

/// F(4×4, 3×3)'s input transform of the tile rows [tr0, tr1) (tiles of 4×4 outputs, 6×6 inputs at
/// rows 4tr − 1 …, columns 4tc − 1 …, padding 1): `v[ξ][c][(tr − tr0)·tw + tc]`; with `s2d` of the
/// space-to-depth ×2 of `x` as `vqz_wino_input_s2d`. `scratch` holds 28·(tw + 2) floats.
void vqz_wino4_input(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch, int s2d);

/// F(4×4, 3×3)'s output transform (`y = Aᵀ M A + bias`, outputs past h × w not written); with
/// `d2s` followed by depth-to-space ×2 as `vqz_wino_output_d2s`. `scratch` holds 40·tw floats.
void vqz_wino4_output(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y, float *scratch, int d2s);

/// One row of the encoder's beam search: the `width` cheapest extensions of its `parents` paths
/// (path `p` costs `base[p]`, +∞ for a dead one; `dots[p·k + j]` = its residual · code `j`). A
/// candidate (p, j) costs `base[p] + ((norms[j] − 2·dots[p·k + j]) + pen[j])` (the score in Float,
/// in that order; the sum in Double) and the lists `cost[width]` (ascending, +∞ where empty),
/// `from[2·width]` (parent, code) hold the `width` least, earlier (parent, code) first on ties —
/// exactly the sequential scan's choice. `portable` forces the scalar scan (the tests compare the two).
void vqz_beam_row(const float *dots, int parents, const double *base, const float *norms, const float *pen, int k,
                  double *cost, int32_t *from, int width, int portable);

#endif
