/**
 * @file tc_global_maxpool2d_s8.c
 * @brief tc_global_maxpool2d_s8; see tc_int_ops.h. Twin of int_eval.global_max_pool2d_s8.
 *
 * Four channels at a time (one word load and a lane-wise max, tc_max_s8x4, per
 * position; with channels not a multiple of four the last group overlaps the
 * one before), then the maxima take tc_max_out (tc_pool_internal.h). Fewer
 * than four channels: one at a time.
 */
#include "tc_pool_internal.h"

/* Lane-wise max of `m` and channels [0, 4) of x over `positions` rows of `channels`. */
static uint32_t max4(uint32_t m, const int8_t *x, int32_t positions, int32_t channels)
{
    const size_t step = (size_t)channels;
    int32_t i = 0;
    for (; i + 2 <= positions; i += 2, x += 2 * step) {
        m = tc_max_s8x4(tc_max_s8x4(m, tc_ld32(x)), tc_ld32(x + step));
    }
    return i < positions ? tc_max_s8x4(m, tc_ld32(x)) : m;
}

tc_status tc_global_maxpool2d_s8(const int8_t *in, int32_t positions, int32_t channels,
                                 const tc_rescale_params *p, int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || positions < 1 || channels < 1) {
        return TC_ERR_ARG;
    }
    const tc_max_out o = tc_max_out_make(p);
    if (channels >= 4) {
        for (int32_t g = 0; g < (channels + 3) / 4; ++g) {
            const int32_t c = tc_group_first(g, channels);
            tc_st32(out + c, tc_max_out_word(&o, max4(o.start, in + c, positions, channels)));
        }
        return TC_OK;
    }
    for (int32_t c = 0; c < channels; ++c) {
        int32_t m = tc_lane8(o.start, 0);
        const int8_t *x = in + c;
        for (int32_t i = 0; i < positions; ++i, x += channels) {
            m = *x > m ? *x : m;
        }
        out[c] = tc_max_out_one(&o, m);
    }
    return TC_OK;
}
