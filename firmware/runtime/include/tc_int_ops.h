/**
 * @file tc_int_ops.h
 * @brief Non-weight int8 kernels: pad, pools, add, concat, LUT, softmax,
 *        affine (per-channel scale/offset) and requantize.
 *
 * Each function is the bit-exact twin of `<op>_s8` in
 * tinycompress/reference/int_ops.py; the parameter structs hold exactly what
 * the numpy `prepare_<op>` computed (all float math happens there, in Python).
 *
 * Conventions shared by every kernel:
 * - Tensors are int8, NHWC without batch, C-contiguous.
 * - A (multiplier, shift) pair means multiplier * 2^(shift - 31) with
 *   multiplier in [2^30, 2^31) and shift in [-31, 30] (see tc_requant.h),
 *   unless a struct says otherwise.
 * - act_min <= act_max, both in [-128, 127]; zero points in [-128, 127].
 * - No kernel allocates or needs scratch memory; none keeps state.
 * - Return TC_ERR_ARG on a NULL pointer or an out-of-range size, else TC_OK.
 */
#ifndef TC_INT_OPS_H
#define TC_INT_OPS_H

#include <stdint.h>

#include "tc_types.h"

/** Rescale from (s_in, in_zp) to (s_out, out_zp): numpy RescaleParams. */
typedef struct {
    int32_t in_zp;      /**< input zero point */
    int32_t multiplier; /**< s_in / s_out, [2^30, 2^31) */
    int32_t shift;      /**< [-31, 30] */
    int32_t out_zp;     /**< output zero point */
    int32_t act_min;    /**< lower clamp (fused activation) */
    int32_t act_max;    /**< upper clamp */
} tc_rescale_params;

/** Constant padding of an (in_h, in_w, channels) tensor: numpy PadParams. */
typedef struct {
    int32_t in_h, in_w, channels; /**< input dims, each >= 1 */
    int32_t top, bottom, left, right; /**< pad widths, each >= 0 */
    int32_t value;                /**< fill value in [-128, 127] (input zero point) */
} tc_pad_params;

/**
 * Pool window geometry: numpy PoolGeometry plus the channel count.
 * Window (oy, ox) covers input rows oy*stride_h - pad_top .. + pool_h - 1 and
 * columns likewise; taps outside the input are skipped. Valid geometry (as
 * prepared for 'valid'/'same') has >= 1 input tap in every window.
 */
typedef struct {
    int32_t in_h, in_w, channels; /**< input dims, each >= 1 */
    int32_t pool_h, pool_w;       /**< window, each >= 1 */
    int32_t stride_h, stride_w;   /**< each >= 1 */
    int32_t pad_top, pad_left;    /**< implicit 'same' padding, each >= 0 */
    int32_t out_h, out_w;         /**< output dims, each >= 1 */
} tc_pool_geom;

/** Average pool rounding constants: numpy AvgPoolParams (without geometry). */
typedef struct {
    int32_t in_zp;
    const int32_t *multiplier; /**< [pool_h*pool_w + 1], indexed by valid-tap count; [0] unused */
    const int32_t *shift;      /**< same length */
    int32_t out_zp;
    int32_t act_min, act_max;
} tc_avgpool_params;

/** Elementwise add of n_inputs tensors: numpy AddParams. */
typedef struct {
    int32_t n_inputs;             /**< 2..16 */
    const int32_t *in_zp;         /**< [n_inputs] */
    const int32_t *in_multiplier; /**< [n_inputs], s_i / (2 max s) */
    const int32_t *in_shift;      /**< [n_inputs] */
    int32_t left_shift;           /**< 20 */
    int32_t out_multiplier;       /**< 2 max s / (2^20 s_out) */
    int32_t out_shift;
    int32_t out_zp;
    int32_t act_min, act_max;
} tc_add_params;

/** Concatenation: numpy ConcatParams in flattened form. */
typedef struct {
    int32_t n_inputs;                 /**< >= 1 */
    int32_t outer;                    /**< product of the dims before the axis, >= 1 */
    const int32_t *inner_sizes;       /**< [n_inputs]: product of input k's dims from the axis on */
    const tc_rescale_params *inputs;  /**< [n_inputs]: rescale of input k into the output */
} tc_concat_params;

/** Per-channel affine (standalone BatchNorm): numpy AffineParams. */
typedef struct {
    int32_t channels;          /**< >= 1, the last axis */
    int32_t in_zp;
    const int32_t *multiplier; /**< [channels], signed, |m| < 2^31 (may be denormal or 0) */
    const int32_t *shift;      /**< [channels], 31 - shift in [16, 38] */
    const int64_t *offset;     /**< [channels], offset * 2^(31-shift) plus rounding half */
    int32_t out_zp;
    int32_t act_min, act_max;
} tc_affine_params;

/**
 * @brief Constant-pad H and W: out is (in_h+top+bottom, in_w+left+right, channels).
 * @param in  input [in_h * in_w * channels]
 * @param p   dims, pad widths and fill value
 * @param out output, must not overlap in
 */
tc_status tc_pad_s8(const int8_t *in, const tc_pad_params *p, int8_t *out);

