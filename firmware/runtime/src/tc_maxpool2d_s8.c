/**
 * @file tc_maxpool2d_s8.c
 * @brief tc_maxpool2d_s8; see tc_int_ops.h. Twin of int_eval.max_pool2d_s8.
 *
 * Four channels at a time: each window tap is one word load and a lane-wise
 * max (tc_max_s8x4: SSUB8 + SEL with the DSP extension); with channels not a
 * multiple of four the last group overlaps the one before (its outputs are
 * computed twice, to the same values). The runs of full windows along an
 * output row have their own loops (2 x 2 windows unrolled); border windows go
 * one at a time through the same loops.
 * The maxima then take tc_max_out (tc_pool_internal.h): as they are when the
 * rescale is the identity, as the build makes every max pool (the clamp to
 * act_min is the running max's start), else rescaled lane by lane. Fewer
 * than four channels: one at a time.
 */
#include "tc_pool_internal.h"

/* Lane-wise max of `m` and channels [0, 4) of every tap of a rows x cols window. */
static TC_INLINE uint32_t max4(uint32_t m, const int8_t *x, int32_t rows, int32_t cols,
                               size_t row, size_t step)
{
    for (int32_t ky = rows; ky > 0; --ky, x += row) {
        const int8_t *q = x;
        int32_t kx = cols;
        for (; kx >= 2; kx -= 2, q += 2 * step) {
            m = tc_max_s8x4(tc_max_s8x4(m, tc_ld32(q)), tc_ld32(q + step));
        }
        if (kx > 0) {
            m = tc_max_s8x4(m, tc_ld32(q));
        }
    }
    return m;
}

/* The rescale of tc_max_out_word (out of line: the build never rescales a max). */
TC_NOINLINE static uint32_t rescale_word(const tc_max_out *o, uint32_t m)
{
    return tc_max_out_word(o, m);
}

/* `count` windows `xstep` apart along a row (the 2 x 2 size constant after inlining),
   every group of four channels (channels >= 4): the last group is channels - 4,
   overlapping the one before when channels is not a multiple of four (its outputs are
   computed twice, to the same values). */
static TC_INLINE void run(const int8_t *x, int32_t count, size_t xstep, int32_t rows,
                          int32_t cols, size_t row, int32_t channels, const tc_max_out *o,
                          int8_t *out)
{
    const size_t step = (size_t)channels;
    const uint32_t start = o->start, hi4 = o->hi4; /* locals: a word store may alias *o */
    const int32_t kind = !o->identity ? 2 : o->p.act_max < 127 ? 1 : 0;
    for (; count > 0; --count, x += xstep, out += channels) {
        for (int32_t c = 0;; c += 4) {
            c = c < channels - 4 ? c : channels - 4;
            const uint32_t m = max4(start, x + c, rows, cols, row, step);
            tc_st32(out + c, kind == 0 ? m : kind == 1 ? tc_min_s8x4(m, hi4)
                                                      : rescale_word(o, m));
            if (c == channels - 4) {
                break;
            }
        }
    }
}

TC_NOINLINE static void run_2x2(const int8_t *x, int32_t count, size_t xstep, size_t row,
                                int32_t channels, const tc_max_out *o, int8_t *out)
{
    run(x, count, xstep, 2, 2, row, channels, o, out);
}

TC_NOINLINE static void run_any(const int8_t *x, int32_t count, size_t xstep, int32_t rows,
                                int32_t cols, size_t row, int32_t channels, const tc_max_out *o,
                                int8_t *out)
{
    run(x, count, xstep, rows, cols, row, channels, o, out);
}

/* One window of fewer than four channels, one at a time. */
TC_NOINLINE static void window_one(const int8_t *x, int32_t rows, int32_t cols, size_t row,
                                   int32_t channels, const tc_max_out *o, int8_t *out)
{
    for (int32_t c = 0; c < channels; ++c) {
        int32_t m = tc_lane8(o->start, 0);
        const int8_t *xr = x + c;
        for (int32_t ky = 0; ky < rows; ++ky, xr += row) {
            const int8_t *q = xr;
            for (int32_t kx = 0; kx < cols; ++kx, q += channels) {
                m = *q > m ? *q : m;
            }
        }
        out[c] = tc_max_out_one(o, m);
    }
}

/* `count` windows of rows x cols taps, `xstep` apart along a row. */
static void windows(const int8_t *x, int32_t count, size_t xstep, int32_t rows, int32_t cols,
                    int32_t channels, size_t row, const tc_max_out *o, int8_t *out)
{
    if (channels < 4) {
        for (; count > 0; --count, x += xstep, out += channels) {
            window_one(x, rows, cols, row, channels, o, out);
        }
    } else if (rows == 2 && cols == 2) {
        run_2x2(x, count, xstep, row, channels, o, out);
    } else {
        run_any(x, count, xstep, rows, cols, row, channels, o, out);
    }
}

tc_status tc_maxpool2d_s8(const int8_t *in, const tc_pool_geom *g,
                          const tc_rescale_params *p, int8_t *out)
{
    if (in == NULL || g == NULL || p == NULL || out == NULL || g->channels < 1 ||
        g->pool_h < 1 || g->pool_w < 1 || g->stride_h < 1 || g->stride_w < 1 ||
        g->out_h < 1 || g->out_w < 1) {
        return TC_ERR_ARG;
    }
    const int32_t channels = g->channels;
    const size_t row = (size_t)g->in_w * (size_t)channels;
    const size_t xstep = (size_t)g->stride_w * (size_t)channels;
    const tc_max_out o = tc_max_out_make(p);
    int32_t lo, hi;
    tc_full_cols(g, &lo, &hi);
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int full_row = tc_full_row(g, oy);
        for (int32_t ox = 0; ox < g->out_w; ++ox, out += channels) {
            const tc_window w = tc_window_at(g, oy, ox);
            if (full_row && ox == lo && hi > lo) {
                windows(in + w.first, hi - lo, xstep, g->pool_h, g->pool_w, channels, row, &o,
                        out);
                out += (hi - lo - 1) * channels;
                ox = hi - 1;
                continue;
            }
            windows(in + w.first, 1, xstep, w.rows, w.cols, channels, row, &o, out);
        }
    }
    return TC_OK;
}
