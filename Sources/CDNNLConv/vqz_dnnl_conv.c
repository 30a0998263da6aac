#include "vqz_dnnl_conv.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libdnnl is opened at the first use, not linked: its OpenMP runtime (libgomp) reads its settings
// when it is loaded, and OpenMP's default of spinning idle threads between parallel regions would
// fight the engine's own thread pool for the 2 cores (measured: a training step 1.9× slower in CPU
// time). Setting OMP_WAIT_POLICY=PASSIVE (unless the user set it) before loading avoids that. It
// also keeps oneDNN optional at run time: without the library, training uses the engine's kernels.
#define DNNL_FUNCTIONS(X) \
    X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_memory_desc_init_by_tag) \
    X(dnnl_convolution_forward_desc_init) X(dnnl_convolution_backward_data_desc_init) \
    X(dnnl_convolution_backward_weights_desc_init) X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_query) \
    X(dnnl_primitive_desc_query_md) X(dnnl_primitive_create) X(dnnl_primitive_desc_destroy) X(dnnl_primitive_destroy) \
    X(dnnl_memory_create) X(dnnl_memory_destroy) X(dnnl_memory_desc_equal) X(dnnl_reorder_primitive_desc_create) \
    X(dnnl_memory_set_data_handle) X(dnnl_primitive_execute) X(dnnl_stream_wait)
#define DECLARE(name) static __typeof__(name) *p_##name;
DNNL_FUNCTIONS(DECLARE)
#define LOAD(name) if (!(p_##name = (__typeof__(name) *)dlsym(library, #name))) return 0;

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static int threads_wanted = 0;

static int load_library(void) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    if (threads_wanted > 0) {
        char n[16];
        snprintf(n, sizeof n, "%d", threads_wanted);
        setenv("OMP_NUM_THREADS", n, 0);
    }
    void *library = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) return 0;
    DNNL_FUNCTIONS(LOAD)
    return 1;
}

static void make_engine(void) {
    if (!load_library()) return;
    engine_status = p_dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (engine_status == dnnl_success) engine_status = p_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
}

void vqz_dnnl_set_threads(int threads) { threads_wanted = threads; }

int vqz_dnnl_available(void) {
    pthread_once(&engine_once, make_engine);
    return engine_status == dnnl_success;
}

// From here on every dnnl_* call goes through the pointers loaded above.
#define dnnl_engine_create p_dnnl_engine_create
#define dnnl_stream_create p_dnnl_stream_create
#define dnnl_memory_desc_init_by_tag p_dnnl_memory_desc_init_by_tag
#define dnnl_convolution_forward_desc_init p_dnnl_convolution_forward_desc_init
#define dnnl_convolution_backward_data_desc_init p_dnnl_convolution_backward_data_desc_init
#define dnnl_convolution_backward_weights_desc_init p_dnnl_convolution_backward_weights_desc_init
#define dnnl_primitive_desc_create p_dnnl_primitive_desc_create
#define dnnl_primitive_desc_query p_dnnl_primitive_desc_query
#define dnnl_primitive_desc_query_md p_dnnl_primitive_desc_query_md
#define dnnl_primitive_create p_dnnl_primitive_create
#define dnnl_primitive_desc_destroy p_dnnl_primitive_desc_destroy
#define dnnl_primitive_destroy p_dnnl_primitive_destroy
#define dnnl_memory_create p_dnnl_memory_create
#define dnnl_memory_destroy p_dnnl_memory_destroy
#define dnnl_memory_desc_equal p_dnnl_memory_desc_equal
#define dnnl_reorder_primitive_desc_create p_dnnl_reorder_primitive_desc_create
#define dnnl_memory_set_data_handle p_dnnl_memory_set_data_handle
#define dnnl_primitive_execute p_dnnl_primitive_execute
#define dnnl_stream_wait p_dnnl_stream_wait

