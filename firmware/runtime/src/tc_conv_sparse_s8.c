/**
 * @file tc_conv_sparse_s8.c
 * @brief The sparse convolution engine: each output channel's weights decoded
 *        once per call, then swept over every output pixel.
 *
 * Per channel the decoder lists the non-zero weights as (input offset,
 * level) pairs (tc_sparse_entry); a pixel whose window lies inside the input
 * is the loop acc += lv * window[off] over the list, four pixels at a time
 * sharing each pair's load (one LDRD), over a rectangle of pixels as one line.
 * A layer whose windows never reach into the padding is only that (PLAIN).
 * Otherwise, with the scratch tc_conv_sparse_buffer_bytes asks for, one of two
 * ways, the one needing less:
 *   COPY: the input is copied once per call with its padding (pad_value
 *         around it, as far as the windows reach), and every pixel is then
 *         inside the copy: PLAIN on the copy, offsets widened to its rows.
 *   TAPS: the list is sorted by tap twice (stable counting sorts): A in
 *         (ky, kx) order and B in (kx, ky) order, with where each tap's
 *         entries start and the sum of the levels before it. The taps of a
 *         window inside the input are then one range of A for a pixel padded
 *         only in height (kernel rows ky0 .. ky1-1), one range of B for a
 *         pixel padded only in width, one range of A per kernel row for a
 *         corner; each such pixel starts from bias + pad_value times the
 *         levels outside its ranges.
 * With less scratch (down to the list alone, tc_conv_sparse_min_buffer_bytes:
 * the planner gives that to a layer at the arena's peak when the build asks for
 * size), RECT: the output is cut into rectangles whose pixels have the same
 * taps inside the input (along each axis, every output index before the first
 * window inside the input and after the last is a run of its own, the indices
 * between one run); for a rectangle whose taps are kernel rows ky0 .. ky1-1 and
 * columns kx0 .. kx1-1 the list is partitioned in place (the rows' taps first,
 * then within them the columns') and the pixels run over its first m entries from
 * bias + pad_value times the levels left out. Slower than COPY or TAPS on small
 * maps with large kernels (a 5 x 5 'same' layer has 25 rectangles a channel), so a
 * conv2d channel whose list leaves room after its n entries for a band of padded
 * input rows (at least kernel_h rows of the copy's width) takes BANDS instead:
 * output rows a band at a time, each band's rows copied with their padding into
 * that room (the padding columns written once per channel), the offsets widened to
 * the band's rows, then PLAIN on the band. Its speed is then COPY's plus the bands'
 * copies, at RECT's scratch.
 * Every channel is swept reading and writing only its own channel; in raster
 * order except in RECT (a depthwise output may overlap its input only in raster
 * order, tc_dwconv2d.h).
 *
 * Scratch (tc_conv_sparse_buffer_bytes): the list, K entries of 8 bytes; COPY
 * adds the padded copy, TAPS the list A and four int32 arrays of T + 2
 * (T = kernel_h * kernel_w: the starts and sums of A and B; the list is B).
 */
#include <string.h>

#include "tc_conv_sparse_internal.h"
#include "tc_dwconv2d.h"
#include "tc_simd.h"

enum { PLAIN, COPY, TAPS, RECT };

static int32_t cols_of(const tc_conv_dims *d, int depthwise)
{
    return d->kernel_h * d->kernel_w * (depthwise ? 1 : d->in_c);
}

/* Rows and columns of input (padding included) the windows cover. */
static int32_t span_h(const tc_conv_dims *d)
{
    return (d->out_h - 1) * d->stride_h + d->kernel_h;
}

static int32_t span_w(const tc_conv_dims *d)
{
    return (d->out_w - 1) * d->stride_w + d->kernel_w;
}

static int32_t copy_bytes(const tc_conv_dims *d)
{
    return (span_h(d) * span_w(d) * d->in_c + 3) / 4 * 4;
}

