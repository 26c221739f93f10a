/**
 * @file tc_pool_internal.h
 * @brief Internals shared by the pool kernels (not a public API): the valid
 *        taps of a window and the average pools' output stage.
 */
#ifndef TC_POOL_INTERNAL_H
#define TC_POOL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tc_int_ops.h"
#include "tc_requant.h"
#include "tc_simd.h"

/** The valid taps of window (oy, ox): rows x cols of them, the first at input offset `first`. */
typedef struct {
    size_t first;
    int32_t rows, cols;
} tc_window;

static inline int32_t tc_clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline tc_window tc_window_at(const tc_pool_geom *g, int32_t oy, int32_t ox)
{
    const int32_t y0 = oy * g->stride_h - g->pad_top, x0 = ox * g->stride_w - g->pad_left;
    const int32_t ky0 = tc_clip(-y0, 0, g->pool_h), ky1 = tc_clip(g->in_h - y0, 0, g->pool_h);
    const int32_t kx0 = tc_clip(-x0, 0, g->pool_w), kx1 = tc_clip(g->in_w - x0, 0, g->pool_w);
    tc_window w;
    w.first = ((size_t)(y0 + ky0) * (size_t)g->in_w + (size_t)(x0 + kx0)) * (size_t)g->channels;
    w.rows = ky1 - ky0;
    w.cols = kx1 - kx0;
    return w;
}

/** Output columns [*lo, *hi) whose windows have all pool_w columns inside the input. */
static inline void tc_full_cols(const tc_pool_geom *g, int32_t *lo, int32_t *hi)
{
    const int32_t room = g->in_w - g->pool_w + g->pad_left; /* last full x0 + pad_left */
    const int32_t h = room < 0 ? 0 : room / g->stride_w + 1;
    *hi = h < g->out_w ? h : g->out_w;
    const int32_t l = (g->pad_left + g->stride_w - 1) / g->stride_w;
    *lo = l < *hi ? l : *hi;
}

/** 1 when window row oy has all pool_h rows inside the input. */
static inline int tc_full_row(const tc_pool_geom *g, int32_t oy)
{
    const int32_t y0 = oy * g->stride_h - g->pad_top;
    return y0 >= 0 && y0 + g->pool_h <= g->in_h;
}

/**
 * Average pool output: out = clamp(sgn(acc) * rq(|acc|, m, shift) + z_out),
 * T = 31 - shift. Ties away from zero are a rounding constant one smaller
 * for acc < 0 (-floor((a m + 2^(T-1)) / 2^T) = floor((-a m + 2^(T-1) - 1) / 2^T)),
 * so one signed step gives the same integer, s = 1 for acc < 0, else 0:
 *   out = floor((acc * m + 2^(T-1) + z_out * 2^T - s) / 2^T).
 * Mode 1: with m = m' 2^z (z <= T - 1) numerator and denominator share 2^z
 *   but for the -s, which floor absorbs (floor((2^z M - 1) / 2^z) = M - 1),
 *   so m', T' = T - z give the same result; used when that sum fits an int32
 *   for every |acc| <= acc_max (equal scales and a power-of-two count: m' = 1).
 * Mode 3 (T in [32, 54]): doubled, floor((2 acc m - 2 s + 2^T + z_out 2^(T+1)) / 2^(T+1))
 *   = floor((floor(2 acc m / 2^32) + 2^(T-32) + z_out 2^(T-31)) / 2^(T-31))
 *   as long as 2 acc m is never a multiple of 2^32 (then subtracting 2 s from
 *   the even 2 acc m never crosses one): 1 + log2(acc_max) + (trailing zeros
 *   of m) < 32. One SMMLA and a shift.
 * Mode 0 (anything else): the reference formula.
 */
typedef struct {
    int32_t mode;
    int32_t m, sh, c;     /**< 1: m', T', 2^(T'-1) + z_out 2^T';
                               3: m, T - 31, 2^(T-32) + z_out 2^(T-31) */
    int32_t shift, z_out; /**< mode 0 */
} tc_avg_out;

static inline int32_t tc_log2_floor(int32_t v)
{
    int32_t k = 0;
    while ((v >>= 1) != 0) {
        ++k;
    }
    return k;
}

