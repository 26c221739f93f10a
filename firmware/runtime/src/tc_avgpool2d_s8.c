/* Average pool; see tc_int_ops.h. Twin of int_ops.avg_pool2d_s8. */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

static int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Round half away from zero: the magnitude is requantized, the sign kept. */
static int8_t average(int32_t acc, int32_t n, const tc_avgpool_params *p)
{
    const int32_t mag = tc_requantize(acc < 0 ? -acc : acc, p->multiplier[n], p->shift[n]);
    return (int8_t)clip((acc < 0 ? -mag : mag) + p->out_zp, p->act_min, p->act_max);
}

tc_status tc_avgpool2d_s8(const int8_t *in, const tc_pool_geom *g,
                          const tc_avgpool_params *p, int8_t *out)
{
    if (in == NULL || g == NULL || p == NULL || out == NULL || g->channels < 1 ||
        g->pool_h < 1 || g->pool_w < 1 || g->stride_h < 1 || g->stride_w < 1 ||
        g->out_h < 1 || g->out_w < 1 || p->multiplier == NULL || p->shift == NULL) {
        return TC_ERR_ARG;
    }
    const size_t row = (size_t)g->in_w * (size_t)g->channels;
    for (int32_t oy = 0; oy < g->out_h; oy++) {
        const int32_t y0 = oy * g->stride_h - g->pad_top;
        const int32_t ky0 = clip(-y0, 0, g->pool_h), ky1 = clip(g->in_h - y0, 0, g->pool_h);
        for (int32_t ox = 0; ox < g->out_w; ox++) {
            const int32_t x0 = ox * g->stride_w - g->pad_left;
            const int32_t kx0 = clip(-x0, 0, g->pool_w), kx1 = clip(g->in_w - x0, 0, g->pool_w);
            const int32_t n = (ky1 - ky0) * (kx1 - kx0);
            for (int32_t c = 0; c < g->channels; c++) {
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *src = in + (size_t)(y0 + ky) * row + (size_t)c;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        acc += src[(size_t)(x0 + kx) * (size_t)g->channels];
                    }
                }
                *out++ = average(acc - n * p->in_zp, n, p);
            }
        }
    }
    return TC_OK;
}