static int32_t list_bytes(const tc_conv_dims *d, int depthwise)
{
    return (int32_t)sizeof(tc_sparse_entry) * cols_of(d, depthwise);
}

static int32_t taps_bytes(const tc_conv_dims *d, int depthwise)
{
    return list_bytes(d, depthwise) + 16 * (d->kernel_h * d->kernel_w + 2);
}

/* Which padded-layer modes are compiled (codegen sets only those the model's layers
   take): bit 0 COPY and TAPS, bit 1 RECT. */
#ifndef TC_SPARSE_MODES
#define TC_SPARSE_MODES 0x3
#endif

/* Scratch of COPY or TAPS, whichever needs less (a padded layer). */
static int32_t full_bytes(const tc_conv_dims *d, int depthwise)
{
    const int32_t copy = copy_bytes(d), taps = taps_bytes(d, depthwise);
    return list_bytes(d, depthwise) + (copy <= taps ? copy : taps);
}

/* The mode a layer takes with `size` bytes of scratch: PLAIN unpadded; padded, COPY or
   TAPS (whichever needs less) when compiled and given their scratch, else RECT. */
static int mode_of(const tc_conv_dims *d, int depthwise, int32_t size)
{
    if (!tc_conv_padded(d)) {
        return PLAIN;
    }
    if (!(TC_SPARSE_MODES & 1) || size < full_bytes(d, depthwise)) {
        return RECT;
    }
    return copy_bytes(d) <= taps_bytes(d, depthwise) ? COPY : TAPS;
}

int32_t tc_conv_sparse_buffer_bytes(const tc_conv_dims *d, int depthwise)
{
    if (d == NULL || d->kernel_h < 1 || d->kernel_w < 1 || d->in_c < 1) {
        return 0;
    }
    return tc_conv_padded(d) ? full_bytes(d, depthwise) : list_bytes(d, depthwise);
}

int32_t tc_conv_sparse_min_buffer_bytes(const tc_conv_dims *d, int depthwise)
{
    if (d == NULL || d->kernel_h < 1 || d->kernel_w < 1 || d->in_c < 1) {
        return 0;
    }
    return list_bytes(d, depthwise);
}

int32_t tc_conv2d_sparse_s8_buffer_size(const tc_conv_dims *dims)
{
    return tc_conv_sparse_buffer_bytes(dims, 0);
}

int32_t tc_dwconv2d_sparse_s8_buffer_size(const tc_conv_dims *dims)
{
    return tc_conv_sparse_buffer_bytes(dims, 1);
}

/* ---- output stage ---- */

/* Channel r's output stage, tc_out_row bit for bit, its constants read once per channel
   (an int8 store may alias anything, so tc_out_row's loads would be redone per pixel).
   With shift <= -2 (every real layer), ((hi >> k) + 1) >> 1 (tc_out_row) equals
   (hi + 2^k) >> (k + 1), floor of a floor by powers of two; |hi| < 2^30 and k <= 29, so
   hi + 2^k fits: one SMMLA and a shift. */
typedef struct {
    int32_t m, shift, rnd, sh, z, lo, hi;
    int32_t fast; /* the short form, and act_min, act_max = -128, 127 (one SSAT) */
} chan_rq;

static chan_rq chan_rq_of(const tc_out_params *o, int32_t r)
{
    const int32_t i = r & o->mask, shift = o->shift[i], k = -2 - shift;
    const int32_t short_form = !TC_REQUANT_TFLITE && shift <= -2;
    const chan_rq c = {o->m[i], shift, short_form ? (int32_t)1 << k : 0, k + 1, o->z_out,
                       o->act_min, o->act_max,
                       short_form && o->act_min == -128 && o->act_max == 127};
    return c;
}

/* tc_requantize(acc) + z_out, out of line: shift > -2, or TFLite's rounding. */
static TC_NOINLINE int32_t requant_long(const chan_rq *c, int32_t acc)
{
    return tc_requantize(acc, c->m, c->shift) + c->z;
}

