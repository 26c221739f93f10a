/* Softmax; see tc_int_ops.h. Twin of int_ops.softmax_s8. */
#include <stddef.h>

#include "tc_int_ops.h"

#define TC_SOFTMAX_MAX_ROW 2047

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
