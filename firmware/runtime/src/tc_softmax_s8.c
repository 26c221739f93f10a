/* Softmax; see tc_int_ops.h. Twin of int_eval.softmax_s8 (TC_ARITHMETIC_TFLITE:
   of tflite_math.softmax_s8, TFLite's reference int8 softmax). */
#include <stddef.h>

#include "tc_int_ops.h"
#include "tc_requant.h"

#define TC_SOFTMAX_MAX_ROW 2047

#if TC_REQUANT_TFLITE
/* gemmlowp SaturatingRoundingMultiplyByPOT<e>, e > 0: x * 2^e saturated to int32. */
static int32_t sat_shift_left(int32_t x, int32_t e)
{
    const int32_t threshold = ((int32_t)1 << (31 - e)) - 1;
    return x > threshold ? INT32_MAX : x < -threshold ? INT32_MIN : x * ((int32_t)1 << e);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 a in [0, 1) -> Q0.31 1 / (1 + a). */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t s = (int64_t)a + INT32_MAX; /* RoundingHalfSum(a, One()) */
    const int32_t half_denominator = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + tc_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 d, Q2.29 */
    for (int32_t i = 0; i < 3; i++) {
        const int32_t one_minus = ((int32_t)1 << 29) - tc_srdhm(half_denominator, x);
        x = x + sat_shift_left(tc_srdhm(x, one_minus), 2);
    }
    return sat_shift_left(x, 1);
}

/* exp_table[d] = gemmlowp exp of the rescaled difference -d (Q0.31, 0 where TFLite skips
   the value); the sum is in Q12.19, as TFLite's, and GetReciprocal scales it. */
static void softmax_row(const int8_t *in, int32_t n, const int32_t *exp_table, int8_t *out)
{
    int32_t mx = in[0];
    for (int32_t i = 1; i < n; i++) {
        mx = in[i] > mx ? in[i] : mx;
    }
    int32_t sum = 0;
    for (int32_t i = 0; i < n; i++) {
        sum += tc_rdbp(exp_table[mx - in[i]], 12);
    }
    int32_t headroom_plus_one = 0;
    while (headroom_plus_one < 32 && ((uint32_t)sum << headroom_plus_one) < 0x80000000u) {
        headroom_plus_one++;
    }
    const int32_t bits_over_unit = 12 - headroom_plus_one;
    const int32_t scale = one_over_one_plus_x(
        (int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u));
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = tc_rdbp(tc_srdhm(scale, exp_table[mx - in[i]]), bits_over_unit + 23) - 128;
        out[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
    }
}
#else
static void softmax_row(const int8_t *in, int32_t n, const int32_t *exp_table, int8_t *out)
{
    int32_t mx = in[0];
    for (int32_t i = 1; i < n; i++) {
        mx = in[i] > mx ? in[i] : mx;
    }
    /* exp_table[0] = 2^20 and n <= 2047 keep the sum below 2^31. */
    uint32_t sum = 0;
    for (int32_t i = 0; i < n; i++) {
        sum += (uint32_t)exp_table[mx - in[i]];
    }
    const uint32_t half = sum / 2u;
    for (int32_t i = 0; i < n; i++) {
        const uint32_t q = ((uint32_t)exp_table[mx - in[i]] * 256u + half) / sum;
        const int32_t v = (int32_t)q - 128;
        out[i] = (int8_t)(v > 127 ? 127 : v);
    }
}
#endif

tc_status tc_softmax_s8(const int8_t *in, int32_t rows, int32_t row_len,
                        const int32_t *exp_table, int8_t *out)
{
    if (in == NULL || exp_table == NULL || out == NULL || rows < 0 || row_len < 1 ||
        row_len > TC_SOFTMAX_MAX_ROW) {
        return TC_ERR_ARG;
    }
    for (int32_t r = 0; r < rows; r++) {
        softmax_row(in + (size_t)r * (size_t)row_len, row_len, exp_table,
                    out + (size_t)r * (size_t)row_len);
    }
    return TC_OK;
}