/* `fast` is a constant where inlined in the pixel loops (built once for each). */
static TC_ALWAYS_INLINE inline int8_t out_px(const chan_rq *c, int32_t acc, const int fast)
{
    if (fast) {
        return (int8_t)tc_sat8((tc_mulhi_add(acc, c->m, c->rnd) >> c->sh) + c->z);
    }
    int32_t v;
    if (c->rnd != 0) {
        v = (tc_mulhi_add(acc, c->m, c->rnd) >> c->sh) + c->z;
    } else {
        v = requant_long(c, acc);
    }
    v = v < c->lo ? c->lo : v;
    return (int8_t)(v > c->hi ? c->hi : v);
}

/* ---- lines of pixels ---- */

/* Pixels in raster order along `cols`-pixel rows: window origins b, b + s, ... and,
   after every cols pixels, `skip` further; outputs o, o + os, ... Each is bias + sum
   lv * window[off] over the entries e .. end-1. */
typedef struct {
    const tc_sparse_entry *e, *end;
    int32_t s, os, bias;
    int32_t cols, skip; /* cols > the pixels of the line: no wrap */
    const chan_rq *c;
} line_args;

/* The window origin of the next pixel: b, then b advanced. */
static TC_ALWAYS_INLINE inline const int8_t *next_px(const int8_t **b, int32_t *left,
                                                      const line_args *a)
{
    const int8_t *p = *b;
    *b += a->s;
    if (--*left == 0) {
        *left = a->cols;
        *b += a->skip;
    }
    return p;
}

static TC_ALWAYS_INLINE inline void line(const line_args *a, const int8_t *b, int8_t *o,
                                         int32_t n, const int fast)
{
    const tc_sparse_entry *const e0 = a->e, *const end = a->end;
    const int32_t s = a->s, os = a->os, bias = a->bias;
    chan_rq local;
    const chan_rq *cp = a->c;
    if (fast) { /* a local copy: the output stores cannot alias it (the other form, rare,
                   reads it where it is: a smaller frame) */
        local = *a->c;
        cp = &local;
    }
    int32_t left = a->cols;  /* pixels left in the row */
    for (; n >= 4; n -= 4) {
        const int8_t *b0, *b1, *b2, *b3;
        if (left > 4) {
            b0 = b;
            b1 = b0 + s;
            b2 = b1 + s;
            b3 = b2 + s;
            b = b3 + s;
            left -= 4;
        } else {
            b0 = next_px(&b, &left, a);
            b1 = next_px(&b, &left, a);
            b2 = next_px(&b, &left, a);
            b3 = next_px(&b, &left, a);
        }
        int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        for (const tc_sparse_entry *e = e0; e < end; ++e) {
            const int32_t off = e->off, w = e->lv;
            a0 += w * b0[off];
            a1 += w * b1[off];
            a2 += w * b2[off];
            a3 += w * b3[off];
        }
        o[0] = out_px(cp, a0, fast);
        o += os;
        o[0] = out_px(cp, a1, fast);
        o += os;
        o[0] = out_px(cp, a2, fast);
        o += os;
        o[0] = out_px(cp, a3, fast);
        o += os;
    }
    if (fast && n >= 2) { /* (the rare other output stage keeps its code small) */
        const int8_t *b0 = next_px(&b, &left, a), *b1 = next_px(&b, &left, a);
        int32_t a0 = bias, a1 = bias;
        for (const tc_sparse_entry *e = e0; e < end; ++e) {
            const int32_t off = e->off, w = e->lv;
            a0 += w * b0[off];
            a1 += w * b1[off];
        }
        o[0] = out_px(cp, a0, fast);
        o[os] = out_px(cp, a1, fast);
        n -= 2;
        o += 2 * os;
    }
    for (; n > 0; --n, o += os) {
        const int8_t *b0 = next_px(&b, &left, a);
        int32_t a0 = bias;
        for (const tc_sparse_entry *e = e0; e < end; ++e) {
            a0 += e->lv * b0[e->off];
        }
        o[0] = out_px(cp, a0, fast);
    }
}

