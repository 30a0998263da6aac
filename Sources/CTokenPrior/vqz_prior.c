#include "vqz_prior.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The body, compiled twice: for AVX2 (when the CPU has it) and for the baseline.
#define BODY                                                                                         \
    int32_t hid[1024];                                                                               \
    for (int j = 0; j < H; j++) {                                                                    \
        int32_t a = base[j];                                                                         \
        for (int s = 0; s < 6; s++) a += (int32_t)rows[s][j] * (1 << emb_shift);                     \
        hid[j] = a;                                                                                  \
    }                                                                                                \
    for (int j = 0; j < H; j++) {                                                                    \
        int64_t v = ((int64_t)hid[j] * mult[j] + (1 << 23)) >> 24;                                   \
        h16[j] = (int16_t)(v < 0 ? 0 : v > 4095 ? 4095 : v);                                         \
    }                                                                                                \
    int32_t best = INT32_MIN;                                                                        \
    int best_k = 0;                                                                                  \
    for (int k = 0; k < K; k++) {                                                                    \
        const int16_t *row = w2 + (int64_t)k * H;                                                    \
        int32_t acc = 0;                                                                             \
        for (int j = 0; j < H; j++) acc += (int32_t)row[j] * (int32_t)h16[j];                        \
        z[k] = acc + b2[k];                                                                          \
    }                                                                                                \
    for (int k = 0; k < K; k++) if (z[k] > best) { best = z[k]; best_k = k; }                        \
    uint64_t sum = 0;                                                                                \
    for (int k = 0; k < K; k++) {                                                                    \
        int64_t t = (((int64_t)best - (int64_t)z[k]) * logit_scale) >> 24;                           \
        if (t > 8191) t = 8191;                                                                      \
        uint32_t e = exp_table[t & 255] >> (t >> 8);                                                 \
        weights[k] = e;                                                                              \
        sum += e;                                                                                    \
    }                                                                                                \
    uint64_t r = ((uint64_t)(65536 - K) << 32) / sum;                                                \
    uint32_t used = 0;                                                                               \
    for (int k = 0; k < K; k++) {                                                                    \
        uint32_t f = 1 + (uint32_t)(((uint64_t)weights[k] * r) >> 32);                               \
        freq[k] = f;                                                                                 \
        used += f;                                                                                   \
    }                                                                                                \
    freq[best_k] += 65536 - used;                                                                    \
    uint32_t c = 0;                                                                                  \
    for (int k = 0; k < K; k++) { cum[k] = c; c += freq[k]; }                                        \
    cum[K] = c;                                                                                      \
    return best_k;

#if defined(__x86_64__)
__attribute__((target("avx2")))
static int token_avx2(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult,
                      const int16_t *w2, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                      int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    BODY
}
#endif

