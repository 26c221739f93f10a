/* Concatenation with rescale; see tc_int_ops.h. Twin of int_ops.concat_s8. */
#include <string.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

/* (2^30, 1) is exactly 1.0: with equal zero points and no clamp, a plain copy. */
static int is_identity(const tc_rescale_params *r)
{
    return r->multiplier == ((int32_t)1 << 30) && r->shift == 1 && r->in_zp == r->out_zp &&
           r->act_min <= INT8_MIN && r->act_max >= INT8_MAX;
}

static void copy_rescaled(const int8_t *src, int32_t n, const tc_rescale_params *r,
                          int8_t *dst)
{
    if (is_identity(r)) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        dst[i] = tc_requantize_s8((int32_t)src[i] - r->in_zp, r->multiplier, r->shift,
                                  r->out_zp, r->act_min, r->act_max);
    }
}

tc_status tc_concat_s8(const int8_t *const *inputs, const tc_concat_params *p, int8_t *out)
{
    if (inputs == NULL || p == NULL || out == NULL || p->n_inputs < 1 || p->outer < 1 ||
        p->inner_sizes == NULL || p->inputs == NULL) {
        return TC_ERR_ARG;
    }
    for (int32_t k = 0; k < p->n_inputs; k++) {
        if (inputs[k] == NULL || p->inner_sizes[k] < 0) {
            return TC_ERR_ARG;
        }
    }
    for (int32_t o = 0; o < p->outer; o++) {
        for (int32_t k = 0; k < p->n_inputs; k++) {
            const int32_t n = p->inner_sizes[k];
            copy_rescaled(inputs[k] + (size_t)o * (size_t)n, n, &p->inputs[k], out);
            out += n;
        }
    }
    return TC_OK;
}
