/**
 * @file tc_fc.h
 * @brief Fully-connected int8 layer in each weight layout.
 *
 * output[r] = requant(bias_f[r] + sum_c W[r,c] * input[c]), r < units, c < fan_in.
 * No allocation. The dense kernel takes scratch memory from its caller
 * (tc_fc_dense_s8_buffer_size); the sparse ones need none. input and output
 * must not overlap.
 */
#ifndef TC_FC_H
#define TC_FC_H

#include <stdint.h>

#include "tc_context.h"
#include "tc_layouts.h"
#include "tc_types.h"

/** Dimensions of a fully-connected layer. */
typedef struct {
    int32_t fan_in; /**< inputs (matrix columns), >= 1 */
    int32_t units;  /**< outputs (matrix rows), >= 1 */
} tc_fc_dims;

/**
 * @brief Scratch bytes tc_fc_dense_s8 needs: the input packed as int16 lanes,
 *        2 * fan_in rounded up to whole groups of levels (4 at 8 bits, 8 at 4..7,
 *        16 at 2..3, 32 at 1), plus, when a row's groups read past its end, a
 *        zero-padded copy of the last rows (tc_dense_tail_bytes, tc_layouts_internal.h).
 * @param dims fan_in and units
 * @param bits the weights' bit width, 1..8
 * @return bytes (> 0), or 0 for invalid arguments
 */
int32_t tc_fc_dense_s8_buffer_size(const tc_fc_dims *dims, int32_t bits);

/**
 * @brief Fully connected, dense bit-packed weights.
 * @param ctx     scratch: buf 4-byte aligned, size >= tc_fc_dense_s8_buffer_size(dims, bits);
 *                not overlapping input or output
 * @param dims    fan_in and units
 * @param quant   per-unit bias_f/m/shift [units], z_out, act_min, act_max
 * @param weights dense levels, units x fan_in (tc_dense_weights)
 * @param input   int8 [fan_in]
 * @param output  int8 [units]
 * @return TC_OK, or TC_ERR_ARG for NULL pointers, dims < 1, bits outside 1..8 (or not
 *         compiled, TC_DENSE_BITS) or too little scratch
 */
tc_status tc_fc_dense_s8(const tc_context *ctx, const tc_fc_dims *dims,
                         const tc_quant_params *quant, const tc_dense_weights *weights,
                         const int8_t *input, int8_t *output);

/** @brief Fully connected, CSR weights (col_idx = column numbers). Arguments as tc_fc_dense_s8, without ctx. */
tc_status tc_fc_csr_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                       const tc_csr_weights *weights, const int8_t *input, int8_t *output);

/** @brief Fully connected, CER weights (col_idx = column numbers). Arguments as tc_fc_dense_s8, without ctx. */
tc_status tc_fc_cer_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                       const tc_cer_weights *weights, const int8_t *input, int8_t *output);

/** @brief Fully connected, CSER weights (col_idx = column numbers). Arguments as tc_fc_dense_s8, without ctx. */
tc_status tc_fc_cser_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                        const tc_cser_weights *weights, const int8_t *input, int8_t *output);

/** @brief Fully connected, PCSR weights (span = fan_in). Arguments as tc_fc_dense_s8, without ctx. */
tc_status tc_fc_pcsr_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                        const tc_pcsr_weights *weights, const int8_t *input, int8_t *output);

#endif /* TC_FC_H */
