/* Table-lookup activation; see tc_int_ops.h. Twin of int_ops.lut_s8. */
#include <stddef.h>

#include "tc_int_ops.h"

tc_status tc_lut_s8(const int8_t *in, int32_t size, const int8_t *table, int8_t *out)
{
    if (in == NULL || table == NULL || out == NULL || size < 0) {
        return TC_ERR_ARG;
    }
    for (int32_t i = 0; i < size; i++) {
        out[i] = table[(int32_t)in[i] + 128];
    }
    return TC_OK;
}
