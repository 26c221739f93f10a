/**
 * @file tc_dwconv2d_dense_s8.c
 * @brief tc_dwconv2d_dense_s8: 3 x 3 at strides 1 and 2 four channels at a time over
 *        int16 planes, other kernels in groups of four channels.
 *
 * The weights of a depthwise layer are one row of kernel_h * kernel_w levels
 * per channel (bit-packed below 8 bits).
 *
 * 3 x 3 at stride 1 or 2 (every depthwise layer of MobileNetV1 and DS-CNN):
 * a pass copies the input of four channels as int16 into four planes of the
 * caller's scratch, padding included (layout3: whole channels, transposed when
 * taller than wide so that sweeps are long, or a ring of the rows of a band of
 * output rows when they would not fit TC_DW_PLANE_MAX bytes); with DSP two
 * word loads bring two pixels of the four channels, SXTB16 splits them and
 * PKHBT / PKHTB pair each channel's two values into a word of its plane. Then
 * channel after channel the outputs are swept four at a time along a row. A
 * word load brings two neighbouring columns, so SMLAD sums two taps of one
 * channel: per kernel row one LDRD of its weight pairs (w0, w1) and (w1, w2);
 * at stride 1 three loads and eight MACs do the twelve products of four
 * outputs, at stride 2 (windows two columns apart) output j is SMLAD(pair j,
 * w01) + (pair j+1).lo w2, three loads (two LDRD) and eight MACs (block4,
 * inline assembly, one macro per kernel row; in mode 1 the output stage too).
 * Borders cost nothing extra: their windows read the pad_value columns and
 * rows. A sweep's last three outputs take block3, two block2, one a single
 * sum. Without DSP one channel a pass, its plane as large as the scratch, the
 * same sweeps in plain C (two outputs at a time), stride 2 the four-channel
 * sweep below.
 *
 * Other kernels and strides: for each group of four channels the kernel
 * first unpacks their levels into a block of the caller's scratch, tap by
 * tap (TC_DW_MAX_TAPS taps, at most 8 bytes each), then sweeps every output
 * position: per tap one word load brings the four channels' inputs. With the
 * DSP extension SXTB16 splits the word into two pairs of int16 and
 * SMLABB/SMLATT multiply each by the matching weight of the block, whose
 * words hold the levels of channels (c, c+2) and (c+1, c+3) as int16 pairs:
 * four MACs in nine instructions (three loads, two SXTB16, four MACs). Without
 * DSP the same sweep in plain C, with its own fully unrolled copy for 3 x 3
 * kernels (stride 2). Positions whose window lies inside the input take that
 * path. Those reaching into the padding (tc_conv_dims) cost about as much
 * with the unrolled 3 x 3 sweep: a border column of a row whose
 * window rows are inside starts from a bias planned once per group (plus
 * pad_value times the weights of its taps outside) and sums its taps inside;
 * the inside columns of a top or bottom row start from the bias plus the
 * padded rows' share and sum the window rows inside; a corner gathers its
 * window (pad_value outside) and sums it as an inside one. Other kernels
 * take the taps outside from a word of pad_value.
 *
 * The output stage is tc_requantize_s8, taken (for 33 <= 31 - shift <= 54,
 * every real layer) as one SMMLA and a shift:
 *   floor((acc m + 2^(T-1) + z_out 2^T) / 2^T)
 *     = floor((floor(acc m / 2^32) + 2^(T-33) + z_out 2^(T-32)) / 2^(T-32));
 * with DSP a clamp narrower than int8 (a fused ReLU) is applied to four
 * outputs at once (SSUB8 + SEL).
 * Channels past the last whole group of four, every channel when there are
 * fewer than four, and kernels of more than TC_DW_MAX_TAPS taps are summed one
 * channel at a time. Every pass reads and writes only its own channels, in
 * raster order, and reads an input row before it writes the first output row
 * whose windows reach it (the 3 x 3 path reads whole channels, or the rows of
 * a band of output rows, before writing them), so an output placed a few
 * pixels below its input never overwrites a byte a later pass reads
 * (codegen/overlap.py).
 */
#include "tc_dwconv2d.h"
#include "tc_layouts_internal.h"
#include "tc_simd.h"

#include <stddef.h>

/** Most taps (kernel_h * kernel_w) of the unpacked weight block, 5 x 5. */
#define TC_DW_MAX_TAPS 25

/* Level (r, col) of a dense matrix of `cols` columns (bit stream per row, LSB first). */
static int32_t level(const tc_dense_weights *w, int32_t cols, int32_t r, int32_t col)
{
    if (w->bits == 8) {
        return ((const int8_t *)w->weights)[r * cols + col];
    }
    const uint32_t bits = (uint32_t)w->bits;
    const uint8_t *p = (const uint8_t *)w->weights + r * ((cols * w->bits + 7) / 8);
    const uint32_t pos = (uint32_t)col * bits, lo = pos >> 3, sh = pos & 7u;
    uint32_t v = (uint32_t)p[lo] >> sh;
    if (sh + bits > 8u) { /* never reads past the row's last byte */
        v |= (uint32_t)p[lo + 1] << (8u - sh);
    }
    const uint32_t sign = 1u << (bits - 1u);
    return (int32_t)((v & ((1u << bits) - 1u)) ^ sign) - (int32_t)sign;
}

/* Output stage of up to four channels. */
typedef struct {
    int32_t bias[4], m[4], round[4], sh[4], shift[4];
    int32_t z_out, act_min, act_max;
    uint32_t min4, max4; /* act_min, act_max in each byte */
    int32_t fast; /* every channel has 33 <= T <= 54: round/sh hold the SMMLA form */
    int32_t full; /* [act_min, act_max] = [-128, 127] */
} group_out;

TC_NOINLINE static void plan_out(const tc_quant_params *q, int32_t c, group_out *g)
{
    g->z_out = q->z_out;
    g->act_min = q->act_min;
    g->act_max = q->act_max;
    g->min4 = tc_splat8(q->act_min);
    g->max4 = tc_splat8(q->act_max);
    g->full = q->act_min <= -128 && q->act_max >= 127;
    g->fast = 1;
    for (int32_t k = 0; k < 4; ++k) {
        const int32_t r = c + k, i = q->per_channel ? r : 0;
        const int32_t total = 31 - q->shift[i];
        g->bias[k] = tc_bias(q, r);
        g->m[k] = q->m[i];
        g->shift[k] = q->shift[i];
        if (TC_REQUANT_TFLITE || total < 33 || total > 54) {
            g->fast = 0;
            continue;
        }
        g->sh[k] = total - 32;
        g->round[k] = ((int32_t)1 << (total - 33)) + q->z_out * ((int32_t)1 << (total - 32));
    }
}

static int8_t out_slow(const group_out *g, int32_t k, int32_t acc)
{
    if (!g->fast) {
        return tc_requantize_s8(acc, g->m[k], g->shift[k], g->z_out, g->act_min, g->act_max);
    }
    const int32_t v = tc_mulhi_add(acc, g->m[k], g->round[k]) >> g->sh[k];
    return (int8_t)(v < g->act_min ? g->act_min : (v > g->act_max ? g->act_max : v));
}

/* The four channels' weights, tap by tap. DSP: (c, c+2) and (c+1, c+3) as int16 pairs. */
typedef struct {
#ifdef TC_SIMD_DSP
    uint32_t w[TC_DW_MAX_TAPS][2];
#else
    int16_t w[TC_DW_MAX_TAPS][4];
#endif
} group_weights;

TC_NOINLINE static void unpack(const tc_dense_weights *w, int32_t taps, int32_t c,
                               group_weights *b)
{
    const int8_t *w8 = (const int8_t *)w->weights + c * taps; /* 8 bits: rows of int8 */
    for (int32_t t = 0; t < taps; ++t) {
        int32_t l0, l1, l2, l3;
        if (w->bits == 8) {
            l0 = w8[t];
            l1 = w8[taps + t];
            l2 = w8[2 * taps + t];
            l3 = w8[3 * taps + t];
        } else {
            l0 = level(w, taps, c, t);
            l1 = level(w, taps, c + 1, t);
            l2 = level(w, taps, c + 2, t);
            l3 = level(w, taps, c + 3, t);
        }
#ifdef TC_SIMD_DSP
        b->w[t][0] = (uint32_t)(uint16_t)l0 | ((uint32_t)(uint16_t)l2 << 16);
        b->w[t][1] = (uint32_t)(uint16_t)l1 | ((uint32_t)(uint16_t)l3 << 16);
#else
        b->w[t][0] = (int16_t)l0;
        b->w[t][1] = (int16_t)l1;
        b->w[t][2] = (int16_t)l2;
        b->w[t][3] = (int16_t)l3;
#endif
    }
}

typedef struct {
    int32_t a0, a1, a2, a3;
} acc4;

/* acc += the four channels at x times the weights of tap t. */
static TC_INLINE void mac4(acc4 *a, const int8_t *x, const group_weights *b, int32_t t)
{
#ifdef TC_SIMD_DSP
    const uint32_t v = tc_ld32(x);
    const uint32_t x02 = __sxtb16(v), x13 = tc_sxtb16_ror8(v);
    a->a0 = __smlabb((int32_t)x02, (int32_t)b->w[t][0], a->a0);
    a->a2 = __smlatt((int32_t)x02, (int32_t)b->w[t][0], a->a2);
    a->a1 = __smlabb((int32_t)x13, (int32_t)b->w[t][1], a->a1);
    a->a3 = __smlatt((int32_t)x13, (int32_t)b->w[t][1], a->a3);
#else
    a->a0 += x[0] * b->w[t][0];
    a->a1 += x[1] * b->w[t][1];
    a->a2 += x[2] * b->w[t][2];
    a->a3 += x[3] * b->w[t][3];
#endif
}

