/**
 * @file tc_add_internal.h
 * @brief The two-input add of tc_add_s8 split into its plan (worked out once) and
 *        its loop, for a kernel that adds many short runs with the same
 *        parameters (tc_conv2d_dense_add_s8: a residual add fused into a
 *        convolution's output stage). The short path's loop is here, inline,
 *        and its arithmetic is described in tc_add_s8.c. Not part of the public API.
 */
#ifndef TC_ADD_INTERNAL_H
#define TC_ADD_INTERNAL_H

#include <stdint.h>

#include "tc_int_ops.h"
#include "tc_requant.h"
#include "tc_simd.h"

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

/* x, with the compiler no longer knowing its value (keeps a multiply by 2^j one MLA
   instead of a shift and an add). */
static TC_INLINE int32_t tc_add_opaque(int32_t x)
{
#if defined(__GNUC__)
    __asm__("" : "+r"(x));
#endif
    return x;
}


/* One output, saturated to int8. */
static TC_INLINE uint32_t tc_add2_one(int32_t xe, int32_t xr, const add2_plan *pl)
{
    const int32_t a_e = xe * pl->mul_e + pl->add_e;
    const int32_t total = tc_mulhi_round_add(xr * pl->mul_r + pl->add_r, pl->m_r, a_e);
    return (uint32_t)tc_sat8(tc_mulhi_add(total, pl->m_out, pl->round_out) >> pl->shift_out);
}

/* Elements [0, size & ~3), four per loop branch, packed (BFI) and stored as one word.
   `clamp` (a constant after inlining): the outputs come lifted by d = 127 - act_max, so
   the saturation at 127 was the clamp to act_max; lane-wise max with act_min + d (lo4),
   minus d (d4) is the rest. out may be one of the inputs: a word is stored after its four
   elements were read. */
static TC_INLINE void tc_add2_loop(const int8_t *xe, const int8_t *xr, int32_t size,
                                const add2_plan *plan, int clamp, uint32_t lo4, uint32_t d4,
                                int8_t *out)
{
    add2_plan pl = *plan; /* locals: an int8 store may alias *plan */
    pl.mul_r = tc_add_opaque(pl.mul_r);
    const int8_t *a = xe, *b = xr, *end = xe + (size & ~(int32_t)3);
    for (; a != end; a += 4, b += 4, out += 4) {
        uint32_t w = tc_add2_one(a[0], b[0], &pl);
        w = tc_put8(w, tc_add2_one(a[1], b[1], &pl), 1);
        w = tc_put8(w, tc_add2_one(a[2], b[2], &pl), 2);
        w = tc_put8(w, tc_add2_one(a[3], b[3], &pl), 3);
        tc_st32(out, clamp ? tc_sub8x4(tc_max_s8x4(w, lo4), d4) : w);
    }
}

/** Plan the add of p (n_inputs == 2); 0 when p is not a valid two-input add. */
int tc_add2_init(tc_add2 *a, const tc_add_params *p);

/** out[i] = add(x0[i], x1[i]) for i < size, exactly as tc_add_s8; out may equal x0 or x1. */
void tc_add2_run(const tc_add2 *a, const int8_t *x0, const int8_t *x1, int32_t size, int8_t *out);

/* tc_add2_run's short path inline, for a caller that adds many short runs (the plan's
   constants are loaded once per run, with no call): 0, nothing written, when it does not
   apply (no short path, or size not a multiple of 4). */
static TC_INLINE int tc_add2_fast(const tc_add2 *a, const int8_t *x0, const int8_t *x1,
                                  int32_t size, int8_t *out)
{
    if (a->e < 0 || (size & 3) != 0) {
        return 0;
    }
    const int8_t *xe = a->e == 0 ? x0 : x1, *xr = a->e == 0 ? x1 : x0;
    if (a->full) {
        tc_add2_loop(xe, xr, size, &a->pl, 0, 0u, 0u, out);
    } else {
        tc_add2_loop(xe, xr, size, &a->pl, 1, a->lo4, a->d4, out);
    }
    return 1;
}

#endif /* TC_ADD_INTERNAL_H */
