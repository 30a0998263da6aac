#include "vqz_png_write.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t size, capacity;
    int failed;  // out of memory
    char *message;
    size_t message_capacity;
} sink;

static void set_message(char *message, size_t capacity, const char *text) {
    if (capacity > 0) { strncpy(message, text, capacity - 1); message[capacity - 1] = 0; }
}

static void on_error(png_structp png, png_const_charp text) {
    sink *s = (sink *)png_get_error_ptr(png);
    set_message(s->message, s->message_capacity, text ? text : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void on_write(png_structp png, png_bytep bytes, size_t length) {
    sink *s = (sink *)png_get_io_ptr(png);
    if (s->size + length > s->capacity) {
        size_t capacity = s->capacity ? s->capacity : 65536;
        while (capacity < s->size + length) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(s->data, capacity);
        if (!grown) { s->failed = 1; png_error(png, "out of memory writing the PNG"); }
        s->data = grown;
        s->capacity = capacity;
    }
    memcpy(s->data + s->size, bytes, length);
    s->size += length;
}

static void on_flush(png_structp png) { (void)png; }

int vqz_png_encode(const uint8_t *samples, uint32_t width, uint32_t height, int channels, int level, int filter,
                   uint8_t **out, size_t *out_size, char *message, size_t message_capacity) {
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    static const int filters[6] = {PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP, PNG_FILTER_AVG, PNG_FILTER_PAETH, PNG_ALL_FILTERS};
    sink s = {0};
    s.message = message;
    s.message_capacity = message_capacity;
    if (message_capacity > 0) message[0] = 0;
    if (channels < 1 || channels > 4 || level < 0 || level > 9 || filter < 0 || filter > 5 || width == 0 || height == 0) {
        set_message(message, message_capacity, "invalid PNG write parameters");
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(rows);
        free(s.data);
        if (message_capacity > 0 && message[0] == 0) set_message(message, message_capacity, "libpng failed");
        return -1;
    }
    png_set_write_fn(png, &s, on_write, on_flush);
    png_set_IHDR(png, info, width, height, 8, color_types[channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    png_set_compression_level(png, level);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, filters[filter]);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory writing the PNG");
    size_t stride = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(samples + y * stride);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = s.data;
    *out_size = s.size;
    return 0;
}

void vqz_png_free(uint8_t *buffer) { free(buffer); }

// ---------------------------------------------------------------------------------------------
// The fixed-filter writer: rows filtered and deflated in parts on up to `threads` threads, the
// parts joined into one zlib stream (pigz's way: every part but the last ends with a sync flush,
// byte-aligned and not final; each part's dictionary is the 32 KB of filtered data before it, so
// the parts compress almost as one stream; the Adler-32s combined). The part count depends on the
// image size only, so the bytes do not depend on the thread count.

#include <pthread.h>
#include <zlib.h>

typedef struct {
    const uint8_t *samples;
    uint32_t width, height, y0, y1;
    int channels, level, filter, last;
    uint8_t *out;
    size_t out_size;
    uLong adler;
    int status;
} png_part;

static inline uint8_t paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

// Row y filtered with `filter` into dst (1 + stride bytes: the filter byte first).
static void filter_row(const uint8_t *samples, size_t stride, int bpp, uint32_t y, int filter, uint8_t *dst) {
    const uint8_t *cur = samples + (size_t)y * stride, *up = y > 0 ? cur - stride : NULL;
    dst[0] = (uint8_t)filter;
    uint8_t *d = dst + 1;
    switch (filter) {
    case 0: memcpy(d, cur, stride); break;
    case 1:
        for (size_t i = 0; i < stride; i++) d[i] = (uint8_t)(cur[i] - (i >= (size_t)bpp ? cur[i - bpp] : 0));
        break;
    case 2:
        for (size_t i = 0; i < stride; i++) d[i] = (uint8_t)(cur[i] - (up ? up[i] : 0));
        break;
    case 3:
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? cur[i - bpp] : 0, b = up ? up[i] : 0;
            d[i] = (uint8_t)(cur[i] - ((a + b) >> 1));
        }
        break;
    default:
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? cur[i - bpp] : 0, b = up ? up[i] : 0, c = up && i >= (size_t)bpp ? up[i - bpp] : 0;
            d[i] = (uint8_t)(cur[i] - paeth(a, b, c));
        }
        break;
    }
}

static void *deflate_part(void *arg) {
    png_part *p = (png_part *)arg;
    const size_t stride = (size_t)p->width * (size_t)p->channels, row = stride + 1;
    // The rows of the dictionary (up to 32 KB of filtered data before y0), then the part's rows.
    uint32_t d0 = p->y0;
    while (d0 > 0 && (size_t)(p->y0 - d0) * row < 32768) d0--;
    const size_t in_size = (size_t)(p->y1 - p->y0) * row, dict_size = (size_t)(p->y0 - d0) * row;
    uint8_t *buf = (uint8_t *)malloc(dict_size + in_size + 1);
    if (!buf) { p->status = -1; return NULL; }
    for (uint32_t y = d0; y < p->y1; y++) filter_row(p->samples, stride, p->channels, y, p->filter, buf + (size_t)(y - d0) * row);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, p->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) { free(buf); p->status = -1; return NULL; }
    const size_t dict = dict_size > 32768 ? 32768 : dict_size;
    if (dict > 0 && deflateSetDictionary(&z, buf + dict_size - dict, (uInt)dict) != Z_OK) { deflateEnd(&z); free(buf); p->status = -1; return NULL; }
    size_t capacity = deflateBound(&z, (uLong)in_size) + 64;
    p->out = (uint8_t *)malloc(capacity);
    if (!p->out) { deflateEnd(&z); free(buf); p->status = -1; return NULL; }
    z.next_in = buf + dict_size;
    size_t left = in_size;
    z.next_out = p->out;
    z.avail_out = (uInt)capacity;
    int rc = Z_OK;
    for (;;) {  // in pieces of at most 1 GiB (avail_in is 32-bit); the output has deflateBound's room
        uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        z.avail_in = chunk;
        left -= chunk;
        rc = deflate(&z, left > 0 ? Z_NO_FLUSH : p->last ? Z_FINISH : Z_SYNC_FLUSH);
        if (left == 0) break;
        left += z.avail_in;
    }
    if ((p->last && rc != Z_STREAM_END) || (!p->last && (rc != Z_OK || z.avail_in != 0))) { deflateEnd(&z); free(buf); p->status = -1; return NULL; }
    p->out_size = capacity - z.avail_out;
    // Adler-32 of the part's filtered bytes, in pieces of at most 1 GiB.
    uLong a = adler32(0L, Z_NULL, 0);
    for (size_t off = 0; off < in_size;) {
        size_t n = in_size - off > (1u << 30) ? (1u << 30) : in_size - off;
        a = adler32(a, buf + dict_size + off, (uInt)n);
        off += n;
    }
    p->adler = a;
    deflateEnd(&z);
    free(buf);
    p->status = 0;
    return NULL;
}