static void line_fast(const line_args *a, const int8_t *b, int8_t *o, int32_t n)
{
    line(a, b, o, n, 1);
}

static void line_any(const line_args *a, const int8_t *b, int8_t *o, int32_t n)
{
    line(a, b, o, n, 0);
}

static void run_line(const line_args *a, const int8_t *b, int8_t *o, int32_t n)
{
    if (a->c->fast) {
        line_fast(a, b, o, n);
    } else {
        line_any(a, b, o, n);
    }
}

/* ---- geometry of the padding ---- */

static inline int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Output indices [*lo, *hi) along an axis whose windows lie inside the input. */
static inline void inner_range(int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t out,
                        int32_t *lo, int32_t *hi)
{
    const int32_t room = in - k + pad; /* last inside origin + pad */
    const int32_t h = room < 0 ? 0 : room / stride + 1;
    *hi = h < out ? h : out;
    const int32_t l = (pad + stride - 1) / stride;
    *lo = l < *hi ? l : *hi;
}

#if TC_SPARSE_MODES & 1

/* ---- sorting by tap (TAPS) ---- */

/* A list sorted by tap: tap t's entries are e[start[t] .. start[t+1]), the sum of the
   levels of the taps before t is sum[t]. */
typedef struct {
    tc_sparse_entry *e;
    int32_t *start, *sum;
} tap_list;

/* Stable counting sort of src[0 .. n) into l by tap, (ky, kx) order (kx_major 0) or
   (kx, ky) order. start and sum have T + 2 entries. */
static void sort_taps(const tc_conv_dims *d, int kx_major, const tc_sparse_entry *src,
                      int32_t n, const tap_list *l)
{
    const uint32_t rs = (uint32_t)(d->in_w * d->in_c), ic = (uint32_t)d->in_c;
    const uint32_t kh = (uint32_t)d->kernel_h, kw = (uint32_t)d->kernel_w;
    const int32_t taps = d->kernel_h * d->kernel_w;
    int32_t *start = l->start, *sum = l->sum;
    for (int32_t t = 0; t < taps + 2; ++t) {
        start[t] = 0;
        sum[t] = 0;
    }
    for (int pass = 0; pass < 2; ++pass) {
        for (int32_t j = 0; j < n; ++j) {
            const uint32_t off = (uint32_t)src[j].off, ky = off / rs;
            const uint32_t kx = (off - ky * rs) / ic;
            const uint32_t key = kx_major ? kx * kh + ky : ky * kw + kx;
            if (pass == 0) {
                ++start[key + 2];
                sum[key + 1] += src[j].lv;
            } else {
                l->e[start[key + 1]++] = src[j];
            }
        }
        if (pass == 0) {
            for (int32_t t = 1; t < taps + 2; ++t) { /* start[t + 1]: where tap t begins */
                start[t] += start[t - 1];
                sum[t] += sum[t - 1];
            }
        }
    }
}

static TC_ALWAYS_INLINE inline int32_t dot1(const tc_sparse_entry *e,
                                            const tc_sparse_entry *end, const int8_t *b,
                                            int32_t acc)
{
    for (; e < end; ++e) {
        acc += e->lv * b[e->off];
    }
    return acc;
}

/* One channel's TAPS lists and the layer's geometry. */
typedef struct {
    const tc_conv_dims *d;
    int32_t lo, hi;      /* output columns whose windows lie inside the input's width */
    int32_t top, bottom; /* output rows whose windows lie inside its height */
    tap_list a, b;
    int32_t n;
    int32_t level_sum;
} taps_chan;

/* A pixel padded in width (window origin x + (y0, x0)): one range of B when its rows
   are inside, else a range of A per kernel row inside. */
