#include "vqz_sha256.h"

#if defined(__x86_64__)
#include <immintrin.h>

// The SHA-NI block loop of Intel's "New Instructions Supporting the Secure Hash Algorithm on
// Intel Architecture Processors" (2013), in the public-domain form of Jeffrey Walton's
// SHA-Intrinsics: four rounds per _mm_sha256rnds2_epu32 pair, message schedule by msg1/msg2.
__attribute__((target("sha,sse4.1")))
static void blocks_shani(uint32_t state[8], const uint8_t *data, size_t blocks) {
    static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i TMP = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i STATE1 = _mm_loadu_si128((const __m128i *)&state[4]);
    TMP = _mm_shuffle_epi32(TMP, 0xB1);          // CDAB
    STATE1 = _mm_shuffle_epi32(STATE1, 0x1B);    // EFGH
    __m128i STATE0 = _mm_alignr_epi8(TMP, STATE1, 8);    // ABEF
    STATE1 = _mm_blend_epi16(STATE1, TMP, 0xF0);         // CDGH

    while (blocks--) {
        __m128i ABEF_SAVE = STATE0, CDGH_SAVE = STATE1;
        __m128i MSG[4];
        for (int i = 0; i < 4; i++) MSG[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), MASK);
        for (int r = 0; r < 16; r++) {
            __m128i M = MSG[r & 3];
            __m128i W = _mm_add_epi32(M, _mm_loadu_si128((const __m128i *)&K[4 * r]));
            STATE1 = _mm_sha256rnds2_epu32(STATE1, STATE0, W);
            W = _mm_shuffle_epi32(W, 0x0E);
            STATE0 = _mm_sha256rnds2_epu32(STATE0, STATE1, W);
            if (r < 12) {
                // Next schedule words for group r + 4: W[t] = σ1(W[t−2]) + W[t−7] + σ0(W[t−15]) + W[t−16].
                __m128i next = _mm_sha256msg1_epu32(MSG[r & 3], MSG[(r + 1) & 3]);
                next = _mm_add_epi32(next, _mm_alignr_epi8(MSG[(r + 3) & 3], MSG[(r + 2) & 3], 4));
                next = _mm_sha256msg2_epu32(next, MSG[(r + 3) & 3]);
                MSG[r & 3] = next;
            }
        }
        STATE0 = _mm_add_epi32(STATE0, ABEF_SAVE);
        STATE1 = _mm_add_epi32(STATE1, CDGH_SAVE);
        data += 64;
    }
    TMP = _mm_shuffle_epi32(STATE0, 0x1B);       // FEBA
    STATE1 = _mm_shuffle_epi32(STATE1, 0xB1);    // DCHG
    STATE0 = _mm_blend_epi16(TMP, STATE1, 0xF0); // DCBA
    STATE1 = _mm_alignr_epi8(STATE1, TMP, 8);    // ABEF → HGFE
    _mm_storeu_si128((__m128i *)&state[0], STATE0);
    _mm_storeu_si128((__m128i *)&state[4], STATE1);
}
#endif

int vqz_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
#if defined(__x86_64__)
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") ? 1 : 0;
    }
    if (has) { blocks_shani(state, data, blocks); return 1; }
#endif
    (void)state; (void)data; (void)blocks;
    return 0;
}
