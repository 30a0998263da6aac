#include "vqz_kernels.h"
#include <string.h>

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

static int has_avx2(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    return cached;
}

void vqz_wino_input(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch) {
    if (has_avx2()) input_avx2(x, ci, h, w, tr0, tr1, tw, t, v, scratch); else input_plain(x, ci, h, w, tr0, tr1, tw, t, v, scratch);
}

void vqz_wino_output(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y) {
    if (has_avx2()) output_avx2(m, co, h, w, tr0, tr1, tw, t, bias, y); else output_plain(m, co, h, w, tr0, tr1, tw, t, bias, y);
}

void vqz_wino_output_d2s(const float *m, int co, int h, int w, int tr0, int tr1, int tw, int t, const float *bias, float *y) {
    if (has_avx2()) output_d2s_avx2(m, co, h, w, tr0, tr1, tw, t, bias, y); else output_d2s_plain(m, co, h, w, tr0, tr1, tw, t, bias, y);
}

void vqz_wino_input_s2d(const float *x, int ci, int h, int w, int tr0, int tr1, int tw, int t, float *v, float *scratch) {
    if (has_avx2()) input_s2d_avx2(x, ci, h, w, tr0, tr1, tw, t, v, scratch); else input_s2d_plain(x, ci, h, w, tr0, tr1, tw, t, v, scratch);
}
