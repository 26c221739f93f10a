/* Global max pool; see tc_int_ops.h. Twin of int_ops.global_max_pool2d_s8. */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

tc_status tc_global_maxpool2d_s8(const int8_t *in, int32_t positions, int32_t channels,
                                 const tc_rescale_params *p, int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || positions < 1 || channels < 1) {
        return TC_ERR_ARG;
    }
    for (int32_t c = 0; c < channels; c++) {
        out[c] = in[c];
    }
    for (int32_t i = 1; i < positions; i++) {
        const int8_t *src = in + (size_t)i * (size_t)channels;
        for (int32_t c = 0; c < channels; c++) {
            out[c] = src[c] > out[c] ? src[c] : out[c];
        }
    }
    for (int32_t c = 0; c < channels; c++) {
        out[c] = tc_requantize_s8((int32_t)out[c] - p->in_zp, p->multiplier, p->shift,
                                  p->out_zp, p->act_min, p->act_max);
    }
    return TC_OK;
}