/// A tensor as the caller holds it (plain f32) and as a primitive wants it; `mem` is the
/// primitive's own buffer when the layouts differ, else the caller's memory.
typedef struct {
    dnnl_memory_t user;     // plain layout, handle set per call
    dnnl_memory_t mine;     // the primitive's layout (NULL when equal to user)
    dnnl_primitive_t in;    // user → mine
    dnnl_primitive_t out;   // mine → user
} slot;

struct vqz_dnnl_conv {
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    slot f_src, f_wei, f_dst, d_dsrc, d_wei, d_ddst, w_src, w_dwei, w_ddst;
    dnnl_memory_t bias, dbias, dbias_user;
    float *dbias_buffer, *dw_buffer;
    size_t weight_count, bias_count;
    char impl[96];
    int src_shared;  // the backward-weights source layout is the forward's: reuse its copy
    int ddst_shared; // backward-weights wants diff_dst as backward-data does: reorder once
};

#define CHECK(call) do { if ((call) != dnnl_success) { snprintf(message, capacity, "oneDNN: %s failed", #call); goto fail; } } while (0)

static int make_slot(slot *s, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md, int need_in, int need_out,
                     char *message, size_t capacity) {
    memset(s, 0, sizeof *s);
    CHECK(dnnl_memory_create(&s->user, user_md, engine, DNNL_MEMORY_NONE));
    if (!dnnl_memory_desc_equal(user_md, prim_md)) {
        CHECK(dnnl_memory_create(&s->mine, prim_md, engine, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t pd;
        if (need_in) {
            CHECK(dnnl_reorder_primitive_desc_create(&pd, user_md, engine, prim_md, engine, NULL));
            CHECK(dnnl_primitive_create(&s->in, pd));
            dnnl_primitive_desc_destroy(pd);
        }
        if (need_out) {
            CHECK(dnnl_reorder_primitive_desc_create(&pd, prim_md, engine, user_md, engine, NULL));
            CHECK(dnnl_primitive_create(&s->out, pd));
            dnnl_primitive_desc_destroy(pd);
        }
    }
    return 0;
fail:
    return -1;
}

static void free_slot(slot *s) {
    if (s->user) dnnl_memory_destroy(s->user);
    if (s->mine) dnnl_memory_destroy(s->mine);
    if (s->in) dnnl_primitive_destroy(s->in);
    if (s->out) dnnl_primitive_destroy(s->out);
}

static dnnl_memory_t prim_mem(const slot *s) { return s->mine ? s->mine : s->user; }

static dnnl_status_t reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, stream, 2, args);
}

/// Sets the caller's buffer and, for inputs, copies it into the primitive's layout.
static dnnl_status_t bring_in(slot *s, const float *data) {
    dnnl_status_t st = dnnl_memory_set_data_handle(s->user, (void *)data);
    if (st == dnnl_success && s->mine) st = reorder(s->in, s->user, s->mine);
    return st;
}

static dnnl_status_t take_out(slot *s, float *data) {
    dnnl_status_t st = dnnl_memory_set_data_handle(s->user, data);
    if (st == dnnl_success && s->mine) st = reorder(s->out, s->mine, s->user);
    return st;
}

void vqz_dnnl_conv_destroy(vqz_dnnl_conv *c) {
    if (!c) return;
    if (c->fwd) dnnl_primitive_destroy(c->fwd);
    if (c->bwd_data) dnnl_primitive_destroy(c->bwd_data);
    if (c->bwd_weights) dnnl_primitive_destroy(c->bwd_weights);
    slot *slots[] = {&c->f_src, &c->f_wei, &c->f_dst, &c->d_dsrc, &c->d_wei, &c->d_ddst, &c->w_src, &c->w_dwei, &c->w_ddst};
    for (size_t i = 0; i < sizeof slots / sizeof *slots; i++) free_slot(slots[i]);
    if (c->bias) dnnl_memory_destroy(c->bias);
    if (c->dbias) dnnl_memory_destroy(c->dbias);
    free(c->dbias_buffer);
    free(c->dw_buffer);
    free(c);
}

