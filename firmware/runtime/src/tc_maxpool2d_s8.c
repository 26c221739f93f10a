/* Max pool; see tc_int_ops.h. Twin of int_ops.max_pool2d_s8. */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

static int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Running max of the window's valid taps, kept in out[0..channels). */
static void window_max(const int8_t *in, const tc_pool_geom *g, int32_t y0, int32_t x0,
                       int8_t *out)
{
    const int32_t ky0 = clip(-y0, 0, g->pool_h), ky1 = clip(g->in_h - y0, 0, g->pool_h);
    const int32_t kx0 = clip(-x0, 0, g->pool_w), kx1 = clip(g->in_w - x0, 0, g->pool_w);
    for (int32_t c = 0; c < g->channels; c++) {
        out[c] = INT8_MIN;
    }
    for (int32_t ky = ky0; ky < ky1; ky++) {
        for (int32_t kx = kx0; kx < kx1; kx++) {
            const int8_t *src = in + ((size_t)(y0 + ky) * (size_t)g->in_w + (size_t)(x0 + kx)) *
                                         (size_t)g->channels;
            for (int32_t c = 0; c < g->channels; c++) {
                out[c] = src[c] > out[c] ? src[c] : out[c];
            }
        }
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
    for (int32_t oy = 0; oy < g->out_h; oy++) {
        for (int32_t ox = 0; ox < g->out_w; ox++) {
            window_max(in, g, oy * g->stride_h - g->pad_top, ox * g->stride_w - g->pad_left, out);
            for (int32_t c = 0; c < g->channels; c++) {
                out[c] = tc_requantize_s8((int32_t)out[c] - p->in_zp, p->multiplier, p->shift,
                                          p->out_zp, p->act_min, p->act_max);
            }
            out += g->channels;
        }
    }
    return TC_OK;
}