static int append(uint8_t **data, size_t *size, size_t *capacity, const void *bytes, size_t n) {
    if (*size + n > *capacity) {
        size_t c = *capacity ? *capacity : 65536;
        while (c < *size + n) c *= 2;
        uint8_t *g = (uint8_t *)realloc(*data, c);
        if (!g) return -1;
        *data = g;
        *capacity = c;
    }
    memcpy(*data + *size, bytes, n);
    *size += n;
    return 0;
}

// A chunk whose data is the concatenation of `count` pieces (no copy of them in between).
static int put_chunk_pieces(uint8_t **data, size_t *size, size_t *capacity, const char type[4], const uint8_t *const *pieces,
                            const size_t *lengths, int count) {
    size_t n = 0;
    for (int i = 0; i < count; i++) n += lengths[i];
    uint8_t head[8] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
                       (uint8_t)type[0], (uint8_t)type[1], (uint8_t)type[2], (uint8_t)type[3]};
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (append(data, size, capacity, head, 8)) return -1;
    for (int i = 0; i < count; i++) {
        for (size_t off = 0; off < lengths[i];) {
            size_t k = lengths[i] - off > (1u << 30) ? (1u << 30) : lengths[i] - off;
            crc = crc32(crc, pieces[i] + off, (uInt)k);
            off += k;
        }
        if (lengths[i] > 0 && append(data, size, capacity, pieces[i], lengths[i])) return -1;
    }
    uint8_t tail[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    return append(data, size, capacity, tail, 4);
}

static int put_chunk(uint8_t **data, size_t *size, size_t *capacity, const char type[4], const uint8_t *body, size_t n) {
    const uint8_t *pieces[1] = {body};
    size_t lengths[1] = {n};
    return put_chunk_pieces(data, size, capacity, type, pieces, lengths, n > 0 ? 1 : 0);
}