/**
 * @brief Rescale a tensor: out = clamp(rq(x - in_zp) + out_zp). (The name
 *        tc_requantize_s8 is taken by the scalar helper in tc_requant.h.)
 * @param in   input [size]
 * @param size element count, >= 0
 * @param p    rescale constants
 * @param out  output [size], may equal in
 */
tc_status tc_requantize_tensor_s8(const int8_t *in, int32_t size,
                                  const tc_rescale_params *p, int8_t *out);

/**
 * @brief Max pool; padded taps never win; the max is then rescaled
 *        (an exact identity when in and out scales are equal).
 * @param in  input [in_h * in_w * channels]
 * @param g   geometry
 * @param p   rescale of the maximum
 * @param out output [out_h * out_w * channels], must not overlap in
 */
tc_status tc_maxpool2d_s8(const int8_t *in, const tc_pool_geom *g,
                          const tc_rescale_params *p, int8_t *out);

/**
 * @brief Average pool over valid taps: acc = sum(x - in_zp), n = tap count,
 *        out = clamp(sgn(acc) * rq(|acc|, multiplier[n], shift[n]) + out_zp).
 * @param in  input [in_h * in_w * channels]
 * @param g   geometry; pool_h * pool_w <= 2^16
 * @param p   per-count rounding constants
 * @param out output [out_h * out_w * channels], must not overlap in
 */
tc_status tc_avgpool2d_s8(const int8_t *in, const tc_pool_geom *g,
                          const tc_avgpool_params *p, int8_t *out);

/**
 * @brief Global average pool: (positions, channels) -> (channels), rounded as
 *        tc_avgpool2d_s8 with n = positions.
 * @param in        input [positions * channels]
 * @param positions H * W, in [1, 2^23)
 * @param channels  >= 1
 * @param p         multiplier/shift prepared for n = positions (signed-magnitude rounding)
 * @param out       output [channels]
 */
tc_status tc_global_avgpool2d_s8(const int8_t *in, int32_t positions, int32_t channels,
                                 const tc_rescale_params *p, int8_t *out);

/**
 * @brief Global max pool: (positions, channels) -> (channels), max then rescaled.
 * @param in        input [positions * channels]
 * @param positions H * W, >= 1
 * @param channels  >= 1
 * @param p         rescale of the maximum
 * @param out       output [channels]
 */
tc_status tc_global_maxpool2d_s8(const int8_t *in, int32_t positions, int32_t channels,
                                 const tc_rescale_params *p, int8_t *out);

/**
 * @brief Elementwise sum, TFLite integer semantics:
 *        a_k = rq((x_k - in_zp[k]) * 2^left_shift, in_multiplier[k], in_shift[k]);
 *        out = clamp(rq(sum a_k, out_multiplier, out_shift) + out_zp).
 * @param inputs [n_inputs] pointers to [size] int8 tensors
 * @param size   element count of each input and the output, >= 0
 * @param p      constants
 * @param out    output [size], may equal one of the inputs
 */
tc_status tc_add_s8(const int8_t *const *inputs, int32_t size, const tc_add_params *p,
                    int8_t *out);

/**
 * @brief Concatenate along one axis, rescaling each input into the output scale.
 *        For each outer index o, for each k: inner_sizes[k] elements of input k.
 * @param inputs [n_inputs] pointers to [outer * inner_sizes[k]] int8 tensors
 * @param p      sizes and per-input rescale
 * @param out    output [outer * sum(inner_sizes)], must not overlap any input
 */
tc_status tc_concat_s8(const int8_t *const *inputs, const tc_concat_params *p, int8_t *out);

/**
 * @brief Table lookup activation: out[i] = table[in[i] + 128].
 * @param in    input [size]
 * @param size  element count, >= 0
 * @param table [256] int8, prepared by prepare_lut / prepare_activation
 * @param out   output [size], may equal in
 */
tc_status tc_lut_s8(const int8_t *in, int32_t size, const int8_t *table, int8_t *out);

/**
 * @brief Softmax over rows, output scale 1/256, zero point -128:
 *        e = exp_table[max - x], S = sum e, out = min((256 e + S/2) / S - 128, 127).
 * @param in        input [rows * row_len]
 * @param rows      >= 0
 * @param row_len   [1, 2047] (keeps S < 2^31)
 * @param exp_table [256] int32 in [0, 2^20], exp_table[0] = 2^20
 * @param out       output [rows * row_len], must not overlap in
 */
tc_status tc_softmax_s8(const int8_t *in, int32_t rows, int32_t row_len,
                        const int32_t *exp_table, int8_t *out);

/**
 * @brief Per-channel affine on the last axis:
 *        out = clamp(out_zp + (((x - in_zp) * multiplier[c] + offset[c]) >> (31 - shift[c]))),
 *        computed in int64.
 * @param in        input [positions * channels]
 * @param positions element count / channels, >= 0
 * @param p         per-channel constants
 * @param out       output [positions * channels], may equal in
 */
tc_status tc_affine_s8(const int8_t *in, int32_t positions, const tc_affine_params *p,
                       int8_t *out);

#endif /* TC_INT_OPS_H */
