/**
 * @file tc_requant.h
 * @brief Fixed-point requantization shared by every tinycompress kernel.
 *
 * A real multiplier r is stored as (m, shift), m in [2^30, 2^31),
 * r ~= m * 2^(shift - 31). One rounding step in 64-bit arithmetic:
 *   total = 31 - shift;  out = (acc * m + 2^(total-1)) >> total
 * The numpy twin is tinycompress/reference/requant.py; both must agree bit
 * for bit. Right shift of a negative int64 is arithmetic with GCC.
 *
 * Built with TC_ARITHMETIC_TFLITE (models read from int8 .tflite files, whose
 * results must equal TFLite's), tc_requantize rounds as TFLite's
 * MultiplyByQuantizedMultiplier does: twice, half away from zero,
 *   rdbp(srdhm(acc * 2^max(shift, 0), m), max(-shift, 0))
 * (numpy twin: tinycompress/reference/tflite_math.py). Kernels test
 * TC_REQUANT_TFLITE to skip short forms that assume the single rounding.
 * tc_requantize_single stays the single rounding (average pools use it either way).
 */
#ifndef TC_REQUANT_H
#define TC_REQUANT_H

#include <stdint.h>

static inline int32_t tc_requantize_single(int32_t acc, int32_t m, int32_t shift)
{
    const int32_t total = 31 - shift;
    const int64_t prod = (int64_t)acc * (int64_t)m + ((int64_t)1 << (total - 1));
    return (int32_t)(prod >> total);
}

/** TFLite's SaturatingRoundingDoublingHighMul: round_half_away(a * b / 2^31). */
static inline int32_t tc_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t s = ab + (ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30));
    /* C's division truncates toward zero: so does this, without a 64-bit division */
    return (int32_t)(s >= 0 ? s >> 31 : -((-s) >> 31));
}

/** TFLite's RoundingDivideByPOT: round_half_away(x / 2^e), e in [0, 31]. */
static inline int32_t tc_rdbp(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/**
 * TFLite's rdbp(srdhm(acc, m), r) for r = -shift >= 1 (every real layer), in one step:
 * both roundings are half away from zero, so on the magnitude they fold into
 *   floor((|acc| m + 2^30 + 2^(30+r) - [acc < 0]) / 2^(31+r)), negated for acc < 0
 * (floor((floor(x) + k) / n) = floor((x + k) / n)); one 64-bit multiply-add, the high
 * word shifted by r - 1. m in [2^30, 2^31), so the sum stays below 2^63.
 */
static inline int32_t tc_requantize_tflite_right(int32_t acc, int32_t m, int32_t shift)
{
    const int32_t r = -shift;
    const uint32_t neg = acc < 0 ? 1u : 0u;
    const uint32_t mag = neg ? 0u - (uint32_t)acc : (uint32_t)acc;
    const uint64_t c = ((uint64_t)1 << 30) + ((uint64_t)1 << (30 + r)) - neg;
    const uint32_t hi = (uint32_t)(((uint64_t)mag * (uint32_t)m + c) >> 32);
    const int32_t q = (int32_t)(hi >> (r - 1));
    return neg ? -q : q;
}

/** TFLite's MultiplyByQuantizedMultiplier (double rounding). */
static inline int32_t tc_requantize_tflite(int32_t acc, int32_t m, int32_t shift)
{
    if (shift < 0 && m > 0) {
        return tc_requantize_tflite_right(acc, m, shift);
    }
    const int32_t left = shift > 0 ? shift : 0;
    return tc_rdbp(tc_srdhm(acc * ((int32_t)1 << left), m), shift > 0 ? 0 : -shift);
}

#ifdef TC_ARITHMETIC_TFLITE
#define TC_REQUANT_TFLITE 1
#else
#define TC_REQUANT_TFLITE 0
#endif

static inline int32_t tc_requantize(int32_t acc, int32_t m, int32_t shift)
{
#if TC_REQUANT_TFLITE
    return tc_requantize_tflite(acc, m, shift);
#else
    return tc_requantize_single(acc, m, shift);
#endif
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
