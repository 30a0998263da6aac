// PNG writing through libpng's full write API, for the one thing the simplified API cannot set:
// the zlib level and the row filter (speed against size). Errors come back as a return value and
// a message: libpng's longjmp stays inside this C file, never crosses into Swift.
#ifndef VQZ_PNG_WRITE_H
#define VQZ_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>

/// Row filters (the PNG spec's filter types; `VQZ_PNG_FILTER_ADAPTIVE` lets libpng choose per row).
enum {
    VQZ_PNG_FILTER_NONE = 0,
    VQZ_PNG_FILTER_SUB = 1,
    VQZ_PNG_FILTER_UP = 2,
    VQZ_PNG_FILTER_AVG = 3,
    VQZ_PNG_FILTER_PAETH = 4,
    VQZ_PNG_FILTER_ADAPTIVE = 5,
};

/// Encodes 8-bit interleaved samples (`channels` 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; rows of
/// `width·channels` bytes, top to bottom) as a PNG at zlib `level` (0…9) with `filter`.
/// On success returns 0 and `*out` (free with `vqz_png_free`) of `*out_size` bytes; on failure
/// returns -1 and a NUL-terminated message in `message` (`message_capacity` bytes).
int vqz_png_encode(const uint8_t *samples, uint32_t width, uint32_t height, int channels, int level, int filter,
                   uint8_t **out, size_t *out_size, char *message, size_t message_capacity);

/// The same for a fixed filter (`VQZ_PNG_FILTER_NONE` … `VQZ_PNG_FILTER_PAETH`) without libpng: the
/// rows filtered and deflated in parts (at least 256 KiB of rows each, at most 16, from the image's
/// size alone) on up to `threads` threads, joined into one zlib stream in one IDAT per part (each
/// part's deflate dictionary is the 32 KB of filtered rows before it). The bytes do not depend on
/// `threads`.
int vqz_png_encode_parallel(const uint8_t *samples, uint32_t width, uint32_t height, int channels, int level, int filter, int threads,
                            uint8_t **out, size_t *out_size, char *message, size_t message_capacity);

void vqz_png_free(uint8_t *buffer);

#endif