static int32_t edge_px(const taps_chan *t, const int8_t *x, int32_t y0, int32_t x0, int inside,
                       int32_t bias)
{
    const tc_conv_dims *d = t->d;
    const int32_t kx0 = clip(-x0, 0, d->kernel_w), kx1 = clip(d->in_w - x0, 0, d->kernel_w);
    const int8_t *b = x + (y0 * d->in_w + x0) * d->in_c; /* only b[off] inside is read */
    int32_t acc = bias + d->pad_value * t->level_sum;
    if (inside) {
        const int32_t t0 = kx0 * d->kernel_h, t1 = kx1 * d->kernel_h;
        acc -= d->pad_value * (t->b.sum[t1] - t->b.sum[t0]);
        return dot1(t->b.e + t->b.start[t0], t->b.e + t->b.start[t1], b, acc);
    }
    const int32_t ky0 = clip(-y0, 0, d->kernel_h), ky1 = clip(d->in_h - y0, 0, d->kernel_h);
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const int32_t t0 = ky * d->kernel_w + kx0, t1 = ky * d->kernel_w + kx1;
        acc -= d->pad_value * (t->a.sum[t1] - t->a.sum[t0]);
        acc = dot1(t->a.e + t->a.start[t0], t->a.e + t->a.start[t1], b, acc);
    }
    return acc;
}

static void edge_cols(const taps_chan *t, const int8_t *x, int8_t *orow, int32_t oc,
                      int32_t y0, int inside, int32_t c0, int32_t c1, int32_t bias,
                      const chan_rq *c)
{
    const tc_conv_dims *d = t->d;
    for (int32_t ox = c0; ox < c1; ++ox) {
        const int32_t acc = edge_px(t, x, y0, ox * d->stride_w - d->pad_left, inside, bias);
        orow[ox * oc] = out_px(c, acc, 0);
    }
}

static TC_NOINLINE void sweep_taps(const taps_chan *t, const int8_t *x, int8_t *out,
                                   int32_t bias, const chan_rq *c)
{
    const tc_conv_dims *d = t->d;
    const int32_t oc = d->out_c, row_out = d->out_w * oc;
    line_args a = {t->a.e, t->a.e + t->n, d->stride_w * d->in_c, oc, bias, INT32_MAX, 0, c};
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int32_t y0 = oy * d->stride_h - d->pad_top;
        const int inside = oy >= t->top && oy < t->bottom;
        int8_t *orow = out + oy * row_out;
        edge_cols(t, x, orow, oc, y0, inside, 0, t->lo, bias, c);
        /* the columns inside the width: every tap, or kernel rows ky0 .. ky1-1 */
        const int32_t ky0 = inside ? 0 : clip(-y0, 0, d->kernel_h);
        const int32_t ky1 = inside ? d->kernel_h : clip(d->in_h - y0, 0, d->kernel_h);
        const int32_t t0 = ky0 * d->kernel_w, t1 = ky1 * d->kernel_w;
        a.e = t->a.e + t->a.start[t0];
        a.end = t->a.e + t->a.start[t1];
        a.bias = bias + d->pad_value * (t->level_sum - (t->a.sum[t1] - t->a.sum[t0]));
        const int8_t *b = x + (y0 * d->in_w + t->lo * d->stride_w - d->pad_left) * d->in_c;
        run_line(&a, b, orow + t->lo * oc, t->hi - t->lo);
        edge_cols(t, x, orow, oc, y0, inside, t->hi, d->out_w, bias, c);
    }
}

#endif /* TC_SPARSE_MODES & 1 */

#if TC_SPARSE_MODES & 2

/* ---- BANDS (conv2d channels whose list leaves room, else RECT) ---- */

#if TC_SPARSE_MODES == 2 /* the only padded mode: inlined into the run, a smaller stack */
#define TC_RECTS_INLINE TC_ALWAYS_INLINE inline
#else
#define TC_RECTS_INLINE TC_NOINLINE
#endif

/* Bytes [0, n) of src to dst, a word at a time where it can (unaligned words: the
   compiler splits them on cores without unaligned access). */
static TC_ALWAYS_INLINE inline void copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        uint32_t v;
        memcpy(&v, src, 4);
        memcpy(dst, &v, 4);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

