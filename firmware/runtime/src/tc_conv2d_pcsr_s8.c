/** @file tc_conv2d_pcsr_s8.c  @brief tc_conv2d_pcsr_s8: the pcsr row engine at every output position. */
#include "tc_conv2d.h"
#include "tc_layouts_pcsr_internal.h"

tc_status tc_conv2d_pcsr_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_pcsr_weights *weights, const int8_t *input, int8_t *output)
{
    if (!tc_pcsr_ok(weights)) {
        return TC_ERR_ARG;
    }
    return tc_conv_run(dims, quant, weights, input, output, 0, tc_rows_pcsr_s8);
}
