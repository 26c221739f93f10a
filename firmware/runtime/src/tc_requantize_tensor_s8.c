/* Rescale a tensor; see tc_int_ops.h. Twin of int_ops.requantize_s8. */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

tc_status tc_requantize_tensor_s8(const int8_t *in, int32_t size,
                                  const tc_rescale_params *p, int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || size < 0) {
        return TC_ERR_ARG;
    }
    for (int32_t i = 0; i < size; i++) {
        out[i] = tc_requantize_s8((int32_t)in[i] - p->in_zp, p->multiplier, p->shift,
                                  p->out_zp, p->act_min, p->act_max);
    }
    return TC_OK;
}
