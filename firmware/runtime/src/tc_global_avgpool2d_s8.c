/**
 * @file tc_global_avgpool2d_s8.c
 * @brief tc_global_avgpool2d_s8; see tc_int_ops.h. Twin of int_eval.global_avg_pool2d_s8.
 *
 * Four channels at a time: the positions are added a word at a time into
 * 16-bit lane sums (tc_lanes), flushed into int32 sums every TC_LANES_MAX
 * positions; every channel then takes the output stage of tc_pool_internal.h
 * (its one-step modes up to 2^16 positions, which keeps |acc| < 2^24; the
 * reference formula beyond). The last channels (beyond a multiple of four)
 * one at a time.
 */
#include "tc_pool_internal.h"

/* The sums of channels [0, 4) of x over `positions` rows of `channels`, minus in_zp each. */
static void sums4(const int8_t *x, int32_t positions, int32_t channels, int32_t in_zp,
                  int32_t sum[4])
{
    const size_t step = (size_t)channels;
    sum[0] = sum[1] = sum[2] = sum[3] = 0;
    for (int32_t i = 0; i < positions;) {
        const int32_t n = positions - i < TC_LANES_MAX ? positions - i : TC_LANES_MAX;
        const int32_t bias = n * in_zp;
        tc_lanes l = tc_lanes_start(bias);
        int32_t k = n;
        for (; k >= 2; k -= 2, x += 2 * step) {
            tc_lanes_add(&l, tc_ld32(x));
            tc_lanes_add(&l, tc_ld32(x + step));
        }
        if (k > 0) {
            tc_lanes_add(&l, tc_ld32(x));
            x += step;
        }
        sum[0] += tc_lanes_sum(&l, 0, n, bias);
        sum[1] += tc_lanes_sum(&l, 1, n, bias);
        sum[2] += tc_lanes_sum(&l, 2, n, bias);
        sum[3] += tc_lanes_sum(&l, 3, n, bias);
        i += n;
    }
}

static int32_t sum1(const int8_t *x, int32_t positions, int32_t channels)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < positions; ++i, x += channels) {
        acc += *x;
    }
    return acc;
}

/* One channel's output before the clamp; TC_ARITHMETIC_TFLITE: TFLite's MEAN, one
   requantization of the sum (multiplier already divided by the count). */
static inline int32_t mean_out(const tc_avg_out *o, const tc_rescale_params *p, int32_t acc)
{
#if TC_REQUANT_TFLITE
    (void)o;
    return tc_requantize_tflite(acc, p->multiplier, p->shift) + p->out_zp;
#else
    (void)p;
    return tc_avg_out_value(o, acc);
#endif
}

tc_status tc_global_avgpool2d_s8(const int8_t *in, int32_t positions, int32_t channels,
                                 const tc_rescale_params *p, int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || positions < 1 ||
        positions >= ((int32_t)1 << 23) || channels < 1) {
        return TC_ERR_ARG;
    }
    const int wide = positions > ((int32_t)1 << 16); /* |acc| may pass 2^24 */
    tc_avg_out o = tc_avg_out_make(p->multiplier, p->shift, p->out_zp,
                                   255 * (wide ? 1 : positions));
    if (wide) {
        o.mode = 0; /* the reference formula */
    }
    if (channels >= 4) {
        for (int32_t g = 0; g < (channels + 3) / 4; ++g) {
            const int32_t c = tc_group_first(g, channels);
            int32_t sum[4];
            sums4(in + c, positions, channels, p->in_zp, sum);
            for (int lane = 0; lane < 4; ++lane) {
                out[c + lane] = tc_clamp8(mean_out(&o, p, sum[lane]), p->act_min, p->act_max);
            }
        }
        return TC_OK;
    }
    for (int32_t c = 0; c < channels; ++c) {
        const int32_t acc = sum1(in + c, positions, channels) - positions * p->in_zp;
        out[c] = tc_clamp8(mean_out(&o, p, acc), p->act_min, p->act_max);
    }
    return TC_OK;
}
