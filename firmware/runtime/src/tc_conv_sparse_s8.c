/**
 * @file tc_conv_sparse_s8.c
 * @brief The sparse convolution engine: each output channel's weights decoded
 *        once per call, then swept over every output pixel.
 *
 * Scratch (tc_conv_sparse_buffer_bytes): off[K] int32 input offsets and lv[K]
 * int8 levels of the row's non-zero weights in column order, tap[T+1] int32
 * where each of the T = kernel_h * kernel_w taps' entries start, and the
 * decoded row wrow[K]. For every output row whose windows lie inside the
 * input in height, the columns whose windows lie inside in width are the
 * interior: two pixels at a time share each (offset, level) load. A border
 * pixel starts from pad_value times the row's level sum (every tap padded)
 * and adds (x - pad_value) times the levels of the taps inside the input:
 * the entries of taps kx0 .. kx1-1 of a kernel row are contiguous, so each
 * kernel row inside the input is one loop.
 */
#include "tc_conv_sparse_internal.h"
#include "tc_dwconv2d.h"

/* Bytes of each scratch part; K columns, T taps. */
static int32_t cols_of(const tc_conv_dims *d, int depthwise)
{
    return d->kernel_h * d->kernel_w * (depthwise ? 1 : d->in_c);
}

int32_t tc_conv_sparse_buffer_bytes(const tc_conv_dims *d, int depthwise)
{
    if (d == NULL || d->kernel_h < 1 || d->kernel_w < 1 || d->in_c < 1) {
        return 0;
    }
    const int32_t k = cols_of(d, depthwise), taps = d->kernel_h * d->kernel_w;
    return 4 * k + 4 * (taps + 1) + (2 * k + 3) / 4 * 4;
}

int32_t tc_conv2d_sparse_s8_buffer_size(const tc_conv_dims *dims)
{
    return tc_conv_sparse_buffer_bytes(dims, 0);
}

int32_t tc_dwconv2d_sparse_s8_buffer_size(const tc_conv_dims *dims)
{
    return tc_conv_sparse_buffer_bytes(dims, 1);
}

/* One decoded row: n entries, tap t's at [tap[t], tap[t+1]). */
typedef struct {
    const int32_t *off;
    const int8_t *lv;
    const int32_t *tap;
    int32_t n;
    int32_t pad_sum; /* pad_value * the sum of the row's levels */
} row_list;

/* List the non-zero levels of wrow with their input offsets, tap by tap. */
static int32_t compact(const tc_conv_dims *d, int32_t cpt, const int8_t *wrow, int32_t *off,
                       int8_t *lv, int32_t *tap)
{
    int32_t n = 0, c = 0, t = 0;
    for (int32_t ky = 0; ky < d->kernel_h; ++ky) {
        for (int32_t kx = 0; kx < d->kernel_w; ++kx, ++t) {
            tap[t] = n;
            const int32_t base = (ky * d->in_w + kx) * d->in_c;
            for (int32_t ci = 0; ci < cpt; ++ci, ++c) {
                if (wrow[c] != 0) {
                    off[n] = base + ci;
                    lv[n] = wrow[c];
                    ++n;
                }
            }
        }
    }
    tap[t] = n;
    return n;
}

/* acc0 + the row at b0, acc1 + the row at b1 (two interior pixels). */
static TC_ALWAYS_INLINE inline void dot2(const row_list *l, const int8_t *b0, const int8_t *b1,
                                         int32_t *acc0, int32_t *acc1)
{
    const int32_t *off = l->off, *const end = l->off + l->n;
    const int8_t *lv = l->lv;
    int32_t a0 = *acc0, a1 = *acc1;
    for (; end - off >= 2; off += 2, lv += 2) {
        const int32_t o0 = off[0], o1 = off[1], w0 = lv[0], w1 = lv[1];
        a0 += w0 * b0[o0];
        a1 += w0 * b1[o0];
        a0 += w1 * b0[o1];
        a1 += w1 * b1[o1];
    }
    if (off < end) {
        a0 += lv[0] * b0[off[0]];
        a1 += lv[0] * b1[off[0]];
    }
    *acc0 = a0;
    *acc1 = a1;
}

static inline int32_t dot1(const row_list *l, const int8_t *b, int32_t acc)
{
    for (int32_t j = 0; j < l->n; ++j) {
        acc += l->lv[j] * b[l->off[j]];
    }
    return acc;
}

/* Channel r's output stage, tc_out_row bit for bit, its constants read once per channel
   (an int8 store may alias anything, so tc_out_row's loads would be redone per pixel). */
typedef struct {
    int32_t m, shift, k, z, lo, hi;
} chan_rq;

static inline chan_rq chan_rq_of(const tc_out_params *o, int32_t r)
{
    const int32_t i = r & o->mask;
    const chan_rq c = {o->m[i], o->shift[i], -2 - o->shift[i], o->z_out, o->act_min, o->act_max};
    return c;
}

static TC_ALWAYS_INLINE inline int8_t out_chan(const chan_rq c, int32_t acc)
{
    int32_t v;
    if (!TC_REQUANT_TFLITE && c.shift <= -2) { /* tc_out_row's short path */
        const int32_t hi = (int32_t)(((int64_t)acc * c.m) >> 32);
        v = (((hi >> c.k) + 1) >> 1) + c.z;
    } else {
        v = tc_requantize(acc, c.m, c.shift) + c.z;
    }
    v = v < c.lo ? c.lo : v;
    return (int8_t)(v > c.hi ? c.hi : v);
}

