/**
 * @file tc_dwconv2d_dense_s8.c
 * @brief tc_dwconv2d_dense_s8: channels in groups of four, all output positions per group.
 *
 * The weights of a depthwise layer are one row of kernel_h * kernel_w levels
 * per channel (bit-packed below 8 bits). For each group of four channels the
 * kernel first unpacks their levels into a small block on the stack, tap by
 * tap (TC_DW_MAX_TAPS taps, at most 8 bytes each), then sweeps every output
 * position: per tap one word load brings the four channels' inputs. With the
 * DSP extension SXTB16 splits the word into two pairs of int16 and
 * SMLABB/SMLATT multiply each by the matching weight of the block, whose
 * words hold the levels of channels (c, c+2) and (c+1, c+3) as int16 pairs:
 * four MACs in nine instructions (three loads, two SXTB16, four MACs). 3 x 3
 * kernels (any stride) have their own, fully unrolled copy of the sweep.
 * Without DSP the same sweep in plain C. Only positions whose window lies
 * inside the input take that path; those reaching into the padding
 * (tc_conv_dims) add pad_value times the weights of the taps outside.
 * The output stage is tc_requantize_s8, taken (for 33 <= 31 - shift <= 54,
 * every real layer) as one SMMLA and a shift:
 *   floor((acc m + 2^(T-1) + z_out 2^T) / 2^T)
 *     = floor((floor(acc m / 2^32) + 2^(T-33) + z_out 2^(T-32)) / 2^(T-32)).
 * With channels not a multiple of four the last group overlaps the one
 * before (tc_group_first). Fewer than four channels, and kernels of more than
 * TC_DW_MAX_TAPS taps, are summed one channel at a time. Deepest stack: about
 * 550 bytes (gcc 12 -O2, Cortex-M4 and M3), the weight block 200 of them.
 */
#include "tc_dwconv2d.h"
#include "tc_layouts_internal.h"
#include "tc_simd.h"

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
    int32_t fast; /* every channel has 33 <= T <= 54: round/sh hold the SMMLA form */
    int32_t full; /* [act_min, act_max] = [-128, 127] */
} group_out;

