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

static void on_error(png_structp png, png_const_charp text) {
    sink *s = (sink *)png_get_error_ptr(png);
    if (s->message_capacity > 0) {
        strncpy(s->message, text ? text : "libpng error", s->message_capacity - 1);
        s->message[s->message_capacity - 1] = 0;
    }
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
        if (message_capacity > 0) { strncpy(message, "invalid PNG write parameters", message_capacity - 1); message[message_capacity - 1] = 0; }
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
        if (message_capacity > 0 && message[0] == 0) { strncpy(message, "libpng failed", message_capacity - 1); message[message_capacity - 1] = 0; }
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
