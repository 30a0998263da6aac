#include "vqz_prior.h"

// The body, compiled twice: for AVX2 (when the CPU has it) and for the baseline.
#define BODY                                                                                         \
    int32_t hid[1024];                                                                               \
    for (int j = 0; j < H; j++) {                                                                    \
        int32_t a = base[j];                                                                         \
        for (int s = 0; s < 6; s++) a += rows[s][j];                                                 \
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
static int token_avx2(const int32_t *base, const int32_t *const rows[6], const int64_t *mult,
                      const int16_t *w2, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                      int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    BODY
}
#endif

static int token_generic(const int32_t *base, const int32_t *const rows[6], const int64_t *mult,
                         const int16_t *w2, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                         int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
    BODY
}

int vqz_prior_token(const int32_t *base, const int32_t *const rows[6], const int64_t *mult,
                    const int16_t *w2, const int32_t *b2, int64_t logit_scale, const uint32_t *exp_table,
                    int H, int K, int16_t *h16, int32_t *z, uint32_t *weights, uint32_t *freq, uint32_t *cum) {
#if defined(__x86_64__)
    static int has_avx2 = -1;
    if (has_avx2 < 0) {
        __builtin_cpu_init();
        has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    if (has_avx2) return token_avx2(base, rows, mult, w2, b2, logit_scale, exp_table, H, K, h16, z, weights, freq, cum);
#endif
    return token_generic(base, rows, mult, w2, b2, logit_scale, exp_table, H, K, h16, z, weights, freq, cum);
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

void vqz_prior_dense(const int16_t *x, const int16_t *wp, int H, int F, int32_t *out) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { dense_avx2(x, wp, H, F, out); return; }
#endif
    dense_generic(x, wp, H, F, out);
}