#if defined(__x86_64__)
// BODY's steps written with AVX2 intrinsics (the paired kernels below), for H a multiple of 16
// (≤ 1024) and K a multiple of 16 (≤ 2048): the output layer by vpmaddwd, the exponent lookups
// gathered, the 64-bit products as even/odd 32 × 32 → 64 multiplies. Exact, not approximate:
// every step computes the bits of BODY (tested against the Swift reference with these shapes):
//  - z: 16-bit × 16-bit pairs summed in wrapping 32-bit lanes (|w2| ≤ 2047, 0 ≤ h ≤ 4095, so
//    vpmaddwd's one overflow case, four times −32768, cannot occur); sums wrap like BODY's.
//  - t: best − z_k lies in 0 … 2^32 − 1 (both 32-bit), so it is exact as an unsigned 32-bit lane;
//    the logit scale is 1 … 2^31 − 1 (the file format), so the product is < 2^63: as an unsigned
//    64-bit product it equals BODY's signed one, and so does the shift.
//  - Σ e: e ≤ 2^24, ≤ 256 values per lane for K ≤ 2048: no 32-bit lane overflows.
//  - e · R: the largest logit gives e = 2^24, so Σ e ≥ 2^24 and R < 2^24: R fits a 32-bit lane.
// table_avx2 is the second half: from the logits z and their lane-wise maximum to the tables.
__attribute__((target("avx2")))
static int table_avx2(__m256i vmax, const int32_t *z, int64_t logit_scale, const uint32_t *exp_table, int K,
                      uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, vmax);
    int32_t best = lanes[0];
    for (int i = 1; i < 8; i++) if (lanes[i] > best) best = lanes[i];
    const __m256i vbest = _mm256_set1_epi32(best), vscale = _mm256_set1_epi64x(logit_scale);
    // The first k with z[k] = best, eight at a time (it exists: best is one of the z).
    int best_k = 0;
    for (int k = 0;; k += 8) {
        int m = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i *)(z + k)), vbest)));
        if (m) { best_k = k + __builtin_ctz((unsigned)m); break; }
    }
    const __m256i cap = _mm256_set1_epi64x(8191), low8 = _mm256_set1_epi32(255);
    __m256i vsum = _mm256_setzero_si256();
    for (int k = 0; k < K; k += 8) {
        __m256i diff = _mm256_sub_epi32(vbest, _mm256_loadu_si256((const __m256i *)(z + k)));
        __m256i te = _mm256_srli_epi64(_mm256_mul_epu32(diff, vscale), 24);
        __m256i to = _mm256_srli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(diff, 32), vscale), 24);
        te = _mm256_blendv_epi8(te, cap, _mm256_cmpgt_epi64(te, cap));
        to = _mm256_blendv_epi8(to, cap, _mm256_cmpgt_epi64(to, cap));
        __m256i t = _mm256_blend_epi32(te, _mm256_slli_epi64(to, 32), 0xAA);
        __m256i e = _mm256_i32gather_epi32((const int *)exp_table, _mm256_and_si256(t, low8), 4);
        e = _mm256_srlv_epi32(e, _mm256_srli_epi32(t, 8));
        _mm256_storeu_si256((__m256i *)(weights + k), e);
        vsum = _mm256_add_epi32(vsum, e);
    }
    uint32_t sums[8];
    _mm256_storeu_si256((__m256i *)sums, vsum);
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++) sum += sums[i];
    uint64_t r = ((uint64_t)(65536 - K) << 32) / sum;
    const __m256i vr = _mm256_set1_epi64x((int64_t)r), one = _mm256_set1_epi32(1);
    __m256i vused = _mm256_setzero_si256();
    for (int k = 0; k < K; k += 8) {
        __m256i e = _mm256_loadu_si256((const __m256i *)(weights + k));
        __m256i fe = _mm256_srli_epi64(_mm256_mul_epu32(e, vr), 32);
        __m256i fo = _mm256_mul_epu32(_mm256_srli_epi64(e, 32), vr);
        __m256i f = _mm256_add_epi32(_mm256_blend_epi32(fe, fo, 0xAA), one);
        _mm256_storeu_si256((__m256i *)(freq + k), f);
        vused = _mm256_add_epi32(vused, f);
    }
    _mm256_storeu_si256((__m256i *)sums, vused);
    uint32_t used = 0;
    for (int i = 0; i < 8; i++) used += sums[i];
    freq[best_k] += 65536 - used;
    // The running sum eight at a time: within each 128-bit half by two shifted adds, then the low
    // half's total into the high half; cum = inclusive − freq + carry (wrapping, so the same bits).
    uint32_t carry = 0;
    for (int k = 0; k < K; k += 8) {
        __m256i f = _mm256_loadu_si256((const __m256i *)(freq + k)), x = f;
        x = _mm256_add_epi32(x, _mm256_slli_si256(x, 4));
        x = _mm256_add_epi32(x, _mm256_slli_si256(x, 8));
        x = _mm256_add_epi32(x, _mm256_shuffle_epi32(_mm256_permute2x128_si256(x, x, 0x08), 0xFF));
        _mm256_storeu_si256((__m256i *)(cum + k), _mm256_add_epi32(_mm256_sub_epi32(x, f), _mm256_set1_epi32((int32_t)carry)));
        carry += (uint32_t)_mm256_extract_epi32(x, 7);
    }
    cum[K] = carry;
    return best_k;
}


// The hidden units of BODY (the six same-stage slots added to base, requantised), for H a multiple
// of 16, eight at a time. The requantisation is exact: a unit with hid <= 0 has hid * mult <= 0 and
// the rounding constant 2^23 < 2^24, so BODY's v <= 0 and the clamp gives 0 = max(hid, 0)'s; with
// hid > 0, 0 < hid * mult < 2^62 is an unsigned 32 x 32 -> 64 product (0 <= mult <= 2^31, the file
// format, sits in the low half of its 64-bit lane) and the shift and the clamp at 4095 are BODY's.
__attribute__((target("avx2")))
static void hidden_avx2(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult, int H, int16_t *h16) {
    const __m128i shift = _mm_cvtsi32_si128(emb_shift);
    const __m256i round = _mm256_set1_epi64x(1 << 23), cap = _mm256_set1_epi64x(4095), zero = _mm256_setzero_si256();
    for (int j = 0; j < H; j += 8) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(base + j));
        for (int s = 0; s < 6; s++)
            a = _mm256_add_epi32(a, _mm256_sll_epi32(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(rows[s] + j))), shift));
        a = _mm256_max_epi32(a, zero);
        __m256i a0 = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(a)), a1 = _mm256_cvtepu32_epi64(_mm256_extracti128_si256(a, 1));
        __m256i v0 = _mm256_mul_epu32(a0, _mm256_loadu_si256((const __m256i *)(mult + j)));
        __m256i v1 = _mm256_mul_epu32(a1, _mm256_loadu_si256((const __m256i *)(mult + j + 4)));
        v0 = _mm256_srli_epi64(_mm256_add_epi64(v0, round), 24);
        v1 = _mm256_srli_epi64(_mm256_add_epi64(v1, round), 24);
        v0 = _mm256_blendv_epi8(v0, cap, _mm256_cmpgt_epi64(v0, cap));
        v1 = _mm256_blendv_epi8(v1, cap, _mm256_cmpgt_epi64(v1, cap));
        // The 64-bit lanes (each 0 … 4095) to eight 16-bit values in order.
        __m256i x = _mm256_permute4x64_epi64(_mm256_shuffle_epi32(v0, 0x08), 0x08);
        __m256i y = _mm256_permute4x64_epi64(_mm256_shuffle_epi32(v1, 0x08), 0x08);
        _mm_storeu_si128((__m128i *)(h16 + j), _mm_packs_epi32(_mm256_castsi256_si128(x), _mm256_castsi256_si128(y)));
    }
}

