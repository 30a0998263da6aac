// The candidate scan of the encoder's beam search (TensorCore/Kernels+Beam.swift): one row's
// extensions — every live parent path times every code — into the sorted list of its `width`
// cheapest. Every path computes the same Float score `(norm − 2·dot) + penalty` (no contraction:
// -ffp-contract=off) and the same Double test in the same (parent, code) order, so the AVX2 path,
// the portable one and the Swift loop they replace keep the same candidates.
#include "vqz_kernels.h"
#include "cpu.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

/// Swift's `Float(x).nextUp`: the Float nearest to `x`, one step up (+∞ and NaN stay).
static inline float bound_above(double x) {
    float f = (float)x;
    if (!(f < INFINITY)) return f;
    uint32_t u;
    memcpy(&u, &f, 4);
    if (f == 0) u = 1;                  // ±0 → the smallest positive subnormal
    else if (u >> 31) u -= 1;           // negative: toward zero
    else u += 1;
    memcpy(&f, &u, 4);
    return f;
}

/// The candidate (code `j` of `parent`, total `base + score`) into the list if it passes the Float
/// bound above the last kept cost and, exactly, is strictly below it; earlier (parent, code) win ties.
static inline void offer(double base, float score, int j, int parent, double *cost, int32_t *from, int width) {
    if (!(score <= bound_above(cost[width - 1] - base))) return;
    const double s = base + (double)score;
    if (!(s < cost[width - 1])) return;
    int at = width - 1;
    while (at > 0 && s < cost[at - 1]) {
        cost[at] = cost[at - 1];
        from[2 * at] = from[2 * at - 2]; from[2 * at + 1] = from[2 * at - 1];
        at -= 1;
    }
    cost[at] = s; from[2 * at] = parent; from[2 * at + 1] = j;
}

/// The reference: every code of every live parent, in order.
static void row_plain(const float *dots, int parents, const double *base, const float *norms, const float *pen, int k,
                      double *cost, int32_t *from, int width) {
    for (int p = 0; p < parents; p++) {
        if (!(base[p] < INFINITY)) continue;
        const float *dp = dots + (long)p * k;
        for (int j = 0; j < k; j++) offer(base[p], norms[j] - 2 * dp[j] + pen[j], j, p, cost, from, width);
    }
}

/// The reference's scan, 16 scores per compare: a group none of whose scores is under the bound
/// (most of them, once the list is full) costs one branch; the others go through `offer` code by
/// code, which tests each again against the bound of the moment (it only falls).
__attribute__((target("avx2")))
static void row_avx2(const float *dots, int parents, const double *base, const float *norms, const float *pen, int k,
                     double *cost, int32_t *from, int width) {
    const __m256 two = _mm256_set1_ps(2.0f);
    float lanes[16];
    for (int p = 0; p < parents; p++) {
        const double b = base[p];
        if (!(b < INFINITY)) continue;
        const float *dp = dots + (long)p * k;
        __m256 vb = _mm256_set1_ps(bound_above(cost[width - 1] - b));
        int j = 0;
        for (; j + 16 <= k; j += 16) {
            const __m256 s0 = _mm256_add_ps(_mm256_sub_ps(_mm256_loadu_ps(norms + j), _mm256_mul_ps(two, _mm256_loadu_ps(dp + j))),
                                            _mm256_loadu_ps(pen + j));
            const __m256 s1 = _mm256_add_ps(_mm256_sub_ps(_mm256_loadu_ps(norms + j + 8), _mm256_mul_ps(two, _mm256_loadu_ps(dp + j + 8))),
                                            _mm256_loadu_ps(pen + j + 8));
            unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(s0, vb, _CMP_LE_OQ))
                          | (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(s1, vb, _CMP_LE_OQ)) << 8;
            if (__builtin_expect(!mask, 1)) continue;
            _mm256_storeu_ps(lanes, s0);
            _mm256_storeu_ps(lanes + 8, s1);
            while (mask) {
                const int lane = __builtin_ctz(mask);
                mask &= mask - 1;
                offer(b, lanes[lane], j + lane, p, cost, from, width);
            }
            vb = _mm256_set1_ps(bound_above(cost[width - 1] - b));
        }
        for (; j < k; j++) offer(b, norms[j] - 2 * dp[j] + pen[j], j, p, cost, from, width);
    }
}

void vqz_beam_row(const float *dots, int parents, const double *base, const float *norms, const float *pen, int k,
                  double *cost, int32_t *from, int width, int portable) {
    for (int c = 0; c < width; c++) cost[c] = INFINITY;
    if (!portable && vqz_cpu_has_avx2()) row_avx2(dots, parents, base, norms, pen, k, cost, from, width);
    else row_plain(dots, parents, base, norms, pen, k, cost, from, width);
}
