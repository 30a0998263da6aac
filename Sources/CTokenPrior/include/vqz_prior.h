// The token prior's per-token integer kernel (docs/MODEL-FORMAT.md "Token prior files", steps
// 3–6) in C, so that it is vectorised with AVX2 where the CPU has it (chosen at run time) and
// with SSE2 elsewhere. Integer only, wrapping (-fwrapv): every path gives the same bits.
#pragma once
#include <stdint.h>

/// From the hidden pre-activation without the six same-stage slots (`base`, H values), the six
/// slot rows (`rows[s]`, H stored i16 embedding values each, worth `v · 2^emb_shift`), the stage's weights and the EXP table: the frequency table
/// `freq` (K values, each ≥ 1, summing to 2^16) and its cumulative table `cum` (K + 1 values).
/// `h16` (H) and `z` (K) are scratch. Returns the index of the largest logit. `w2p`, when not
/// NULL, is `w2` in the paired layout of `vqz_prior_pair_weights` (H and K multiples of 16), which
/// the AVX2 and AVX-512 kernels read instead; every path gives the same bits.
int vqz_prior_token(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult,
                    const int16_t *w2, const int16_t *w2p, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                    int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum);

/// `out[j] += Σ_f wp[j·F + f]·x[f]` for j < H (wrapping 32-bit sums).
void vqz_prior_dense(const int16_t *x, const int16_t *wp, int H, int F, int32_t *out);

/// The dense input of position (i, j) of an h × w grid of D-vectors `partial` into `out` (2·D):
/// the vector there, then (Σ of its left, right, up and down neighbours) >> 2 (arithmetic), a
/// neighbour off the grid counting as the centre (`IntegerPrior.denseInput`).
void vqz_prior_dense_input(const int16_t *partial, int h, int w, int i, int j, int d, int16_t *out);

/// For every position j < w of row i: `base[j·H + …] += wp · dense input of (i, j)` (`vqz_prior_dense_input`
/// then `vqz_prior_dense`, F = 2·d); four positions at a time from `wpp` (`wp` in the paired layout,
/// `vqz_prior_pair_weights(wp, F, H, wpp)`, or NULL) where the CPU has AVX-512 and H is a multiple of 16
/// up to 64, two at a time where it has AVX2: the same bits. `x2` is scratch of 8·d values.
void vqz_prior_dense_row(const int16_t *partial, int h, int w, int i, int d, const int16_t *wp, const int16_t *wpp, int H,
                         int32_t *base, int16_t *x2);

/// `w2 [K, H]` in the paired layout: per group g of 16 logits and pair q of hidden units, the 32
/// values w2[16g + kk][2q], w2[16g + kk][2q + 1] for kk = 0 … 15. H even, K a multiple of 16.
void vqz_prior_pair_weights(const int16_t *w2, int H, int K, int16_t *w2p);

/// `acc[q·d + c] += cb[tokens[q]·d + c]` for q < positions, c < d (wrapping 32-bit sums): one
/// stage's code vectors added to the running partial reconstruction.
void vqz_prior_add_rows(int32_t *acc, const int32_t *cb, const uint16_t *tokens, int positions, int d);

/// `out[q] = clamp(acc[q], −limit, limit)` for q < count (limit ≤ 32767).
void vqz_prior_clamp16(const int32_t *acc, int64_t count, int32_t limit, int16_t *out);

/// `a[j] += e[j] · 2^shift` for j < H (wrapping 32-bit; 0 ≤ shift ≤ 16): one slot's embedding row.
void vqz_prior_add_emb(int32_t *a, const int16_t *e, int shift, int H);

/// Tests: makes vqz_prior_token use kernel `kernel` (0 portable C, 1 BODY compiled for AVX2, 2 AVX2
/// paired, 3 AVX-512 paired, 4 AVX-512 with the dense part in AVX512-VNNI) where the CPU and the shapes allow it, else the next one down; -1 (the
/// default) the best available. Every kernel gives the same bits.
void vqz_prior_force_kernel(int kernel);