vqz_dnnl_conv *vqz_dnnl_conv_create(int n, int ic, int ih, int iw, int oc, int k, int stride, int padding, int bf16,
                                    char *message, size_t capacity) {
    if (capacity) message[0] = 0;
    if (!vqz_dnnl_available()) { snprintf(message, capacity, "oneDNN (libdnnl.so.2) is not available"); return NULL; }
    int oh = (ih + 2 * padding - k) / stride + 1, ow = (iw + 2 * padding - k) / stride + 1;
    if (n < 1 || ic < 1 || oc < 1 || k < 1 || stride < 1 || padding < 0 || oh < 1 || ow < 1) {
        snprintf(message, capacity, "oneDNN: invalid convolution shape");
        return NULL;
    }
    vqz_dnnl_conv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    dnnl_dims_t src_dims = {n, ic, ih, iw}, wei_dims = {oc, ic, k, k}, bias_dims = {oc}, dst_dims = {n, oc, oh, ow};
    dnnl_dims_t strides = {stride, stride}, pad = {padding, padding};
    dnnl_data_type_t t = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t u_src, u_wei, u_bias, u_dst, a_src, a_wei, a_dst, a_dwei;
    CHECK(dnnl_memory_desc_init_by_tag(&u_src, 4, src_dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&u_wei, 4, wei_dims, dnnl_f32, dnnl_oihw));
    CHECK(dnnl_memory_desc_init_by_tag(&u_bias, 1, bias_dims, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&u_dst, 4, dst_dims, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&a_src, 4, src_dims, t, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&a_wei, 4, wei_dims, t, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&a_dwei, 4, wei_dims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&a_dst, 4, dst_dims, t, dnnl_format_tag_any));

    dnnl_convolution_desc_t fd, dd, wd;
    CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &a_src, &a_wei, &u_bias, &a_dst, strides, pad, pad));
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, engine, NULL));
    CHECK(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &a_src, &a_wei, &a_dst, strides, pad, pad));
    CHECK(dnnl_primitive_desc_create(&dpd, &dd, NULL, engine, fpd));
    CHECK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &a_src, &a_dwei, &u_bias, &a_dst, strides, pad, pad));
    CHECK(dnnl_primitive_desc_create(&wpd, &wd, NULL, engine, fpd));
    const char *impl = NULL;
    CHECK(dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl));
    snprintf(c->impl, sizeof c->impl, "%s", impl ? impl : "unknown");
    CHECK(dnnl_primitive_create(&c->fwd, fpd));
    CHECK(dnnl_primitive_create(&c->bwd_data, dpd));
    CHECK(dnnl_primitive_create(&c->bwd_weights, wpd));

    const dnnl_memory_desc_t *f_src = dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_src = dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *d_ddst = dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0);
    const dnnl_memory_desc_t *w_ddst = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0);
    if (make_slot(&c->f_src, &u_src, f_src, 1, 0, message, capacity)) goto fail;
    if (make_slot(&c->f_wei, &u_wei, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), 1, 0, message, capacity)) goto fail;
    if (make_slot(&c->f_dst, &u_dst, dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0), 0, 1, message, capacity)) goto fail;
    if (make_slot(&c->d_dsrc, &u_src, dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0), 0, 1, message, capacity)) goto fail;
    if (make_slot(&c->d_wei, &u_wei, dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), 1, 0, message, capacity)) goto fail;
    if (make_slot(&c->d_ddst, &u_dst, d_ddst, 1, 0, message, capacity)) goto fail;
    c->src_shared = dnnl_memory_desc_equal(f_src, w_src);
    c->ddst_shared = dnnl_memory_desc_equal(d_ddst, w_ddst);
    if (!c->src_shared && make_slot(&c->w_src, &u_src, w_src, 1, 0, message, capacity)) goto fail;
    if (!c->ddst_shared && make_slot(&c->w_ddst, &u_dst, w_ddst, 1, 0, message, capacity)) goto fail;
    if (make_slot(&c->w_dwei, &u_wei, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), 0, 1, message, capacity)) goto fail;
    c->weight_count = (size_t)oc * ic * k * k;
    c->bias_count = (size_t)oc;
    c->dw_buffer = malloc(sizeof(float) * c->weight_count);
    c->dbias_buffer = malloc(sizeof(float) * c->bias_count);
    if (!c->dw_buffer || !c->dbias_buffer) { snprintf(message, capacity, "out of memory"); goto fail; }
    CHECK(dnnl_memory_create(&c->bias, &u_bias, engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&c->dbias, &u_bias, engine, c->dbias_buffer));
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(dpd);
    dnnl_primitive_desc_destroy(wpd);
    return c;