static void plan_out(const tc_quant_params *q, int32_t c, group_out *g)
{
    g->z_out = q->z_out;
    g->act_min = q->act_min;
    g->act_max = q->act_max;
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

static void unpack(const tc_dense_weights *w, int32_t taps, int32_t c, group_weights *b)
{
    for (int32_t t = 0; t < taps; ++t) {
        const int32_t l0 = level(w, taps, c, t), l1 = level(w, taps, c + 1, t);
        const int32_t l2 = level(w, taps, c + 2, t), l3 = level(w, taps, c + 3, t);
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

/* acc += z times the weights of tap t (a tap in the padding). */
static void pad4(acc4 *a, int32_t z, const group_weights *b, int32_t t)
{
#ifdef TC_SIMD_DSP
    a->a0 += z * (int16_t)(b->w[t][0] & 0xffffu);
    a->a2 += z * (int16_t)(b->w[t][0] >> 16);
    a->a1 += z * (int16_t)(b->w[t][1] & 0xffffu);
    a->a3 += z * (int16_t)(b->w[t][1] >> 16);
#else
    a->a0 += z * b->w[t][0];
    a->a1 += z * b->w[t][1];
    a->a2 += z * b->w[t][2];
    a->a3 += z * b->w[t][3];
#endif
}

/* A position whose window (top-left input pixel y0, x0) reaches into the padding;
   input points at the group's first channel of input pixel (0, 0). */
TC_NOINLINE static acc4 border4(const tc_conv_dims *d, const group_weights *b, const group_out *g,
                                const int8_t *input, int32_t y0, int32_t x0)
{
    acc4 a = {g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
    for (int32_t ky = 0, t = 0; ky < d->kernel_h; ++ky) {
        const int32_t y = y0 + ky;
        for (int32_t kx = 0; kx < d->kernel_w; ++kx, ++t) {
            const int32_t x = x0 + kx;
            if (y >= 0 && y < d->in_h && x >= 0 && x < d->in_w) {
                mac4(&a, input + ((size_t)y * (size_t)d->in_w + (size_t)x) * (size_t)d->in_c, b,
                     t);
            } else {
                pad4(&a, d->pad_value, b, t);
            }
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

/* acc += one row of three taps (t, t+1, t+2), `step` apart. */
static TC_INLINE void row3(acc4 *a, const int8_t *x, size_t step, const group_weights *b,
                           int32_t t)
{
    mac4(a, x, b, t);
    mac4(a, x + step, b, t + 1);
    mac4(a, x + 2 * step, b, t + 2);
}

/* The four outputs of one position. */
static TC_INLINE void store4(const group_out *g, int easy, const acc4 *a, int8_t *out)
{
    if (easy) {
        out[0] = (int8_t)tc_sat8(tc_mulhi_add(a->a0, g->m[0], g->round[0]) >> g->sh[0]);
        out[1] = (int8_t)tc_sat8(tc_mulhi_add(a->a1, g->m[1], g->round[1]) >> g->sh[1]);
        out[2] = (int8_t)tc_sat8(tc_mulhi_add(a->a2, g->m[2], g->round[2]) >> g->sh[2]);
        out[3] = (int8_t)tc_sat8(tc_mulhi_add(a->a3, g->m[3], g->round[3]) >> g->sh[3]);
    } else {
        out[0] = out_slow(g, 0, a->a0);
        out[1] = out_slow(g, 1, a->a1);
        out[2] = out_slow(g, 2, a->a2);
        out[3] = out_slow(g, 3, a->a3);
    }
}

/* Every output position of channels [c, c + 4); `three`: a 3 x 3 kernel (a constant).
   Output row oy: border columns [0, lo), inside [lo, hi), border [hi, out_w) (all
   border when its window rows reach into the padding). */
static TC_INLINE void sweep4(const tc_conv_dims *d, int three, const group_weights *b,
                             const group_out *g, const int8_t *input, int8_t *output)
{
    const int easy = g->fast && g->full;
    const int32_t kh = d->kernel_h, kw = d->kernel_w;
    const size_t step = (size_t)d->in_c, row = (size_t)d->in_w * step;
    const size_t xstep = (size_t)d->stride_w * step;
    int32_t lo, hi;
    inner_cols(d, &lo, &hi);
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int32_t y0 = oy * d->stride_h - d->pad_top;
        const int in_rows = y0 >= 0 && y0 + kh <= d->in_h;
        const int32_t a0 = in_rows ? lo : d->out_w, a1 = in_rows ? hi : d->out_w;
        int8_t *out = output + (size_t)oy * (size_t)d->out_w * step;
        int32_t ox = 0;
        for (; ox < a0; ++ox, out += step) {
            const acc4 a = border4(d, b, g, input, y0, ox * d->stride_w - d->pad_left);
            store4(g, easy, &a, out);
        }
        if (ox < a1) {
            const int8_t *x = input + (size_t)y0 * row +
                              (size_t)(ox * d->stride_w - d->pad_left) * step;
            for (; ox < a1; ++ox, x += xstep, out += step) {
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
                store4(g, easy, &a, out);
            }
        }
        for (; ox < d->out_w; ++ox, out += step) {
            const acc4 a = border4(d, b, g, input, y0, ox * d->stride_w - d->pad_left);
            store4(g, easy, &a, out);
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
   each level is read from the row as it is needed). */
TC_NOINLINE static void sweep1(const tc_conv_dims *d, const tc_dense_weights *w,
                               const tc_quant_params *q, int32_t c, const int8_t *input,
                               int8_t *output)
{
    const int32_t taps = d->kernel_h * d->kernel_w, kept = taps <= TC_DW_MAX_TAPS;
    int32_t lv[TC_DW_MAX_TAPS];
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

/* Channels [c, c + 4): unpack their weights and output stage, then sweep. */
TC_NOINLINE static void group(const tc_conv_dims *d, const tc_quant_params *q,
                              const tc_dense_weights *w, int32_t c, const int8_t *input,
                              int8_t *output)
{
    group_weights b;
    group_out g;
    unpack(w, d->kernel_h * d->kernel_w, c, &b);
    plan_out(q, c, &g);
    if (d->kernel_h == 3 && d->kernel_w == 3) {
        sweep4_3x3(d, &b, &g, input, output);
    } else {
        sweep4_any(d, &b, &g, input, output);
    }
}

tc_status tc_dwconv2d_dense_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                               const tc_dense_weights *weights, const int8_t *input,
                               int8_t *output)
{
    if (!tc_dense_ok(weights)) {
        return TC_ERR_ARG;
    }
    if (!tc_conv_dims_ok(dims, 1) || !tc_quant_ok(quant) || input == NULL || output == NULL) {
        return TC_ERR_ARG;
    }
    const int32_t taps = dims->kernel_h * dims->kernel_w, channels = dims->in_c;
    if (taps > TC_DW_MAX_TAPS || channels < 4) {
        for (int32_t c = 0; c < channels; ++c) {
            sweep1(dims, weights, quant, c, input + c, output + c);
        }
        return TC_OK;
    }
    for (int32_t k = 0; k < (channels + 3) / 4; ++k) {
        const int32_t c = tc_group_first(k, channels);
        group(dims, quant, weights, c, input + c, output + c);
    }
    return TC_OK;
}