// Hidden units 2q and 2q + 1 as one 32-bit lane (low half first), the pair vpmaddwd multiplies.
static inline int32_t hidden_pair(const int16_t *h16, int q) {
    return (int32_t)((uint32_t)(uint16_t)h16[2 * q] | ((uint32_t)(uint16_t)h16[2 * q + 1] << 16));
}

// The output layer from the paired layout w2p (vqz_prior_pair_weights): per group of 16 logits and
// pair of hidden units q, 32 values w[k][2q], w[k][2q + 1] for the group's 16 k. One vpmaddwd
// against the broadcast pair (h[2q], h[2q + 1]) adds both products to 8 logits at once: no
// horizontal sums. The same wrapping 32-bit sums as BODY in another order, so the same bits.
__attribute__((target("avx2")))
static int token_avx2_paired(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult,
                             const int16_t *w2p, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                             int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    hidden_avx2(base, rows, emb_shift, mult, H, h16);
    const int Q = H / 2;
    __m256i vmax = _mm256_set1_epi32(INT32_MIN);
    int g = 0;
    // Four groups (64 logits) at a time: one broadcast of each pair serves eight accumulators.
    for (; g + 4 <= K / 16; g += 4) {
        __m256i a[8];
        for (int t = 0; t < 8; t++) a[t] = _mm256_setzero_si256();
        const int16_t *wg = w2p + (int64_t)g * Q * 32;
        for (int q = 0; q < Q; q++) {
            __m256i hv = _mm256_set1_epi32(hidden_pair(h16, q));
            for (int t = 0; t < 8; t++)
                a[t] = _mm256_add_epi32(a[t], _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(wg + (t >> 1) * Q * 32 + q * 32 + (t & 1) * 16)), hv));
        }
        for (int t = 0; t < 8; t++) {
            __m256i v = _mm256_add_epi32(a[t], _mm256_loadu_si256((const __m256i *)(b2 + g * 16 + t * 8)));
            _mm256_storeu_si256((__m256i *)(z + g * 16 + t * 8), v);
            vmax = _mm256_max_epi32(vmax, v);
        }
    }
    for (; g < K / 16; g++) {
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        const int16_t *wg = w2p + (int64_t)g * Q * 32;
        for (int q = 0; q < Q; q++) {
            __m256i hv = _mm256_set1_epi32(hidden_pair(h16, q));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(wg + q * 32)), hv));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(wg + q * 32 + 16)), hv));
        }
        a0 = _mm256_add_epi32(a0, _mm256_loadu_si256((const __m256i *)(b2 + g * 16)));
        a1 = _mm256_add_epi32(a1, _mm256_loadu_si256((const __m256i *)(b2 + g * 16 + 8)));
        _mm256_storeu_si256((__m256i *)(z + g * 16), a0);
        _mm256_storeu_si256((__m256i *)(z + g * 16 + 8), a1);
        vmax = _mm256_max_epi32(vmax, _mm256_max_epi32(a0, a1));
    }
    return table_avx2(vmax, z, logit_scale, exp_table, K, weights, freq, cum);
}

