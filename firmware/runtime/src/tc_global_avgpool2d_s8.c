/* Global average pool; see tc_int_ops.h. Twin of int_ops.global_avg_pool2d_s8. */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

tc_status tc_global_avgpool2d_s8(const int8_t *in, int32_t positions, int32_t channels,
                                 const tc_rescale_params *p, int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || positions < 1 ||
        positions >= ((int32_t)1 << 23) || channels < 1) {
        return TC_ERR_ARG;
    }
    for (int32_t c = 0; c < channels; c++) {
        int32_t acc = 0;
        for (int32_t i = 0; i < positions; i++) {
            acc += in[(size_t)i * (size_t)channels + (size_t)c];
        }
        acc -= positions * p->in_zp;
        /* Round half away from zero: the magnitude is requantized, the sign kept. */
        const int32_t mag = tc_requantize(acc < 0 ? -acc : acc, p->multiplier, p->shift);
        int32_t v = (acc < 0 ? -mag : mag) + p->out_zp;
        v = v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v);
        out[c] = (int8_t)v;
    }
    return TC_OK;
}