/** The output stage of windows whose |acc| <= acc_max < 2^24 (acc_max >= 1). */
static inline tc_avg_out tc_avg_out_make(int32_t m, int32_t shift, int32_t z_out, int32_t acc_max)
{
    const int32_t total = 31 - shift;
    tc_avg_out o = {0, m, 0, 0, shift, z_out};
    int32_t m1 = m, t1 = total, zeros = 0;
    while (t1 > 1 && (m1 & 1) == 0) {
        m1 >>= 1;
        --t1;
        ++zeros;
    }
    if (t1 <= 30) {
        const int64_t c = ((int64_t)1 << (t1 - 1)) + (int64_t)z_out * ((int64_t)1 << t1);
        const int64_t c_abs = c < 0 ? -c : c;
        if ((int64_t)acc_max * m1 + c_abs + 1 < ((int64_t)1 << 31)) {
            o.mode = 1;
            o.m = m1;
            o.sh = t1;
            o.c = (int32_t)c;
            return o;
        }
    }
    if (total >= 32 && total <= 54 && 1 + tc_log2_floor(acc_max) + zeros < 32) {
        o.mode = 3;
        o.sh = total - 31;
        o.c = ((int32_t)1 << (total - 32)) + z_out * ((int32_t)1 << (total - 31));
    }
    return o;
}

/** out before the clamp in mode 1 or 3 (a constant where the caller can make it one). */
static TC_INLINE int32_t tc_avg_out_fast(const tc_avg_out *o, int32_t acc, int32_t mode)
{
    if (mode == 1) {
        return (acc * o->m + o->c + (acc >> 31)) >> o->sh;
    }
    return tc_mulhi_add(acc * 2, o->m, o->c) >> o->sh;
}

/** out before the clamp, any mode. */
static inline int32_t tc_avg_out_value(const tc_avg_out *o, int32_t acc)
{
    if (o->mode != 0) {
        return tc_avg_out_fast(o, acc, o->mode);
    }
    const int32_t mag = tc_requantize_single(acc < 0 ? -acc : acc, o->m, o->shift);
    return (acc < 0 ? -mag : mag) + o->z_out;
}

static inline int8_t tc_clamp8(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

/**
 * The rescale after a max (max pools): out = clamp(rq(x - in_zp, m, shift) + out_zp).
 * The build never rescales a max (its output keeps the input's scale and zero
 * point: m = 2^30, shift = 1, rq(v) = floor(v + 1/2) = v), so that identity is
 * the fast case: the running max starts at act_min (the clamp to act_min
 * commutes with the max) and, when act_max < 127, ends in a lane-wise min.
 * Any other rescale takes tc_requantize_s8 lane by lane.
 */
typedef struct {
    int32_t identity;
    uint32_t start, hi4; /**< identity: the running max's start (act_min), act_max; four lanes */
    tc_rescale_params p;
} tc_max_out;

static inline tc_max_out tc_max_out_make(const tc_rescale_params *p)
{
    tc_max_out o;
    o.identity = p->multiplier == ((int32_t)1 << 30) && p->shift == 1 && p->in_zp == p->out_zp;
    o.start = o.identity ? tc_splat8(p->act_min) : 0x80808080u;
    o.hi4 = tc_splat8(p->act_max);
    o.p = *p;
    return o;
}

/** One channel's maximum (from o->start) -> its output. */
static inline int8_t tc_max_out_one(const tc_max_out *o, int32_t m)
{
    if (o->identity) {
        return (int8_t)(m < o->p.act_max ? m : o->p.act_max);
    }
    return tc_requantize_s8(m - o->p.in_zp, o->p.multiplier, o->p.shift, o->p.out_zp,
                            o->p.act_min, o->p.act_max);
}

/** Four channels' maxima (lanes of m, from o->start) -> their four outputs. */
static inline uint32_t tc_max_out_word(const tc_max_out *o, uint32_t m)
{
    if (o->identity) {
        return o->p.act_max < 127 ? tc_min_s8x4(m, o->hi4) : m;
    }
    uint32_t w = 0u;
    for (int lane = 0; lane < 4; ++lane) {
        w |= (uint32_t)(uint8_t)tc_max_out_one(o, tc_lane8(m, lane)) << (8 * lane);
    }
    return w;
}

#endif /* TC_POOL_INTERNAL_H */