// table_avx2's steps 16 lanes at a time (K a multiple of 16), the running sum of the frequencies
// as a vector prefix sum; the same exactness argument (the 64-bit products as even/odd 32 × 32 → 64
// multiplies, Σ e summed in 64 bits, Σ f = 2^16 fits any lane).
__attribute__((target("avx2,avx512f,avx512bw")))
static int table_avx512(int32_t best, const int32_t *z, int64_t logit_scale, const uint32_t *exp_table, int K,
                        uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    const __m512i vbest = _mm512_set1_epi32(best), vscale = _mm512_set1_epi64(logit_scale);
    int best_k = 0;
    for (int k = 0;; k += 16) {
        __mmask16 m = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512((const void *)(z + k)), vbest);
        if (m) { best_k = k + __builtin_ctz((unsigned)m); break; }
    }
    const __m512i cap = _mm512_set1_epi64(8191), low8 = _mm512_set1_epi32(255);
    __m512i table[16];
    for (int c = 0; c < 16; c++) table[c] = _mm512_loadu_si512((const void *)(exp_table + 16 * c));
    __m512i vsum_lo = _mm512_setzero_si512(), vsum_hi = _mm512_setzero_si512();
    for (int k = 0; k < K; k += 16) {
        __m512i diff = _mm512_sub_epi32(vbest, _mm512_loadu_si512((const void *)(z + k)));
        __m512i te = _mm512_min_epu64(_mm512_srli_epi64(_mm512_mul_epu32(diff, vscale), 24), cap);
        __m512i to = _mm512_min_epu64(_mm512_srli_epi64(_mm512_mul_epu32(_mm512_srli_epi64(diff, 32), vscale), 24), cap);
        __m512i t = _mm512_or_si512(te, _mm512_slli_epi64(to, 32));
        // exp_table[t & 255] from registers: eight two-register permutes (32 entries each),
        // each kept where bits 5–7 of the index pick its block (a gather is slower on Zen 5).
        const __m512i idx = _mm512_and_si512(t, low8), blk = _mm512_srli_epi32(idx, 5);
        __m512i e = _mm512_permutex2var_epi32(table[0], idx, table[1]);
        for (int c = 1; c < 8; c++)
            e = _mm512_mask_mov_epi32(e, _mm512_cmpeq_epi32_mask(blk, _mm512_set1_epi32(c)), _mm512_permutex2var_epi32(table[2 * c], idx, table[2 * c + 1]));
        e = _mm512_srlv_epi32(e, _mm512_srli_epi32(t, 8));
        _mm512_storeu_si512((void *)(weights + k), e);
        vsum_lo = _mm512_add_epi64(vsum_lo, _mm512_and_si512(e, _mm512_set1_epi64(0xFFFFFFFF)));
        vsum_hi = _mm512_add_epi64(vsum_hi, _mm512_srli_epi64(e, 32));
    }
    uint64_t sum = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(vsum_lo, vsum_hi));
    uint64_t r = ((uint64_t)(65536 - K) << 32) / sum;
    const __m512i vr = _mm512_set1_epi64((int64_t)r), one = _mm512_set1_epi32(1);
    __m512i vused = _mm512_setzero_si512();
    for (int k = 0; k < K; k += 16) {
        __m512i e = _mm512_loadu_si512((const void *)(weights + k));
        __m512i fe = _mm512_srli_epi64(_mm512_mul_epu32(e, vr), 32);
        __m512i fo = _mm512_mul_epu32(_mm512_srli_epi64(e, 32), vr);
        __m512i f = _mm512_add_epi32(_mm512_mask_blend_epi32(0xAAAA, fe, fo), one);
        _mm512_storeu_si512((void *)(freq + k), f);
        vused = _mm512_add_epi32(vused, f);
    }
    freq[best_k] += 65536 - (uint32_t)_mm512_reduce_add_epi32(vused);
    const __m512i zero = _mm512_setzero_si512();
    uint32_t carry = 0;
    for (int k = 0; k < K; k += 16) {
        __m512i f = _mm512_loadu_si512((const void *)(freq + k)), x = f;
        x = _mm512_add_epi32(x, _mm512_alignr_epi32(x, zero, 15));
        x = _mm512_add_epi32(x, _mm512_alignr_epi32(x, zero, 14));
        x = _mm512_add_epi32(x, _mm512_alignr_epi32(x, zero, 12));
        x = _mm512_add_epi32(x, _mm512_alignr_epi32(x, zero, 8));
        _mm512_storeu_si512((void *)(cum + k), _mm512_add_epi32(_mm512_sub_epi32(x, f), _mm512_set1_epi32((int32_t)carry)));
        carry += (uint32_t)_mm_extract_epi32(_mm512_extracti32x4_epi32(x, 3), 3);
    }
    cum[K] = carry;
    return best_k;
}

