/**
 * @file tc_fc_dense_s8.c
 * @brief tc_fc_dense_s8, and the dense row engine the conv kernels share.
 *
 * The baseline the compressed layouts are measured against, so it is the
 * best plain C we can write: 8-bit rows two at a time (each input load
 * serves two rows) unrolled by 4; with the DSP extension (__ARM_FEATURE_DSP,
 * e.g. Cortex-M4/M7/M33) a word of four int8 is split by SXTB16 and
 * multiplied by SMLAD, two MACs per instruction (define TC_DENSE_NO_DSP to
 * measure the plain C loop instead). Sub-byte rows unpack a whole byte per
 * step (2 levels at 4 bits, 4 at 2 bits); other widths read a bit stream.
 */
#include <string.h>

#include "tc_fc.h"
#include "tc_layouts_internal.h"

#if defined(__ARM_FEATURE_DSP) && !defined(TC_DENSE_NO_DSP)
#include <arm_acle.h>
#define TC_DENSE_DSP 1
#endif

#ifdef TC_DENSE_DSP
static inline uint32_t load_u32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* unaligned word load (LDR on Cortex-M4) */
    return v;
}

/* SXTB16 of the word rotated right by 8 (bytes 1 and 3) in one instruction:
   GCC 12 does not fold a separate rotate into SXTB16's operand rotation. */
static inline int16x2_t sxtb16_ror8(uint32_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#endif

/* Two 8-bit rows against the same n contiguous inputs. */
static void dot8_pair(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n,
                      int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1;
#ifdef TC_DENSE_DSP
    for (; n >= 4; n -= 4, x += 4, w0 += 4, w1 += 4) {
        const uint32_t xv = load_u32(x);
        const int16x2_t x02 = __sxtb16(xv), x13 = sxtb16_ror8(xv);
        const uint32_t a = load_u32(w0), b = load_u32(w1);
        s0 = __smlad(__sxtb16(a), x02, s0);
        s0 = __smlad(sxtb16_ror8(a), x13, s0);
        s1 = __smlad(__sxtb16(b), x02, s1);
        s1 = __smlad(sxtb16_ror8(b), x13, s1);
    }
#else
    for (; n >= 4; n -= 4, x += 4, w0 += 4, w1 += 4) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        s0 += w0[0] * x0 + w0[1] * x1 + w0[2] * x2 + w0[3] * x3;
        s1 += w1[0] * x0 + w1[1] * x1 + w1[2] * x2 + w1[3] * x3;
    }
#endif
    for (; n > 0; --n) {
        const int32_t xi = *x++;
        s0 += *w0++ * xi;
        s1 += *w1++ * xi;
    }
    *acc0 = s0;
    *acc1 = s1;
}

/* One 8-bit row against n inputs `step` apart. */
static int32_t dot8(const int8_t *w, const int8_t *x, int32_t n, int32_t step)
{
    int32_t s = 0;
    for (; n >= 2; n -= 2, w += 2, x += 2 * step) {
        s += w[0] * x[0] + w[1] * x[step];
    }
    if (n > 0) {
        s += w[0] * x[0];
    }
    return s;
}

static inline int32_t nibble(uint32_t byte, uint32_t hi)
{
    return (int32_t)(int8_t)(uint8_t)(byte << (hi ? 0 : 4)) >> 4;
}

/* 4-bit levels e .. e+n-1 of a packed row against n inputs `step` apart. */
static int32_t dot4(const uint8_t *p, uint32_t e, const int8_t *x, int32_t n, int32_t step)
{
    int32_t s = 0;
    if ((e & 1u) && n > 0) {
        s += nibble(p[e >> 1], 1) * x[0];
        x += step;
        ++e;
        --n;
    }
    const uint8_t *b = p + (e >> 1);
    for (; n >= 2; n -= 2, x += 2 * step) {
        const uint32_t v = *b++;
        s += nibble(v, 0) * x[0] + nibble(v, 1) * x[step];
    }
    if (n > 0) {
        s += nibble(*b, 0) * x[0];
    }
    return s;
}

static inline int32_t crumb(uint32_t byte, uint32_t k)
{
    return (int32_t)(int8_t)(uint8_t)(byte << (6 - 2 * k)) >> 6;
}

/* 2-bit levels e .. e+n-1 of a packed row. */
static int32_t dot2(const uint8_t *p, uint32_t e, const int8_t *x, int32_t n, int32_t step)
{
    int32_t s = 0;
    for (; (e & 3u) && n > 0; ++e, --n, x += step) {
        s += crumb(p[e >> 2], e & 3u) * x[0];
    }
    const uint8_t *b = p + (e >> 2);
    for (; n >= 4; n -= 4, x += 4 * step) {
        const uint32_t v = *b++;
        s += crumb(v, 0) * x[0] + crumb(v, 1) * x[step] + crumb(v, 2) * x[2 * step] +
             crumb(v, 3) * x[3 * step];
    }
    for (uint32_t k = 0; n > 0; --n, ++k, x += step) {
        s += crumb(*b, k) * x[0];
    }
    return s;
}

