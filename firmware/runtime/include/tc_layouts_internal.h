/**
 * @file tc_layouts_internal.h
 * @brief Internals shared by the weight-op kernels (not a public API).
 *
 * Every weight op is "rows x patch": for one output position, each of the
 * `rows` output channels is a dot product of its weight row with the inputs
 * of a patch. A patch is `runs` runs of `run_len` inputs, `elem_step` apart
 * inside a run and `run_stride` apart between runs:
 *   FC:        1 run of fan_in, step 1
 *   conv2d:    kernel_h runs of kernel_w*in_c, step 1, stride in_w*in_c
 *   depthwise: kernel_h runs of kernel_w, step in_c, stride in_w*in_c
 * The per-layout "row engines" (tc_rows_<layout>_s8, defined next to the FC
 * kernel of that layout) compute all rows of one output position: the FC
 * kernels call them once; the dense conv kernel (for rows too long for its
 * blocked product) once per output position. Row r reads x + r*x_step
 * (x_step = 1 for depthwise, where row = channel, else 0). The sparse conv
 * kernels do not use them: they decode each row once
 * (tc_conv_sparse_internal.h).
 */
#ifndef TC_LAYOUTS_INTERNAL_H
#define TC_LAYOUTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tc_context.h"
#include "tc_conv2d.h"
#include "tc_fc.h"
#include "tc_layouts.h"
#include "tc_requant.h"
#include "tc_types.h"

typedef struct {
    int32_t runs, run_len, elem_step, run_stride;
} tc_patch;

/** A row engine: all `rows` outputs of one position (w points to the layout struct). */
typedef void (*tc_rows_fn)(const void *w, const tc_quant_params *q, int32_t rows,
                           const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out);

void tc_rows_dense_s8(const void *w, const tc_quant_params *q, int32_t rows,
                      const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out);
void tc_rows_csr_s8(const void *w, const tc_quant_params *q, int32_t rows,
                    const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out);
void tc_rows_cer_s8(const void *w, const tc_quant_params *q, int32_t rows,
                    const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out);
void tc_rows_cser_s8(const void *w, const tc_quant_params *q, int32_t rows,
                     const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out);

/*
 * Which index-type variants of the sparse row engines a build compiles. Each
 * (col_idx, omega_ptr) type pair is its own specialised loop, and linking
 * all of them costs flash a model never uses, so a build may define, as
 * compiler flags, a bit mask per layout of the variants it needs (the
 * renderer passes exactly the ones the model's layers use):
 *   TC_CSR_VARIANTS   bit tc_index_slot(col_idx_type)
 *   TC_CER_VARIANTS   bit 3 * tc_index_slot(col_idx_type) + tc_index_slot(omega_ptr_type)
 *   TC_CSER_VARIANTS  as CER
 *   TC_DENSE_BITS     bit (bits - 1) for every dense weight width used
 * Undefined means "all" (host tests compile the kernels without flags). A
 * call whose index types were not compiled returns TC_ERR_ARG.
 */
#ifndef TC_CSR_VARIANTS
#define TC_CSR_VARIANTS 0x7
#endif
#ifndef TC_CER_VARIANTS
#define TC_CER_VARIANTS 0x1ff
#endif
#ifndef TC_CSER_VARIANTS
#define TC_CSER_VARIANTS 0x1ff
#endif
#ifndef TC_DENSE_BITS
#define TC_DENSE_BITS 0xff
#endif
/* Force inlining where a loop is instantiated twice with a constant flag. */
#if defined(__GNUC__)
#define TC_ALWAYS_INLINE __attribute__((always_inline))
#else
#define TC_ALWAYS_INLINE
#endif

/** 1 when bit `bit` of the (constant) variant mask is set: usable in #if and in C. */
#define TC_HAS_VARIANT(mask, bit) ((((unsigned long)(mask)) >> (bit)) & 1u)

/** Element i of an index array of type t (used per row or per call, not per element). */
static inline uint32_t tc_index_at(const void *a, tc_index_type t, int32_t i)
{
    switch (t) {
    case TC_INDEX_U8:
        return ((const uint8_t *)a)[i];
    case TC_INDEX_U16:
        return ((const uint16_t *)a)[i];
    default:
        return ((const uint32_t *)a)[i];
    }
}

/** 0, 1, 2 for uint8/16/32 (index into tables of specialised loops); -1 if invalid. */
static inline int32_t tc_index_slot(tc_index_type t)
{
    return t == TC_INDEX_U8 ? 0 : t == TC_INDEX_U16 ? 1 : t == TC_INDEX_U32 ? 2 : -1;
}

