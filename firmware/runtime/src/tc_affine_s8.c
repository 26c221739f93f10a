/* Per-channel affine; see tc_int_ops.h. Twin of int_ops.affine_s8. */
#include <stddef.h>

#include "tc_int_ops.h"

tc_status tc_affine_s8(const int8_t *in, int32_t positions, const tc_affine_params *p,
                       int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || positions < 0 || p->channels < 1 ||
        p->multiplier == NULL || p->shift == NULL || p->offset == NULL) {
        return TC_ERR_ARG;
    }
    for (int32_t i = 0; i < positions; i++) {
        for (int32_t c = 0; c < p->channels; c++) {
            const int64_t v = (int64_t)((int32_t)*in++ - p->in_zp);
            /* Arithmetic >> of a negative int64 (GCC), as in tc_requant.h. */
            int64_t q = (v * p->multiplier[c] + p->offset[c]) >> (31 - p->shift[c]);
            q += p->out_zp;
            q = q < p->act_min ? p->act_min : (q > p->act_max ? p->act_max : q);
            *out++ = (int8_t)q;
        }
    }
    return TC_OK;
}
