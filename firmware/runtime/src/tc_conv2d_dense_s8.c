/**
 * @file tc_conv2d_dense_s8.c
 * @brief tc_conv2d_dense_s8: a partial im2col of two output pixels, then the
 *        dense engine's blocked product (tc_fc_dense_s8.c).
 *
 * Output pixels go two at a time (a last odd one alone): each pixel's patch
 * (kernel_h runs of kernel_w * in_c inputs) is packed into the caller's
 * scratch as one column of the engine, the two columns interleaved, and the
 * engine multiplies every pair of output channels with both, so each weight
 * word loaded serves two pixels and each packed input two channels. A 1x1
 * convolution is the same product with one-run patches, read in place. When a
 * kernel row is not a whole number of the engine's groups, the runs are first
 * gathered into contiguous scratch, so that every group of the packed column
 * holds consecutive levels. The output channels' requantization constants are
 * worked out once per call, into scratch too (tc_dense_rq_init). A pixel whose
 * window reaches into the padding is gathered the same way, with pad_value
 * (the input zero point) in the taps outside the input: no padded copy of
 * the input is made.
 */
#include <string.h>

#include "tc_conv2d.h"
#include "tc_conv_dense_internal.h"
#include "tc_layouts_internal.h"
#include "tc_simd.h"

/* GCC -O2 turns copy loops into memcpy calls, which cost more than a short
   run; keep the loops as loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define TC_NO_MEMCPY_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TC_NO_MEMCPY_IDIOM
#endif

/* Bytes to gather a patch into: its levels padded to whole groups (0 when every kernel
   row is whole groups and no window reaches into the padding: the runs are packed in
   place). */
static int32_t gather_bytes(const tc_conv_dims *d, int32_t bits)
{
    const int32_t run = d->kernel_w * d->in_c;
    return run % tc_dense_group(bits) == 0 && !tc_conv_padded(d)
               ? 0 : tc_dense_padded(d->kernel_h * run, bits);
}

/* Bytes of a post-op's staged outputs (two pixels' sums, 4-aligned); 0 without one. */
static TC_INLINE int32_t sums_bytes(const tc_conv_dims *d, int post)
{
    return post ? (2 * d->out_c + 3) & ~(int32_t)3 : 0;
}

/* Bytes after the two columns: the gather area, and the post-op's sums in it when the
   patch's own bytes hold them (its group padding must stay zero), else after it. */
static TC_INLINE int32_t stage_bytes(const tc_conv_dims *d, int32_t bits, int post)
{
    const int32_t g = gather_bytes(d, bits), t = sums_bytes(d, post);
    return !post || (g > 0 && t <= d->kernel_h * d->kernel_w * d->in_c) ? g : g + t;
}

static TC_INLINE int32_t buffer_size(const tc_conv_dims *dims, int32_t bits, int post)
{
    if (!tc_conv_dims_ok(dims, 0) || bits < 1 || bits > 8) {
        return 0;
    }
    const int32_t cols = dims->kernel_h * dims->kernel_w * dims->in_c;
    return 2 * tc_dense_column_bytes(cols, bits) + stage_bytes(dims, bits, post) +
           tc_dense_tail_bytes(dims->out_c, cols, bits) + dims->out_c * (int32_t)sizeof(tc_dense_rq);
}

int32_t tc_conv2d_dense_s8_buffer_size(const tc_conv_dims *dims, int32_t bits)
{
    return buffer_size(dims, bits, 0);
}

#if TC_CONV_DENSE_POST
int32_t tc_conv2d_dense_post_buffer_size(const tc_conv_dims *dims, int32_t bits)
{
    return buffer_size(dims, bits, 1);
}
#endif

static inline void copy_word(const int8_t *from, int8_t *to)
{
    uint32_t v;
    memcpy(&v, from, sizeof v); /* unaligned word access (LDR/STR on Cortex-M) */
    memcpy(to, &v, sizeof v);
}

/* Copy the kernel_h runs of one patch into buf, one after the other. A run of 4 or more
   is copied in words, the last word of a run reading and writing up to 3 bytes past it:
   inside the input (the later runs lie beyond) and inside buf (the next run overwrites
   them); the last run is copied exactly. */
TC_NO_MEMCPY_IDIOM static void gather(const int8_t *x, int32_t runs, int32_t run_len,
                                      int32_t run_stride, int8_t *buf)
{
    if (run_len >= 4) {
        for (; runs > 1; --runs, x += run_stride, buf += run_len) {
            for (int32_t i = 0; i < run_len; i += 4) {
                copy_word(x + i, buf + i);
            }
        }
    }
    for (; runs > 0; --runs, x += run_stride, buf += run_len) {
        int32_t i = 0;
        for (; i + 4 <= run_len; i += 4) {
            copy_word(x + i, buf + i);
        }
        for (; i < run_len; ++i) {
            buf[i] = x[i];
        }
    }
}