/* BANDS for channel r of a conv2d (module docstring): `room` bytes at `band` after the n
   entries of list. Returns 0, having done nothing, when room holds fewer than kernel_h
   rows of the padded width; else sweeps the channel and returns 1. */
static TC_RECTS_INLINE int sweep_bands(const tc_conv_dims *d, tc_sparse_entry *list, int32_t n,
                                       int8_t *band, int32_t room, const int8_t *x, int8_t *out,
                                       int32_t bias, const chan_rq *c)
{
    const int32_t ic = d->in_c, rs = d->in_w * ic, w = span_w(d) * ic, fit = room / w;
    if (fit < d->kernel_h) {
        return 0;
    }
    const int32_t step = (fit - d->kernel_h) / d->stride_h + 1; /* output rows a band */
    const int32_t left = d->pad_left * ic, mid = rs < w - left ? rs : w - left;
    const int32_t s = d->stride_w * ic, row_out = d->out_w * d->out_c;
    const int32_t most = (step - 1) * d->stride_h + d->kernel_h; /* rows of a full band */
    for (int32_t j = 0; j < n; ++j) {
        const uint32_t off = (uint32_t)list[j].off;
        list[j].off = (int32_t)(off + off / (uint32_t)rs * (uint32_t)(w - rs));
    }
    memset(band, d->pad_value, (size_t)(most * w)); /* the padding columns, kept */
    const line_args a = {list, list + n, s, d->out_c, bias, d->out_w,
                         d->stride_h * w - d->out_w * s, c};
    for (int32_t oy = 0; oy < d->out_h; oy += step) {
        const int32_t rows = d->out_h - oy < step ? d->out_h - oy : step;
        const int32_t y0 = oy * d->stride_h - d->pad_top;
        int8_t *dst = band + left;
        for (int32_t y = y0; y < y0 + (rows - 1) * d->stride_h + d->kernel_h; ++y, dst += w) {
            if (y < 0 || y >= d->in_h) {
                memset(dst, d->pad_value, (size_t)mid);
            } else {
                copy_run(dst, x + y * rs, mid);
            }
        }
        run_line(&a, band, out + oy * row_out, rows * d->out_w);
    }
    return 1;
}

/* ---- RECT ---- */

/* Moves the entries e[0 .. n) whose tap (ky = off / rs, kx = off % rs / in_c) has
   (row ? ky : kx) in [k0, k1) to the front; returns how many, their levels' sum in *sum. */
static int32_t keep_taps(tc_sparse_entry *e, int32_t n, uint32_t rs, uint32_t ic, int row,
                         uint32_t k0, uint32_t k1, int32_t *sum)
{
    int32_t m = 0, total = 0;
    for (int32_t j = 0; j < n; ++j) {
        const uint32_t off = (uint32_t)e[j].off, ky = off / rs;
        const uint32_t k = row ? ky : (off - ky * rs) / ic;
        if (k - k0 < k1 - k0) {
            const tc_sparse_entry t = e[j];
            e[j] = e[m];
            e[m] = t;
            total += t.lv;
            ++m;
        }
    }
    *sum = total;
    return m;
}

/* RECT: channel r's output (out + r, x + r for depthwise), n entries in list, rectangle
   by rectangle (module docstring), each rectangle one line per row or per column,
   whichever are fewer. */
