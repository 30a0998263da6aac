#include "vqz_kernels.h"
#include "cpu.h"
#include <string.h>
#include <immintrin.h>

// With `s2d`, `ci` counts the virtual channels (4 per channel of `x`, which is [ci/4, 2h, 2w]).
static inline __attribute__((always_inline))
void input_body(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch, const int s2d) {
    const int wp = 2 * tw + 2, n = tw + 1;
    float *padded = scratch;          // wp
    float *pe = padded + wp;          // 4 rows × n: even padded columns (input column 2m − 1)
    float *po = pe + 4 * n;           // 4 rows × n: odd padded columns (input column 2m)
    const long step = (long)ci * t;
    for (int c = 0; c < ci; c++) {
        // The plane of channel c (s2d: of x's channel c/4, phase a = (c/2)%2, b = c%2).
        const float *xc = s2d ? x + (long)(c >> 2) * (4L * h * w) + (long)((c >> 1) & 1) * (2 * w) + (c & 1)
                              : x + (long)c * h * w;
        const long row_stride = s2d ? 4L * w : w;  // two source rows of width 2w per virtual row
        for (int tr = tr0; tr < tr1; tr++) {
            for (int k = 0; k < 4; k++) {
                const int r = 2 * tr - 1 + k;
                memset(padded, 0, sizeof(float) * wp);
                if (r >= 0 && r < h) {
                    const float *src = xc + (long)r * row_stride;
                    if (s2d) { for (int j = 0; j < w; j++) padded[1 + j] = src[2 * j]; }
                    else memcpy(padded + 1, src, sizeof(float) * w);
                }
                float *e = pe + k * n, *o = po + k * n;
                for (int m = 0; m < n; m++) { e[m] = padded[2 * m]; o[m] = padded[2 * m + 1]; }
            }
            // Along rows: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3 (in place, per parity).
            for (int parity = 0; parity < 2; parity++) {
                float *d0 = (parity ? po : pe), *d1 = d0 + n, *d2 = d1 + n, *d3 = d2 + n;
                for (int m = 0; m < n; m++) {
                    const float a0 = d0[m], a1 = d1[m], a2 = d2[m], a3 = d3[m];
                    d0[m] = a0 - a2; d1[m] = a1 + a2; d2[m] = a2 - a1; d3[m] = a1 - a3;
                }
            }
            // Along columns: a0 = E[tc], a1 = O[tc], a2 = E[tc + 1], a3 = O[tc + 1].
            const long base = (long)(tr - tr0) * tw;
            for (int k = 0; k < 4; k++) {
                const float *e = pe + k * n, *o = po + k * n;
                float *v0 = v + (long)(4 * k) * step + (long)c * t + base;
                float *v1 = v0 + step, *v2 = v1 + step, *v3 = v2 + step;
                for (int tc = 0; tc < tw; tc++) {
                    const float a0 = e[tc], a1 = o[tc], a2 = e[tc + 1], a3 = o[tc + 1];
                    v0[tc] = a0 - a2; v1[tc] = a1 + a2; v2[tc] = a2 - a1; v3[tc] = a1 - a3;
                }
            }
        }
    }
}