static inline int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The patch of a window at input (y0, x0) that reaches into the padding, into buf: the
   taps outside the input read pad_value. Per kernel row: pad_value before and after the
   columns inside, which are one contiguous span of the input row (copied in words). */
TC_NO_MEMCPY_IDIOM static void gather_padded(const tc_conv_dims *d, const int8_t *input,
                                             int32_t y0, int32_t x0, int8_t *buf)
{
    const int32_t c = d->in_c, run = d->kernel_w * c, kx0 = clip(-x0, 0, d->kernel_w);
    const int32_t lo = kx0 * c, hi = clip(d->in_w - x0, 0, d->kernel_w) * c, n = hi - lo;
    const int8_t z = (int8_t)d->pad_value;
    const uint32_t z4 = 0x01010101u * (uint8_t)z;
    for (int32_t y = y0; y < y0 + d->kernel_h; ++y, buf += run) {
        const int inside_row = y >= 0 && y < d->in_h && n > 0;
        if (run >= 4) { /* the row all pad_value, in words (the last one may overlap) */
            int32_t i = 0;
            for (; i + 4 <= run; i += 4) {
                memcpy(buf + i, &z4, sizeof z4);
            }
            if (i < run) {
                memcpy(buf + run - 4, &z4, sizeof z4);
            }
        } else {
            for (int32_t i = 0; i < run; ++i) {
                buf[i] = z;
            }
        }
        if (!inside_row) {
            continue;
        }
        const int8_t *from = input + (y * d->in_w + x0 + kx0) * c; /* column kx0 */
        int8_t *to = buf + lo;
        if (n >= 4) { /* the span inside, in words (the last one may overlap) */
            int32_t j = 0;
            for (; j + 4 <= n; j += 4) {
                copy_word(from + j, to + j);
            }
            if (j < n) {
                copy_word(from + n - 4, to + n - 4);
            }
        } else {
            for (int32_t j = 0; j < n; ++j) {
                to[j] = from[j];
            }
        }
    }
}

/* 1 when the window at input (y0, x0) lies inside the input. */
static inline int inside(const tc_conv_dims *d, int32_t y0, int32_t x0)
{
    return y0 >= 0 && x0 >= 0 && y0 + d->kernel_h <= d->in_h && x0 + d->kernel_w <= d->in_w;
}

/* Pack the patch of output pixel p as column `which` of ncols; returns its correction. */
static uint32_t pack_patch(const tc_conv_dims *d, int32_t bits, const int8_t *input, int32_t p,
                           uint8_t *cols, int32_t ncols, int32_t which, int8_t *stage)
{
    if ((d->kernel_h | d->kernel_w | d->stride_h | d->stride_w) == 1) {
        /* 1x1, stride 1 (never padded): pixel p's patch is its in_c inputs, one run, packed
           in place (the last group zero-padded by the packing) */
        return tc_dense_pack_s8(bits, input + p * d->in_c, d->in_c, cols, ncols, which);
    }
    const int32_t oy = p / d->out_w, ox = p - oy * d->out_w;
    const int32_t run = d->kernel_w * d->in_c, row_stride = d->in_w * d->in_c;
    const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
    if (!inside(d, y0, x0)) { /* stage exists: the conv is padded */
        gather_padded(d, input, y0, x0, stage);
        return tc_dense_pack_s8(bits, stage, tc_dense_padded(d->kernel_h * run, bits), cols,
                                ncols, which);
    }
    const int8_t *x = input + (y0 * d->in_w + x0) * d->in_c;
    if (stage != NULL && run % tc_dense_group(bits) != 0) { /* the group padding stays zero */
        gather(x, d->kernel_h, run, row_stride, stage);
        return tc_dense_pack_s8(bits, stage, tc_dense_padded(d->kernel_h * run, bits), cols,
                                ncols, which);
    }
    uint32_t corr = 0;
    for (int32_t r = 0; r < d->kernel_h; ++r) { /* every run a whole number of groups */
        corr += tc_dense_pack_s8(bits, x + r * row_stride, run, cols + 2 * r * run * ncols, ncols,
                                 which);
    }
    return corr;
}

/* Rows too long for the blocked product: the row engine at every output pixel, on the
   input in place or, for a window reaching into the padding, on its gathered patch. With
   a post-op, each pixel's sums go to `sums` first. */
static TC_INLINE void rows_each_pixel(const tc_conv_dims *d, const tc_quant_params *q,
                                      const tc_dense_weights *w, const int8_t *input,
                                      int8_t *output, int8_t *stage, const tc_conv_post *post,
                                      int8_t *sums)
{
    const int32_t k = d->kernel_h * d->kernel_w * d->in_c;
    const tc_patch window = {d->kernel_h, d->kernel_w * d->in_c, 1, d->in_w * d->in_c};
    const tc_patch gathered = {1, k, 1, 0};
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        for (int32_t ox = 0; ox < d->out_w; ++ox) {
            const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
            const int32_t at = (oy * d->out_w + ox) * d->out_c;
            int8_t *out = post != NULL ? sums : output + at;
            if (inside(d, y0, x0)) {
                tc_rows_dense_s8(w, q, d->out_c, &window, input + (y0 * d->in_w + x0) * d->in_c,
                                 0, out);
            } else {
                gather_padded(d, input, y0, x0, stage);
                tc_rows_dense_s8(w, q, d->out_c, &gathered, stage, 0, out);
            }
            if (post != NULL) {
                post->store(post, sums, at, d->out_c);
            }
        }
    }
}