int vqz_png_encode_parallel(const uint8_t *samples, uint32_t width, uint32_t height, int channels, int level, int filter, int threads,
                            uint8_t **out, size_t *out_size, char *message, size_t message_capacity) {
    static const uint8_t color_types[5] = {0, 0, 4, 2, 6};
    if (message_capacity > 0) message[0] = 0;
    if (channels < 1 || channels > 4 || level < 0 || level > 9 || filter < 0 || filter > 4 || width == 0 || height == 0
        || width > 0x7FFFFFFFu || height > 0x7FFFFFFFu) {
        set_message(message, message_capacity, "invalid PNG write parameters");
        return -1;
    }
    const size_t row = (size_t)width * (size_t)channels + 1, total = row * height;
    // Parts of at least 256 KiB of filtered rows, at most 16: from the image alone.
    size_t parts = total / (256 * 1024);
    if (parts < 1) parts = 1;
    if (parts > 16) parts = 16;
    if (parts > height) parts = height;
    png_part p[16];
    for (size_t k = 0; k < parts; k++) {
        p[k] = (png_part){samples, width, height, (uint32_t)((uint64_t)height * k / parts), (uint32_t)((uint64_t)height * (k + 1) / parts),
                          channels, level, filter, k + 1 == parts, NULL, 0, 0, -1};
    }
    // Threads take parts k, k + T, k + 2T, ... (the calling thread is thread 0).
    if (threads < 1) threads = 1;
    if ((size_t)threads > parts) threads = (int)parts;
    pthread_t tids[16];
    int started[16] = {0};
    if (threads == 1) {
        for (size_t k = 0; k < parts; k++) deflate_part(&p[k]);
    } else {
        size_t next = 0;
        while (next < parts) {
            // A round: part `next` here, the next threads − 1 parts on threads of their own.
            for (int t = 1; t < threads && next + (size_t)t < parts; t++) {
                started[t] = pthread_create(&tids[t], NULL, deflate_part, &p[next + (size_t)t]) == 0;
                if (!started[t]) deflate_part(&p[next + (size_t)t]);
            }
            deflate_part(&p[next]);
            for (int t = 1; t < threads && next + (size_t)t < parts; t++) if (started[t]) pthread_join(tids[t], NULL);
            next += (size_t)threads;
        }
    }
    int failed = 0;
    for (size_t k = 0; k < parts; k++) failed |= p[k].status != 0;
    uint8_t *data = NULL;
    size_t size = 0, capacity = 0;
    if (!failed) {
        static const uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
        uint8_t ihdr[13] = {(uint8_t)(width >> 24), (uint8_t)(width >> 16), (uint8_t)(width >> 8), (uint8_t)width,
                            (uint8_t)(height >> 24), (uint8_t)(height >> 16), (uint8_t)(height >> 8), (uint8_t)height,
                            8, color_types[channels], 0, 0, 0};
        // zlib header: deflate, 32 KB window, FLEVEL from the level, FCHECK so that it divides by 31.
        const int flevel = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
        uint8_t zhead[2] = {0x78, (uint8_t)(flevel << 6)};
        zhead[1] += (uint8_t)(31 - ((zhead[0] * 256 + zhead[1]) % 31)) % 31;
        uLong adler = adler32(0L, Z_NULL, 0);
        for (size_t k = 0; k < parts; k++) {
            size_t len = (size_t)(p[k].y1 - p[k].y0) * row;
            adler = adler32_combine(adler, p[k].adler, (z_off_t)len);
        }
        uint8_t ztail[4] = {(uint8_t)(adler >> 24), (uint8_t)(adler >> 16), (uint8_t)(adler >> 8), (uint8_t)adler};
        // The whole file's size is known: one allocation, no doubling.
        capacity = 8 + 25 + 12 + 6;
        for (size_t k = 0; k < parts; k++) capacity += p[k].out_size + 12 * (1 + p[k].out_size / 0x7FFFFFF0u);
        data = (uint8_t *)malloc(capacity);
        failed = !data || append(&data, &size, &capacity, signature, 8) || put_chunk(&data, &size, &capacity, "IHDR", ihdr, 13);
        // IDAT chunks: the zlib header with the first part, each part, the Adler-32 with the last
        // (a part over the PNG's 2^31 − 1 byte chunk limit in several chunks).
        for (size_t k = 0; k < parts && !failed; k++) {
            for (size_t off = 0; off < p[k].out_size || (off == 0 && p[k].out_size == 0);) {
                size_t m = p[k].out_size - off > 0x7FFFFFF0u ? 0x7FFFFFF0u : p[k].out_size - off;
                const int first = k == 0 && off == 0, final = k + 1 == parts && off + m == p[k].out_size;
                const uint8_t *pieces[3] = {zhead, p[k].out + off, ztail};
                size_t lengths[3] = {first ? 2u : 0u, m, final ? 4u : 0u};
                failed = put_chunk_pieces(&data, &size, &capacity, "IDAT", pieces, lengths, 3);
                off += m;
                if (failed || m == 0) break;
            }
        }
        if (!failed) failed = put_chunk(&data, &size, &capacity, "IEND", NULL, 0);
    }
    for (size_t k = 0; k < parts; k++) free(p[k].out);
    if (failed) {
        free(data);
        set_message(message, message_capacity, "out of memory or zlib failure writing the PNG");
        return -1;
    }
    *out = data;
    *out_size = size;
    return 0;
}
