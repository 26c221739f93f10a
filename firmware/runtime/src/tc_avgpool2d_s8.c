/**
 * @file tc_avgpool2d_s8.c
 * @brief tc_avgpool2d_s8; see tc_int_ops.h. Twin of int_eval.avg_pool2d_s8.
 *
 * Four channels at a time: each window tap is one word load added into two
 * registers of 16-bit lane sums (tc_lanes: SXTAB16 with the DSP extension),
 * then each channel takes the output stage of tc_pool_internal.h (mode 1 or
 * 3); with channels not a multiple of four the last group overlaps the one
 * before. The runs of full windows along an output row share one count and
 * one loop; 2 x 2 windows in mode 3 (the build's: the output scale is
 * calibrated, not the input's) have an unrolled copy; border windows go one
 * at a time through the general loop, the mode chosen per group. Fewer than
 * four channels, windows of more than TC_LANES_MAX taps and mode 0 take the
 * per-channel loop.
 */
#include "tc_pool_internal.h"

typedef struct {
    tc_avg_out o;
    int32_t n, bias;
} count_plan;

static void plan_count(count_plan *c, int32_t n, const tc_avgpool_params *p)
{
    c->n = n;
    c->bias = n * p->in_zp;
    c->o = tc_avg_out_make(p->multiplier[n], p->shift[n], p->out_zp, 255 * n);
}

static TC_INLINE int8_t out1(const tc_lanes *l, int lane, const count_plan *c, int32_t mode)
{
    return (int8_t)tc_sat8(tc_avg_out_fast(&c->o, tc_lanes_sum(l, lane, c->n, c->bias), mode));
}

/* Channels [ch, ch + 4) of one rows x cols window, saturated to int8 (the caller applies
   a narrower act range); mode 1 or 3: a constant, or 0 to choose per group. */
static TC_INLINE void group(const int8_t *x, int32_t ch, int32_t rows, int32_t cols,
                            size_t row, size_t step, const count_plan *c, int32_t mode,
                            int8_t *out)
{
    tc_lanes l = tc_lanes_start(c->bias);
    const int8_t *xr = x + ch;
    for (int32_t ky = rows; ky > 0; --ky, xr += row) {
        const int8_t *q = xr;
        int32_t kx = cols;
        for (; kx >= 2; kx -= 2, q += 2 * step) {
            tc_lanes_add(&l, tc_ld32(q));
            tc_lanes_add(&l, tc_ld32(q + step));
        }
        if (kx > 0) {
            tc_lanes_add(&l, tc_ld32(q));
        }
    }
    int8_t *o = out + ch;
    if (mode == 1 || (mode == 0 && c->o.mode == 1)) {
        o[0] = out1(&l, 0, c, 1);
        o[1] = out1(&l, 1, c, 1);
        o[2] = out1(&l, 2, c, 1);
        o[3] = out1(&l, 3, c, 1);
    } else {
        o[0] = out1(&l, 0, c, 3);
        o[1] = out1(&l, 1, c, 3);
        o[2] = out1(&l, 2, c, 3);
        o[3] = out1(&l, 3, c, 3);
    }
}

/* `count` windows of rows x cols taps, their first taps `xstep` apart (2 x 2 and the mode
   constant after inlining), every group of four channels (channels >= 4): the last group
   is channels - 4, overlapping the one before when channels is not a multiple of four
   (its outputs are computed twice, to the same values). */
static TC_INLINE void run(const int8_t *x, int32_t count, size_t xstep, int32_t rows,
                          int32_t cols, size_t row, int32_t channels, const count_plan *c,
                          int32_t mode, int8_t *out)
{
    const count_plan local = *c; /* registers: an int8 store may alias *c */
    const size_t step = (size_t)channels;
    for (; count > 0; --count, x += xstep, out += channels) {
        for (int32_t ch = 0; ch < channels - 4; ch += 4) {
            group(x, ch, rows, cols, row, step, &local, mode, out);
        }
        group(x, channels - 4, rows, cols, row, step, &local, mode, out);
    }
}

