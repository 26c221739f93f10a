/**
 * @file tc_conv2d.h
 * @brief Valid 2-D convolution, int8 NHWC, in each weight layout.
 *
 * The input is already padded ('same' is lowered to a zero_pad2d node that
 * pads with z_in). output[oy][ox][co] = requant(bias_f[co] +
 * sum_{ky,kx,ci} W[co][(ky*kw + kx)*cin + ci] * input[oy*sh + ky][ox*sw + kx][ci]).
 * No allocation. The dense kernel takes scratch memory from its caller
 * (tc_conv2d_dense_s8_buffer_size) for a partial im2col of two output pixels;
 * the sparse kernels read the input in place. input and output must not overlap.
 */
#ifndef TC_CONV2D_H
#define TC_CONV2D_H

#include <stdint.h>

#include "tc_context.h"
#include "tc_layouts.h"
#include "tc_types.h"

/** Dimensions of a valid convolution (also used by the depthwise kernels). */
typedef struct {
    int32_t in_h, in_w, in_c;      /**< input tensor H, W, C (already padded), >= 1 */
    int32_t kernel_h, kernel_w;    /**< kernel size, 1..in_h / 1..in_w */
    int32_t stride_h, stride_w;    /**< strides, >= 1 */
    int32_t out_h, out_w, out_c;   /**< must be (in_h-kernel_h)/stride_h+1, (in_w-kernel_w)/stride_w+1,
                                        and out_c = cout (depthwise: out_c = in_c) */
} tc_conv_dims;

/**
 * @brief Scratch bytes tc_conv2d_dense_s8 needs, with K = kernel_h * kernel_w * in_c
 *        rounded up to whole groups of levels (4 at 8 bits, 8 at 4..7, 16 at 2..3,
 *        32 at 1): 20 * out_c for the output channels' requantization constants;
 *        4 * K for the patches of two output pixels as int16 lanes; plus K to gather
 *        a patch when a kernel row (kernel_w * in_c) is not a whole number of
 *        groups; plus, when a row's groups read past its end, a
 *        zero-padded copy of the last rows (tc_dense_tail_bytes, tc_layouts_internal.h).
 * @param dims kernel_h, kernel_w, in_c, out_c (the other fields do not matter)
 * @param bits the weights' bit width, 1..8
 * @return bytes (> 0), or 0 for invalid arguments
 */
int32_t tc_conv2d_dense_s8_buffer_size(const tc_conv_dims *dims, int32_t bits);

/**
 * @brief Conv2d with dense weights: cout rows x (kernel_h*kernel_w*in_c) columns, (ky, kx, ci) order.
 * @param ctx     scratch: buf 4-byte aligned, size >= tc_conv2d_dense_s8_buffer_size(dims, bits);
 *                not overlapping input or output
 * @param dims    shapes, kernel size and strides (checked)
 * @param quant   per-output-channel bias_f/m/shift [out_c], z_out, act_min, act_max
 * @param weights dense levels
 * @param input   int8 [in_h][in_w][in_c]
 * @param output  int8 [out_h][out_w][out_c]
 * @return TC_OK, or TC_ERR_ARG for NULL pointers, inconsistent dims, bits outside 1..8
 *         (or not compiled, TC_DENSE_BITS) or too little scratch
 */
tc_status tc_conv2d_dense_s8(const tc_context *ctx, const tc_conv_dims *dims,
                             const tc_quant_params *quant, const tc_dense_weights *weights,
                             const int8_t *input, int8_t *output);

/** @brief Conv2d, CSR weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense, without ctx. */
tc_status tc_conv2d_csr_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                           const tc_csr_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CER weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense, without ctx. */
tc_status tc_conv2d_cer_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                           const tc_cer_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CSER weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense, without ctx. */
tc_status tc_conv2d_cser_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_cser_weights *weights, const int8_t *input, int8_t *output);

/** @brief Convolution, PCSR; positions are input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense, without ctx. */
tc_status tc_conv2d_pcsr_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_pcsr_weights *weights, const int8_t *input, int8_t *output);

#endif /* TC_CONV2D_H */
