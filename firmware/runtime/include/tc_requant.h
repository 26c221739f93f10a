/**
 * @file tc_requant.h
 * @brief Fixed-point requantization shared by every tinycompress kernel.
 *
 * A real multiplier r is stored as (m, shift), m in [2^30, 2^31),
 * r ~= m * 2^(shift - 31). One rounding step in 64-bit arithmetic:
 *   total = 31 - shift;  out = (acc * m + 2^(total-1)) >> total
 * The numpy twin is tinycompress/reference/requant.py; both must agree bit
 * for bit. Right shift of a negative int64 is arithmetic with GCC.
 */
#ifndef TC_REQUANT_H
#define TC_REQUANT_H

#include <stdint.h>

static inline int32_t tc_requantize(int32_t acc, int32_t m, int32_t shift)
{
    const int32_t total = 31 - shift;
    const int64_t prod = (int64_t)acc * (int64_t)m + ((int64_t)1 << (total - 1));
    return (int32_t)(prod >> total);
}

/** Requantize, add the output zero point and clamp to [act_min, act_max]. */
static inline int8_t tc_requantize_s8(int32_t acc, int32_t m, int32_t shift,
                                      int32_t zero_point, int32_t act_min, int32_t act_max)
{
    int32_t v = tc_requantize(acc, m, shift) + zero_point;
    if (v < act_min) {
        v = act_min;
    }
    if (v > act_max) {
        v = act_max;
    }
    return (int8_t)v;
}

#endif /* TC_REQUANT_H */