// The same with 16 logits per 512-bit vpmaddwd (AVX-512BW), four groups (64 logits) at a time so
// that one broadcast of each pair of hidden units feeds four independent accumulators. (A fused
// vpdpwssd, AVX512-VNNI, measured no faster here on Zen 5: the loop is bound by the multiplies.)
__attribute__((target("avx2,avx512f,avx512bw")))
static int token_avx512_paired(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult,
                               const int16_t *w2p, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                               int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    hidden_avx2(base, rows, emb_shift, mult, H, h16);
    const int Q = H / 2;
    __m512i vmax = _mm512_set1_epi32(INT32_MIN);
    int g = 0;
    for (; g + 4 <= K / 16; g += 4) {
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        const int16_t *w0 = w2p + (int64_t)g * Q * 32, *w1 = w0 + Q * 32, *w2 = w1 + Q * 32, *w3 = w2 + Q * 32;
        for (int q = 0; q < Q; q++) {
            const __m512i hv = _mm512_set1_epi32(hidden_pair(h16, q));
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w0 + q * 32)), hv));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w1 + q * 32)), hv));
            a2 = _mm512_add_epi32(a2, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w2 + q * 32)), hv));
            a3 = _mm512_add_epi32(a3, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(w3 + q * 32)), hv));
        }
        a0 = _mm512_add_epi32(a0, _mm512_loadu_si512((const void *)(b2 + g * 16)));
        a1 = _mm512_add_epi32(a1, _mm512_loadu_si512((const void *)(b2 + g * 16 + 16)));
        a2 = _mm512_add_epi32(a2, _mm512_loadu_si512((const void *)(b2 + g * 16 + 32)));
        a3 = _mm512_add_epi32(a3, _mm512_loadu_si512((const void *)(b2 + g * 16 + 48)));
        _mm512_storeu_si512((void *)(z + g * 16), a0);
        _mm512_storeu_si512((void *)(z + g * 16 + 16), a1);
        _mm512_storeu_si512((void *)(z + g * 16 + 32), a2);
        _mm512_storeu_si512((void *)(z + g * 16 + 48), a3);
        vmax = _mm512_max_epi32(vmax, _mm512_max_epi32(_mm512_max_epi32(a0, a1), _mm512_max_epi32(a2, a3)));
    }
    for (; g < K / 16; g++) {
        __m512i a = _mm512_setzero_si512();
        const int16_t *wg = w2p + (int64_t)g * Q * 32;
        for (int q = 0; q < Q; q++)
            a = _mm512_add_epi32(a, _mm512_madd_epi16(_mm512_loadu_si512((const void *)(wg + q * 32)), _mm512_set1_epi32(hidden_pair(h16, q))));
        a = _mm512_add_epi32(a, _mm512_loadu_si512((const void *)(b2 + g * 16)));
        _mm512_storeu_si512((void *)(z + g * 16), a);
        vmax = _mm512_max_epi32(vmax, a);
    }
    return table_avx512(_mm512_reduce_max_epi32(vmax), z, logit_scale, exp_table, K, weights, freq, cum);
}

// A multiply and its add as one vpdpwssd (AVX512-VNNI): the same wrapping 32-bit sum of the same
// two products (the non-saturating form), so the same bits; used by the dense part below.
#define MADD_ADD_BW(acc, w, h) _mm512_add_epi32((acc), _mm512_madd_epi16((w), (h)))
#define MADD_ADD_VNNI(acc, w, h) _mm512_dpwssd_epi32((acc), (w), (h))
#endif

static int token_generic(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult,
                         const int16_t *w2, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                         int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    BODY
}

// The kernel vqz_prior_token uses: -1 the best this CPU has, else the one named (tests).
static int forced_kernel = -1;

void vqz_prior_force_kernel(int kernel) { __atomic_store_n(&forced_kernel, kernel, __ATOMIC_RELAXED); }

// The best kernel this CPU has (4 AVX512-VNNI, 3 AVX-512 BW, 2 AVX2, 0 none), or the forced one
// where it is lower.
static int best_kernel(void) {
    int kernel = __atomic_load_n(&forced_kernel, __ATOMIC_RELAXED);
#if defined(__x86_64__)
    static int best = -1;
    int b = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (b < 0) {
        __builtin_cpu_init();
        const int bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        b = bw && __builtin_cpu_supports("avx512vnni") ? 4 : bw ? 3 : __builtin_cpu_supports("avx2") ? 2 : 0;
        __atomic_store_n(&best, b, __ATOMIC_RELAXED);
    }
    if (kernel < 0 || kernel > b) kernel = b;
#else
    kernel = 0;
#endif
    return kernel;
}

int vqz_prior_token(const int32_t *base, const int16_t *const rows[6], int emb_shift, const int64_t *mult,
                    const int16_t *w2, const int16_t *w2p, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                    int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    int kernel = best_kernel();
#if defined(__x86_64__)
    const int paired = w2p && H % 16 == 0 && H <= 1024 && K % 16 == 0 && K <= 2048;
    if (kernel >= 2 && !paired) kernel = 1;
    switch (kernel) {
    case 4:  // VNNI: the dense part's kernel; the token's is AVX-512 BW's
    case 3: return token_avx512_paired(base, rows, emb_shift, mult, w2p, b2, logit_scale, exp_table, H, K, h16, z, weights, freq, cum);
    case 2: return token_avx2_paired(base, rows, emb_shift, mult, w2p, b2, logit_scale, exp_table, H, K, h16, z, weights, freq, cum);
    case 1: return token_avx2(base, rows, emb_shift, mult, w2, b2, logit_scale, exp_table, H, K, h16, z, weights, freq, cum);
    default: break;
    }
#endif
    (void)kernel; (void)w2p;
    return token_generic(base, rows, emb_shift, mult, w2, b2, logit_scale, exp_table, H, K, h16, z, weights, freq, cum);
}