/** Sum of all inputs of a patch (CER/CSER rows when omega[0] != 0). */
static inline int32_t tc_patch_sum(const int8_t *x, const tc_patch *p)
{
    int32_t s = 0;
    for (int32_t r = 0; r < p->runs; ++r) {
        const int8_t *xr = x + r * p->run_stride;
        for (int32_t i = 0; i < p->run_len; ++i) {
            s += xr[i * p->elem_step];
        }
    }
    return s;
}

static inline int8_t tc_out_s8(int32_t acc, const tc_quant_params *q, int32_t r)
{
    const int32_t i = q->per_channel ? r : 0;
    return tc_requantize_s8(acc, q->m[i], q->shift[i], q->z_out, q->act_min, q->act_max);
}

/*
 * Output stage of a row loop, copied into locals once per call: an int8
 * store may alias any field of *q, so reading q per row would reload every
 * field after every output byte.
 */
typedef struct {
    const int32_t *m;
    const int8_t *shift;
    int32_t mask; /* per channel: -1 (entry r), else 0 (entry 0 for every row) */
    int32_t z_out, act_min, act_max;
} tc_out_params;

static inline tc_out_params tc_out_params_of(const tc_quant_params *q)
{
    const tc_out_params o = {q->m, q->shift, q->per_channel ? -1 : 0, q->z_out, q->act_min,
                             q->act_max};
    return o;
}

/*
 * tc_requantize_s8, bit for bit, with a short path for total = 31 - shift >= 33
 * (shift <= -2: every real layer, whose scale ratio is well below 2^-2). With
 * k = total - 33 the rounding term 2^(total-1) = 2^k * 2^32, so
 *   (acc*m + 2^(total-1)) >> total == ((hi >> k) + 1) >> 1,
 * hi = floor(acc*m / 2^32) (floor of a floor by powers of two): one SMULL and
 * three ALU ops instead of a 64-bit shift by a variable amount.
 */
static inline int8_t tc_out_row(const tc_out_params *o, int32_t acc, int32_t r)
{
    const int32_t i = r & o->mask;
    const int32_t m = o->m[i], shift = o->shift[i];
    int32_t v;
    if (!TC_REQUANT_TFLITE && shift <= -2) {
        const int32_t hi = (int32_t)(((int64_t)acc * m) >> 32);
        v = (((hi >> (-2 - shift)) + 1) >> 1) + o->z_out;
    } else {
        v = tc_requantize(acc, m, shift) + o->z_out;
    }
    v = v < o->act_min ? o->act_min : v;
    return (int8_t)(v > o->act_max ? o->act_max : v);
}

/** Row r's bias with the input zero point folded in, from whichever array holds it. */
static inline int32_t tc_bias(const tc_quant_params *q, int32_t r)
{
    return q->bias_f != NULL ? q->bias_f[r] : (int32_t)q->bias16[r];
}

static inline int tc_quant_ok(const tc_quant_params *q)
{
    return q != NULL && (q->bias_f != NULL || q->bias16 != NULL) && q->m != NULL &&
           q->shift != NULL &&
           q->act_min >= -128 && q->act_min <= q->act_max && q->act_max <= 127;
}

/* Layout checks, once per call. */
static inline int tc_dense_ok(const tc_dense_weights *w)
{
    return w != NULL && w->weights != NULL && w->bits >= 1 && w->bits <= 8 &&
           TC_HAS_VARIANT(TC_DENSE_BITS, w->bits - 1);
}

static inline int tc_csr_ok(const tc_csr_weights *w)
{
    return w != NULL && w->row_ptr != NULL && tc_index_slot(w->col_idx_type) >= 0 &&
           tc_index_slot(w->row_ptr_type) >= 0 &&
           TC_HAS_VARIANT(TC_CSR_VARIANTS, tc_index_slot(w->col_idx_type));
}

/** Bit of a (col_idx, omega_ptr) pair in TC_CER_VARIANTS / TC_CSER_VARIANTS (-1 if invalid). */
static inline int32_t tc_pair_bit(tc_index_type col, tc_index_type ptr)
{
    const int32_t a = tc_index_slot(col), b = tc_index_slot(ptr);
    return (a < 0 || b < 0) ? -1 : 3 * a + b;
}

static inline int tc_cer_ok(const tc_cer_weights *w)
{
    if (w == NULL) {
        return 0;
    }
    const int32_t bit = tc_pair_bit(w->col_idx_type, w->omega_ptr_type);
    return w->omega != NULL && w->omega_ptr != NULL && w->row_ptr != NULL && bit >= 0 &&
           tc_index_slot(w->row_ptr_type) >= 0 && TC_HAS_VARIANT(TC_CER_VARIANTS, bit);
}

static inline int tc_cser_ok(const tc_cser_weights *w)
{
    if (w == NULL) {
        return 0;
    }
    const int32_t bit = tc_pair_bit(w->col_idx_type, w->omega_ptr_type);
    return w->omega != NULL && w->omega_ptr != NULL && w->row_ptr != NULL && bit >= 0 &&
           tc_index_slot(w->row_ptr_type) >= 0 && TC_HAS_VARIANT(TC_CSER_VARIANTS, bit);
}