/* The kernel; `post` (a constant NULL in tc_conv2d_dense_s8) hands every pair of output
   pixels to a post-op instead of storing them. */
static TC_INLINE tc_status conv_dense(const tc_context *ctx, const tc_conv_dims *dims,
                                      const tc_quant_params *quant, const tc_dense_weights *weights,
                                      const int8_t *input, int8_t *output, const tc_conv_post *post)
{
    if (!tc_dense_ok(weights) || !tc_conv_dims_ok(dims, 0) || !tc_quant_ok(quant) ||
        input == NULL || (output == NULL && post == NULL) ||
        !tc_context_ok(ctx, buffer_size(dims, weights->bits, post != NULL))) {
        return TC_ERR_ARG;
    }
    /* scratch: the requantization table, two columns, the gather area (and a post-op's
       sums), the tail rows */
    const int32_t bits = weights->bits, k = dims->kernel_h * dims->kernel_w * dims->in_c;
    tc_dense_rq *rq = (tc_dense_rq *)ctx->buf;
    uint8_t *cols = (uint8_t *)(rq + dims->out_c);
    int8_t *stage = gather_bytes(dims, bits) > 0
                        ? (int8_t *)(cols + 2 * tc_dense_column_bytes(k, bits)) : NULL;
    uint8_t *tail = tc_dense_tail_bytes(dims->out_c, k, bits) > 0
                        ? cols + 2 * tc_dense_column_bytes(k, bits) +
                              stage_bytes(dims, bits, post != NULL)
                        : NULL;
    int8_t *sums = NULL;
    if (post != NULL) { /* in the gather area, else after it (stage_bytes) */
        const int32_t g = gather_bytes(dims, bits);
        sums = (int8_t *)(cols + 2 * tc_dense_column_bytes(k, bits)) +
               (stage_bytes(dims, bits, 1) == g ? 0 : g);
    }
    if (!tc_dense_exact(k, bits)) {
        if (post != NULL && dims->out_c > 2 * tc_dense_column_bytes(k, bits)) {
            return TC_ERR_ARG; /* the columns' bytes stage a pixel's sums there */
        }
        rows_each_pixel(dims, quant, weights, input, output, stage, post, (int8_t *)cols);
        return TC_OK;
    }
    tc_dense_mat m;
    tc_dense_mat_init(&m, weights, dims->out_c, k, tail);
    const int32_t pixels = dims->out_h * dims->out_w, out_c = dims->out_c;
    tc_dense_rq_init(rq, quant, &m);
    for (int32_t i = k; stage != NULL && i < tc_dense_padded(k, bits); ++i) {
        stage[i] = 0; /* gather never writes past the patch */
    }
    int32_t p = 0;
    for (; p + 2 <= pixels; p += 2) {
        const uint32_t c0 = pack_patch(dims, bits, input, p, cols, 2, 0, stage);
        const uint32_t c1 = pack_patch(dims, bits, input, p + 1, cols, 2, 1, stage);
        int8_t *out = post != NULL ? sums : output + p * out_c;
        tc_dense_gemm2_s8(&m, quant, rq, cols, c0, c1, out, out + out_c);
        if (post != NULL) {
            post->store(post, sums, p * out_c, 2 * out_c);
        }
    }
    if (p < pixels) {
        const uint32_t c0 = pack_patch(dims, bits, input, p, cols, 1, 0, stage);
        tc_dense_gemm1_s8(&m, quant, cols, c0, post != NULL ? sums : output + p * out_c);
        if (post != NULL) {
            post->store(post, sums, p * out_c, out_c);
        }
    }
    return TC_OK;
}

tc_status tc_conv2d_dense_s8(const tc_context *ctx, const tc_conv_dims *dims,
                             const tc_quant_params *quant, const tc_dense_weights *weights,
                             const int8_t *input, int8_t *output)
{
    return conv_dense(ctx, dims, quant, weights, input, output, NULL);
}

#if TC_CONV_DENSE_POST
tc_status tc_conv2d_dense_post_s8(const tc_context *ctx, const tc_conv_dims *dims,
                                  const tc_quant_params *quant, const tc_dense_weights *weights,
                                  const int8_t *input, const tc_conv_post *post)
{
    return post == NULL ? TC_ERR_ARG
                        : conv_dense(ctx, dims, quant, weights, input, NULL, post);
}
#endif