#define DENSE_BODY                                                                                   \
    for (int j = 0; j < H; j++) {                                                                    \
        const int16_t *row = wp + (int64_t)j * F;                                                    \
        int32_t acc = 0;                                                                             \
        for (int f = 0; f < F; f++) acc += (int32_t)row[f] * (int32_t)x[f];                          \
        out[j] += acc;                                                                               \
    }

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void dense_avx2(const int16_t *x, const int16_t *wp, int H, int F, int32_t *out) { DENSE_BODY }
#endif
static void dense_generic(const int16_t *x, const int16_t *wp, int H, int F, int32_t *out) { DENSE_BODY }

#if defined(__x86_64__)
// DENSE_BODY for F a multiple of 16, four rows at a time with vpmaddwd: |w| ≤ 2047 and |x| ≤ 2047
// (the dense input's clamp), so a pair of products and every partial sum stay far inside 32 bits;
// the sums wrap like DENSE_BODY's, so the grouping changes no bit.
__attribute__((target("avx2")))
static void dense_avx2_wide(const int16_t *x, const int16_t *wp, int H, int F, int32_t *out) {
    int j = 0;
    for (; j + 4 <= H; j += 4) {
        const int16_t *r0 = wp + (int64_t)j * F, *r1 = r0 + F, *r2 = r1 + F, *r3 = r2 + F;
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256(), a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
        for (int f = 0; f < F; f += 16) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + f));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(r0 + f)), xv));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(r1 + f)), xv));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(r2 + f)), xv));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(r3 + f)), xv));
        }
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        _mm_storeu_si128((__m128i *)(out + j), _mm_add_epi32(_mm_loadu_si128((const __m128i *)(out + j)), t));
    }
    for (; j < H; j++) {
        const int16_t *row = wp + (int64_t)j * F;
        int32_t acc = 0;
        for (int f = 0; f < F; f++) acc += (int32_t)row[f] * (int32_t)x[f];
        out[j] += acc;
    }
}
#endif

void vqz_prior_dense(const int16_t *x, const int16_t *wp, int H, int F, int32_t *out) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && F % 16 == 0) { dense_avx2_wide(x, wp, H, F, out); return; }
    if (__builtin_cpu_supports("avx2")) { dense_avx2(x, wp, H, F, out); return; }
#endif
    dense_generic(x, wp, H, F, out);
}

#define DENSE_INPUT_BODY                                                                             \
    const int64_t p = (int64_t)i * w + j;                                                            \
    const int16_t *c = partial + p * d;                                                              \
    const int16_t *l = j > 0 ? c - d : c, *r = j + 1 < w ? c + d : c;                                \
    const int16_t *u = i > 0 ? c - (int64_t)w * d : c, *dn = i + 1 < h ? c + (int64_t)w * d : c;

#if defined(__x86_64__)
// DENSE_INPUT_BODY's mean in 32-bit lanes, 8 channels at a time, packed back to 16 bits: the sum of
// four 16-bit values shifted right by 2 always fits 16 bits, so the saturating pack never clamps.
__attribute__((target("avx2")))
static void dense_input_avx2(const int16_t *partial, int h, int w, int i, int j, int d, int16_t *out) {
    DENSE_INPUT_BODY
    for (int k = 0; k < d; k += 8) {
        _mm_storeu_si128((__m128i *)(out + k), _mm_loadu_si128((const __m128i *)(c + k)));
        __m256i s = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(l + k))),
                             _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(r + k)))),
            _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(u + k))),
                             _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(dn + k)))));
        s = _mm256_srai_epi32(s, 2);
        _mm_storeu_si128((__m128i *)(out + d + k), _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
    }
}
#endif

static void dense_input_generic(const int16_t *partial, int h, int w, int i, int j, int d, int16_t *out) {
    DENSE_INPUT_BODY
    for (int k = 0; k < d; k++) {
        out[k] = c[k];
        out[d + k] = (int16_t)(((int32_t)l[k] + (int32_t)r[k] + (int32_t)u[k] + (int32_t)dn[k]) >> 2);
    }
}

void vqz_prior_dense_input(const int16_t *partial, int h, int w, int i, int j, int d, int16_t *out) {
#if defined(__x86_64__)
    if (d % 8 == 0 && __builtin_cpu_supports("avx2")) { dense_input_avx2(partial, h, w, i, j, d, out); return; }
#endif
    dense_input_generic(partial, h, w, i, j, d, out);
}

void vqz_prior_pair_weights(const int16_t *w2, int H, int K, int16_t *w2p) {
    const int Q = H / 2;
    for (int g = 0; g < K / 16; g++)
        for (int q = 0; q < Q; q++)
            for (int kk = 0; kk < 16; kk++) {
                const int16_t *row = w2 + (int64_t)(g * 16 + kk) * H;
                int16_t *dst = w2p + (((int64_t)g * Q + q) * 16 + kk) * 2;
                dst[0] = row[2 * q];
                dst[1] = row[2 * q + 1];
            }
}