/** FC: one position, a single run of fan_in inputs. */
static inline tc_status tc_fc_run(const tc_fc_dims *d, const tc_quant_params *q, const void *w,
                                  const int8_t *input, int8_t *output, tc_rows_fn fn)
{
    if (d == NULL || d->fan_in < 1 || d->units < 1 || !tc_quant_ok(q) || w == NULL ||
        input == NULL || output == NULL) {
        return TC_ERR_ARG;
    }
    const tc_patch patch = {1, d->fan_in, 1, 0};
    fn(w, q, d->units, &patch, input, 0, output);
    return TC_OK;
}

/*
 * The dense engine (tc_fc_dense_s8.c): the dense FC and conv2d kernels are one
 * matrix product, output channels ("rows") two at a time (four at 8 bits
 * against one column) against one or two packed input columns (FC: the
 * input; conv2d: the patches of two output pixels, a partial im2col). tc_dense_pack_s8 packs a column into scratch in
 * groups of tc_dense_group(bits) levels: int16 lanes in the order and scale
 * that the weight loop unpacks levels to (see tc_fc_dense_s8.c), the last
 * group zero-padded. A group of levels is a whole number of bytes whose word
 * loads never read past it, but a row that does not end on a group is read
 * up to its padded length, past its end: the last rows whose reads would
 * leave the weight array are read from a zero-padded copy in scratch (the
 * "tail": one row, unless rows are shorter than that overhang).
 */

/** Levels per group: 4 at 8 bits, 8 at 4..7, 16 at 2..3, 32 at 1. */
static inline int32_t tc_dense_group(int32_t bits)
{
    return bits == 8 ? 4 : bits >= 4 ? 8 : bits >= 2 ? 16 : 32;
}

/** cols rounded up to whole groups. */
static inline int32_t tc_dense_padded(int32_t cols, int32_t bits)
{
    const int32_t g = tc_dense_group(bits);
    return (cols + g - 1) / g * g;
}

/** Bytes of one packed column (int16 per padded level). */
static inline int32_t tc_dense_column_bytes(int32_t cols, int32_t bits)
{
    return 2 * tc_dense_padded(cols, bits);
}

/** Rows copied into the tail: those whose padded reads would run past the array. */
static inline int32_t tc_dense_tail_rows(int32_t rows, int32_t cols, int32_t bits)
{
    const int32_t row_bytes = (cols * bits + 7) / 8;
    const int32_t read = tc_dense_padded(cols, bits) * bits / 8; /* bytes a row's groups read */
    const int32_t n = (read + row_bytes - 1) / row_bytes - 1;
    return n < rows ? n : rows;
}

/** Bytes of the tail copy (4-aligned): its rows, then zeros up to the last row's padded end. */
static inline int32_t tc_dense_tail_bytes(int32_t rows, int32_t cols, int32_t bits)
{
    const int32_t row_bytes = (cols * bits + 7) / 8;
    const int32_t read = tc_dense_padded(cols, bits) * bits / 8;
    const int32_t n = tc_dense_tail_rows(rows, cols, bits);
    return n == 0 ? 0 : (n * row_bytes + read - row_bytes + 3) / 4 * 4;
}

/* The engine's inner loop: int16 lane pairs with SMLAD (DSP cores, or its portable
   stand-in for host tests), else plain C. */
#if (defined(__ARM_FEATURE_DSP) && !defined(TC_DENSE_NO_DSP)) || defined(TC_DENSE_EMULATE_DSP)
#define TC_DENSE_LANES 1
#endif

/** Scale exponent S of the lanes at `bits`: 4 at 3 and 6 bits, 6 at 5, 2 at 7, else 0. */
static inline int32_t tc_dense_lane_shift(int32_t bits)
{
#ifdef TC_DENSE_LANES
    return bits == 3 || bits == 6 ? 4 : bits == 5 ? 6 : bits == 7 ? 2 : 0;
#else
    (void)bits;
    return 0;
#endif
}

/**
 * 1 when the engine computes rows of `cols` levels exactly: its sub-byte lanes
 * hold 2^S * sum(level * x), |...| <= 2^S * cols * 2^(b-1) * 128, which must stay
 * below 2^31; longer rows take the row engine (tc_rows_dense_s8). Always 1 for a
 * build with no sub-byte width (TC_DENSE_BITS), so that no such call is linked.
 */
static inline int tc_dense_exact(int32_t cols, int32_t bits)
{
#ifdef TC_DENSE_LANES
    return (TC_DENSE_BITS & 0x7f) == 0 || bits == 8 ||
           tc_dense_padded(cols, bits) < (int32_t)1 << (25 - bits - tc_dense_lane_shift(bits));
#else
    (void)cols;
    (void)bits;
    return 1;
#endif
}