static inline __attribute__((always_inline))
void output_body(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y) {
    const long step = (long)co * t;
    const int full = w / 2;  // tiles whose two output columns exist
    for (int o = 0; o < co; o++) {
        const float b = bias ? bias[o] : 0.0f;
        float *yo = y + (long)o * h * w;
        for (int tr = tr0; tr < tr1; tr++) {
            const int r = 2 * tr;
            float *top = yo + (long)r * w;
            const int has_bottom = r + 1 < h;
            float *bottom = has_bottom ? top + w : top;
            const float *p = m + (long)o * t + (long)(tr - tr0) * tw;
            const float *m0 = p, *m1 = p + step, *m2 = p + 2 * step, *m3 = p + 3 * step;
            const float *m4 = p + 4 * step, *m5 = p + 5 * step, *m6 = p + 6 * step, *m7 = p + 7 * step;
            const float *m8 = p + 8 * step, *m9 = p + 9 * step, *m10 = p + 10 * step, *m11 = p + 11 * step;
            const float *m12 = p + 12 * step, *m13 = p + 13 * step, *m14 = p + 14 * step, *m15 = p + 15 * step;
            // Along rows: s0 = m_row0 + m_row1 + m_row2, s1 = m_row1 − m_row2 − m_row3; then columns.
            for (int tc = 0; tc < full; tc++) {
                const float a0 = m0[tc] + m4[tc] + m8[tc], a1 = m1[tc] + m5[tc] + m9[tc];
                const float a2 = m2[tc] + m6[tc] + m10[tc], a3 = m3[tc] + m7[tc] + m11[tc];
                top[2 * tc] = a0 + a1 + a2 + b;
                top[2 * tc + 1] = a1 - a2 - a3 + b;
            }
            if (has_bottom) {
                for (int tc = 0; tc < full; tc++) {
                    const float c0 = m4[tc] - m8[tc] - m12[tc], c1 = m5[tc] - m9[tc] - m13[tc];
                    const float c2 = m6[tc] - m10[tc] - m14[tc], c3 = m7[tc] - m11[tc] - m15[tc];
                    bottom[2 * tc] = c0 + c1 + c2 + b;
                    bottom[2 * tc + 1] = c1 - c2 - c3 + b;
                }
            }
            if (full < tw) {  // odd width: the last tile has one column
                const int tc = full;
                top[2 * tc] = (m0[tc] + m4[tc] + m8[tc]) + (m1[tc] + m5[tc] + m9[tc]) + (m2[tc] + m6[tc] + m10[tc]) + b;
                if (has_bottom) {
                    bottom[2 * tc] = (m4[tc] - m8[tc] - m12[tc]) + (m5[tc] - m9[tc] - m13[tc]) + (m6[tc] - m10[tc] - m14[tc]) + b;
                }
            }
        }
    }
}

static inline __attribute__((always_inline))
void output_d2s_body(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y) {
    const long step = (long)co * t;
    const int full = w / 2, w2 = 2 * w;
    const long plane = (long)(2 * h) * w2;
    for (int c = 0; c < co / 4; c++) {
        float *yc = y + (long)c * plane;
        for (int tr = tr0; tr < tr1; tr++) {
            const int r = 2 * tr;
            const int has_bottom = r + 1 < h;
            for (int ph = 0; ph < 4; ph++) {
                const int o = 4 * c + ph, a = ph >> 1, b = ph & 1;
                const float bo = bias ? bias[o] : 0.0f;
                const float *p = m + (long)o * t + (long)(tr - tr0) * tw;
                const float *m0 = p, *m1 = p + step, *m2 = p + 2 * step, *m3 = p + 3 * step;
                const float *m4 = p + 4 * step, *m5 = p + 5 * step, *m6 = p + 6 * step, *m7 = p + 7 * step;
                const float *m8 = p + 8 * step, *m9 = p + 9 * step, *m10 = p + 10 * step, *m11 = p + 11 * step;
                const float *m12 = p + 12 * step, *m13 = p + 13 * step, *m14 = p + 14 * step, *m15 = p + 15 * step;
                // Conv output (r, col) → (2r + a, 2col + b): columns 2tc, 2tc + 1 → 4tc + b, 4tc + 2 + b.
                float *top = yc + (long)(2 * r + a) * w2 + b;
                for (int tc = 0; tc < full; tc++) {
                    const float a0 = m0[tc] + m4[tc] + m8[tc], a1 = m1[tc] + m5[tc] + m9[tc];
                    const float a2 = m2[tc] + m6[tc] + m10[tc], a3 = m3[tc] + m7[tc] + m11[tc];
                    top[4 * tc] = a0 + a1 + a2 + bo;
                    top[4 * tc + 2] = a1 - a2 - a3 + bo;
                }
                if (full < tw) top[4 * full] = (m0[full] + m4[full] + m8[full]) + (m1[full] + m5[full] + m9[full]) + (m2[full] + m6[full] + m10[full]) + bo;
                if (has_bottom) {
                    float *bottom = yc + (long)(2 * (r + 1) + a) * w2 + b;
                    for (int tc = 0; tc < full; tc++) {
                        const float c0 = m4[tc] - m8[tc] - m12[tc], c1 = m5[tc] - m9[tc] - m13[tc];
                        const float c2 = m6[tc] - m10[tc] - m14[tc], c3 = m7[tc] - m11[tc] - m15[tc];
                        bottom[4 * tc] = c0 + c1 + c2 + bo;
                        bottom[4 * tc + 2] = c1 - c2 - c3 + bo;
                    }
                    if (full < tw) bottom[4 * full] = (m4[full] - m8[full] - m12[full]) + (m5[full] - m9[full] - m13[full]) + (m6[full] - m10[full] - m14[full]) + bo;
                }
            }
        }
    }
}