static inline int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* A pixel whose window (top-left input pixel y0, x0) reaches into the padding: every
   tap reads pad_value (pad_sum), plus (x - pad_value) times the levels of the taps
   inside the input, which are visited alone. */
static int32_t border(const tc_conv_dims *d, const row_list *l, const int8_t *x, int32_t y0,
                      int32_t x0, int32_t acc)
{
    const int32_t ky0 = clip(-y0, 0, d->kernel_h), ky1 = clip(d->in_h - y0, 0, d->kernel_h);
    const int32_t kx0 = clip(-x0, 0, d->kernel_w), kx1 = clip(d->in_w - x0, 0, d->kernel_w);
    const int32_t base = (y0 * d->in_w + x0) * d->in_c; /* may be negative: index only inside */
    const int32_t z = d->pad_value;
    const int32_t *off = l->off, *tap = l->tap;
    const int8_t *lv = l->lv;
    acc += l->pad_sum;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const int32_t *t = tap + ky * d->kernel_w;
        for (int32_t j = t[kx0], e = t[kx1]; j < e; ++j) { /* taps kx0 .. kx1-1 are adjacent */
            acc += lv[j] * (x[base + off[j]] - z);
        }
    }
    return acc;
}

/* Output columns [*lo, *hi) whose windows lie inside the input's width. */
static void inner_cols(const tc_conv_dims *d, int32_t *lo, int32_t *hi)
{
    const int32_t room = d->in_w - d->kernel_w + d->pad_left; /* last inside x0 + pad_left */
    const int32_t h = room < 0 ? 0 : room / d->stride_w + 1;
    *hi = h < d->out_w ? h : d->out_w;
    const int32_t l = (d->pad_left + d->stride_w - 1) / d->stride_w;
    *lo = l < *hi ? l : *hi;
}

/* Every output pixel of row r: x is the input (+ r for depthwise), out the output + r. */
static void sweep(const tc_conv_dims *d, const row_list *l, const tc_out_params *o, int32_t r,
                  int32_t bias, const int8_t *x, int8_t *out)
{
    int32_t lo, hi;
    inner_cols(d, &lo, &hi);
    const chan_rq c = chan_rq_of(o, r);
    const int32_t oc = d->out_c, step = d->stride_w * d->in_c;
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int32_t y0 = oy * d->stride_h - d->pad_top;
        int8_t *orow = out + oy * d->out_w * oc;
        const int inside = y0 >= 0 && y0 + d->kernel_h <= d->in_h;
        const int32_t a = inside ? lo : d->out_w, b = inside ? hi : d->out_w;
        for (int32_t ox = 0; ox < a; ++ox) {
            const int32_t acc = border(d, l, x, y0, ox * d->stride_w - d->pad_left, bias);
            orow[ox * oc] = out_chan(c, acc);
        }
        int32_t ox = a;
        if (a < b) { /* the window's top-left input pixel is inside the input */
            const int8_t *b0 = x + (y0 * d->in_w + a * d->stride_w - d->pad_left) * d->in_c;
            for (; ox + 2 <= b; ox += 2, b0 += 2 * step) {
                int32_t acc0 = bias, acc1 = bias;
                dot2(l, b0, b0 + step, &acc0, &acc1);
                orow[ox * oc] = out_chan(c, acc0);
                orow[(ox + 1) * oc] = out_chan(c, acc1);
            }
            if (ox < b) {
                orow[ox * oc] = out_chan(c, dot1(l, b0, bias));
                ++ox;
            }
        }
        for (; ox < d->out_w; ++ox) {
            const int32_t acc = border(d, l, x, y0, ox * d->stride_w - d->pad_left, bias);
            orow[ox * oc] = out_chan(c, acc);
        }
    }
}

tc_status tc_conv_sparse_run(const tc_context *ctx, const tc_conv_dims *d,
                             const tc_quant_params *q, int depthwise, tc_sparse_decode_fn dec,
                             void *state, const int8_t *input, int8_t *output)
{
    if (!tc_conv_dims_ok(d, depthwise) || !tc_quant_ok(q) || input == NULL || output == NULL ||
        !tc_context_ok(ctx, tc_conv_sparse_buffer_bytes(d, depthwise))) {
        return TC_ERR_ARG;
    }
    const int32_t k = cols_of(d, depthwise), taps = d->kernel_h * d->kernel_w;
    const tc_sparse_geom g = {d->kernel_h, d->kernel_w, depthwise ? 1 : d->in_c, d->in_c,
                              d->in_w * d->in_c};
    int32_t *off = (int32_t *)ctx->buf, *tap = off + k;
    int8_t *lv = (int8_t *)(tap + taps + 1), *wrow = lv + k;
    const tc_out_params o = tc_out_params_of(q);
    for (int32_t r = 0; r < d->out_c; ++r) {
        for (int32_t c = 0; c < k; ++c) {
            wrow[c] = 0;
        }
        if (dec(state, r, &g, wrow) != 0) {
            return TC_ERR_ARG;
        }
        int32_t sum = 0;
        for (int32_t c = 0; c < k; ++c) {
            sum += wrow[c];
        }
        const row_list l = {off, lv, tap, compact(d, g.cpt, wrow, off, lv, tap),
                            sum * d->pad_value};
        sweep(d, &l, &o, r, tc_bias(q, r), depthwise ? input + r : input, output + r);
    }
    return TC_OK;
}