static TC_RECTS_INLINE void sweep_rects(const tc_conv_dims *d, tc_sparse_entry *list, int32_t n,
                                    const int8_t *x, int8_t *out, int32_t bias, const chan_rq *c)
{
    const int32_t ic = d->in_c, rs = d->in_w * ic, kh = d->kernel_h, kw = d->kernel_w;
    int32_t level_sum = 0, ylo, yhi, xlo, xhi;
    for (int32_t j = 0; j < n; ++j) {
        level_sum += list[j].lv;
    }
    inner_range(d->in_h, kh, d->stride_h, d->pad_top, d->out_h, &ylo, &yhi);
    inner_range(d->in_w, kw, d->stride_w, d->pad_left, d->out_w, &xlo, &xhi);
    line_args a = {list, list, d->stride_w * ic, d->out_c, bias, INT32_MAX, 0, c};
    for (int32_t y = 0, y1; y < d->out_h; y = y1) { /* runs of rows with the same taps */
        const int32_t py = y * d->stride_h - d->pad_top, rows_in = y >= ylo && y < yhi;
        int32_t row_sum = level_sum, m = n;
        y1 = rows_in ? yhi : y + 1;
        if (!rows_in) {
            m = keep_taps(list, n, (uint32_t)rs, (uint32_t)ic, 1, (uint32_t)clip(-py, 0, kh),
                          (uint32_t)clip(d->in_h - py, 0, kh), &row_sum);
        }
        for (int32_t xo = 0, x1; xo < d->out_w; xo = x1) { /* and of columns */
            const int32_t px = xo * d->stride_w - d->pad_left, cols_in = xo >= xlo && xo < xhi;
            int32_t sum = row_sum, k = m;
            x1 = cols_in ? xhi : xo + 1;
            if (!cols_in) {
                k = keep_taps(list, m, (uint32_t)rs, (uint32_t)ic, 0, (uint32_t)clip(-px, 0, kw),
                              (uint32_t)clip(d->in_w - px, 0, kw), &sum);
            }
            a.end = list + k;
            a.bias = bias + d->pad_value * (level_sum - sum);
            /* lines along the longer side: rows, or columns (a pixel's step one row down) */
            const int32_t rows = y1 - y, cols = x1 - xo;
            const int8_t *b = x + (py * d->in_w + px) * ic; /* only b[off] inside is read */
            int8_t *o = out + (y * d->out_w + xo) * d->out_c;
            int32_t lines = rows, len = cols, bstep = d->stride_h * rs, ostep = d->out_w * d->out_c;
            a.s = d->stride_w * ic;
            a.os = d->out_c;
            if (rows > cols) {
                lines = cols, len = rows;
                a.s = bstep, a.os = ostep;
                bstep = d->stride_w * ic, ostep = d->out_c;
            }
            for (; lines > 0; --lines, b += bstep, o += ostep) {
                run_line(&a, b, o, len);
            }
        }
    }
}

#endif /* TC_SPARSE_MODES & 2 */

/* ---- PLAIN and COPY ---- */

/* Every pixel's window inside x, whose rows are `width` pixels wide: one line (that
   never wraps when each row's windows follow the last's, as for 1 x 1 kernels). */
static void sweep_plain(const tc_conv_dims *d, int32_t width, const tc_sparse_entry *e,
                        int32_t n, const int8_t *x, int8_t *out, int32_t bias, const chan_rq *c)
{
    const int32_t s = d->stride_w * d->in_c;
    const int32_t skip = d->stride_h * width * d->in_c - d->out_w * s;
    const int32_t cols = skip != 0 ? d->out_w : INT32_MAX;
    const line_args a = {e, e + n, s, d->out_c, bias, cols, skip, c};
    run_line(&a, x, out, d->out_h * d->out_w);
}

#if TC_SPARSE_MODES & 1
/* The input with its padding, rows -pad_top .. span_h - pad_top - 1, columns likewise. */
static TC_NOINLINE void pad_copy(const tc_conv_dims *d, const int8_t *x, int8_t *xp)
{
    const int32_t ic = d->in_c, width = span_w(d) * ic, left = d->pad_left * ic;
    const int32_t room = (d->in_w - 0) * ic, mid = room < width - left ? room : width - left;
    for (int32_t py = 0; py < span_h(d); ++py, xp += width) {
        const int32_t y = py - d->pad_top;
        if (y < 0 || y >= d->in_h) {
            memset(xp, d->pad_value, (size_t)width);
            continue;
        }
        memset(xp, d->pad_value, (size_t)left);
        memcpy(xp + left, x + y * d->in_w * ic, (size_t)mid);
        memset(xp + left + mid, d->pad_value, (size_t)(width - left - mid));
    }
}
#endif