fail:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    vqz_dnnl_conv_destroy(c);
    return NULL;
}

const char *vqz_dnnl_conv_implementation(const vqz_dnnl_conv *c) { return c->impl; }

int vqz_dnnl_conv_forward(vqz_dnnl_conv *c, const float *x, const float *w, const float *b, float *y) {
    if (bring_in(&c->f_src, x) || bring_in(&c->f_wei, w) || dnnl_memory_set_data_handle(c->bias, (void *)b)) return -1;
    if (dnnl_memory_set_data_handle(c->f_dst.user, y)) return -1;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, prim_mem(&c->f_src)}, {DNNL_ARG_WEIGHTS, prim_mem(&c->f_wei)},
                               {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, prim_mem(&c->f_dst)}};
    if (dnnl_primitive_execute(c->fwd, stream, 4, args)) return -1;
    if (take_out(&c->f_dst, y)) return -1;
    return dnnl_stream_wait(stream) == dnnl_success ? 0 : -1;
}

int vqz_dnnl_conv_backward(vqz_dnnl_conv *c, const float *x, const float *w, const float *dy, float *dw, float *db, float *dx) {
    if (bring_in(&c->d_ddst, dy)) return -1;
    if (!c->ddst_shared && bring_in(&c->w_ddst, dy)) return -1;
    // The forward's reordered copy of x serves when backward-weights wants that layout; otherwise
    // (or when no copy was made) x is brought in again from the caller's buffer.
    slot *src_slot = c->src_shared ? &c->f_src : &c->w_src;
    if (!(c->src_shared && c->f_src.mine) && bring_in(src_slot, x)) return -1;
    dnnl_memory_t src = prim_mem(src_slot);
    dnnl_memory_t ddst_w = c->ddst_shared ? prim_mem(&c->d_ddst) : prim_mem(&c->w_ddst);
    if (dnnl_memory_set_data_handle(c->w_dwei.user, c->dw_buffer)) return -1;
    dnnl_exec_arg_t wargs[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst_w},
                                {DNNL_ARG_DIFF_WEIGHTS, prim_mem(&c->w_dwei)}, {DNNL_ARG_DIFF_BIAS, c->dbias}};
    if (dnnl_primitive_execute(c->bwd_weights, stream, 4, wargs)) return -1;
    if (take_out(&c->w_dwei, c->dw_buffer)) return -1;
    if (dx) {
        if (bring_in(&c->d_wei, w) || dnnl_memory_set_data_handle(c->d_dsrc.user, dx)) return -1;
        dnnl_exec_arg_t dargs[3] = {{DNNL_ARG_DIFF_DST, prim_mem(&c->d_ddst)}, {DNNL_ARG_WEIGHTS, prim_mem(&c->d_wei)},
                                    {DNNL_ARG_DIFF_SRC, prim_mem(&c->d_dsrc)}};
        if (dnnl_primitive_execute(c->bwd_data, stream, 3, dargs)) return -1;
        if (take_out(&c->d_dsrc, dx)) return -1;
    }
    if (dnnl_stream_wait(stream) != dnnl_success) return -1;
    for (size_t i = 0; i < c->weight_count; i++) dw[i] += c->dw_buffer[i];
    if (db) for (size_t i = 0; i < c->bias_count; i++) db[i] += c->dbias_buffer[i];
    return 0;
}