#define ADD_ROWS_BODY                                                                                \
    for (int q = 0; q < positions; q++) {                                                            \
        const int32_t *row = cb + (int64_t)tokens[q] * d;                                            \
        int32_t *a = acc + (int64_t)q * d;                                                           \
        for (int c = 0; c < d; c++) a[c] += row[c];                                                  \
    }

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void add_rows_avx2(int32_t *acc, const int32_t *cb, const uint16_t *tokens, int positions, int d) { ADD_ROWS_BODY }
#endif
static void add_rows_generic(int32_t *acc, const int32_t *cb, const uint16_t *tokens, int positions, int d) { ADD_ROWS_BODY }

void vqz_prior_add_rows(int32_t *acc, const int32_t *cb, const uint16_t *tokens, int positions, int d) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { add_rows_avx2(acc, cb, tokens, positions, d); return; }
#endif
    add_rows_generic(acc, cb, tokens, positions, d);
}

#define CLAMP_BODY                                                                                   \
    for (int64_t q = 0; q < count; q++) {                                                            \
        int32_t v = acc[q];                                                                          \
        out[q] = (int16_t)(v < -limit ? -limit : v > limit ? limit : v);                             \
    }

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void clamp_avx2(const int32_t *acc, int64_t count, int32_t limit, int16_t *out) { CLAMP_BODY }
#endif
static void clamp_generic(const int32_t *acc, int64_t count, int32_t limit, int16_t *out) { CLAMP_BODY }

void vqz_prior_clamp16(const int32_t *acc, int64_t count, int32_t limit, int16_t *out) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { clamp_avx2(acc, count, limit, out); return; }
#endif
    clamp_generic(acc, count, limit, out);
}

#define ADD_EMB_BODY for (int j = 0; j < H; j++) a[j] += (int32_t)e[j] * (1 << shift);

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void add_emb_avx2(int32_t *a, const int16_t *e, int shift, int H) { ADD_EMB_BODY }
#endif
static void add_emb_generic(int32_t *a, const int16_t *e, int shift, int H) { ADD_EMB_BODY }

void vqz_prior_add_emb(int32_t *a, const int16_t *e, int shift, int H) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { add_emb_avx2(a, e, shift, H); return; }
#endif
    add_emb_generic(a, e, shift, H);
}

#if defined(__x86_64__)
// DENSE_BODY for two positions at once (F a multiple of 16): each 16-value chunk of four weight rows
// is loaded once for both inputs, so the row's 2·D × H weights are read half as often. The same
// wrapping sums per output as dense_avx2_wide (grouped alike), so the same bits.
__attribute__((target("avx2")))
static void dense_avx2_pair(const int16_t *x0, const int16_t *x1, const int16_t *wp, int H, int F, int32_t *out0, int32_t *out1) {
    int j = 0;
    for (; j + 4 <= H; j += 4) {
        const int16_t *r0 = wp + (int64_t)j * F, *r1 = r0 + F, *r2 = r1 + F, *r3 = r2 + F;
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256(), a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
        __m256i b0 = _mm256_setzero_si256(), b1 = _mm256_setzero_si256(), b2 = _mm256_setzero_si256(), b3 = _mm256_setzero_si256();
        for (int f = 0; f < F; f += 16) {
            __m256i xa = _mm256_loadu_si256((const __m256i *)(x0 + f)), xb = _mm256_loadu_si256((const __m256i *)(x1 + f));
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(r0 + f)), w1 = _mm256_loadu_si256((const __m256i *)(r1 + f));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(w0, xa)); b0 = _mm256_add_epi32(b0, _mm256_madd_epi16(w0, xb));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(w1, xa)); b1 = _mm256_add_epi32(b1, _mm256_madd_epi16(w1, xb));
            __m256i w2 = _mm256_loadu_si256((const __m256i *)(r2 + f)), w3 = _mm256_loadu_si256((const __m256i *)(r3 + f));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(w2, xa)); b2 = _mm256_add_epi32(b2, _mm256_madd_epi16(w2, xb));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(w3, xa)); b3 = _mm256_add_epi32(b3, _mm256_madd_epi16(w3, xb));
        }
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        _mm_storeu_si128((__m128i *)(out0 + j), _mm_add_epi32(_mm_loadu_si128((const __m128i *)(out0 + j)), t));
        s = _mm256_hadd_epi32(_mm256_hadd_epi32(b0, b1), _mm256_hadd_epi32(b2, b3));
        t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        _mm_storeu_si128((__m128i *)(out1 + j), _mm_add_epi32(_mm_loadu_si128((const __m128i *)(out1 + j)), t));
    }
    for (; j < H; j++) {
        const int16_t *row = wp + (int64_t)j * F;
        int32_t acc0 = 0, acc1 = 0;
        for (int f = 0; f < F; f++) { acc0 += (int32_t)row[f] * (int32_t)x0[f]; acc1 += (int32_t)row[f] * (int32_t)x1[f]; }
        out0[j] += acc0;
        out1[j] += acc1;
    }
}
#endif