/* Every pixel of a channel without weights: out_px(bias). */
static void fill(const tc_conv_dims *d, int8_t *out, int8_t v)
{
    for (int32_t p = d->out_h * d->out_w; p > 0; --p, out += d->out_c) {
        *out = v;
    }
}

tc_status tc_conv_sparse_run(const tc_context *ctx, const tc_conv_dims *d,
                             const tc_quant_params *q, int depthwise, tc_sparse_decode_fn dec,
                             void *state, const int8_t *input, int8_t *output)
{
    if (!tc_conv_dims_ok(d, depthwise) || !tc_quant_ok(q) || input == NULL || output == NULL ||
        !tc_context_ok(ctx, tc_conv_sparse_min_buffer_bytes(d, depthwise))) {
        return TC_ERR_ARG;
    }
    const int32_t k = cols_of(d, depthwise), taps = d->kernel_h * d->kernel_w;
    const int mode = mode_of(d, depthwise, ctx->size);
    if (mode == RECT && !(TC_SPARSE_MODES & 2)) {
        return TC_ERR_ARG; /* too little scratch for the modes compiled */
    }
    tc_sparse_entry *list = (tc_sparse_entry *)ctx->buf;
    tc_sparse_geom g = {d->kernel_h, d->kernel_w, depthwise ? 1 : d->in_c, d->in_c,
                        d->in_w * d->in_c, k, 0};
    int32_t width = d->in_w;
#if TC_SPARSE_MODES & 1
    taps_chan t;
    t.d = d;
    if (mode == COPY) {
        width = span_w(d);
        g.row_extra = (width - d->in_w) * d->in_c;
        pad_copy(d, input, (int8_t *)(list + k));
        input = (const int8_t *)(list + k);
    } else if (mode == TAPS) {
        inner_range(d->in_w, d->kernel_w, d->stride_w, d->pad_left, d->out_w, &t.lo, &t.hi);
        inner_range(d->in_h, d->kernel_h, d->stride_h, d->pad_top, d->out_h, &t.top,
                    &t.bottom);
        int32_t *arrays = (int32_t *)(list + 2 * k);
        const tap_list a = {list + k, arrays, arrays + taps + 2};
        const tap_list b = {list, arrays + 2 * (taps + 2), arrays + 3 * (taps + 2)};
        t.a = a;
        t.b = b;
    }
#else
    (void)taps;
#endif
    const tc_out_params o = tc_out_params_of(q);
    for (int32_t r = 0; r < d->out_c; ++r) {
        const int32_t n = dec(state, r, &g, list);
        if (n < 0) {
            return TC_ERR_ARG;
        }
        const chan_rq c = chan_rq_of(&o, r);
        const int32_t bias = tc_bias(q, r);
        const int8_t *x = depthwise ? input + r : input;
        if (n == 0) { /* every tap, padded or not, contributes 0 */
            fill(d, output + r, out_px(&c, bias, 0));
        } else if (mode == PLAIN || mode == COPY) {
            sweep_plain(d, width, list, n, x, output + r, bias, &c);
        }
#if TC_SPARSE_MODES & 2
        else if (mode == RECT) {
            if (depthwise || !sweep_bands(d, list, n, (int8_t *)(list + n),
                                          ctx->size - n * (int32_t)sizeof(tc_sparse_entry),
                                          x, output + r, bias, &c)) {
                sweep_rects(d, list, n, x, output + r, bias, &c);
            }
        }
#endif
#if TC_SPARSE_MODES & 1
        else {
            t.n = n;
            sort_taps(d, 0, list, n, &t.a);
            if (t.lo > 0 || t.hi < d->out_w) { /* some pixel padded in width: B */
                sort_taps(d, 1, t.a.e, n, &t.b);
            }
            t.level_sum = t.a.sum[taps];
            sweep_taps(&t, x, output + r, bias, &c);
        }
#endif
    }
    return TC_OK;
}
