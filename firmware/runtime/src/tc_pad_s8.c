/* Constant padding; see tc_int_ops.h. Twin of int_ops.pad_s8. */
#include <string.h>

#include "tc_int_ops.h"

tc_status tc_pad_s8(const int8_t *in, const tc_pad_params *p, int8_t *out)
{
    if (in == NULL || p == NULL || out == NULL || p->in_h < 1 || p->in_w < 1 ||
        p->channels < 1 || p->top < 0 || p->bottom < 0 || p->left < 0 || p->right < 0) {
        return TC_ERR_ARG;
    }
    const int32_t c = p->channels;
    const size_t row_in = (size_t)p->in_w * (size_t)c;
    const size_t row_out = (size_t)(p->in_w + p->left + p->right) * (size_t)c;
    const int fill = (int)(int8_t)p->value;
    memset(out, fill, row_out * (size_t)p->top);
    out += row_out * (size_t)p->top;
    for (int32_t y = 0; y < p->in_h; y++) {
        memset(out, fill, (size_t)p->left * (size_t)c);
        memcpy(out + (size_t)p->left * (size_t)c, in, row_in);
        memset(out + (size_t)p->left * (size_t)c + row_in, fill, (size_t)p->right * (size_t)c);
        in += row_in;
        out += row_out;
    }
    memset(out, fill, row_out * (size_t)p->bottom);
    return TC_OK;
}