#if defined(__x86_64__)
// The dense part of four positions at once from the paired layout wpp (`vqz_prior_pair_weights(wp,
// F, H, wpp)`: per group of 16 outputs and pair q of inputs, the 32 values wp[16g + kk][2q],
// wp[16g + kk][2q + 1]): one broadcast of an input pair per position and one load of 16 outputs'
// weights per group feed G × 4 accumulators (G = H / 16 ≤ 4 groups), no horizontal sums. The same
// wrapping 32-bit sums as DENSE_BODY in another order (|w| ≤ 2047 and |x| ≤ 2047, so a pair's sum
// is far inside 32 bits), so the same bits. With AVX512-VNNI a multiply and its add are one vpdpwssd.
#define DENSE_QUAD_512(NAME, TARGET, MADD_ADD)                                                       \
__attribute__((target(TARGET), always_inline))                                                       \
static inline void NAME##_g(const int16_t *const x[4], const int16_t *wpp, int F, int32_t *const out[4], const int G) { \
    const int Q = F / 2;                                                                             \
    __m512i a[4][4];                                                                                 \
    for (int g = 0; g < G; g++) for (int p = 0; p < 4; p++) a[g][p] = _mm512_setzero_si512();       \
    for (int q = 0; q < Q; q++) {                                                                    \
        const __m512i x0 = _mm512_set1_epi32(hidden_pair(x[0], q)), x1 = _mm512_set1_epi32(hidden_pair(x[1], q)); \
        const __m512i x2 = _mm512_set1_epi32(hidden_pair(x[2], q)), x3 = _mm512_set1_epi32(hidden_pair(x[3], q)); \
        for (int g = 0; g < G; g++) {                                                                \
            const __m512i w = _mm512_loadu_si512((const void *)(wpp + ((int64_t)g * Q + q) * 32));   \
            a[g][0] = MADD_ADD(a[g][0], w, x0); a[g][1] = MADD_ADD(a[g][1], w, x1);                  \
            a[g][2] = MADD_ADD(a[g][2], w, x2); a[g][3] = MADD_ADD(a[g][3], w, x3);                  \
        }                                                                                            \
    }                                                                                                \
    for (int g = 0; g < G; g++)                                                                      \
        for (int p = 0; p < 4; p++) {                                                                \
            int32_t *o = out[p] + g * 16;                                                            \
            _mm512_storeu_si512((void *)o, _mm512_add_epi32(_mm512_loadu_si512((const void *)o), a[g][p])); \
        }                                                                                            \
}                                                                                                    \
__attribute__((target(TARGET)))                                                                      \
static void NAME(const int16_t *const x[4], const int16_t *wpp, int H, int F, int32_t *const out[4]) { \
    switch (H / 16) {                                                                                \
    case 1: NAME##_g(x, wpp, F, out, 1); break;                                                      \
    case 2: NAME##_g(x, wpp, F, out, 2); break;                                                      \
    case 3: NAME##_g(x, wpp, F, out, 3); break;                                                      \
    default: NAME##_g(x, wpp, F, out, 4); break;                                                     \
    }                                                                                                \
}

DENSE_QUAD_512(dense_avx512_quad, "avx2,avx512f,avx512bw", MADD_ADD_BW)
DENSE_QUAD_512(dense_vnni_quad, "avx2,avx512f,avx512bw,avx512vnni", MADD_ADD_VNNI)
#endif

void vqz_prior_dense_row(const int16_t *partial, int h, int w, int i, int d, const int16_t *wp, const int16_t *wpp, int H,
                         int32_t *base, int16_t *x2) {
    const int F = 2 * d;
    int j = 0;
#if defined(__x86_64__)
    const int kernel = best_kernel();
    if (kernel >= 3 && wpp && H % 16 == 0 && H <= 64 && F % 2 == 0) {
        for (; j + 4 <= w; j += 4) {
            const int16_t *x[4] = {x2, x2 + F, x2 + 2 * F, x2 + 3 * F};
            int32_t *out[4] = {base + (int64_t)j * H, base + (int64_t)(j + 1) * H, base + (int64_t)(j + 2) * H, base + (int64_t)(j + 3) * H};
            for (int p = 0; p < 4; p++) vqz_prior_dense_input(partial, h, w, i, j + p, d, x2 + p * F);
            if (kernel >= 4) dense_vnni_quad(x, wpp, H, F, out); else dense_avx512_quad(x, wpp, H, F, out);
        }
    }
    if (kernel >= 2 && F % 16 == 0) {
        for (; j + 2 <= w; j += 2) {
            vqz_prior_dense_input(partial, h, w, i, j, d, x2);
            vqz_prior_dense_input(partial, h, w, i, j + 1, d, x2 + F);
            dense_avx2_pair(x2, x2 + F, wp, H, F, base + (int64_t)j * H, base + (int64_t)(j + 1) * H);
        }
    }
#endif
    for (; j < w; j++) {
        vqz_prior_dense_input(partial, h, w, i, j, d, x2);
        vqz_prior_dense(x2, wp, H, F, base + (int64_t)j * H);
    }
}