__attribute__((target("avx2")))
static void input_avx2(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 0); }
static void input_plain(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 0); }
__attribute__((target("avx2")))
static void input_s2d_avx2(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 1); }
static void input_s2d_plain(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 1); }
__attribute__((target("avx2")))
static void output_avx2(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y) { output_body(m, co, h, w, tr0, tr1, tw, t, b, y); }
static void output_plain(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y) { output_body(m, co, h, w, tr0, tr1, tw, t, b, y); }

__attribute__((target("avx2")))
static void output_d2s_avx2(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y) { output_d2s_body(m, co, h, w, tr0, tr1, tw, t, b, y); }
static void output_d2s_plain(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y) { output_d2s_body(m, co, h, w, tr0, tr1, tw, t, b, y); }

int vqz_cpu_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    return cached;
}

void vqz_wino_input(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch) {
    if (vqz_cpu_has_avx2()) input_avx2(x, ci, h, w, tr0, tr1, tw, t, v, scratch); else input_plain(x, ci, h, w, tr0, tr1, tw, t, v, scratch);
}

void vqz_wino_output(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y) {
    if (vqz_cpu_has_avx2()) output_avx2(m, co, h, w, tr0, tr1, tw, t, bias, y); else output_plain(m, co, h, w, tr0, tr1, tw, t, bias, y);
}

void vqz_wino_output_d2s(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y) {
    if (vqz_cpu_has_avx2()) output_d2s_avx2(m, co, h, w, tr0, tr1, tw, t, bias, y); else output_d2s_plain(m, co, h, w, tr0, tr1, tw, t, bias, y);
}

void vqz_wino_input_s2d(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch) {
    if (vqz_cpu_has_avx2()) input_s2d_avx2(x, ci, h, w, tr0, tr1, tw, t, v, scratch); else input_s2d_plain(x, ci, h, w, tr0, tr1, tw, t, v, scratch);
}

// ---- F(4×4, 3×3) (Lavin & Gray 2016): each 4×4 block of outputs from a 6×6 block of inputs,
// 36 multiplications per input–output channel pair instead of 144, the GEMM work divided by 4
// (F(2×2, 3×3): by 2.25). With the interpolation points 0, ±1, ±2, ∞:
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
// Layouts as F(2×2, 3×3)'s with 36 transform points: v[ξ][c][tile], m[ξ][o][tile], ξ = 6i + j.

#define BT6(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)                                          \
    r0 = 4.0f * d0 - 5.0f * d2 + d4;                                                                 \
    r1 = d4 + d3 - 4.0f * (d1 + d2);                                                                  \
    r2 = d4 - d3 + 4.0f * (d1 - d2);                                                                  \
    r3 = d4 - d2 + 2.0f * (d3 - d1);                                                                  \
    r4 = d4 - d2 - 2.0f * (d3 - d1);                                                                  \
    r5 = 4.0f * d1 - 5.0f * d3 + d5;

#define AT6(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                                                  \
    {                                                                                                \
        const float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;                      \
        o0 = m0 + s12 + s34;                                                                          \
        o1 = d12 + 2.0f * d34;                                                                        \
        o2 = s12 + 4.0f * s34;                                                                        \
        o3 = d12 + 8.0f * d34 + m5;                                                                   \
    }

// One application of G (6 × 3) to the three values G0, G1, G2, into Q[0 … 5], in the order of
// operations every path keeps: the vector path computes each lane with the same IEEE operations, so
// the values are identical. The caller defines the type `T` and the constant `QUARTER` (0.25).
#define FILTER4_PAIR(G0, G1, G2, ADD, SUB, MUL, DIV, NEG, C24, C12, C6, Q)        \
    {                                                                             \
        const T x0 = G0, x1 = G1, x2 = G2;                                        \
        Q[0] = MUL(x0, QUARTER);                                                  \
        Q[1] = DIV(NEG(ADD(ADD(x0, x1), x2)), C6);                                \
        Q[2] = DIV(NEG(ADD(SUB(x0, x1), x2)), C6);                                \
        Q[3] = ADD(ADD(DIV(x0, C24), DIV(x1, C12)), DIV(x2, C6));                 \
        Q[4] = ADD(SUB(DIV(x0, C24), DIV(x1, C12)), DIV(x2, C6));                 \
        Q[5] = x2;                                                                \
    }