/** A dense level matrix as the engine reads it. */
typedef struct {
    const uint8_t *w;    /**< row r < tail_row at w + r * row_bytes */
    const uint8_t *tail; /**< row r >= tail_row at tail + (r - tail_row) * row_bytes */
    int32_t rows, cols, bits, row_bytes, tail_row;
} tc_dense_mat;

/**
 * The matrix of `w` (rows x cols, tc_dense_exact); `tail` (tc_dense_tail_bytes of
 * scratch, NULL when that is 0) receives the tail copy.
 */
void tc_dense_mat_init(tc_dense_mat *m, const tc_dense_weights *w, int32_t rows, int32_t cols,
                       uint8_t *tail);

/**
 * Pack n int8 inputs as levels [L, L + n) of a column, L a multiple of the
 * group size: level L of a column starts 2 * L * ncols bytes into the
 * columns' buffer, and `col` points there. ncols = 1: one column; 2: two
 * columns interleaved slot by slot, this one the first (which = 0) or the
 * second (which = 1). Writes whole groups, the last one zero-padded. Returns
 * this part's correction; tc_dense_gemm*_s8 take the sum over a column's parts.
 */
uint32_t tc_dense_pack_s8(int32_t bits, const int8_t *x, int32_t n, void *col, int32_t ncols,
                          int32_t which);

/**
 * Requantization of one output channel, worked out once per call of a kernel
 * that runs the rows many times (tc_dense_rq_init): the bias, and the constants
 * of tc_requantize with the output zero point folded in (the forms by sh are
 * described in tc_fc_dense_s8.c: sh 1..22 the short form, 32 + p the short
 * form on acc * 2^p, negative the 64-bit one, 0 tc_out_row). The short form
 * on a shifted accumulator needs a bound on |acc|, worked out from m's
 * row length and width.
 */
typedef struct {
    int32_t bias, m;
    uint32_t c_lo, c_hi; /* rounding term (z_out folded in): 32 or 64 bits */
    int32_t sh;
} tc_dense_rq;

/** rq[r] for every row of q and m (m->rows entries, 20 bytes each). */
void tc_dense_rq_init(tc_dense_rq *rq, const tc_quant_params *q, const tc_dense_mat *m);

/** All rows of m against one packed column: out[r] = requant(bias[r] + row r . column). */
void tc_dense_gemm1_s8(const tc_dense_mat *m, const tc_quant_params *q, const void *cols,
                       uint32_t corr0, int8_t *out0);

/** All rows of m against two interleaved columns, into out0 and out1 (rq: tc_dense_rq_init). */
void tc_dense_gemm2_s8(const tc_dense_mat *m, const tc_quant_params *q, const tc_dense_rq *rq,
                       const void *cols, uint32_t corr0, uint32_t corr1, int8_t *out0,
                       int8_t *out1);

/** Scratch of at least `need` bytes, 4-byte aligned. */
static inline int tc_context_ok(const tc_context *ctx, int32_t need)
{
    return ctx != NULL && ctx->size >= need && (need == 0 || ctx->buf != NULL) &&
           ((uintptr_t)ctx->buf & 3u) == 0;
}

/* Padding after the input implied by out (tc_conv_dims): (out-1)*stride + kernel - pad - in. */
static inline int tc_conv_axis_ok(int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t out)
{
    const int32_t after = (out - 1) * stride + k - pad - in;
    return in >= 1 && k >= 1 && k <= in && stride >= 1 && pad >= 0 && pad < k && out >= 1 &&
           after < k && after > -stride;
}

/** Check a convolution's dims (tc_conv_dims); depthwise requires out_c == in_c. */
static inline int tc_conv_dims_ok(const tc_conv_dims *d, int depthwise)
{
    return d != NULL && d->in_c >= 1 && d->out_c >= 1 &&
           tc_conv_axis_ok(d->in_h, d->kernel_h, d->stride_h, d->pad_top, d->out_h) &&
           tc_conv_axis_ok(d->in_w, d->kernel_w, d->stride_w, d->pad_left, d->out_w) &&
           d->pad_value >= -128 && d->pad_value <= 127 && (!depthwise || d->out_c == d->in_c);
}

/** 1 when some window of the convolution reaches into the padding. */
static inline int tc_conv_padded(const tc_conv_dims *d)
{
    return d->pad_top > 0 || d->pad_left > 0 ||
           (d->out_h - 1) * d->stride_h + d->kernel_h - d->pad_top > d->in_h ||
           (d->out_w - 1) * d->stride_w + d->kernel_w - d->pad_left > d->in_w;
}

#endif /* TC_LAYOUTS_INTERNAL_H */