static TC_INLINE int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Input pixel (y, x) of the group (input: its first channel at pixel (0, 0)); inside. */
static TC_INLINE const int8_t *pixel(const tc_conv_dims *d, const int8_t *input, int32_t y,
                                     int32_t x)
{
    return input + ((size_t)y * (size_t)d->in_w + (size_t)x) * (size_t)d->in_c;
}

/* A position whose window (top-left input pixel y0, x0) reaches into the padding; input
   points at the group's first channel of input pixel (0, 0), pad at four copies of
   pad_value, which the taps outside the input read: each tap costs what an inside one
   does, and no tap is tested (kernel rows are inside or not, columns kx0 .. kx1-1 inside). */
TC_NOINLINE static acc4 border4(const tc_conv_dims *d, const group_weights *b,
                                const group_out *g, const int8_t *input, int32_t y0, int32_t x0,
                                uint32_t padw)
{
    const int8_t *pad = (const int8_t *)&padw;
    acc4 a = {g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
    const int32_t kh = d->kernel_h, kw = d->kernel_w;
    const int32_t ky0 = clip(-y0, 0, kh), ky1 = clip(d->in_h - y0, 0, kh);
    const int32_t kx0 = clip(-x0, 0, kw), kx1 = clip(d->in_w - x0, 0, kw);
    const size_t step = (size_t)d->in_c;
    int32_t t = 0;
    for (int32_t ky = 0; ky < kh; ++ky) {
        int32_t kx = 0;
        if (ky >= ky0 && ky < ky1 && kx0 < kx1) {
            for (; kx < kx0; ++kx, ++t) {
                mac4(&a, pad, b, t);
            }
            const int8_t *x = pixel(d, input, y0 + ky, x0 + kx0);
            for (; kx < kx1; ++kx, ++t, x += step) {
                mac4(&a, x, b, t);
            }
        }
        for (; kx < kw; ++kx, ++t) {
            mac4(&a, pad, b, t);
        }
    }
    return a;
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

/* Output k of the SMMLA form clamped to [act_min, act_max] (narrower than int8). */
static TC_INLINE int8_t out_clamped(const group_out *g, int32_t k, int32_t acc)
{
    const int32_t v = tc_mulhi_add(acc, g->m[k], g->round[k]) >> g->sh[k];
    return (int8_t)(v < g->act_min ? g->act_min : (v > g->act_max ? g->act_max : v));
}

/* The four outputs of one position; easy: 1 (SMMLA form, int8 range), 2 (SMMLA form,
   narrower range), 0 (tc_requantize_s8). */
static TC_INLINE void store4(const group_out *g, int easy, const acc4 *a, int8_t *out)
{
#ifdef TC_SIMD_DSP
    if (easy) { /* one word: the narrower range clamps the four lanes at once (SSUB8 + SEL) */
        uint32_t v = (uint8_t)tc_sat8(tc_mulhi_add(a->a0, g->m[0], g->round[0]) >> g->sh[0]);
        v = tc_put8(v, (uint32_t)tc_sat8(tc_mulhi_add(a->a1, g->m[1], g->round[1]) >> g->sh[1]), 1);
        v = tc_put8(v, (uint32_t)tc_sat8(tc_mulhi_add(a->a2, g->m[2], g->round[2]) >> g->sh[2]), 2);
        v = tc_put8(v, (uint32_t)tc_sat8(tc_mulhi_add(a->a3, g->m[3], g->round[3]) >> g->sh[3]), 3);
        if (easy == 2) {
            v = tc_min_s8x4(tc_max_s8x4(v, g->min4), g->max4);
        }
        tc_st32(out, v);
        return;
    }
#endif
    if (easy == 1) {
        out[0] = (int8_t)tc_sat8(tc_mulhi_add(a->a0, g->m[0], g->round[0]) >> g->sh[0]);
        out[1] = (int8_t)tc_sat8(tc_mulhi_add(a->a1, g->m[1], g->round[1]) >> g->sh[1]);
        out[2] = (int8_t)tc_sat8(tc_mulhi_add(a->a2, g->m[2], g->round[2]) >> g->sh[2]);
        out[3] = (int8_t)tc_sat8(tc_mulhi_add(a->a3, g->m[3], g->round[3]) >> g->sh[3]);
    } else if (easy == 2) {
        out[0] = out_clamped(g, 0, a->a0);
        out[1] = out_clamped(g, 1, a->a1);
        out[2] = out_clamped(g, 2, a->a2);
        out[3] = out_clamped(g, 3, a->a3);
    } else {
        out[0] = out_slow(g, 0, a->a0);
        out[1] = out_slow(g, 1, a->a1);
        out[2] = out_slow(g, 2, a->a2);
        out[3] = out_slow(g, 3, a->a3);
    }
}

/* acc += one row of three taps (t, t+1, t+2), `step` apart. */
static TC_INLINE void row3(acc4 *a, const int8_t *x, size_t step, const group_weights *b,
                           int32_t t)
{
    mac4(a, x, b, t);
    mac4(a, x + step, b, t + 1);
    mac4(a, x + 2 * step, b, t + 2);
}


/* The words (four channels) of a kh x kw window reaching into the padding, tap by tap,
   into win: padw (four copies of pad_value) for the taps outside the input. */
static TC_INLINE void gather(const tc_conv_dims *d, int32_t kh, int32_t kw, const int8_t *input,
                             int32_t y0, int32_t x0, uint32_t padw, uint32_t *win)
{
    const int32_t ky0 = clip(-y0, 0, kh), ky1 = clip(d->in_h - y0, 0, kh);
    const int32_t kx0 = clip(-x0, 0, kw), kx1 = clip(d->in_w - x0, 0, kw);
    const size_t step = (size_t)d->in_c;
    for (int32_t ky = 0; ky < kh; ++ky, win += kw) {
        int32_t kx = 0;
        if (ky >= ky0 && ky < ky1) {
            for (; kx < kx0; ++kx) {
                win[kx] = padw;
            }
            const int8_t *x = kx < kx1 ? pixel(d, input, y0 + ky, x0 + kx) : input;
            for (; kx < kx1; ++kx, x += step) {
                win[kx] = tc_ld32(x);
            }
        }
        for (; kx < kw; ++kx) {
            win[kx] = padw;
        }
    }
}

/* A 3 x 3 window reaching into the padding: its taps gathered (pad_value outside), then
   summed as an inside window is. */
TC_NOINLINE static void border3x3(const tc_conv_dims *d, const group_weights *b,
                                  const group_out *g, int easy, const int8_t *input, int32_t y0,
                                  int32_t x0, uint32_t padw, int8_t *out)
{
    uint32_t win[9];
    gather(d, 3, 3, input, y0, x0, padw, win);
    const int8_t *w = (const int8_t *)win;
    acc4 a = {g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
    row3(&a, w, 4, b, 0);
    row3(&a, w + 12, 4, b, 3);
    row3(&a, w + 24, 4, b, 6);
    store4(g, easy, &a, out);
}

/* One output position whose window reaches into the padding. */
static TC_INLINE void edge(const tc_conv_dims *d, int three, const group_weights *b,
                           const group_out *g, int easy, const int8_t *input, int32_t y0,
                           int32_t x0, uint32_t pad, int8_t *out)
{
    if (three) {
        border3x3(d, b, g, easy, input, y0, x0, pad, out);
    } else {
        const acc4 a = border4(d, b, g, input, y0, x0, pad);
        store4(g, easy, &a, out);
    }
}

/* Most border columns whose bias a 3 x 3 sweep plans (two per side: pad_left < 3). */
#define TC_DW_EDGE 4

/* Output column ox's window columns inside the input: [*kx0, *kx1) of kw. */
static TC_INLINE void window_cols(const tc_conv_dims *d, int32_t ox, int32_t *x0, int32_t *kx0,
                                  int32_t *kx1)
{
    *x0 = ox * d->stride_w - d->pad_left;
    *kx0 = clip(-*x0, 0, d->kernel_w);
    *kx1 = clip(d->in_w - *x0, 0, d->kernel_w);
}

/* acc += pad times the weights of the 3 x 3 taps in rows [ky0, ky1) outside columns [kx0, kx1). */
static TC_INLINE void pad_taps3(acc4 *a, const int8_t *pad, const group_weights *b, int32_t ky0,
                                int32_t ky1, int32_t kx0, int32_t kx1)
{
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        for (int32_t kx = 0; kx < 3; ++kx) {
            if (kx < kx0 || kx >= kx1) {
                mac4(a, pad, b, 3 * ky + kx);
            }
        }
    }
}

/* Border column ox (3 x 3) of a row whose window rows lie inside the input: its bias
   (with pad_value times the weights of the taps outside) planned, then the taps inside. */
static TC_INLINE void edge3(const tc_conv_dims *d, const group_weights *b,
                            const group_out *g, int easy, const acc4 *bias,
                            const int8_t *input, int32_t y0, int32_t ox, int8_t *out)
{
    int32_t x0, kx0, kx1;
    window_cols(d, ox, &x0, &kx0, &kx1);
    acc4 a = *bias;
    const size_t step = (size_t)d->in_c, row = (size_t)d->in_w * step;
    if (kx1 - kx0 == 2) { /* 'same' with one column of padding: two taps per kernel row */
        const int8_t *x = pixel(d, input, y0, x0 + kx0);
        mac4(&a, x, b, kx0);
        mac4(&a, x + step, b, kx0 + 1);
        mac4(&a, x + row, b, kx0 + 3);
        mac4(&a, x + row + step, b, kx0 + 4);
        mac4(&a, x + 2 * row, b, kx0 + 6);
        mac4(&a, x + 2 * row + step, b, kx0 + 7);
    } else if (kx0 < kx1) {
        const int8_t *x = pixel(d, input, y0, x0 + kx0);
        for (int32_t ky = 0; ky < 3; ++ky, x += row) {
            const int8_t *xr = x;
            for (int32_t t = 3 * ky + kx0; t < 3 * ky + kx1; ++t, xr += step) {
                mac4(&a, xr, b, t);
            }
        }
    }
    store4(g, easy, &a, out);
}

/* Output columns [lo, hi) (windows inside the input's width) of a 3 x 3 row whose window
   rows [ky0, ky1) lie inside the input, the others in the padding; x: the input pixel of
   column lo's tap (ky0, 0). */
TC_NOINLINE static void rows_clipped3(const tc_conv_dims *d, const group_weights *b,
                                      const group_out *g, int easy, const int8_t *pad,
                                      int32_t ky0, int32_t ky1, int32_t n, const int8_t *x,
                                      int8_t *out)
{
    acc4 a0 = {g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
    pad_taps3(&a0, pad, b, 0, ky0, 3, 3);
    pad_taps3(&a0, pad, b, ky1, 3, 3, 3);
    const size_t step = (size_t)d->in_c, row = (size_t)d->in_w * step;
    const size_t xstep = (size_t)d->stride_w * step;
    if (ky1 - ky0 == 2) { /* 'same' with one row of padding: two kernel rows */
        for (int32_t i = 0; i < n; ++i, x += xstep, out += step) {
            acc4 a = a0;
            row3(&a, x, step, b, 3 * ky0);
            row3(&a, x + row, step, b, 3 * ky0 + 3);
            store4(g, easy, &a, out);
        }
        return;
    }
    for (int32_t i = 0; i < n; ++i, x += xstep, out += step) {
        acc4 a = a0;
        const int8_t *xr = x;
        for (int32_t ky = ky0; ky < ky1; ++ky, xr += row) {
            row3(&a, xr, step, b, 3 * ky);
        }
        store4(g, easy, &a, out);
    }
}

/* Every output position of channels [c, c + 4); `three`: a 3 x 3 kernel (a constant).
   Output row oy: border columns [0, lo), inside [lo, hi), border [hi, out_w). A 3 x 3
   kernel's border positions cost about what inside ones do: in rows whose window rows
   lie inside the input, a border column starts from its planned bias (pad_value times
   the weights of its taps outside, `edges`) and sums the taps inside; in the other rows
   (top, bottom) the inside columns sum the window rows inside; only the corners gather
   their windows. Other kernels gather (border4) every border position. */
static TC_INLINE void sweep4(const tc_conv_dims *d, int three, const group_weights *b,
                             const group_out *g, const int8_t *input, int8_t *output)
{
    const int easy = !g->fast ? 0 : g->full ? 1 : 2;
    const int32_t kh = d->kernel_h, kw = d->kernel_w;
    const size_t step = (size_t)d->in_c, row = (size_t)d->in_w * step;
    const size_t xstep = (size_t)d->stride_w * step;
    const uint32_t pad = 0x01010101u * (uint8_t)d->pad_value; /* four copies */
    int32_t lo, hi;
    inner_cols(d, &lo, &hi);
    acc4 edges[TC_DW_EDGE]; /* border column j: ox = j below lo, hi + j - lo above */
    const int planned = three && d->out_w - (hi - lo) <= TC_DW_EDGE;
    for (int32_t j = 0; planned && j < d->out_w - (hi - lo); ++j) {
        int32_t x0, kx0, kx1;
        window_cols(d, j < lo ? j : hi + j - lo, &x0, &kx0, &kx1);
        edges[j] = (acc4){g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
        pad_taps3(&edges[j], (const int8_t *)&pad, b, 0, 3, kx0, kx1);
    }
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int32_t y0 = oy * d->stride_h - d->pad_top;
        const int32_t ky0 = clip(-y0, 0, kh), ky1 = clip(d->in_h - y0, 0, kh);
        const int in_rows = ky0 == 0 && ky1 == kh, fast_edge = planned && in_rows;
        int8_t *out = output + (size_t)oy * (size_t)d->out_w * step;
        for (int32_t ox = 0; ox < lo; ++ox) {
            if (fast_edge) {
                edge3(d, b, g, easy, &edges[ox], input, y0, ox, out + (size_t)ox * step);
            } else {
                edge(d, three, b, g, easy, input, y0, ox * d->stride_w - d->pad_left, pad,
                     out + (size_t)ox * step);
            }
        }
        const int8_t *x = lo < hi ? pixel(d, input, y0 + ky0, lo * d->stride_w - d->pad_left)
                                  : input;
        if (in_rows) {
            int8_t *o = out + (size_t)lo * step;
            for (int32_t ox = lo; ox < hi; ++ox, x += xstep, o += step) {
                acc4 a = {g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
                if (three) {
                    row3(&a, x, step, b, 0);
                    row3(&a, x + row, step, b, 3);
                    row3(&a, x + 2 * row, step, b, 6);
                } else {
                    const int8_t *xr = x;
                    for (int32_t ky = 0, t = 0; ky < kh; ++ky, xr += row) {
                        for (int32_t kx = 0; kx < kw; ++kx, ++t) {
                            mac4(&a, xr + (size_t)kx * step, b, t);
                        }
                    }
                }
                store4(g, easy, &a, o);
            }
        } else if (three && lo < hi) {
            rows_clipped3(d, b, g, easy, (const int8_t *)&pad, ky0, ky1, hi - lo, x,
                          out + (size_t)lo * step);
        } else {
            for (int32_t ox = lo; ox < hi; ++ox) {
                edge(d, three, b, g, easy, input, y0, ox * d->stride_w - d->pad_left, pad,
                     out + (size_t)ox * step);
            }
        }
        for (int32_t ox = hi; ox < d->out_w; ++ox) {
            if (fast_edge) {
                edge3(d, b, g, easy, &edges[lo + ox - hi], input, y0, ox,
                      out + (size_t)ox * step);
            } else {
                edge(d, three, b, g, easy, input, y0, ox * d->stride_w - d->pad_left, pad,
                     out + (size_t)ox * step);
            }
        }
    }
}

TC_NOINLINE static void sweep4_3x3(const tc_conv_dims *d, const group_weights *b,
                                   const group_out *g, const int8_t *input, int8_t *output)
{
    sweep4(d, 1, b, g, input, output);
}

TC_NOINLINE static void sweep4_any(const tc_conv_dims *d, const group_weights *b,
                                   const group_out *g, const int8_t *input, int8_t *output)
{
    sweep4(d, 0, b, g, input, output);
}


/* Every output position of channel c alone (any number of taps: beyond TC_DW_MAX_TAPS
   each level is read from the row as it is needed; else lv holds them, TC_DW_MAX_TAPS
   int32 of the caller's scratch). */
TC_NOINLINE static void sweep1(const tc_conv_dims *d, const tc_dense_weights *w,
                               const tc_quant_params *q, int32_t c, int32_t *lv,
                               const int8_t *input, int8_t *output)
{
    const int32_t taps = d->kernel_h * d->kernel_w, kept = taps <= TC_DW_MAX_TAPS;
    for (int32_t t = 0; kept && t < taps; ++t) {
        lv[t] = level(w, taps, c, t);
    }
    const size_t step = (size_t)d->in_c, row = (size_t)d->in_w * step;
    const int32_t i = q->per_channel ? c : 0;
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        for (int32_t ox = 0; ox < d->out_w; ++ox) {
            const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
            int32_t acc = tc_bias(q, c);
            for (int32_t ky = 0; ky < d->kernel_h; ++ky) {
                const int32_t y = y0 + ky;
                for (int32_t kx = 0; kx < d->kernel_w; ++kx) {
                    const int32_t t = ky * d->kernel_w + kx, x = x0 + kx;
                    const int32_t v = y >= 0 && y < d->in_h && x >= 0 && x < d->in_w
                                          ? input[(size_t)y * row + (size_t)x * step]
                                          : d->pad_value;
                    acc += v * (kept ? lv[t] : level(w, taps, c, t));
                }
            }
            output[((size_t)oy * (size_t)d->out_w + (size_t)ox) * step] = tc_requantize_s8(
                acc, q->m[i], q->shift[i], q->z_out, q->act_min, q->act_max);
        }
    }
}

/* Channels [c, c + 4): unpack their weights (into b) and output stage, then sweep. */
TC_NOINLINE static void group(const tc_conv_dims *d, const tc_quant_params *q,
                              const tc_dense_weights *w, int32_t c, group_weights *b,
                              const int8_t *input, int8_t *output)
{
    group_out g;
    unpack(w, d->kernel_h * d->kernel_w, c, b);
    plan_out(q, c, &g);
#ifdef TC_SIMD_DSP
    /* 3 x 3 at strides 1 and 2 take the int16 planes; the unrolled sweep only serves plain
       C at stride 2, the rest (other strides) the general one */
    const int three = 0;
#else
    const int three = d->kernel_h == 3 && d->kernel_w == 3;
#endif
    if (three) {
        sweep4_3x3(d, b, &g, input, output);
    } else {
        sweep4_any(d, b, &g, input, output);
    }
}

/* ------------------------------------------------------------- 3 x 3 at strides 1 and 2 */

/* Most bytes of the planar inputs of a pass (four channels): whole channels when they
   fit, else bands of rows. */
#define TC_DW_PLANE_MAX 2048

/* Most channels of a pass: their planes side by side in the scratch. */
#define TC_DW_PASS_MAX 4

/* 1: passes of four channels (their inputs loaded a word of four at a time: DSP), else
   one channel a pass (plain C), its plane taking the whole scratch. */
#ifdef TC_SIMD_DSP
#define TC_DW_LOAD4 1
#else
#define TC_DW_LOAD4 0
#endif

/* 1: the scratch holds planar inputs (3 x 3 at stride 1 or 2, the same both ways). */
static int planar3(const tc_conv_dims *d)
{
    return d->kernel_h == 3 && d->kernel_w == 3 && d->stride_h == d->stride_w &&
           (d->stride_h == 1 || d->stride_h == 2);
}

/* 1: the int16-row path takes the layer; plain C at stride 2: the four-channel sweep. */
static int rows3(const tc_conv_dims *d)
{
    return planar3(d) && (TC_DW_LOAD4 || d->stride_h == 1);
}

/* How the 3 x 3 path holds a pass's input: per channel a plane of int16 rows of `cols`
   columns, each a padded input row (or column: transposed) the windows read. A sweep of
   outputs runs along a row, which holds its windows' columns and what the word loads
   read past them (cols3). Transposed (taller than wide, when whole channels fit
   TC_DW_PLANE_MAX bytes): rows are the padded input's columns, the sweeps run down the
   output's columns (fewer, longer sweeps). Otherwise whole channels when they fit, else
   a ring of the input rows of m output rows (a band; at least one), each band bringing in
   the rows it does not share with the one before. */
typedef struct {
    int32_t kind; /* 0: ring, 1: whole channels, 2: transposed */
    int32_t rows, cols;
    int32_t m; /* output rows (transposed: columns) of a band, every one when whole */
} layout3;

/* Columns of a row for a sweep of n outputs at stride s, even (rows start on a word).
   Stride 1: the n + 2 window columns and one more (an odd n's last pair), rounded up;
   stride 2: the 2n + 1 window columns and one more (the last pair). */
static int32_t cols3(int32_t s, int32_t n)
{
    return s == 1 ? (n + 4) & ~1 : 2 * n + 2;
}

/* The layout of planes of at most `most` values. */
static layout3 layout_in(const tc_conv_dims *d, int32_t most)
{
    const int32_t s = d->stride_h;
    const int32_t cn = cols3(s, d->out_w), rn = (d->out_h - 1) * s + 3;
    const int32_t ct = cols3(s, d->out_h), rt = (d->out_w - 1) * s + 3;
    if (d->out_h > d->out_w && rt * ct <= most) {
        return (layout3){2, rt, ct, d->out_w};
    }
    if (rn * cn <= most) {
        return (layout3){1, rn, cn, d->out_h};
    }
    const int32_t fit = most / cn, m = fit < 3 ? 1 : (fit - 3) / s + 1;
    return (layout3){0, (m - 1) * s + 3, cn, m};
}

/* The scratch's layout: four planes of TC_DW_PLANE_MAX bytes in all. */
static layout3 plan_layout(const tc_conv_dims *d)
{
    return layout_in(d, TC_DW_PLANE_MAX / (2 * TC_DW_PASS_MAX));
}

/* Bytes of the scratch: four planes (at least a four-channel block of levels, which plain
   C takes at stride 2). */
static int32_t planar_bytes(const tc_conv_dims *d)
{
    const layout3 lay = plan_layout(d);
    const int32_t n = 2 * TC_DW_PASS_MAX * lay.rows * lay.cols;
    return n > (int32_t)sizeof(group_weights) ? n : (int32_t)sizeof(group_weights);
}

/* The layer's geometry on the 3 x 3 path, planned once for every pass. A line is an input
   row (transposed: column), held in plane row `line index + pad` modulo the plane's rows. */
typedef struct {
    layout3 lay;
    int32_t s;                 /* stride */
    int32_t sweeps, n;         /* sweeps, outputs per sweep */
    size_t along, across;      /* output bytes between a sweep's outputs, between sweeps */
    int32_t lines, pad;        /* input lines, the padding's lines before the first */
    int32_t len, first;        /* values of a line the windows read, plane column of the first */
    size_t src_line, src_elem; /* input bytes between lines, between a line's values */
    int32_t plane;             /* values of one channel's plane: rows * cols */
    int32_t dst0, whole;       /* whole channels: plane index of the first input value, lines */
    int32_t n4, tail;          /* a sweep's blocks of four outputs, the outputs after them */
    size_t a2, a3, a4;         /* along times 2, 3, 4 */
    int16_t pad_value;
} geom3;

static void plan_geom(const tc_conv_dims *d, geom3 *g)
{
    const size_t step = (size_t)d->in_c, in_row = (size_t)d->in_w * step;
    const size_t out_row = (size_t)d->out_w * step;
    g->lay = TC_DW_LOAD4 ? plan_layout(d) : layout_in(d, planar_bytes(d) / 2);
    const int tr = g->lay.kind == 2;
    g->s = d->stride_h;
    g->plane = g->lay.rows * g->lay.cols;
    g->pad_value = (int16_t)d->pad_value;
    g->sweeps = tr ? d->out_w : d->out_h;
    g->n = tr ? d->out_h : d->out_w;
    g->along = tr ? out_row : step;
    g->across = tr ? step : out_row;
    g->lines = tr ? d->in_w : d->in_h;
    g->pad = tr ? d->pad_left : d->pad_top;
    g->first = tr ? d->pad_top : d->pad_left;
    g->len = clip(g->lay.cols - g->first, 0, tr ? d->in_h : d->in_w);
    g->src_line = tr ? step : in_row;
    g->src_elem = tr ? in_row : step;
    g->dst0 = g->pad * g->lay.cols + g->first;
    g->whole = clip(g->lay.rows - g->pad, 0, g->lines);
    g->n4 = g->n >> 2;
    g->tail = g->n & 3;
    g->a2 = 2 * g->along;
    g->a3 = 3 * g->along;
    g->a4 = 4 * g->along;
}

/* One channel of a 3 x 3 kernel: its levels, bias and output stage. */
typedef struct {
#ifdef TC_SIMD_DSP
    uint32_t w[3][2]; /* kernel row ky: (w[ky][0], w[ky][1]), (w[ky][1], w[ky][2]) */
#else
    int32_t w[9];
#endif
    int32_t bias, m, round, sh, shift, z_out, act_min, act_max;
    uint32_t min4, max4; /* act_min, act_max in each byte */
} chan3;
#ifdef TC_SIMD_DSP
_Static_assert(offsetof(chan3, bias) == 24 && offsetof(chan3, m) == 28 &&
                   offsetof(chan3, round) == 32 && offsetof(chan3, sh) == 36,
               "the blocks read the bias at #24, m, round, sh at #28, #32, #36");
#endif

/* acc in the SMMLA form saturated to int8 (as an int32: no sign extension to redo). */
static TC_INLINE int32_t sat3(const chan3 *k, int32_t acc)
{
    return tc_sat8(tc_mulhi_add(acc, k->m, k->round) >> k->sh);
}

/* The output of one position; mode 1: SMMLA form, int8 range; 2: SMMLA form, narrower
   range; 0: tc_requantize_s8. */
static TC_INLINE int8_t req3(const chan3 *k, int mode, int32_t acc)
{
    if (mode == 0) {
        return tc_requantize_s8(acc, k->m, k->shift, k->z_out, k->act_min, k->act_max);
    }
    const int32_t v = tc_sat8(tc_mulhi_add(acc, k->m, k->round) >> k->sh);
    return (int8_t)(mode == 2 ? clip(v, k->act_min, k->act_max) : v);
}

#ifdef TC_SIMD_DSP
/* Columns (j, j+1) of a planar row as one word (j even: 4-aligned). */
static TC_INLINE uint32_t pair(const int16_t *r)
{
    uint32_t v;
    memcpy(&v, r, sizeof v);
    return v;
}

/* (lo's bottom half, hi's bottom half) as one word (PKHBT). */
static TC_INLINE uint32_t pack_lo(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* (lo's bottom half, hi's top half) as one word (PKHBT, no shift). */
static TC_INLINE uint32_t pack_bt(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* (lo's top half, hi's top half) as one word (PKHTB). */
static TC_INLINE uint32_t pack_hi(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}

/* The blocks below sum a few neighbouring outputs of a sweep over the planar rows r0,
   r1, r2 (column 0: the first output's window; each advanced past the outputs), from the
   bias (chan3 at #24). Per kernel row one LDRD brings its weight words (w0, w1) and
   (w1, w2) from chan3 at #0, #8, #16. A kernel row's assembly is one macro: row 0 starts
   the sums from the bias (b0..b3: the bias register), rows 1 and 2 add to them. */

/* Stride 1, kernel row at r (its weights at #off): columns 0..5 as pairs a, b, c; eight
   MACs do the twelve products: output 0 is SMLAD(a, w01) + b.lo w2, output 1
   a.hi w0 + SMLAD(b, w12), outputs 2, 3 the same from b, c. */
#define TC_DW_S1_ROW4(r, off, b0, b1, b2)                                                  \
    "ldrd %[wa], %[wb], [%[k], #" #off "]\n\t"                                           \
    "ldr %[b], [%[" #r "], #4]\n\t"                                                       \
    "ldr %[a], [%[" #r "]], #8\n\t"                                                       \
    "smlad %[s0], %[a], %[wa], %[" #b0 "]\n\t"                                            \
    "smlatb %[s1], %[a], %[wa], %[" #b1 "]\n\t"                                           \
    "smlabt %[s0], %[b], %[wb], %[s0]\n\t"                                                \
    "smlad %[s1], %[b], %[wb], %[s1]\n\t"                                                 \
    "smlad %[s2], %[b], %[wa], %[" #b2 "]\n\t"                                            \
    "smlatb %[s3], %[b], %[wa], %[s3]\n\t"                                                \
    "ldr %[a], [%[" #r "]]\n\t"                                                           \
    "smlabt %[s2], %[a], %[wb], %[s2]\n\t"                                                \
    "smlad %[s3], %[a], %[wb], %[s3]\n\t"

/* Stride 2, kernel row at r: columns 0..9 as pairs a, b (two LDRD) and one more word;
   output j is SMLAD(pair j, w01) + (pair j+1).lo w2: eight MACs for twelve products. */
#define TC_DW_S2_ROW4(r, off, b0, b1, b2)                                                  \
    "ldrd %[wa], %[wb], [%[k], #" #off "]\n\t"                                           \
    "ldrd %[a], %[b], [%[" #r "]], #8\n\t"                                                \
    "smlad %[s0], %[a], %[wa], %[" #b0 "]\n\t"                                            \
    "smlabt %[s0], %[b], %[wb], %[s0]\n\t"                                                \
    "smlad %[s1], %[b], %[wa], %[" #b1 "]\n\t"                                            \
    "ldrd %[a], %[b], [%[" #r "]], #8\n\t"                                                \
    "smlabt %[s1], %[a], %[wb], %[s1]\n\t"                                                \
    "smlad %[s2], %[a], %[wa], %[" #b2 "]\n\t"                                            \
    "smlabt %[s2], %[b], %[wb], %[s2]\n\t"                                                \
    "smlad %[s3], %[b], %[wa], %[s3]\n\t"                                                 \
    "ldr %[a], [%[" #r "]]\n\t"                                                           \
    "smlabt %[s3], %[a], %[wb], %[s3]\n\t"

/* Four outputs' sums at stride s (a constant). */
static TC_INLINE void block4(const chan3 *k, int s, const int16_t **r0, const int16_t **r1,
                             const int16_t **r2, int32_t *sum)
{
    uint32_t a, b, wa, wb;
    int32_t s0, s1, s2, s3;
    const int16_t *p0 = *r0, *p1 = *r1, *p2 = *r2;
    /* the same statement at either stride, ROW the kernel row's text */
#define TC_DW_BLOCK(ROW)                                                                      \
    __asm__("ldr %[s3], [%[k], #24]\n\t" ROW(r0, 0, s3, s3, s3)                               \
                    ROW(r1, 8, s0, s1, s2) ROW(r2, 16, s0, s1, s2)                            \
                : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3),             \
                  [a] "=&r"(a), [b] "=&r"(b), [wa] "=&r"(wa), [wb] "=&r"(wb), [r0] "+r"(p0),  \
                  [r1] "+r"(p1), [r2] "+r"(p2)                                                \
                : [k] "r"(k)                                                                  \
                : "memory")
    if (s == 1) {
        TC_DW_BLOCK(TC_DW_S1_ROW4);
    } else {
        TC_DW_BLOCK(TC_DW_S2_ROW4);
    }
#undef TC_DW_BLOCK
    *r0 = p0;
    *r1 = p1;
    *r2 = p2;
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
    sum[3] = s3;
}

/* Mode 1's output stage of four sums s0..s3 (chan3: m, round at #28, sh at #36): SMMLA,
   ASR, SSAT, then the bytes `along` apart from out on (advanced past them). */
#define TC_DW_OUT4                                                                         \
    "ldrd %[wa], %[wb], [%[k], #28]\n\t"                                                  \
    "ldr %[a], [%[k], #36]\n\t"                                                           \
    "smmla %[s0], %[s0], %[wa], %[wb]\n\t"                                                \
    "smmla %[s1], %[s1], %[wa], %[wb]\n\t"                                                \
    "smmla %[s2], %[s2], %[wa], %[wb]\n\t"                                                \
    "smmla %[s3], %[s3], %[wa], %[wb]\n\t"                                                \
    "asr %[s0], %[s0], %[a]\n\t"                                                          \
    "asr %[s1], %[s1], %[a]\n\t"                                                          \
    "asr %[s2], %[s2], %[a]\n\t"                                                          \
    "asr %[s3], %[s3], %[a]\n\t"                                                          \
    "ssat %[s0], #8, %[s0]\n\t"                                                           \
    "ssat %[s1], #8, %[s1]\n\t"                                                           \
    "ssat %[s2], #8, %[s2]\n\t"                                                           \
    "ssat %[s3], #8, %[s3]\n\t"                                                           \
    "strb %[s0], [%[out]]\n\t"                                                            \
    "strb %[s1], [%[out], %[along]]\n\t"                                                  \
    "add %[out], %[out], %[along], lsl #1\n\t"                                            \
    "strb %[s2], [%[out]]\n\t"                                                            \
    "strb %[s3], [%[out], %[along]]\n\t"                                                  \
    "add %[out], %[out], %[along], lsl #1\n\t"

/* Four outputs at stride s (a constant) in mode 1 (req3), stored `along` bytes apart
   (volatile: it stores, whether or not its outputs are used). */
static TC_INLINE void block4_out1(const chan3 *k, int s, const int16_t **r0,
                                  const int16_t **r1, const int16_t **r2, int8_t **o,
                                  size_t along)
{
    uint32_t a, b, wa, wb;
    int32_t s0, s1, s2, s3;
    const int16_t *p0 = *r0, *p1 = *r1, *p2 = *r2;
    int8_t *out = *o;
    /* the same statement at either stride, ROW the kernel row's text */
#define TC_DW_BLOCK(ROW)                                                                      \
    __asm__ volatile("ldr %[s3], [%[k], #24]\n\t" ROW(r0, 0, s3, s3, s3)                      \
                    ROW(r1, 8, s0, s1, s2) ROW(r2, 16, s0, s1, s2)                            \
                        TC_DW_OUT4                                                            \
                : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3),             \
                  [a] "=&r"(a), [b] "=&r"(b), [wa] "=&r"(wa), [wb] "=&r"(wb), [r0] "+r"(p0),  \
                  [r1] "+r"(p1), [r2] "+r"(p2), [out] "+r"(out)                               \
                : [k] "r"(k), [along] "r"(along)                                              \
                : "memory")
    if (s == 1) {
        TC_DW_BLOCK(TC_DW_S1_ROW4);
    } else {
        TC_DW_BLOCK(TC_DW_S2_ROW4);
    }
#undef TC_DW_BLOCK
    *r0 = p0;
    *r1 = p1;
    *r2 = p2;
    *o = out;
}

/* Two outputs, stride 1: columns 0..3 as pairs a, b (as TC_DW_S1_ROW4's outputs 0, 1). */
#define TC_DW_S1_ROW2(r, off, b0, b1)                                                      \
    "ldrd %[wa], %[wb], [%[k], #" #off "]\n\t"                                           \
    "ldr %[a], [%[" #r "]], #4\n\t"                                                       \
    "ldr %[b], [%[" #r "]]\n\t"                                                           \
    "smlad %[s0], %[a], %[wa], %[" #b0 "]\n\t"                                            \
    "smlatb %[s1], %[a], %[wa], %[" #b1 "]\n\t"                                           \
    "smlabt %[s0], %[b], %[wb], %[s0]\n\t"                                                \
    "smlad %[s1], %[b], %[wb], %[s1]\n\t"

/* Two outputs, stride 2: columns 0..5 as pairs a, b (LDRD) and one more word. */
#define TC_DW_S2_ROW2(r, off, b0, b1)                                                      \
    "ldrd %[wa], %[wb], [%[k], #" #off "]\n\t"                                           \
    "ldrd %[a], %[b], [%[" #r "]], #8\n\t"                                                \
    "smlad %[s0], %[a], %[wa], %[" #b0 "]\n\t"                                            \
    "smlabt %[s0], %[b], %[wb], %[s0]\n\t"                                                \
    "smlad %[s1], %[b], %[wa], %[" #b1 "]\n\t"                                            \
    "ldr %[a], [%[" #r "]]\n\t"                                                           \
    "smlabt %[s1], %[a], %[wb], %[s1]\n\t"

/* Two outputs' sums at stride s (a constant). */
static TC_INLINE void block2(const chan3 *k, int s, const int16_t **r0, const int16_t **r1,
                             const int16_t **r2, int32_t *sum)
{
    uint32_t a, b, wa, wb;
    int32_t s0, s1;
    const int16_t *p0 = *r0, *p1 = *r1, *p2 = *r2;
    /* the same statement at either stride, ROW the kernel row's text */
#define TC_DW_BLOCK(ROW)                                                                       \
    __asm__("ldr %[s1], [%[k], #24]\n\t" ROW(r0, 0, s1, s1)                                    \
                    ROW(r1, 8, s0, s1) ROW(r2, 16, s0, s1)                                     \
                : [s0] "=&r"(s0), [s1] "=&r"(s1), [a] "=&r"(a), [b] "=&r"(b),                  \
                  [wa] "=&r"(wa), [wb] "=&r"(wb), [r0] "+r"(p0), [r1] "+r"(p1), [r2] "+r"(p2)  \
                : [k] "r"(k)                                                                   \
                : "memory")
    if (s == 1) {
        TC_DW_BLOCK(TC_DW_S1_ROW2);
    } else {
        TC_DW_BLOCK(TC_DW_S2_ROW2);
    }
#undef TC_DW_BLOCK
    *r0 = p0;
    *r1 = p1;
    *r2 = p2;
    sum[0] = s0;
    sum[1] = s1;
}

/* Three outputs, stride 1: columns 0..5 as pairs a, b, c (outputs 0, 1 as in
   TC_DW_S1_ROW4, output 2 SMLAD(b, w01) + c.lo w2). */
#define TC_DW_S1_ROW3(r, off, b0, b1, b2)                                                  \
    "ldrd %[wa], %[wb], [%[k], #" #off "]\n\t"                                           \
    "ldrd %[a], %[b], [%[" #r "]]\n\t"                                                    \
    "smlad %[s0], %[a], %[wa], %[" #b0 "]\n\t"                                            \
    "smlatb %[s1], %[a], %[wa], %[" #b1 "]\n\t"                                           \
    "smlabt %[s0], %[b], %[wb], %[s0]\n\t"                                                \
    "smlad %[s1], %[b], %[wb], %[s1]\n\t"                                                 \
    "smlad %[s2], %[b], %[wa], %[" #b2 "]\n\t"                                            \
    "ldr %[a], [%[" #r "], #8]\n\t"                                                       \
    "smlabt %[s2], %[a], %[wb], %[s2]\n\t"

/* Three outputs, stride 2: columns 0..7 as pairs (two LDRD). */
#define TC_DW_S2_ROW3(r, off, b0, b1, b2)                                                  \
    "ldrd %[wa], %[wb], [%[k], #" #off "]\n\t"                                           \
    "ldrd %[a], %[b], [%[" #r "]]\n\t"                                                    \
    "smlad %[s0], %[a], %[wa], %[" #b0 "]\n\t"                                            \
    "smlabt %[s0], %[b], %[wb], %[s0]\n\t"                                                \
    "smlad %[s1], %[b], %[wa], %[" #b1 "]\n\t"                                            \
    "ldrd %[a], %[b], [%[" #r "], #8]\n\t"                                                \
    "smlabt %[s1], %[a], %[wb], %[s1]\n\t"                                                \
    "smlad %[s2], %[a], %[wa], %[" #b2 "]\n\t"                                            \
    "smlabt %[s2], %[b], %[wb], %[s2]\n\t"

/* The last three outputs' sums of a sweep at stride s (a constant; rows not advanced). */
static TC_INLINE void block3(const chan3 *k, int s, const int16_t *p0, const int16_t *p1,
                             const int16_t *p2, int32_t *sum)
{
    uint32_t a, b, wa, wb;
    int32_t s0, s1, s2;
    /* the same statement at either stride, ROW the kernel row's text */
#define TC_DW_BLOCK(ROW)                                                                       \
    __asm__("ldr %[s2], [%[k], #24]\n\t" ROW(r0, 0, s2, s2, s2)                                \
                    ROW(r1, 8, s0, s1, s2) ROW(r2, 16, s0, s1, s2)                             \
                : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [a] "=&r"(a), [b] "=&r"(b),  \
                  [wa] "=&r"(wa), [wb] "=&r"(wb)                                               \
                : [k] "r"(k), [r0] "r"(p0), [r1] "r"(p1), [r2] "r"(p2)                         \
                : "memory")
    if (s == 1) {
        TC_DW_BLOCK(TC_DW_S1_ROW3);
    } else {
        TC_DW_BLOCK(TC_DW_S2_ROW3);
    }
#undef TC_DW_BLOCK
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
}

/* One output (either stride): kernel row ky over planar row r. */
static TC_INLINE int32_t taps1(const chan3 *k, int32_t ky, const int16_t *r, int32_t s)
{
    return __smlabt((int32_t)pair(r + 2), (int32_t)k->w[ky][1], __smlad(pair(r), k->w[ky][0], s));
}
#endif

/* A sweep of g->n outputs g->along bytes apart at stride s from the planar rows r0, r1,
   r2 (column 0: the first window's left column); mode, s: constants of each copy. */
static TC_INLINE void row3x3(const chan3 *k, int mode, int s, const int16_t *r0,
                             const int16_t *r1, const int16_t *r2, const geom3 *g, int8_t *out)
{
    const size_t a1 = g->along;
#ifdef TC_SIMD_DSP
    for (int32_t b = g->n4; mode == 1 && b > 0; --b) { /* the whole block in assembly */
        block4_out1(k, s, &r0, &r1, &r2, &out, a1);
    }
    for (int32_t b = g->n4; mode != 1 && b > 0; --b) {
        int32_t sum[4];
        block4(k, s, &r0, &r1, &r2, sum);
        if (mode == 2) { /* the four clamped at once (SSUB8 + SEL) */
            uint32_t v = (uint32_t)sat3(k, sum[0]); /* byte 0; bytes 1..3 put below */
            v = tc_put8(v, (uint32_t)sat3(k, sum[1]), 1);
            v = tc_put8(v, (uint32_t)sat3(k, sum[2]), 2);
            v = tc_put8(v, (uint32_t)sat3(k, sum[3]), 3);
            v = tc_min_s8x4(tc_max_s8x4(v, k->min4), k->max4);
            out[0] = (int8_t)v;
            out[a1] = (int8_t)(v >> 8);
            out[g->a2] = (int8_t)(v >> 16);
            out[g->a3] = (int8_t)(v >> 24);
        } else {
            const int8_t v0 = req3(k, mode, sum[0]), v1 = req3(k, mode, sum[1]);
            const int8_t v2 = req3(k, mode, sum[2]), v3 = req3(k, mode, sum[3]);
            out[0] = v0;
            out[a1] = v1;
            out[g->a2] = v2;
            out[g->a3] = v3;
        }
        out += g->a4;
    }
    if (g->tail == 3) {
        int32_t sum[3];
        block3(k, s, r0, r1, r2, sum);
        if (mode == 2) {
            uint32_t v = (uint32_t)sat3(k, sum[0]); /* byte 3 unused */
            v = tc_put8(v, (uint32_t)sat3(k, sum[1]), 1);
            v = tc_put8(v, (uint32_t)sat3(k, sum[2]), 2);
            v = tc_min_s8x4(tc_max_s8x4(v, k->min4), k->max4);
            out[0] = (int8_t)v;
            out[a1] = (int8_t)(v >> 8);
            out[g->a2] = (int8_t)(v >> 16);
        } else {
            const int8_t v0 = req3(k, mode, sum[0]), v1 = req3(k, mode, sum[1]);
            const int8_t v2 = req3(k, mode, sum[2]);
            out[0] = v0;
            out[a1] = v1;
            out[g->a2] = v2;
        }
    } else if (g->tail == 2) {
        int32_t sum[2];
        block2(k, s, &r0, &r1, &r2, sum);
        if (mode == 2) {
            uint32_t v = (uint32_t)sat3(k, sum[0]); /* bytes 2, 3 unused */
            v = tc_put8(v, (uint32_t)sat3(k, sum[1]), 1);
            v = tc_min_s8x4(tc_max_s8x4(v, k->min4), k->max4);
            out[0] = (int8_t)v;
            out[a1] = (int8_t)(v >> 8);
        } else {
            const int8_t v0 = req3(k, mode, sum[0]), v1 = req3(k, mode, sum[1]);
            out[0] = v0;
            out[a1] = v1;
        }
    } else if (g->tail == 1) {
        out[0] = req3(k, mode, taps1(k, 2, r2, taps1(k, 1, r1, taps1(k, 0, r0, k->bias))));
    }
#else
    (void)k, (void)mode, (void)s, (void)r0, (void)r1, (void)r2, (void)g, (void)out, (void)a1;
#endif
}

#ifndef TC_SIMD_DSP
/* req3 from the fields as locals. */
static TC_INLINE int8_t out_c(int mode, int32_t acc, int32_t m, int32_t round, int32_t sh,
                              int32_t shift, int32_t z_out, int32_t lo, int32_t hi)
{
    if (mode == 0) {
        return tc_requantize_s8(acc, m, shift, z_out, lo, hi);
    }
    const int32_t v = tc_sat8(tc_mulhi_add(acc, m, round) >> sh);
    return (int8_t)(mode == 2 ? clip(v, lo, hi) : v);
}
#endif

/* Sweeps i = 0 .. m-1 of one channel: rows r0 + i s pw .. (wrapping around at end, a
   ring's), outputs at out + i across. */
static TC_INLINE void band3(const chan3 *k, int mode, int s, const int16_t *r0,
                            const int16_t *end, int32_t m, const geom3 *g, int8_t *out)
{
    const int32_t pw = g->lay.cols, plane = g->plane;
#ifdef TC_SIMD_DSP
    for (int32_t i = 0; i < m; ++i, out += g->across) {
        const int16_t *r1 = r0 + pw, *r2 = r1 + pw;
        if (r2 >= end) { /* a ring's rows wrap around */
            r1 = r1 >= end ? r1 - plane : r1;
            r2 -= plane;
        }
        row3x3(k, mode, s, r0, r1, r2, g, out);
        r0 += s * pw;
        r0 = r0 >= end ? r0 - plane : r0;
    }
#else
    /* locals, read once: the stores through out could alias k */
    const int32_t w0 = k->w[0], w1 = k->w[1], w2 = k->w[2], w3 = k->w[3], w4 = k->w[4];
    const int32_t w5 = k->w[5], w6 = k->w[6], w7 = k->w[7], w8 = k->w[8], bias = k->bias;
    const int32_t mul = k->m, round = k->round, sh = k->sh, shift = k->shift;
    const int32_t z_out = k->z_out, lo = k->act_min, hi = k->act_max;
    const size_t a1 = g->along;
    for (int32_t i = 0; i < m; ++i, out += g->across) {
        const int16_t *p0 = r0, *p1 = r0 + pw, *p2 = p1 + pw;
        if (p2 >= end) { /* a ring's rows wrap around */
            p1 = p1 >= end ? p1 - plane : p1;
            p2 -= plane;
        }
        int8_t *o = out;
        int32_t x = 0;
        for (; x + 2 <= g->n; x += 2, p0 += 2 * s, p1 += 2 * s, p2 += 2 * s, o += 2 * a1) {
            /* two outputs: at stride 1 the columns they share loaded once */
            int32_t acc0 = bias + p0[0] * w0 + p0[1] * w1 + p0[2] * w2;
            int32_t acc1 = bias + p0[s] * w0 + p0[s + 1] * w1 + p0[s + 2] * w2;
            acc0 += p1[0] * w3 + p1[1] * w4 + p1[2] * w5;
            acc1 += p1[s] * w3 + p1[s + 1] * w4 + p1[s + 2] * w5;
            acc0 += p2[0] * w6 + p2[1] * w7 + p2[2] * w8;
            acc1 += p2[s] * w6 + p2[s + 1] * w7 + p2[s + 2] * w8;
            o[0] = out_c(mode, acc0, mul, round, sh, shift, z_out, lo, hi);
            o[a1] = out_c(mode, acc1, mul, round, sh, shift, z_out, lo, hi);
        }
        if (x < g->n) {
            int32_t acc = bias;
            acc += p0[0] * w0 + p0[1] * w1 + p0[2] * w2;
            acc += p1[0] * w3 + p1[1] * w4 + p1[2] * w5;
            acc += p2[0] * w6 + p2[1] * w7 + p2[2] * w8;
            o[0] = out_c(mode, acc, mul, round, sh, shift, z_out, lo, hi);
        }
        r0 += s * pw;
        r0 = r0 >= end ? r0 - plane : r0;
    }
#endif
}

/* The output stage's fields shared by every channel. */
static void plan3_layer(const tc_quant_params *q, chan3 *k)
{
    k->z_out = q->z_out;
    k->act_min = q->act_min;
    k->act_max = q->act_max;
    k->min4 = tc_splat8(q->act_min);
    k->max4 = tc_splat8(q->act_max);
    k->sh = 0;
    k->round = 0;
}

/* Channels [c, c + nc)'s levels (transposed: tr), biases and multipliers into k; returns
   the pass's output mode (req3: 0 for a channel whose 31 - shift lies outside [33, 54],
   the SMMLA form's range): the channels' own when they agree, else 0 (exact for any). */
TC_NOINLINE static int plan_pass(const tc_quant_params *q, const tc_dense_weights *w,
                                 int32_t c, int32_t nc, int tr, chan3 *k)
{
    const int range = q->act_min <= -128 && q->act_max >= 127 ? 1 : 2;
    int mode = range;
    for (int32_t j = 0; j < nc; ++j, ++c, ++k) {
#ifdef TC_SIMD_DSP
        if (w->bits == 8) { /* three words: SXTB16 halves, PKHBT / PKHTB pairs */
            const int8_t *w8 = (const int8_t *)w->weights + 9 * c;
            const uint32_t v0 = tc_ld32(w8), v1 = tc_ld32(w8 + 3), v2 = tc_ld32(w8 + 5);
            const uint32_t e0 = __sxtb16(v0), o0 = tc_sxtb16_ror8(v0); /* (w0, w2), (w1, w3) */
            const uint32_t e1 = __sxtb16(v1), o1 = tc_sxtb16_ror8(v1); /* (w3, w5), (w4, w6) */
            const uint32_t e2 = __sxtb16(v2), o2 = tc_sxtb16_ror8(v2); /* (w5, w7), (w6, w8) */
            if (tr) { /* kernel rows (w0, w3, w6), (w1, w4, w7), (w2, w5, w8) */
                k->w[0][0] = pack_lo(e0, e1);
                k->w[0][1] = pack_lo(e1, o2);
                k->w[1][0] = pack_lo(o0, o1);
                k->w[1][1] = pack_bt(o1, e2);
                k->w[2][0] = pack_hi(e0, e1);
                k->w[2][1] = pack_hi(e1, o2);
            } else {
                k->w[0][0] = pack_lo(e0, o0);
                k->w[0][1] = pack_bt(o0, e0);
                k->w[1][0] = pack_lo(e1, o1);
                k->w[1][1] = pack_bt(o1, e1);
                k->w[2][0] = pack_bt(o2, e2);
                k->w[2][1] = pack_hi(e2, o2);
            }
        } else
#endif
        {
            int32_t l[9];
            if (w->bits == 8) { /* rows of int8 */
                const int8_t *w8 = (const int8_t *)w->weights + 9 * c;
                for (int32_t t = 0; t < 9; ++t) { /* transposed: tap (ky, kx) as (kx, ky) */
                    l[t] = w8[tr ? 3 * (t % 3) + t / 3 : t];
                }
            } else {
                for (int32_t t = 0; t < 9; ++t) {
                    l[t] = level(w, 9, c, tr ? 3 * (t % 3) + t / 3 : t);
                }
            }
#ifdef TC_SIMD_DSP
            for (int32_t ky = 0; ky < 3; ++ky) {
                k->w[ky][0] = pack_lo((uint32_t)l[3 * ky], (uint32_t)l[3 * ky + 1]);
                k->w[ky][1] = pack_lo((uint32_t)l[3 * ky + 1], (uint32_t)l[3 * ky + 2]);
            }
#else
            for (int32_t t = 0; t < 9; ++t) {
                k->w[t] = l[t];
            }
#endif
        }
        const int32_t i = q->per_channel ? c : 0, total = 31 - q->shift[i];
        k->bias = tc_bias(q, c);
        k->m = q->m[i];
        k->shift = q->shift[i];
        if (TC_REQUANT_TFLITE || total < 33 || total > 54) {
            mode = 0;
            continue;
        }
        k->sh = total - 32;
        k->round = ((int32_t)1 << (total - 33)) + q->z_out * ((int32_t)1 << (total - 32));
    }
    return mode;
}

/* n int8 values `step` bytes apart, as int16 at dst. */
static void load_row(int16_t *dst, const int8_t *src, size_t step, int32_t n)
{
    const int16_t *end = dst + n;
    for (; end - dst >= 8; dst += 8, src += 8 * step) {
        const int8_t *s4 = src + 4 * step;
        dst[0] = src[0];
        dst[1] = src[step];
        dst[2] = src[2 * step];
        dst[3] = src[3 * step];
        dst[4] = s4[0];
        dst[5] = s4[step];
        dst[6] = s4[2 * step];
        dst[7] = s4[3 * step];
    }
    for (; dst < end; ++dst, src += step) {
        dst[0] = src[0];
    }
}

/* The four channels of one pixel as int16 into the four planes at dst. */
static TC_INLINE void load_pixel4(int16_t *dst, int32_t plane, const int8_t *src)
{
    dst[0] = src[0];
    dst[plane] = src[1];
    dst[2 * plane] = src[2];
    dst[3 * plane] = src[3];
}

#ifdef TC_SIMD_DSP
/* Two pixels `step` bytes apart: their four channels' values, one word in each plane. */
static TC_INLINE void load_pair4(int16_t *d, int32_t plane, const int8_t *p, size_t step)
{
    const uint32_t v0 = tc_ld32(p), v1 = tc_ld32(p + step);
    const uint32_t e0 = __sxtb16(v0), e1 = __sxtb16(v1);
    const uint32_t o0 = tc_sxtb16_ror8(v0), o1 = tc_sxtb16_ror8(v1);
    const uint32_t w0 = pack_lo(e0, e1), w1 = pack_lo(o0, o1);
    const uint32_t w2 = pack_hi(e0, e1), w3 = pack_hi(o0, o1);
    memcpy(d, &w0, sizeof w0);
    memcpy(d + plane, &w1, sizeof w1);
    memcpy(d + 2 * plane, &w2, sizeof w2);
    memcpy(d + 3 * plane, &w3, sizeof w3);
}
#endif

/* `lines` lines (`pw` values apart at dst, `src_line` bytes apart at src) of n pixels
   `step` bytes apart: their first four channels as int16 into four planes `plane` values
   apart (dst: the first plane's). With DSP two pixels at a time: two word loads, SXTB16
   splits each into the channel pairs (0, 2) and (1, 3), PKHBT / PKHTB pair each
   channel's two values into one word of its plane. */
static void load_lines4(int16_t *dst, int32_t plane, int32_t pw, const int8_t *src,
                        size_t src_line, size_t step, int32_t lines, int32_t n)
{
#ifdef TC_SIMD_DSP
    const int odd = ((uintptr_t)dst & 2u) != 0 && n > 0; /* an odd column first: words aligned */
    const int32_t pairs = (n - odd) >> 1;
    for (int32_t y = 0; y < lines; ++y, dst += pw, src += src_line) {
        int16_t *d = dst;
        const int8_t *p = src;
        if (odd) {
            load_pixel4(d, plane, p);
            ++d;
            p += step;
        }
        for (int32_t i = 0; i < pairs; ++i, d += 2, p += 2 * step) {
            load_pair4(d, plane, p, step);
        }
        if (d < dst + n) {
            load_pixel4(d, plane, p);
        }
    }
#else
    for (int32_t y = 0; y < lines; ++y, dst += pw, src += src_line) {
        const int8_t *p = src;
        for (int32_t i = 0; i < n; ++i, p += step) {
            load_pixel4(dst + i, plane, p);
        }
    }
#endif
}

/* n copies of v at p. */
static TC_NOINLINE void fill3(int16_t *p, int16_t v, int32_t n)
{
    for (int32_t x = 0; x < n; ++x) {
        p[x] = v;
    }
}

/* A ring's padded lines [a, b) (line a - pad first) of channels [c, c + nc) (nc: 1 or
   4) into plane rows row.. on (no wrap), pad_value for the lines outside the input. */
static void bring3(const geom3 *g, int32_t nc, int16_t *buf, const int8_t *input, int32_t a,
                   int32_t b, int32_t row)
{
    const int32_t pw = g->lay.cols;
    const int32_t ia = clip(g->pad - a, 0, b - a), ib = clip(g->lines + g->pad - a, ia, b - a);
    int16_t *dst = buf + row * pw + g->first;
    for (int32_t j = 0; (ia > 0 || ib < b - a) && j < nc; ++j) { /* the lines outside */
        int16_t *p = dst + j * g->plane;
        for (int32_t r = 0; r < ia; ++r) {
            fill3(p + r * pw, g->pad_value, g->len);
        }
        for (int32_t r = ib; r < b - a; ++r) {
            fill3(p + r * pw, g->pad_value, g->len);
        }
    }
    if (ia == ib) {
        return;
    }
    const int8_t *src = input + (size_t)(a + ia - g->pad) * g->src_line;
    dst += ia * pw;
    if (nc == 4) {
        load_lines4(dst, g->plane, pw, src, g->src_line, g->src_elem, ib - ia, g->len);
        return;
    }
    for (int32_t y = ia; y < ib; ++y, dst += pw, src += g->src_line) {
        load_row(dst, src, g->src_elem, g->len);
    }
}

/* Every output of channels [c, c + nc) (nc: 1 or 4; input, output: channel c's byte of
   pixel (0, 0)) through their planar inputs in buf (layout3, plane j at buf + j plane;
   the columns outside the input hold pad_value), a band of m sweeps at a time, channel
   after channel, sweep after sweep. Each band brings in the lines it does not share with
   the one before (every line is read once) before its outputs are written. mode, s:
   constants of each copy. */
static TC_INLINE void pass3(const geom3 *g, const chan3 *k, int32_t nc, int mode, int s,
                            int16_t *buf, const int8_t *input, int8_t *output)
{
    const int32_t pw = g->lay.cols, plane = g->plane, rows = g->lay.rows;
    const int ring = g->lay.kind == 0; /* the rows of whole channels never wrap around */
    int32_t next = 0; /* ring: the next padded line to bring in */
    if (!ring) { /* whole channels: every line inside, the rest holds pad_value */
        if (nc == 4) {
            load_lines4(buf + g->dst0, plane, pw, input, g->src_line, g->src_elem, g->whole,
                        g->len);
        } else {
            int16_t *dst = buf + g->dst0;
            const int8_t *src = input;
            for (int32_t y = 0; y < g->whole; ++y, dst += pw, src += g->src_line) {
                load_row(dst, src, g->src_elem, g->len);
            }
        }
    }
    for (int32_t oy = 0; oy < g->sweeps; oy += g->lay.m) {
        const int32_t m = g->sweeps - oy < g->lay.m ? g->sweeps - oy : g->lay.m;
        const int32_t end = (oy + m - 1) * s + 3;
        while (ring && next < end) { /* runs of plane rows without a wrap */
            const int32_t row = next % rows, run = end - next < rows - row ? end - next
                                                                            : rows - row;
            bring3(g, nc, buf, input, next, next + run, row);
            next += run;
        }
        const int32_t q = oy * s % rows; /* plane row of the band's first line */
        for (int32_t j = 0; j < nc; ++j) {
            const int16_t *p = buf + j * plane;
            band3(&k[j], mode, s, p + q * pw, p + plane, m, g,
                  output + j + (size_t)oy * g->across);
        }
    }
}

typedef void (*pass3_fn)(const geom3 *g, const chan3 *k, int32_t nc, int16_t *buf,
                         const int8_t *input, int8_t *output);

#define TC_DW_PASS(name, mode, s)                                                          \
    TC_NOINLINE static void name(const geom3 *g, const chan3 *k, int32_t nc, int16_t *buf, \
                                 const int8_t *input, int8_t *output)                     \
    {                                                                                      \
        pass3(g, k, nc, mode, s, buf, input, output);                                      \
    }
TC_DW_PASS(pass_slow, 0, 1)
TC_DW_PASS(pass_full, 1, 1)
TC_DW_PASS(pass_clamp, 2, 1)
TC_DW_PASS(pass_slow_s2, 0, 2)
TC_DW_PASS(pass_full_s2, 1, 2)
TC_DW_PASS(pass_clamp_s2, 2, 2)

int32_t tc_dwconv2d_dense_s8_buffer_size(const tc_conv_dims *dims)
{
    if (!tc_conv_dims_ok(dims, 1)) {
        return 0;
    }
    return planar3(dims) ? planar_bytes(dims) : (int32_t)sizeof(group_weights);
}

tc_status tc_dwconv2d_dense_s8(const tc_context *ctx, const tc_conv_dims *dims,
                               const tc_quant_params *quant, const tc_dense_weights *weights,
                               const int8_t *input, int8_t *output)
{
    if (!tc_dense_ok(weights)) {
        return TC_ERR_ARG;
    }
    if (!tc_conv_dims_ok(dims, 1) || !tc_quant_ok(quant) || input == NULL || output == NULL) {
        return TC_ERR_ARG;
    }
    if (ctx == NULL || ctx->buf == NULL || ctx->size < tc_dwconv2d_dense_s8_buffer_size(dims)) {
        return TC_ERR_ARG;
    }
    const int32_t taps = dims->kernel_h * dims->kernel_w, channels = dims->in_c;
    if (rows3(dims)) {
        geom3 g;
        plan_geom(dims, &g);
        const int32_t n = (TC_DW_LOAD4 ? TC_DW_PASS_MAX : 1) * g.plane;
        int16_t *buf = (int16_t *)ctx->buf;
        for (int32_t i = 0; i < n; ++i) { /* the columns and rows outside the input */
            buf[i] = g.pad_value;
        }
        static const pass3_fn fns[2][3] = {{pass_slow, pass_full, pass_clamp},
                                           {pass_slow_s2, pass_full_s2, pass_clamp_s2}};
        const pass3_fn *f = fns[g.s - 1];
        chan3 k[TC_DW_PASS_MAX];
        for (int32_t j = 0; j < TC_DW_PASS_MAX; ++j) {
            plan3_layer(quant, &k[j]);
        }
        for (int32_t c = 0, nc; c < channels; c += nc) {
            nc = TC_DW_LOAD4 && channels - c >= TC_DW_PASS_MAX ? TC_DW_PASS_MAX : 1;
            const int mode = plan_pass(quant, weights, c, nc, g.lay.kind == 2, k);
            f[mode](&g, k, nc, buf, input + c, output + c);
        }
        return TC_OK;
    }
    if (taps > TC_DW_MAX_TAPS || channels < 4) {
        for (int32_t c = 0; c < channels; ++c) {
            sweep1(dims, weights, quant, c, (int32_t *)ctx->buf, input + c, output + c);
        }
        return TC_OK;
    }
    const int32_t whole = channels / 4 * 4;
    for (int32_t c = 0; c < whole; c += 4) {
        group(dims, quant, weights, c, (group_weights *)ctx->buf, input + c, output + c);
    }
    for (int32_t c = whole; c < channels; ++c) { /* no group re-reads an earlier one's */
        sweep1(dims, weights, quant, c, (int32_t *)ctx->buf, input + c, output + c);
    }
    return TC_OK;
}