static void filter4_plain(const float *w, int ci, int o0, int o1, long plane, int c0, float *u) {
    typedef float T;
#define S_ADD(a, b) ((a) + (b))
#define S_SUB(a, b) ((a) - (b))
#define S_MUL(a, b) ((a) * (b))
#define S_DIV(a, b) ((a) / (b))
#define S_NEG(a) (-(a))
    const float QUARTER = 0.25f;
    for (int o = o0; o < o1; o++) {
        for (int c = c0; c < ci; c++) {
            const float *g = w + ((long)o * ci + c) * 9;
            float gg[6][3];  // G g: G applied to the filter's columns
            for (int q = 0; q < 3; q++) {
                float col[6];
                FILTER4_PAIR(g[q], g[3 + q], g[6 + q], S_ADD, S_SUB, S_MUL, S_DIV, S_NEG, 24.0f, 12.0f, 6.0f, col)
                for (int i = 0; i < 6; i++) gg[i][q] = col[i];
            }
            for (int i = 0; i < 6; i++) {
                float row[6];
                FILTER4_PAIR(gg[i][0], gg[i][1], gg[i][2], S_ADD, S_SUB, S_MUL, S_DIV, S_NEG, 24.0f, 12.0f, 6.0f, row)
                float *at = u + (long)(6 * i) * plane + (long)o * ci + c;
                for (int j = 0; j < 6; j++) at[j * plane] = row[j];
            }
        }
    }
}

