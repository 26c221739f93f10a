/**
 * @file tc_conv2d.h
 * @brief Valid 2-D convolution, int8 NHWC, in each weight layout.
 *
 * The input is already padded ('same' is lowered to a zero_pad2d node that
 * pads with z_in). output[oy][ox][co] = requant(bias_f[co] +
 * sum_{ky,kx,ci} W[co][(ky*kw + kx)*cin + ci] * input[oy*sh + ky][ox*sw + kx][ci]).
 * No im2col buffer, no allocation (the dense kernel copies a narrow patch,
 * at most 64 bytes, into a stack buffer). input and output must not overlap.
 */
#ifndef TC_CONV2D_H
#define TC_CONV2D_H

#include <stdint.h>

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
 * @brief Conv2d with dense weights: cout rows x (kernel_h*kernel_w*in_c) columns, (ky, kx, ci) order.
 * @param dims    shapes, kernel size and strides (checked)
 * @param quant   per-output-channel bias_f/m/shift [out_c], z_out, act_min, act_max
 * @param weights dense levels
 * @param input   int8 [in_h][in_w][in_c]
 * @param output  int8 [out_h][out_w][out_c]
 * @return TC_OK, or TC_ERR_ARG for NULL pointers or inconsistent dims
 */
tc_status tc_conv2d_dense_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                             const tc_dense_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CSR weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense. */
tc_status tc_conv2d_csr_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                           const tc_csr_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CER weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense. */
tc_status tc_conv2d_cer_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                           const tc_cer_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CSER weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense. */
tc_status tc_conv2d_cser_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_cser_weights *weights, const int8_t *input, int8_t *output);

/** @brief Convolution, PCSR; positions are input offsets (ky*in_w + kx)*in_c + ci. Arguments as dense. */
tc_status tc_conv2d_pcsr_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_pcsr_weights *weights, const int8_t *input, int8_t *output);

#endif /* TC_CONV2D_H */