TC_NOINLINE static void run_2x2_mode3(const int8_t *x, int32_t count, size_t xstep,
                                      size_t row, int32_t channels, const count_plan *c,
                                      int8_t *out)
{
    run(x, count, xstep, 2, 2, row, channels, c, 3, out);
}

TC_NOINLINE static void run_any(const int8_t *x, int32_t count, size_t xstep, int32_t rows,
                                int32_t cols, size_t row, int32_t channels,
                                const count_plan *c, int8_t *out)
{
    run(x, count, xstep, rows, cols, row, channels, c, 0, out);
}

/* Every channel of one window, one at a time, any mode. */
TC_NOINLINE static void channels_one(const int8_t *x, int32_t rows, int32_t cols,
                                     size_t row, int32_t channels, const count_plan *c,
                                     int8_t *out)
{
    for (int32_t ch = 0; ch < channels; ++ch) {
        int32_t acc = 0;
        const int8_t *xr = x + ch;
        for (int32_t ky = 0; ky < rows; ++ky, xr += row) {
            for (int32_t kx = 0; kx < cols; ++kx) {
                acc += xr[(size_t)kx * (size_t)channels];
            }
        }
        out[ch] = (int8_t)tc_sat8(tc_avg_out_value(&c->o, acc - c->bias));
    }
}

/* `count` windows of rows x cols taps, `xstep` apart along a row. */
static void windows(const int8_t *x, int32_t count, size_t xstep, int32_t rows, int32_t cols,
                    size_t row, int32_t channels, const count_plan *c, int8_t *out)
{
    if (channels < 4 || c->n > TC_LANES_MAX || c->o.mode == 0) {
        for (; count > 0; --count, x += xstep, out += channels) {
            channels_one(x, rows, cols, row, channels, c, out);
        }
    } else if (rows == 2 && cols == 2 && c->o.mode == 3) {
        run_2x2_mode3(x, count, xstep, row, channels, c, out);
    } else {
        run_any(x, count, xstep, rows, cols, row, channels, c, out);
    }
}

/* Every output was saturated to int8; narrow to [act_min, act_max]. */
static void clamp_all(int8_t *out, size_t size, int32_t lo, int32_t hi)
{
    for (size_t i = 0; i < size; ++i) {
        out[i] = (int8_t)(out[i] < lo ? lo : (out[i] > hi ? hi : out[i]));
    }
}

tc_status tc_avgpool2d_s8(const int8_t *in, const tc_pool_geom *g,
                          const tc_avgpool_params *p, int8_t *out)
{
    if (in == NULL || g == NULL || p == NULL || out == NULL || g->channels < 1 ||
        g->pool_h < 1 || g->pool_w < 1 || g->stride_h < 1 || g->stride_w < 1 ||
        g->out_h < 1 || g->out_w < 1 || p->multiplier == NULL || p->shift == NULL) {
        return TC_ERR_ARG;
    }
    const int32_t channels = g->channels;
    const size_t row = (size_t)g->in_w * (size_t)channels;
    const size_t xstep = (size_t)g->stride_w * (size_t)channels;
    int32_t lo, hi;
    tc_full_cols(g, &lo, &hi);
    count_plan full, c;
    plan_count(&full, g->pool_h * g->pool_w, p);
    c = full;
    int8_t *o = out;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int full_row = tc_full_row(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox, o += channels) {
            const tc_window w = tc_window_at(g, oy, ox);
            if (full_row && ox == lo && hi > lo) {
                windows(in + w.first, hi - lo, xstep, g->pool_h, g->pool_w, row, channels,
                        &full, o);
                o += (hi - lo - 1) * channels;
                ox = hi - 1;
                continue;
            }
            if (w.rows * w.cols != c.n) {
                plan_count(&c, w.rows * w.cols, p);
            }
            windows(in + w.first, 1, xstep, w.rows, w.cols, row, channels, &c, o);
        }
    }
    if (p->act_min > -128 || p->act_max < 127) {
        clamp_all(out, (size_t)g->out_h * (size_t)g->out_w * (size_t)channels, p->act_min,
                  p->act_max);
    }
    return TC_OK;
}