// Eight input channels at a time: lane l is the pair (o, c + l), whose 9 weights are the 72
// consecutive floats from w[o][c]; the 36 results go to 8 consecutive floats of each plane.
__attribute__((target("avx2")))
static void filter4_avx2(const float *w, int ci, int o0, int o1, long plane, float *u) {
    typedef __m256 T;
    const __m256 QUARTER = _mm256_set1_ps(0.25f), c24 = _mm256_set1_ps(24.0f), c12 = _mm256_set1_ps(12.0f), c6 = _mm256_set1_ps(6.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
#define V_NEG(a) _mm256_xor_ps(a, sign)
    const int vc = ci & ~7;
    for (int o = o0; o < o1; o++) {
        for (int c = 0; c < vc; c += 8) {
            const float *g = w + ((long)o * ci + c) * 9;
            __m256 t[9];
            for (int e = 0; e < 9; e++) t[e] = _mm256_setr_ps(g[e], g[9 + e], g[18 + e], g[27 + e], g[36 + e], g[45 + e], g[54 + e], g[63 + e]);
            __m256 gg[6][3];
            for (int q = 0; q < 3; q++) {
                __m256 col[6];
                FILTER4_PAIR(t[q], t[3 + q], t[6 + q], _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, V_NEG, c24, c12, c6, col)
                for (int i = 0; i < 6; i++) gg[i][q] = col[i];
            }
            for (int i = 0; i < 6; i++) {
                __m256 row[6];
                FILTER4_PAIR(gg[i][0], gg[i][1], gg[i][2], _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, V_NEG, c24, c12, c6, row)
                float *at = u + (long)(6 * i) * plane + (long)o * ci + c;
                for (int j = 0; j < 6; j++) _mm256_storeu_ps(at + j * plane, row[j]);
            }
        }
    }
    if (vc < ci) filter4_plain(w, ci, o0, o1, plane, vc, u);
}

void vqz_wino4_filter_rows(const float *w, int co, int ci, int o0, int o1, float *u, int portable) {
    const long plane = (long)co * ci;
    if (!portable && vqz_cpu_has_avx2()) filter4_avx2(w, ci, o0, o1, plane, u); else filter4_plain(w, ci, o0, o1, plane, 0, u);
}


// scratch: 4·(tw + 2) + 24·(tw + 2) floats.
static inline __attribute__((always_inline))
void input4_body(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch, const int s2d) {
    const int n = tw + 2, wp = 4 * n;
    float *padded = scratch;  // wp
    float *ph = padded + wp;  // [6 rows][4 phases][n]: ph[k][p][m] = padded row k at column 4m + p
    const long step = (long)ci * t;
    for (int c = 0; c < ci; c++) {
        const float *xc = s2d ? x + (long)(c >> 2) * (4L * h * w) + (long)((c >> 1) & 1) * (2 * w) + (c & 1)
                              : x + (long)c * h * w;
        const long row_stride = s2d ? 4L * w : w;
        for (int tr = tr0; tr < tr1; tr++) {
            for (int k = 0; k < 6; k++) {
                const int r = 4 * tr - 1 + k;
                memset(padded, 0, sizeof(float) * wp);
                if (r >= 0 && r < h) {
                    const float *src = xc + (long)r * row_stride;
                    if (s2d) { for (int j = 0; j < w; j++) padded[1 + j] = src[2 * j]; }
                    else memcpy(padded + 1, src, sizeof(float) * w);
                }
                float *p0 = ph + (long)(4 * k) * n, *p1 = p0 + n, *p2 = p1 + n, *p3 = p2 + n;
                for (int m = 0; m < n; m++) {
                    p0[m] = padded[4 * m]; p1[m] = padded[4 * m + 1]; p2[m] = padded[4 * m + 2]; p3[m] = padded[4 * m + 3];
                }
            }
            // Along rows (Bᵀ d), in place, for every phase and position.
            for (int m = 0; m < 4 * n; m++) {
                float *d = ph + m;
                const long s = 4L * n;
                const float d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
                float r0, r1, r2, r3, r4, r5;
                BT6(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)
                d[0] = r0; d[s] = r1; d[2 * s] = r2; d[3 * s] = r3; d[4 * s] = r4; d[5 * s] = r5;
            }
            // Along columns: the tile's six columns 4tc − 1 … 4tc + 4 are padded columns 4tc … 4tc + 5.
            const long base = (long)(tr - tr0) * tw;
            for (int k = 0; k < 6; k++) {
                const float *p0 = ph + (long)(4 * k) * n, *p1 = p0 + n, *p2 = p1 + n, *p3 = p2 + n;
                float *v0 = v + (long)(6 * k) * step + (long)c * t + base;
                float *v1 = v0 + step, *v2 = v1 + step, *v3 = v2 + step, *v4 = v3 + step, *v5 = v4 + step;
                for (int tc = 0; tc < tw; tc++) {
                    const float a0 = p0[tc], a1 = p1[tc], a2 = p2[tc], a3 = p3[tc], a4 = p0[tc + 1], a5 = p1[tc + 1];
                    float r0, r1, r2, r3, r4, r5;
                    BT6(a0, a1, a2, a3, a4, a5, r0, r1, r2, r3, r4, r5)
                    v0[tc] = r0; v1[tc] = r1; v2[tc] = r2; v3[tc] = r3; v4[tc] = r4; v5[tc] = r5;
                }
            }
        }
    }
}

// The 4×4 outputs of the band's tiles of output channel o, tile row tr, into rows[4a + b][tc]
// (16·tw floats; q: 24·tw floats of scratch): Aᵀ along the transform's rows, then along its
// columns, bias added — each step a loop over the tiles, so that it runs in vector lanes.
static inline __attribute__((always_inline))
void output4_tiles(const float *m, int o, int tr, int tr0, int tw, int t, long step, float bias, float *rows, float *q) {
    const float *p = m + (long)o * t + (long)(tr - tr0) * tw;
    for (int j = 0; j < 6; j++) {
        const float *m0 = p + (long)j * step, *m1 = m0 + 6 * step, *m2 = m1 + 6 * step;
        const float *m3 = m2 + 6 * step, *m4 = m3 + 6 * step, *m5 = m4 + 6 * step;
        float *q0 = q + (long)j * tw, *q1 = q0 + 6L * tw, *q2 = q1 + 6L * tw, *q3 = q2 + 6L * tw;  // q[a][j][tc]
        for (int tc = 0; tc < tw; tc++) {
            AT6(m0[tc], m1[tc], m2[tc], m3[tc], m4[tc], m5[tc], q0[tc], q1[tc], q2[tc], q3[tc])
        }
    }
    for (int a = 0; a < 4; a++) {
        const float *q0 = q + (long)(6 * a) * tw, *q1 = q0 + tw, *q2 = q1 + tw, *q3 = q2 + tw, *q4 = q3 + tw, *q5 = q4 + tw;
        float *y0 = rows + (long)(4 * a) * tw, *y1 = y0 + tw, *y2 = y1 + tw, *y3 = y2 + tw;
        for (int tc = 0; tc < tw; tc++) {
            float o0, o1, o2, o3;
            AT6(q0[tc], q1[tc], q2[tc], q3[tc], q4[tc], q5[tc], o0, o1, o2, o3)
            y0[tc] = o0 + bias; y1[tc] = o1 + bias; y2[tc] = o2 + bias; y3[tc] = o3 + bias;
        }
    }
}

// scratch: 40·tw floats. d2s: output channel o = 4c + 2a' + b' goes to y[c][2r + a'][2col + b'].
static inline __attribute__((always_inline))
void output4_body(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y, float *rows, const int d2s) {
    const long step = (long)co * t;
    for (int o = 0; o < co; o++) {
        const float b = bias ? bias[o] : 0.0f;
        for (int tr = tr0; tr < tr1; tr++) {
            output4_tiles(m, o, tr, tr0, tw, t, step, b, rows, rows + 16L * tw);
            for (int a = 0; a < 4; a++) {
                const int r = 4 * tr + a;
                if (r >= h) break;
                float *dst; long cstride;
                if (d2s) {
                    const int c = o >> 2, pa = (o >> 1) & 1, pb = o & 1;
                    dst = y + (long)c * (4L * h * w) + (long)(2 * r + pa) * (2L * w) + pb;
                    cstride = 2;
                } else {
                    dst = y + (long)o * h * w + (long)r * w;
                    cstride = 1;
                }
                const float *s0 = rows + (4 * a) * tw, *s1 = s0 + tw, *s2 = s1 + tw, *s3 = s2 + tw;
                const int full = w / 4;
                for (int tc = 0; tc < full; tc++) {
                    float *d = dst + (long)(4 * tc) * cstride;
                    d[0] = s0[tc]; d[cstride] = s1[tc]; d[2 * cstride] = s2[tc]; d[3 * cstride] = s3[tc];
                }
                if (full < tw) {
                    const float *s[4] = {s0, s1, s2, s3};
                    for (int bcol = 0; 4 * full + bcol < w; bcol++) dst[(long)(4 * full + bcol) * cstride] = s[bcol][full];
                }
            }
        }
    }
}

__attribute__((target("avx2")))
static void input4_avx2(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input4_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 0); }
static void input4_plain(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input4_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 0); }
__attribute__((target("avx2")))
static void input4_s2d_avx2(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input4_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 1); }
static void input4_s2d_plain(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *s) { input4_body(x, ci, h, w, tr0, tr1, tw, t, v, s, 1); }
__attribute__((target("avx2")))
static void output4_avx2(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y, float *s) { output4_body(m, co, h, w, tr0, tr1, tw, t, b, y, s, 0); }
static void output4_plain(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y, float *s) { output4_body(m, co, h, w, tr0, tr1, tw, t, b, y, s, 0); }
__attribute__((target("avx2")))
static void output4_d2s_avx2(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y, float *s) { output4_body(m, co, h, w, tr0, tr1, tw, t, b, y, s, 1); }
static void output4_d2s_plain(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *b, float *y, float *s) { output4_body(m, co, h, w, tr0, tr1, tw, t, b, y, s, 1); }

void vqz_wino4_input(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch, int s2d) {
    if (s2d) { if (vqz_cpu_has_avx2()) input4_s2d_avx2(x, ci, h, w, tr0, tr1, tw, t, v, scratch); else input4_s2d_plain(x, ci, h, w, tr0, tr1, tw, t, v, scratch); }
    else { if (vqz_cpu_has_avx2()) input4_avx2(x, ci, h, w, tr0, tr1, tw, t, v, scratch); else input4_plain(x, ci, h, w, tr0, tr1, tw, t, v, scratch); }
}

void vqz_wino4_output(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y, float *scratch, int d2s) {
    if (d2s) { if (vqz_cpu_has_avx2()) output4_d2s_avx2(m, co, h, w, tr0, tr1, tw, t, bias, y, scratch); else output4_d2s_plain(m, co, h, w, tr0, tr1, tw, t, bias, y, scratch); }
    else { if (vqz_cpu_has_avx2()) output4_avx2(m, co, h, w, tr0, tr1, tw, t, bias, y, scratch); else output4_plain(m, co, h, w, tr0, tr1, tw, t, bias, y, scratch); }
}
