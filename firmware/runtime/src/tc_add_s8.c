/* Elementwise add; see tc_int_ops.h. Twin of int_ops.add_s8. */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

#define TC_ADD_MAX_INPUTS 16

tc_status tc_add_s8(const int8_t *const *inputs, int32_t size, const tc_add_params *p,
                    int8_t *out)
{
    if (inputs == NULL || p == NULL || out == NULL || size < 0 || p->n_inputs < 2 ||
        p->n_inputs > TC_ADD_MAX_INPUTS || p->left_shift < 0 || p->left_shift > 22) {
        return TC_ERR_ARG;
    }
    for (int32_t k = 0; k < p->n_inputs; k++) {
        if (inputs[k] == NULL) {
            return TC_ERR_ARG;
        }
    }
    /* A multiply, not <<: left-shifting a negative int is undefined in C99. */
    const int32_t scale = (int32_t)1 << p->left_shift;
    for (int32_t i = 0; i < size; i++) {
        int32_t total = 0;
        for (int32_t k = 0; k < p->n_inputs; k++) {
            const int32_t v = ((int32_t)inputs[k][i] - p->in_zp[k]) * scale;
            total += tc_requantize(v, p->in_multiplier[k], p->in_shift[k]);
        }
        out[i] = tc_requantize_s8(total, p->out_multiplier, p->out_shift, p->out_zp,
                                  p->act_min, p->act_max);
    }
    return TC_OK;
}