/* Any width 1..8: level e is bits [e*bits, (e+1)*bits) of the row's LSB-first stream. */
static int32_t dotn(const uint8_t *p, uint32_t e, const int8_t *x, int32_t n, int32_t step,
                    uint32_t bits)
{
    const uint32_t mask = (1u << bits) - 1u, sign = 1u << (bits - 1u);
    int32_t s = 0;
    for (uint32_t pos = e * bits; n > 0; --n, pos += bits, x += step) {
        const uint32_t lo = pos >> 3, sh = pos & 7u;
        uint32_t v = (uint32_t)p[lo] >> sh;
        if (sh + bits > 8u) { /* never reads past the row's last byte */
            v |= (uint32_t)p[lo + 1] << (8u - sh);
        }
        v &= mask;
        s += ((int32_t)(v ^ sign) - (int32_t)sign) * x[0];
    }
    return s;
}

/* One packed sub-byte row over all runs of the patch (only the widths in TC_DENSE_BITS). */
static int32_t dot_packed(const uint8_t *row, int32_t bits, const tc_patch *p, const int8_t *x)
{
    int32_t s = 0;
    uint32_t e = 0;
    for (int32_t r = 0; r < p->runs; ++r, e += (uint32_t)p->run_len) {
        const int8_t *xr = x + r * p->run_stride;
        if (TC_HAS_VARIANT(TC_DENSE_BITS, 3) && bits == 4) {
            s += dot4(row, e, xr, p->run_len, p->elem_step);
        } else if (TC_HAS_VARIANT(TC_DENSE_BITS, 1) && bits == 2) {
            s += dot2(row, e, xr, p->run_len, p->elem_step);
        } else if ((TC_DENSE_BITS & 0x75) != 0) { /* any of the widths 1, 3, 5, 6, 7 */
            s += dotn(row, e, xr, p->run_len, p->elem_step, (uint32_t)bits);
        }
    }
    return s;
}

static void rows_s8(const int8_t *w, const tc_quant_params *q, int32_t rows,
                    const tc_patch *p, const int8_t *x, int32_t x_step, int8_t *out)
{
    const int32_t cols = p->runs * p->run_len;
    const tc_out_params o = tc_out_params_of(q);
    int32_t r = 0;
    if (p->elem_step == 1 && x_step == 0) { /* FC and conv2d: rows in pairs */
        for (; r + 2 <= rows; r += 2) {
            const int8_t *w0 = w + r * cols, *w1 = w0 + cols;
            int32_t a0 = tc_bias(q, r), a1 = tc_bias(q, r + 1);
            for (int32_t k = 0; k < p->runs; ++k) {
                dot8_pair(w0 + k * p->run_len, w1 + k * p->run_len, x + k * p->run_stride,
                          p->run_len, &a0, &a1);
            }
            out[r] = tc_out_row(&o, a0, r);
            out[r + 1] = tc_out_row(&o, a1, r + 1);
        }
    }
    for (; r < rows; ++r) {
        const int8_t *wr = w + r * cols, *xr = x + r * x_step;
        int32_t acc = tc_bias(q, r);
        for (int32_t k = 0; k < p->runs; ++k) {
            acc += dot8(wr + k * p->run_len, xr + k * p->run_stride, p->run_len, p->elem_step);
        }
        out[r] = tc_out_row(&o, acc, r);
    }
}

void tc_rows_dense_s8(const void *weights, const tc_quant_params *q, int32_t rows,
                      const tc_patch *p, const int8_t *x, int32_t x_step, int8_t *out)
{
    const tc_dense_weights *w = (const tc_dense_weights *)weights;
    if (TC_HAS_VARIANT(TC_DENSE_BITS, 7) && w->bits == 8) {
        rows_s8((const int8_t *)w->weights, q, rows, p, x, x_step, out);
        return;
    }
    if ((TC_DENSE_BITS & 0x7f) == 0) {
        return; /* no sub-byte width compiled (tc_dense_ok rejected the call already) */
    }
    const int32_t row_bytes = (p->runs * p->run_len * w->bits + 7) / 8;
    const uint8_t *packed = (const uint8_t *)w->weights;
    const tc_out_params o = tc_out_params_of(q);
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t acc = tc_bias(q, r) + dot_packed(packed + r * row_bytes, w->bits, p,
                                                 x + r * x_step);
        out[r] = tc_out_row(&o, acc, r);
    }
}

tc_status tc_fc_dense_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                         const tc_dense_weights *weights, const int8_t *input, int8_t *output)
{
    if (!tc_dense_ok(weights)) {
        return TC_ERR_ARG;
    }
    return tc_fc_run(dims, quant, weights, input, output, tc_rows_dense_s8);
}
