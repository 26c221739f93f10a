/**
 * @file tc_add_internal.h
 * @brief The two-input add of tc_add_s8 split into its plan (worked out once) and
 *        its loop, for a kernel that adds many short runs with the same
 *        parameters (tc_conv2d_dense_add_s8: a residual add fused into a
 *        convolution's output stage). Not part of the public API.
 */
#ifndef TC_ADD_INTERNAL_H
#define TC_ADD_INTERNAL_H

#include <stdint.h>

#include "tc_int_ops.h"

/* The two-input short path: a_e = x_e * mul_e + add_e exactly, t = x_r * mul_r + add_r =
   (x_r - z_r) << j, total = a_e + SMMULR(t, m_r), h = SMMLA(total, m_out, round_out). */
typedef struct {
    int32_t mul_e, add_e;
    int32_t mul_r, add_r, m_r;
    int32_t m_out, round_out, shift_out;
} add2_plan;

/** A planned two-input add (tc_add2_init). */
typedef struct {
    add2_plan pl;
    int32_t e;           /**< the input the short path takes exactly, or -1: the reference loop */
    int32_t full;        /**< 1 when act_min..act_max is the whole int8 range */
    uint32_t lo4, d4;    /**< the narrower range's lane constants (tc_add_s8.c) */
    const tc_add_params *p;
} tc_add2;

/** Plan the add of p (n_inputs == 2); 0 when p is not a valid two-input add. */
int tc_add2_init(tc_add2 *a, const tc_add_params *p);

/** out[i] = add(x0[i], x1[i]) for i < size, exactly as tc_add_s8; out may equal x0 or x1. */
void tc_add2_run(const tc_add2 *a, const int8_t *x0, const int8_t *x1, int32_t size, int8_t *out);

#endif /* TC_ADD_INTERNAL_H */
