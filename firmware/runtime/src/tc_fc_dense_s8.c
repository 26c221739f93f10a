/**
 * @file tc_fc_dense_s8.c
 * @brief tc_fc_dense_s8, the dense engine it shares with tc_conv2d_dense_s8
 *        (tc_dense_*, tc_layouts_internal.h), and the dense row engine of the
 *        depthwise kernel (tc_rows_dense_s8).
 *
 * The engine multiplies weight rows, two at a time (four at 8 bits against
 * one column: each input word loaded once for four rows), with one or two
 * packed columns of inputs (int16, in the caller's scratch). With the DSP extension
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33) a word holds two int16 lanes and
 * SMLAD does two MACs; the weight loop turns packed levels into lane pairs
 * with one instruction per pair:
 *
 * - 8 bits: SXTB16 of a weight word gives levels (0, 2), SXTB16 ror 8 (1, 3).
 * - b < 8: a row is read in groups (tc_dense_group levels, whole bytes). A
 *   word of a group, XORed with a constant that flips each level's sign bit,
 *   holds the levels in offset binary (u = level + 2^(b-1) >= 0); one AND
 *   with a shifted operand puts two levels 16 - S bits apart into the two
 *   lanes, the low one scaled by 2^S. The packed column holds the matching
 *   inputs in the same order, the high lane's scaled by 2^S, so each product
 *   is 2^S * u * x; the column's correction 2^S * 2^(b-1) * sum(x) (from
 *   tc_dense_pack_s8) turns the sum back into 2^S * sum(level * x), exact in
 *   int32 while the row length keeps it in range (tc_dense_mat_init).
 *
 *     bits  group  word loads at byte   level pairs (low, high)        S
 *     8     4      0                    (0,2) (1,3)                    0
 *     4     8      0                    (i, i+4)                       0
 *     2     16     0                    (i, i+8)                       0
 *     1     32     0                    (i, i+16)                      0
 *     3     16     0, 2                 (i, i+4) (8+i, 12+i), i < 4    4
 *     5     8      0, 1                 (0,2) (1,3) (4,6) (5,7)        6
 *     6     8      0, 2                 as 5                           4
 *     7     8      0, 3                 as 5                           2
 *
 * Without DSP (Cortex-M3, the host) a column holds the inputs in order and
 * the loop sign-extracts one level at a time (SBFX): same groups, same
 * scratch. Define TC_DENSE_NO_DSP to measure that loop on a DSP core, or
 * TC_DENSE_EMULATE_DSP to run the DSP loop in C with portable stand-ins for
 * its instructions (so that host tests cover the lanes); on a DSP core the
 * loops themselves are assembly (tc_dense_dsp.h), the same steps as that C.
 *
 * The output stage requantizes each sum with one SMMLA and a shift (the
 * output zero point folded into the rounding term), then saturates four
 * outputs into the bytes of a word and clamps them at once (SSUB8 + SEL):
 * one word store for four rows of an FC layer, two halfword stores for a
 * row pair of two pixels. A convolution works out the channels' constants
 * once per call (tc_dense_rq_init), an FC layer as it goes.
 */
#include <string.h>

#include "tc_fc.h"
#include "tc_layouts_internal.h"

#if defined(__ARM_FEATURE_DSP) && !defined(TC_DENSE_NO_DSP)
#include <arm_acle.h>
#define TC_DENSE_DSP 1
#define TC_DENSE_DSP_HW 1
#elif defined(TC_DENSE_EMULATE_DSP)
#define TC_DENSE_DSP 1
#endif

/* Fully unroll a loop of constant trip count (its shifts become immediates). */
#if defined(__GNUC__) && !defined(__clang__)
#define TC_UNROLL _Pragma("GCC unroll 32")
#else
#define TC_UNROLL
#endif

static inline uint32_t ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* unaligned word load (LDR on Cortex-M3/M4) */
    return v;
}

/* ---------------------------------------------------------------- DSP instructions */
#ifdef TC_DENSE_DSP_HW
static inline uint32_t sxtb16(uint32_t v)
{
    return (uint32_t)__sxtb16((int8x4_t)v);
}

/* SXTB16 of v rotated right by rot (0, 8, 16, 24): GCC 12 does not fold a
   separate rotate into the instruction's operand rotation. */
static inline uint32_t sxtb16_ror(uint32_t v, int32_t rot)
{
    uint32_t r;
    if (rot == 8) {
        __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    } else if (rot == 16) {
        __asm__("sxtb16 %0, %1, ror #16" : "=r"(r) : "r"(v));
    } else if (rot == 24) {
        __asm__("sxtb16 %0, %1, ror #24" : "=r"(r) : "r"(v));
    } else {
        r = sxtb16(v);
    }
    return r;
}

static inline uint32_t smlad(uint32_t a, uint32_t b, uint32_t acc)
{
    return (uint32_t)__smlad((int16x2_t)a, (int16x2_t)b, (int32_t)acc);
}

/* acc + high word of a * b (SMMLA). */
static inline int32_t smmla(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* PKHBT: the low half of a, the low half of b in the high half (GCC 12 writes two or three
   instructions for the C). (b << (16 + s)) in the high half for PKHBT with a shift. */
#define TC_PKHBT(a, b, s)                                                                   \
    __extension__({                                                                         \
        uint32_t r_;                                                                        \
        __asm__("pkhbt  %0, %1, %2, lsl %3" : "=r"(r_) : "r"(a), "r"(b), "i"(16 + (s)));    \
        r_;                                                                                 \
    })
/* PKHTB: the high half of a, the high half of b in the low half. */
#define TC_PKHTB(a, b)                                                                      \
    __extension__({                                                                         \
        uint32_t r_;                                                                        \
        __asm__("pkhtb  %0, %1, %2, asr #16" : "=r"(r_) : "r"(a), "r"(b));                   \
        r_;                                                                                 \
    })

/* Hide a constant from the optimiser so that it stays in a register and
   feeds AND/EOR with a shifted operand instead of being re-materialised. */
#define TC_IN_REGISTER(v) __asm__("" : "+r"(v))
#elif defined(TC_DENSE_DSP)
static inline uint32_t sxtb16(uint32_t v)
{
    return ((uint32_t)(int32_t)(int8_t)(v & 0xffu) & 0xffffu) |
           ((uint32_t)(int32_t)(int8_t)((v >> 16) & 0xffu) << 16);
}

static inline uint32_t sxtb16_ror(uint32_t v, int32_t rot)
{
    return sxtb16(rot == 0 ? v : (v >> rot) | (v << (32 - rot)));
}

static inline uint32_t smlad(uint32_t a, uint32_t b, uint32_t acc)
{
    const int32_t lo = (int32_t)(int16_t)(a & 0xffffu) * (int16_t)(b & 0xffffu);
    const int32_t hi = (int32_t)(int16_t)(a >> 16) * (int16_t)(b >> 16);
    return acc + (uint32_t)lo + (uint32_t)hi;
}

#endif
#ifndef TC_DENSE_DSP_HW
#define TC_IN_REGISTER(v) ((void)0)
#define TC_PKHBT(a, b, s) (((a) & 0xffffu) | ((b) << (16 + (s))))
#define TC_PKHTB(a, b) (((a) & 0xffff0000u) | ((b) >> 16))
#endif

/* ---------------------------------------------------------------- engine geometry */

static inline int32_t lane_shift(int32_t bits)
{
    return tc_dense_lane_shift(bits);
}

/* Word loads per group: one at 8, 4, 2 and 1 bits, two at 3, 5, 6, 7. */
static inline int32_t group_loads(int32_t bits)
{
    return (bits & (bits - 1)) == 0 ? 1 : 2;
}

static inline int32_t group_bytes(int32_t bits)
{
    return tc_dense_group(bits) * bits / 8;
}

/* Bit of the second load's first level inside that word (the load is at group_bytes - 4). */
static inline int32_t second_word_bit(int32_t bits)
{
    return tc_dense_group(bits) / 2 * bits - 8 * (group_bytes(bits) - 4);
}

/* Sign bits of the levels in the first word of a group: bit b*t + b - 1 for each
   of its levels t (a repunit in base 2^b, shifted). */
static inline uint32_t sign_bits(int32_t bits)
{
    const int32_t span = tc_dense_group(bits) / group_loads(bits) * bits;
    const uint64_t ones = (((uint64_t)1 << span) - 1u) / ((1u << bits) - 1u);
    return (uint32_t)(ones << (bits - 1));
}

/* The AND mask of a lane pair: b bits at bit S (low lane) and at bit 16 (high lane). */
static inline uint32_t lane_mask(int32_t bits)
{
    const uint32_t field = (1u << bits) - 1u;
    return (field << lane_shift(bits)) | (field << 16);
}

/* v >> sh, or v << -sh for a negative sh. */
static inline uint32_t shift_right(uint32_t v, int32_t sh)
{
    return sh >= 0 ? v >> sh : v << -sh;
}

/* Low level of lane pair j of a group (its high level is low + pair_gap). */
static inline int32_t pair_gap(int32_t bits)
{
    return tc_dense_group(bits) / group_loads(bits) / 2;
}

static inline int32_t pair_low(int32_t bits, int32_t j)
{
    const int32_t d = pair_gap(bits);
    return j / d * 2 * d + j % d;
}

void tc_dense_mat_init(tc_dense_mat *m, const tc_dense_weights *w, int32_t rows, int32_t cols,
                       uint8_t *tail)
{
    const int32_t bits = w->bits;
    m->w = (const uint8_t *)w->weights;
    m->rows = rows;
    m->cols = cols;
    m->bits = bits;
    m->row_bytes = (cols * bits + 7) / 8;
    m->tail_row = rows - tc_dense_tail_rows(rows, cols, bits);
    m->tail = m->w + m->tail_row * m->row_bytes;
    if (tail != NULL) { /* the tail rows, then zeros up to the 4-aligned end */
        const int32_t n = (rows - m->tail_row) * m->row_bytes;
        const int32_t end = tc_dense_tail_bytes(rows, cols, bits);
        int32_t i = 0;
        for (; i + 4 <= n; i += 4) {
            const uint32_t v = ld32(m->tail + i);
            memcpy(tail + i, &v, sizeof v);
        }
        for (; i < n; ++i) {
            tail[i] = m->tail[i];
        }
        for (; i < end; ++i) {
            tail[i] = 0;
        }
        m->tail = tail;
    }
}

/* ---------------------------------------------------------------- packing columns */
#ifdef TC_DENSE_DSP
/* Lane pair word (lo, hi * 2^s). */
static inline uint32_t lanes(int32_t lo, int32_t hi, int32_t s)
{
    return ((uint32_t)lo & 0xffffu) | ((uint32_t)(hi * (1 << s)) << 16);
}

/* Correction lanes: SMLAD of a pair word (x_lo, x_hi 2^S) with (2^S h, h) = 2^S h (x_lo + x_hi). */
static inline uint32_t corr_lanes(int32_t bits)
{
    const int32_t h = bits == 8 ? 0 : 1 << (bits - 1);
    return lanes(h << lane_shift(bits), h, 0);
}

/* One whole group of inputs into the column; returns its correction. */
TC_ALWAYS_INLINE static inline uint32_t pack_group(const int32_t bits, const int8_t *x, uint32_t *col,
                                            int32_t ncols)
{
    if (bits == 8) {
        const uint32_t v = ld32(x);
        col[0] = sxtb16(v);
        col[ncols] = sxtb16_ror(v, 8);
        return 0;
    }
    const int32_t s = lane_shift(bits), g = tc_dense_group(bits), gap = pair_gap(bits);
    uint32_t words[8], corr = 0;
    TC_UNROLL
    for (int32_t i = 0; i < g / 4; ++i) {
        words[i] = ld32(x + 4 * i);
    }
    if (s == 0) {
        /* pairs (i, i + gap), gap a multiple of 4: SXTB16 of word i/4 (rotated) holds
           x_i and x_i+2, of word (i + gap)/4 x_i+gap and x_i+gap+2; PKHBT joins the
           low lanes into pair i, PKHTB the high lanes into pair i + 2 */
        TC_UNROLL
        for (int32_t j = 0; j < g / 2; ++j) {
            if ((j / 2) % 2 == 1) {
                continue; /* pairs 2, 3 (mod 4) come with pairs 0, 1 */
            }
            const int32_t k = j / 4 * 4 + j % 2; /* low level of the pair */
            const uint32_t e = sxtb16_ror(words[k / 4], 8 * (k % 4));
            const uint32_t f = sxtb16_ror(words[(k + gap) / 4], 8 * (k % 4));
            const uint32_t lo = TC_PKHBT(e, f, 0); /* (x_k, x_k+gap) */
            const uint32_t hi = TC_PKHTB(f, e);    /* (x_k+2, x_k+gap+2) */
            col[j * ncols] = lo;
            col[(j + 2) * ncols] = hi;
            corr = smlad(lo, corr_lanes(bits), corr);
            corr = smlad(hi, corr_lanes(bits), corr);
        }
        return corr;
    }
    TC_UNROLL
    for (int32_t j = 0; j < g / 2; ++j) {
        const int32_t lo = pair_low(bits, j), hi = lo + gap;
        const uint32_t a = sxtb16_ror(words[lo / 4], 8 * (lo % 4));
        const uint32_t b = sxtb16_ror(words[hi / 4], 8 * (hi % 4));
        const uint32_t p = TC_PKHBT(a, b, s);
        col[j * ncols] = p;
        corr = smlad(p, corr_lanes(bits), corr);
    }
    return corr;
}

/* The last, partial group (n < group levels), zero-padded. */
static uint32_t pack_partial(int32_t bits, const int8_t *x, int32_t n, uint32_t *col,
                             int32_t ncols)
{
    const int32_t s = lane_shift(bits), gap = pair_gap(bits);
    uint32_t corr = 0;
    for (int32_t j = 0; j < tc_dense_group(bits) / 2; ++j) {
        const int32_t lo = pair_low(bits, j), hi = lo + gap;
        const uint32_t p = lanes(lo < n ? x[lo] : 0, hi < n ? x[hi] : 0, s);
        col[j * ncols] = p;
        corr = smlad(p, corr_lanes(bits), corr);
    }
    return corr;
}

TC_ALWAYS_INLINE static inline uint32_t pack_width(const int32_t bits, const int8_t *x, int32_t n,
                                            uint32_t *col, int32_t ncols)
{
    const int32_t g = tc_dense_group(bits);
    uint32_t corr = 0;
    for (; n >= g; n -= g, x += g, col += g / 2 * ncols) {
        corr += pack_group(bits, x, col, ncols);
    }
    if (n > 0) {
        corr += pack_partial(bits, x, n, col, ncols);
    }
    return corr;
}

/* (ncols a constant in each loop: the slots' offsets become immediates) */
#define TC_PACK(b) (ncols == 2 ? pack_width(b, x, n, c, 2) : pack_width(b, x, n, c, 1))
uint32_t tc_dense_pack_s8(int32_t bits, const int8_t *x, int32_t n, void *col, int32_t ncols,
                          int32_t which)
{
    uint32_t *c = (uint32_t *)col + which;
#else
/* Without DSP: the inputs in order, one int16 slot each. */
static uint32_t pack_plain(int32_t bits, const int8_t *x, int32_t n, int16_t *col, int32_t ncols)
{
    const int32_t padded = tc_dense_padded(n, bits);
    int32_t k = 0;
    for (; k < n; ++k) {
        col[k * ncols] = x[k];
    }
    for (; k < padded; ++k) {
        col[k * ncols] = 0;
    }
    return 0;
}

#define TC_PACK(b) pack_plain(b, x, n, c, ncols)
uint32_t tc_dense_pack_s8(int32_t bits, const int8_t *x, int32_t n, void *col, int32_t ncols,
                          int32_t which)
{
    int16_t *c = (int16_t *)col + which;
#endif
    /* one specialised loop per width the build uses (TC_DENSE_BITS) */
    switch (bits) {
    case 8: return TC_HAS_VARIANT(TC_DENSE_BITS, 7) ? TC_PACK(8) : 0;
    case 7: return TC_HAS_VARIANT(TC_DENSE_BITS, 6) ? TC_PACK(7) : 0;
    case 6: return TC_HAS_VARIANT(TC_DENSE_BITS, 5) ? TC_PACK(6) : 0;
    case 5: return TC_HAS_VARIANT(TC_DENSE_BITS, 4) ? TC_PACK(5) : 0;
    case 4: return TC_HAS_VARIANT(TC_DENSE_BITS, 3) ? TC_PACK(4) : 0;
    case 3: return TC_HAS_VARIANT(TC_DENSE_BITS, 2) ? TC_PACK(3) : 0;
    case 2: return TC_HAS_VARIANT(TC_DENSE_BITS, 1) ? TC_PACK(2) : 0;
    default: return TC_HAS_VARIANT(TC_DENSE_BITS, 0) ? TC_PACK(1) : 0;
    }
}
#undef TC_PACK

/* ---------------------------------------------------------------- the product */

/* Two rows' sums against one or two columns. */
typedef struct {
    uint32_t a0, a1, b0, b1; /* row a / row b, column 0 / column 1 */
} tc_sums;

/* Four rows' sums against one column (8 bits with DSP). */
typedef struct {
    uint32_t r0, r1, r2, r3;
} tc_sums4;

#ifdef TC_DENSE_DSP
/* Lane pair (pa, pb) of rows a and b times the next pair word of each column. */
#define TC_USE(pa, pb)                                                                      \
    do {                                                                                    \
        const uint32_t pa_ = (pa), pb_ = (pb), x0_ = x[0];                                  \
        s.a0 = smlad(pa_, x0_, s.a0);                                                       \
        s.b0 = smlad(pb_, x0_, s.b0);                                                       \
        if (ncols == 2) {                                                                   \
            const uint32_t x1_ = x[1];                                                      \
            s.a1 = smlad(pa_, x1_, s.a1);                                                   \
            s.b1 = smlad(pb_, x1_, s.b1);                                                   \
        }                                                                                   \
        x += ncols;                                                                         \
    } while (0)

#ifdef TC_DENSE_DSP_HW
#include "tc_dense_dsp.h" /* the loops below in assembly: dot<bits>_2x2, dot<bits>_2x1 */
#endif

TC_ALWAYS_INLINE static inline tc_sums dot(const int32_t bits, const int32_t ncols,
                                           const uint8_t *a, const uint8_t *b, const uint32_t *x,
                                           int32_t groups, uint32_t mask, uint32_t sign, tc_sums s)
{
    const int32_t s_ = lane_shift(bits), gb = group_bytes(bits), gap = pair_gap(bits);
    const int32_t second = group_bytes(bits) - 4, p0 = second_word_bit(bits);
#ifdef TC_DENSE_DSP_HW
#define TC_DOT_HW(B)                                                                        \
    return ncols == 2 ? dot##B##_2x2(a, b, x, groups, mask, sign, s)                        \
                      : dot##B##_2x1(a, b, x, groups, mask, sign, s)
    switch (bits) {
    case 8: TC_DOT_HW(8);
    case 7: TC_DOT_HW(7);
    case 6: TC_DOT_HW(6);
    case 5: TC_DOT_HW(5);
    case 4: TC_DOT_HW(4);
    case 3: TC_DOT_HW(3);
    case 2: TC_DOT_HW(2);
    default: TC_DOT_HW(1);
    }
#undef TC_DOT_HW
#endif
    if (bits == 8) {
        for (; groups > 0; --groups, a += 4, b += 4) { /* SXTB16: levels (0, 2), then (1, 3) */
            const uint32_t va = ld32(a), vb = ld32(b);
            TC_USE(sxtb16(va), sxtb16(vb));
            TC_USE(sxtb16_ror(va, 8), sxtb16_ror(vb, 8));
        }
        return s;
    }
    for (; groups > 0; --groups, a += gb, b += gb) {
        uint32_t va = ld32(a) ^ sign, vb = ld32(b) ^ sign;
        TC_UNROLL
        for (int32_t t = 0; t < gap; ++t) {
            TC_USE(shift_right(va, bits * t - s_) & mask, shift_right(vb, bits * t - s_) & mask);
        }
        if (group_loads(bits) == 2) {
            va = ld32(a + second) ^ (sign << p0);
            vb = ld32(b + second) ^ (sign << p0);
            TC_UNROLL
            for (int32_t t = 0; t < gap; ++t) {
                TC_USE(shift_right(va, p0 + bits * t - s_) & mask,
                       shift_right(vb, p0 + bits * t - s_) & mask);
            }
        }
    }
    return s;
}
#undef TC_USE

#ifndef TC_DENSE_DSP_HW
/* dot8_4x1 of tc_dense_dsp.h: four 8-bit rows (a, a + rb, a + 2 rb, a + 3 rb) against one
   column. */
static inline tc_sums4 dot8_4x1(const uint8_t *a, int32_t rb, const uint32_t *x, int32_t n,
                                tc_sums4 s)
{
    for (; n > 0; --n, a += 4, x += 2) {
        const uint32_t v0 = ld32(a), v1 = ld32(a + rb), v2 = ld32(a + 2 * rb);
        const uint32_t v3 = ld32(a + 3 * rb);
        s.r0 = smlad(sxtb16_ror(v0, 8), x[1], smlad(sxtb16(v0), x[0], s.r0));
        s.r1 = smlad(sxtb16_ror(v1, 8), x[1], smlad(sxtb16(v1), x[0], s.r1));
        s.r2 = smlad(sxtb16_ror(v2, 8), x[1], smlad(sxtb16(v2), x[0], s.r2));
        s.r3 = smlad(sxtb16_ror(v3, 8), x[1], smlad(sxtb16(v3), x[0], s.r3));
    }
    return s;
}
#endif
#else
/* Sign-extended field [pos, pos + bits) of v (SBFX). */
static inline int32_t field(uint32_t v, int32_t pos, int32_t bits)
{
    return (int32_t)(v << (32 - pos - bits)) >> (32 - bits);
}

/* Levels wa, wb of rows a and b times level slot k of each column. */
#define TC_STEP(wa, wb, k)                                                                  \
    do {                                                                                    \
        const int32_t wa_ = (wa), wb_ = (wb), x0_ = x[(k) * ncols];                         \
        a0 += wa_ * x0_;                                                                    \
        b0 += wb_ * x0_;                                                                    \
        if (ncols == 2) {                                                                   \
            const int32_t x1_ = x[(k) * ncols + 1];                                         \
            a1 += wa_ * x1_;                                                                \
            b1 += wb_ * x1_;                                                                \
        }                                                                                   \
    } while (0)

TC_ALWAYS_INLINE static inline tc_sums dot(const int32_t bits, const int32_t ncols,
                                           const uint8_t *a, const uint8_t *b, const int16_t *x,
                                           int32_t groups, uint32_t mask, uint32_t sign, tc_sums s)
{
    const int32_t g = tc_dense_group(bits), gb = group_bytes(bits), half = g / group_loads(bits);
    const int32_t second = group_bytes(bits) - 4, p0 = second_word_bit(bits);
    int32_t a0 = (int32_t)s.a0, a1 = (int32_t)s.a1, b0 = (int32_t)s.b0, b1 = (int32_t)s.b1;
    (void)mask;
    (void)sign;
    for (; groups > 0; --groups, a += gb, b += gb, x += g * ncols) {
        if (bits == 8) {
            TC_UNROLL
            for (int32_t k = 0; k < 4; ++k) {
                TC_STEP((int8_t)a[k], (int8_t)b[k], k);
            }
            continue;
        }
        const uint32_t va = ld32(a), vb = ld32(b);
        TC_UNROLL
        for (int32_t t = 0; t < half; ++t) {
            TC_STEP(field(va, bits * t, bits), field(vb, bits * t, bits), t);
        }
        if (group_loads(bits) == 2) {
            const uint32_t wa = ld32(a + second), wb = ld32(b + second);
            TC_UNROLL
            for (int32_t t = 0; t < half; ++t) {
                TC_STEP(field(wa, p0 + bits * t, bits), field(wb, p0 + bits * t, bits), half + t);
            }
        }
    }
    s.a0 = (uint32_t)a0;
    s.a1 = (uint32_t)a1;
    s.b0 = (uint32_t)b0;
    s.b1 = (uint32_t)b1;
    return s;
}
#undef TC_STEP
#endif

/* Requantization of one row, tc_requantize bit for bit, plus z_out, in one of two forms
   (e.sh > 0 or < 0; tc_dense_rq_init may turn the second into the first on a shifted
   accumulator, e.sh = 32 + p: rq_preshift); e.sh = 0 leaves the rare rest to tc_out_row.
   - shift <= -2 (total = 31 - shift >= 33: most layers): tc_out_row's short path
     floor((floor(hi / 2^k) + 1) / 2), hi = high word of acc * m, k = -2 - shift, is
     (hi + 2^k) >> (k + 1); adding z_out * 2^(k+1) before the shift adds z_out after it.
     SMMLA adds that rounding term c_lo; the sum stays inside int32 for k + 1 <= 22
     (|hi| < 2^30, |z_out * 2^22| < 2^29). sh = k + 1.
   - shift >= -1 (total <= 32: large multipliers, e.g. 2-bit weights): the 64-bit
     (acc * m + 2^(total-1) + z_out * 2^total) >> total: SMLAL onto the rounding term
     (c_hi, c_lo), then the two words shifted and joined. sh = -total. */
static inline tc_dense_rq rq_of(const tc_quant_params *q, const tc_out_params *o, int32_t r)
{
    const int32_t i = r & o->mask, shift = o->shift[i], sh = -1 - shift;
    tc_dense_rq e = {q->bias_f != NULL ? q->bias_f[r] : q->bias16[r], o->m[i], 0u, 0u, 0};
    if (TC_REQUANT_TFLITE) {
        return e; /* sh = 0: tc_out_row, TFLite's double rounding */
    }
    if (shift <= -2 && sh <= 22) {
        e.c_lo = (uint32_t)(((int32_t)1 << (sh - 1)) + o->z_out * ((int32_t)1 << sh));
        e.sh = sh;
    } else if (shift >= -1) {
        const int32_t total = 31 - shift;
        const int64_t c = (int64_t)o->z_out * ((int64_t)1 << total) + ((int64_t)1 << (total - 1));
        e.c_lo = (uint32_t)((uint64_t)c & 0xffffffffu);
        e.c_hi = (uint32_t)((uint64_t)c >> 32);
        e.sh = -total;
    }
    return e;
}

/* The short form (e.sh > 0). */
static inline int32_t scale_short(int32_t acc, tc_dense_rq e)
{
#ifdef TC_DENSE_DSP_HW
    return smmla(acc, e.m, (int32_t)e.c_lo) >> e.sh;
#else
    return ((int32_t)(((int64_t)acc * e.m) >> 32) + (int32_t)e.c_lo) >> e.sh;
#endif
}

/* The short form with sh = 1 on acc * 2^p (e->sh = 32 + p: tc_dense_rq_init). */
static inline int32_t scale_pre(int32_t acc, const tc_dense_rq *e, int32_t p)
{
    const tc_dense_rq s = {0, e->m, e->c_lo, 0u, 1};
    return scale_short((int32_t)((uint32_t)acc << p), s);
}

/* 1 for the short form (e.sh 1..22; 32 + p is the short form on acc * 2^p, tc_dense_rq_init). */
static inline int rq_short(const tc_dense_rq *e)
{
    return (uint32_t)(e->sh - 1) < 22u;
}

/* Any form (e.sh != 0): for the long one, (hi:lo) >> total for total in 1..32 as
   (lo >> (total - 1) >> 1) | (hi << (32 - total)), no 64-bit shift. */
static inline int32_t scale_any(int32_t acc, tc_dense_rq e)
{
    if (e.sh > 32) {
        return scale_pre(acc, &e, e.sh - 32);
    }
    if (e.sh > 0) {
        return scale_short(acc, e);
    }
    const int32_t total = -e.sh;
#ifdef TC_DENSE_DSP_HW
    /* SMLAL onto the rounding term; LSR by a register of 32 gives 0 */
    uint32_t lo = e.c_lo, hi = e.c_hi, l;
    __asm__("smlal  %[lo], %[hi], %[a], %[m]\n\t"
            "lsr    %[l], %[lo], %[t]"
            : [lo] "+&r"(lo), [hi] "+&r"(hi), [l] "=&r"(l)
            : [a] "r"(acc), [m] "r"(e.m), [t] "r"(total));
    return (int32_t)(l | (hi << (32 - total)));
#else
    const uint64_t p = (uint64_t)((int64_t)acc * e.m) + (((uint64_t)e.c_hi << 32) | e.c_lo);
    const uint32_t lo = (uint32_t)(p & 0xffffffffu), hi = (uint32_t)(p >> 32);
    return (int32_t)(((lo >> (total - 1)) >> 1) | (hi << (32 - total)));
#endif
}

/* The long form (shift >= -1, total = 31 - shift <= 32) is the short form with sh = 1 on
   acc * 2^p, p = 2 + shift: (hi(acc 2^p m) + 1 + 2 z_out) >> 1, hi(acc 2^p m) =
   floor(acc m / 2^(total-1)), is floor((acc m + 2^(total-1)) / 2^total) + z_out (a floor
   of a floor by powers of two), exact while acc * 2^p fits in int32: |acc| <= |bias| +
   cols * 2^(bits-1) * 128 (levels and int8 inputs) below 2^(31-p). SMMLA and a shift
   instead of SMLAL and three. */
static inline tc_dense_rq rq_preshift(tc_dense_rq e, const tc_out_params *o, int32_t r,
                                      int32_t cols, int32_t bits)
{
    const int32_t p = 2 + o->shift[r & o->mask];
    const int64_t bound = (e.bias < 0 ? -(int64_t)e.bias : (int64_t)e.bias) +
                          (int64_t)cols * ((int64_t)1 << (bits - 1)) * 128;
    if (e.sh >= 0 || p > 8 || bound >= ((int64_t)1 << (31 - p))) {
        return e; /* (e.sh = 0: tc_out_row; p > 8: multipliers far above 1) */
    }
    e.c_lo = 2u * (uint32_t)o->z_out + 1u;
    e.c_hi = 0u;
    e.sh = 32 + p;
    return e;
}

void tc_dense_rq_init(tc_dense_rq *rq, const tc_quant_params *q, const tc_dense_mat *m)
{
    const tc_out_params o = tc_out_params_of(q);
    for (int32_t r = 0; r < m->rows; ++r) {
        rq[r] = rq_preshift(rq_of(q, &o, r), &o, r, m->cols, m->bits);
    }
}

/* Clamp two requantized outputs to the activation's range, into ya and yb (may be the
   same byte). */
static inline void clamp_pair(const tc_out_params *o, int32_t va, int32_t vb, int8_t *ya,
                              int8_t *yb)
{
#ifdef TC_DENSE_DSP_HW
    /* both into the 16-bit lanes of a word (SSAT to int8 first), then the clamp for both
       at once: max by SSUB16 + SEL, min by SSUB16 + SEL */
    const uint32_t lo = ((uint32_t)o->act_min & 0xffffu) * 0x10001u;
    const uint32_t hi = ((uint32_t)o->act_max & 0xffffu) * 0x10001u;
    uint32_t p = ((uint32_t)__ssat(va, 8) & 0xffffu) | ((uint32_t)__ssat(vb, 8) << 16), t;
    __asm__("ssub16 %[t], %[p], %[lo]\n\t"
            "sel    %[p], %[p], %[lo]\n\t"
            "ssub16 %[t], %[hi], %[p]\n\t"
            "sel    %[p], %[p], %[hi]"
            : [p] "+r"(p), [t] "=&r"(t)
            : [lo] "r"(lo), [hi] "r"(hi)
            : "cc");
    *ya = (int8_t)(p & 0xffu);
    *yb = (int8_t)((p >> 16) & 0xffu);
#else
    const int8_t y = (int8_t)(va < o->act_min ? o->act_min : va > o->act_max ? o->act_max : va);
    *yb = (int8_t)(vb < o->act_min ? o->act_min : vb > o->act_max ? o->act_max : vb);
    *ya = y;
#endif
}

/* One output on the long form (e->sh < 0) or on tc_out_row (e->sh = 0: shift < -23), for
   a pair of rows of which one takes tc_out_row. Out of line: long, and rare. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int8_t out_other(const tc_out_params *o, const tc_dense_rq *e, int32_t r, int32_t acc)
{
    if (e->sh == 0) {
        return tc_out_row(o, acc, r);
    }
    const int32_t v = scale_any(acc, *e);
    return (int8_t)(v < o->act_min ? o->act_min : v > o->act_max ? o->act_max : v);
}

/* Requantization without a table (an FC layer: each row once): the short form of rq_of
   (e.sh > 0), its constants formed as the row comes. short_sh1 is e.sh - 1 = -2 - shift,
   a valid short form when 0..21 (unsigned: no other value passes); the rounding term
   2^(sh-1) + z_out 2^sh is zz << (sh - 1), zz = 2 z_out + 1. */
static inline uint32_t short_sh1(const tc_out_params *o, int32_t r)
{
    return TC_REQUANT_TFLITE ? 32u : (uint32_t)(-2 - o->shift[r & o->mask]);
}

static inline int32_t scale_sh1(const tc_out_params *o, int32_t r, int32_t acc, uint32_t zz,
                                uint32_t sh1)
{
    const tc_dense_rq e = {0, o->m[r & o->mask], zz << sh1, 0u, (int32_t)sh1 + 1};
    return scale_short(acc, e);
}

#ifdef TC_DENSE_DSP
/* Row r's output on whichever form rq_of gives it. Out of line: rare. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int8_t out_slow(const tc_quant_params *q, const tc_out_params *o, int32_t r, int32_t acc)
{
    const tc_dense_rq e = rq_of(q, o, r);
    return out_other(o, &e, r, acc);
}

/* The activation's range in the four bytes of a word (clamp4). */
static inline uint32_t range4(int32_t v)
{
    return ((uint32_t)v & 0xffu) * 0x01010101u;
}

/* Four requantized outputs clamped to the activation's range (lo, hi: range4 of its ends),
   the bytes of a word in order. */
static inline uint32_t clamp4(uint32_t lo, uint32_t hi, int32_t v0, int32_t v1, int32_t v2,
                              int32_t v3)
{
#ifdef TC_DENSE_DSP_HW
    /* each saturated to int8 (SSAT) into a byte of a word (BFI), then the clamp of all four
       at once: max by SSUB8 + SEL, min by SSUB8 + SEL */
    uint32_t p = (uint32_t)__ssat(v0, 8), t;
    __asm__("bfi    %[p], %[b], #8, #8\n\t"
            "bfi    %[p], %[c], #16, #8\n\t"
            "bfi    %[p], %[d], #24, #8\n\t"
            "ssub8  %[t], %[p], %[lo]\n\t"
            "sel    %[p], %[p], %[lo]\n\t"
            "ssub8  %[t], %[hi], %[p]\n\t"
            "sel    %[p], %[p], %[hi]"
            : [p] "+&r"(p), [t] "=&r"(t)
            : [b] "r"(__ssat(v1, 8)), [c] "r"(__ssat(v2, 8)), [d] "r"(__ssat(v3, 8)),
              [lo] "r"(lo), [hi] "r"(hi)
            : "cc");
    return p;
#else
    const int32_t a = (int32_t)(int8_t)(lo & 0xffu), b = (int32_t)(int8_t)(hi & 0xffu);
    const int32_t v[4] = {v0, v1, v2, v3};
    uint32_t p = 0;
    for (int32_t i = 0; i < 4; ++i) {
        p |= ((uint32_t)(v[i] < a ? a : v[i] > b ? b : v[i]) & 0xffu) << (8 * i);
    }
    return p;
#endif
}

/* Bytes 0, 1 of p at y0 and bytes 2, 3 at y1. */
static inline void store_2x2(uint32_t p, int8_t *y0, int8_t *y1)
{
#ifdef TC_DENSE_DSP_HW
    const uint16_t lo = (uint16_t)p, hi = (uint16_t)(p >> 16);
    memcpy(y0, &lo, sizeof lo); /* unaligned halfword stores (STRH) */
    memcpy(y1, &hi, sizeof hi);
#else
    y0[0] = (int8_t)(p & 0xffu);
    y0[1] = (int8_t)((p >> 8) & 0xffu);
    y1[0] = (int8_t)((p >> 16) & 0xffu);
    y1[1] = (int8_t)((p >> 24) & 0xffu);
#endif
}

/* p's four bytes at y. */
static inline void store4(uint32_t p, int8_t *y)
{
#ifdef TC_DENSE_DSP_HW
    memcpy(y, &p, sizeof p); /* unaligned word store (STR) */
#else
    store_2x2(p, y, y + 2);
#endif
}

/* Rows r .. r + 3 of an 8-bit matrix (w: row r, rows rb bytes apart) against one packed
   column, into out[r .. r + 3]: each input pair word loaded once for four rows. */
TC_ALWAYS_INLINE static inline void rows4_s8(const int32_t unroll, const tc_quant_params *q,
                                             const tc_out_params *o, uint32_t zz,
                            uint32_t lo, uint32_t hi, int32_t r, const uint8_t *w, int32_t rb,
                            const uint32_t *x, int32_t groups, int8_t *out)
{
    tc_sums4 s = {(uint32_t)tc_bias(q, r), (uint32_t)tc_bias(q, r + 1),
                  (uint32_t)tc_bias(q, r + 2), (uint32_t)tc_bias(q, r + 3)};
#ifdef TC_DENSE_DSP_HW
    s = unroll ? dot8_4x1_u2(w, rb, x, groups, s) : dot8_4x1(w, rb, x, groups, s);
#else
    (void)unroll;
    s = dot8_4x1(w, rb, x, groups, s);
#endif
    const uint32_t e0 = short_sh1(o, r), e1 = short_sh1(o, r + 1);
    const uint32_t e2 = short_sh1(o, r + 2), e3 = short_sh1(o, r + 3);
    if (e0 <= 21u && e1 <= 21u && e2 <= 21u && e3 <= 21u) { /* the short form: most layers */
        store4(clamp4(lo, hi, scale_sh1(o, r, (int32_t)s.r0, zz, e0),
                      scale_sh1(o, r + 1, (int32_t)s.r1, zz, e1),
                      scale_sh1(o, r + 2, (int32_t)s.r2, zz, e2),
                      scale_sh1(o, r + 3, (int32_t)s.r3, zz, e3)),
               out + r);
        return;
    }
    out[r] = out_slow(q, o, r, (int32_t)s.r0);
    out[r + 1] = out_slow(q, o, r + 1, (int32_t)s.r1);
    out[r + 2] = out_slow(q, o, r + 2, (int32_t)s.r2);
    out[r + 3] = out_slow(q, o, r + 3, (int32_t)s.r3);
}
#endif

#ifdef TC_DENSE_DSP
/* Rows r and r + 1 (wa: row r, wb = wa + rb) against two packed columns, requantized by the
   table rq, into out0[r], out0[r + 1], out1[r], out1[r + 1] (row_pair's sums). */
TC_ALWAYS_INLINE static inline void pair2(const int32_t bits, const int32_t unroll,
                                          const tc_out_params *o,
                                          const tc_dense_rq *rq, uint32_t lo, uint32_t hi,
                                          int32_t r, const uint8_t *wa, int32_t rb,
                                          const uint32_t *x, int32_t groups, uint32_t corr0,
                                          uint32_t corr1, uint32_t mask, uint32_t sign,
                                          int8_t *out0, int8_t *out1)
{
    const int32_t s_ = lane_shift(bits);
    const tc_dense_rq *ea = rq + r, *eb = ea + 1;
    const int32_t bias_a = ea->bias, bias_b = eb->bias;
    const uint32_t ia = s_ == 0 ? (uint32_t)bias_a : 0u, ib = s_ == 0 ? (uint32_t)bias_b : 0u;
    const uint32_t c0 = bits == 8 ? 0u : corr0, c1 = bits == 8 ? 0u : corr1;
    const tc_sums s0 = {ia - c0, ia - c1, ib - c0, ib - c1};
#ifdef TC_DENSE_DSP_HW
    const tc_sums s = bits == 8 && unroll ? dot8_2x2_u2(wa, wa + rb, x, groups, s0)
                                          : dot(bits, 2, wa, wa + rb, x, groups, mask, sign, s0);
#else
    const tc_sums s = dot(bits, 2, wa, wa + rb, x, groups, mask, sign, s0);
    (void)unroll;
#endif
    const int32_t a0 = s_ == 0 ? (int32_t)s.a0 : bias_a + ((int32_t)s.a0 >> s_);
    const int32_t b0 = s_ == 0 ? (int32_t)s.b0 : bias_b + ((int32_t)s.b0 >> s_);
    const int32_t a1 = s_ == 0 ? (int32_t)s.a1 : bias_a + ((int32_t)s.a1 >> s_);
    const int32_t b1 = s_ == 0 ? (int32_t)s.b1 : bias_b + ((int32_t)s.b1 >> s_);
    if (rq_short(ea) && rq_short(eb)) { /* the short form for both rows: most layers */
        store_2x2(clamp4(lo, hi, scale_short(a0, *ea), scale_short(b0, *eb),
                         scale_short(a1, *ea), scale_short(b1, *eb)),
                  out0 + r, out1 + r);
        return;
    }
    if (ea->sh > 32 && eb->sh > 32) { /* the short form on acc * 2^p for both rows */
        const int32_t pa = ea->sh - 32, pb = eb->sh - 32;
        store_2x2(clamp4(lo, hi, scale_pre(a0, ea, pa), scale_pre(b0, eb, pb),
                         scale_pre(a1, ea, pa), scale_pre(b1, eb, pb)),
                  out0 + r, out1 + r);
        return;
    }
    if (ea->sh != 0 && eb->sh != 0) { /* the long form for one row or both */
        store_2x2(clamp4(lo, hi, scale_any(a0, *ea), scale_any(b0, *eb), scale_any(a1, *ea),
                         scale_any(b1, *eb)),
                  out0 + r, out1 + r);
        return;
    }
    out0[r] = out_other(o, ea, r, a0);
    out0[r + 1] = out_other(o, eb, r + 1, b0);
    out1[r] = out_other(o, ea, r, a1);
    out1[r + 1] = out_other(o, eb, r + 1, b1);
}
#endif

/* Rows r and r1 (r1 == r: the last row alone) against ncols packed columns, requantized
   by the table rq (when `table`) or by constants worked out here. Only the biases are read
   before the loop, the rest after it, so that nothing has to be kept in a register across
   it. */
TC_ALWAYS_INLINE static inline void row_pair(const int32_t bits, const int32_t ncols,
                                             const int32_t table, const tc_quant_params *q,
                                             const tc_out_params *o, const tc_dense_rq *rq,
                                             int32_t r, int32_t r1, const uint8_t *wa,
                                             const uint8_t *wb, int32_t groups,
                                             const void *cols, uint32_t corr0, uint32_t corr1,
                                             uint32_t mask, uint32_t sign, uint32_t zz,
                                             uint32_t lo, uint32_t hi, int8_t *out0,
                                             int8_t *out1)
{
    const int32_t s_ = lane_shift(bits);
    const int32_t bias_a = table ? rq[r].bias : tc_bias(q, r);
    const int32_t bias_b = table ? rq[r1].bias : tc_bias(q, r1);
    /* The sums start where they end up exact (mod 2^32, tc_dense_exact): at S = 0 (8, 4,
       2, 1 bits, and without DSP, where the corrections are 0) at bias - correction, so
       that they end at bias + sum(level * x); else at -correction, ending at
       2^S * sum(level * x), and the bias comes after the shift (2^S * bias may not fit). */
    const uint32_t ia = s_ == 0 ? (uint32_t)bias_a : 0u, ib = s_ == 0 ? (uint32_t)bias_b : 0u;
#ifdef TC_DENSE_DSP
    const uint32_t c0 = bits == 8 ? 0u : corr0, c1 = bits == 8 ? 0u : corr1;
#else
    const uint32_t c0 = 0u, c1 = 0u; /* (no corrections: levels are sign-extracted) */
    (void)corr0;
    (void)corr1;
#endif
    const tc_sums s0 = {ia - c0, ia - c1, ib - c0, ib - c1};
    const tc_sums s = dot(bits, ncols, wa, wb, cols, groups, mask, sign, s0);
    const int32_t a0 = s_ == 0 ? (int32_t)s.a0 : bias_a + ((int32_t)s.a0 >> s_);
    const int32_t b0 = s_ == 0 ? (int32_t)s.b0 : bias_b + ((int32_t)s.b0 >> s_);
    const int32_t a1 = s_ == 0 ? (int32_t)s.a1 : bias_a + ((int32_t)s.a1 >> s_);
    const int32_t b1 = s_ == 0 ? (int32_t)s.b1 : bias_b + ((int32_t)s.b1 >> s_);
    (void)lo;
    (void)hi;
    if (!table) {
        const uint32_t sa = short_sh1(o, r), sb = short_sh1(o, r1);
        if (sa <= 21u && sb <= 21u) { /* the short form for both rows: most layers */
            clamp_pair(o, scale_sh1(o, r, a0, zz, sa), scale_sh1(o, r1, b0, zz, sb), out0 + r,
                       out0 + r1);
            if (ncols == 2) {
                clamp_pair(o, scale_sh1(o, r, a1, zz, sa), scale_sh1(o, r1, b1, zz, sb),
                           out1 + r, out1 + r1);
            }
            return;
        }
    }
    const tc_dense_rq ea = table ? rq[r] : rq_of(q, o, r);
    const tc_dense_rq eb = table ? rq[r1] : rq_of(q, o, r1);
    if (rq_short(&ea) && rq_short(&eb)) { /* the short form for both rows: most layers */
        clamp_pair(o, scale_short(a0, ea), scale_short(b0, eb), out0 + r, out0 + r1);
        if (ncols == 2) {
            clamp_pair(o, scale_short(a1, ea), scale_short(b1, eb), out1 + r, out1 + r1);
        }
        return;
    }
    if (ea.sh != 0 && eb.sh != 0) { /* the long form for one row or both */
        clamp_pair(o, scale_any(a0, ea), scale_any(b0, eb), out0 + r, out0 + r1);
        if (ncols == 2) {
            clamp_pair(o, scale_any(a1, ea), scale_any(b1, eb), out1 + r, out1 + r1);
        }
        return;
    }
    const int8_t ya0 = out_other(o, &ea, r, a0), yb0 = out_other(o, &eb, r1, b0);
    if (ncols == 2) {
        const int8_t ya1 = out_other(o, &ea, r, a1), yb1 = out_other(o, &eb, r1, b1);
        out1[r] = ya1;
        out1[r1] = yb1;
    }
    out0[r] = ya0;
    out0[r1] = yb0;
}

static inline const uint8_t *row_ptr(const tc_dense_mat *m, int32_t r)
{
    return r < m->tail_row ? m->w + r * m->row_bytes : m->tail + (r - m->tail_row) * m->row_bytes;
}

/* Every row pair against ncols (1 or 2) packed columns. */
TC_ALWAYS_INLINE static inline void gemm(const int32_t bits, const int32_t ncols,
                                         const int32_t table, const tc_dense_mat *m,
                                         const tc_quant_params *q, const tc_dense_rq *rq,
                                         const void *cols, uint32_t corr0, uint32_t corr1,
                                         int8_t *out0, int8_t *out1)
{
    const tc_out_params o = tc_out_params_of(q);
    const int32_t groups = tc_dense_padded(m->cols, bits) / tc_dense_group(bits);
    const int32_t rows = m->rows;
    uint32_t mask = lane_mask(bits), sign = sign_bits(bits);
    if (bits != 8) {
        TC_IN_REGISTER(mask);
        if (group_loads(bits) == 2) {
            TC_IN_REGISTER(sign);
        }
    }
    const uint32_t zz = 2u * (uint32_t)o.z_out + 1u;
#ifdef TC_DENSE_DSP
    const uint32_t lo = range4(o.act_min), hi = range4(o.act_max);
#else
    const uint32_t lo = 0u, hi = 0u;
#endif
    int32_t r = 0;
#ifdef TC_DENSE_DSP
    if (bits == 8 && ncols == 1 && groups >= 12) { /* four rows at a time in the array */
        for (; r + 4 <= m->tail_row; r += 4) {
            rows4_s8(1, q, &o, zz, lo, hi, r, m->w + r * m->row_bytes, m->row_bytes, cols,
                     groups, out0);
        }
    }
    if (bits == 8 && ncols == 1) {
        for (; r + 4 <= m->tail_row; r += 4) {
            rows4_s8(0, q, &o, zz, lo, hi, r, m->w + r * m->row_bytes, m->row_bytes, cols,
                     groups, out0);
        }
    }
    if (ncols == 2 && table && bits == 8 && groups >= 12) { /* row pairs in the array */
        for (; r + 2 <= m->tail_row; r += 2) {
            pair2(bits, 1, &o, rq, lo, hi, r, m->w + r * m->row_bytes, m->row_bytes, cols,
                  groups, corr0, corr1, mask, sign, out0, out1);
        }
    }
    if (ncols == 2 && table) {
        for (; r + 2 <= m->tail_row; r += 2) {
            pair2(bits, 0, &o, rq, lo, hi, r, m->w + r * m->row_bytes, m->row_bytes, cols,
                  groups, corr0, corr1, mask, sign, out0, out1);
        }
    }
#endif
    const int32_t step = 2 * m->row_bytes;
    const uint8_t *wa = m->w + r * m->row_bytes, *wb = wa + m->row_bytes;
    for (; r < rows; r += 2, wa += step, wb += step) {
        int32_t r1 = r + 1;
        if (r1 >= m->tail_row) { /* near the end: rows in the tail copy, a last odd row */
            r1 = r1 < rows ? r1 : r; /* (paired with itself) */
            wa = row_ptr(m, r);
            wb = row_ptr(m, r1);
        }
        row_pair(bits, ncols, table, q, &o, rq, r, r1, wa, wb, groups, cols, corr0, corr1,
                 mask, sign, zz, lo, hi, out0, out1);
    }
}

#define TC_GEMM_WIDTHS(call)                                                                \
    switch (m->bits) {                                                                      \
    case 8: if (TC_HAS_VARIANT(TC_DENSE_BITS, 7)) { call(8); } break;                       \
    case 7: if (TC_HAS_VARIANT(TC_DENSE_BITS, 6)) { call(7); } break;                       \
    case 6: if (TC_HAS_VARIANT(TC_DENSE_BITS, 5)) { call(6); } break;                       \
    case 5: if (TC_HAS_VARIANT(TC_DENSE_BITS, 4)) { call(5); } break;                       \
    case 4: if (TC_HAS_VARIANT(TC_DENSE_BITS, 3)) { call(4); } break;                       \
    case 3: if (TC_HAS_VARIANT(TC_DENSE_BITS, 2)) { call(3); } break;                       \
    case 2: if (TC_HAS_VARIANT(TC_DENSE_BITS, 1)) { call(2); } break;                       \
    default: if (TC_HAS_VARIANT(TC_DENSE_BITS, 0)) { call(1); } break;                      \
    }

void tc_dense_gemm1_s8(const tc_dense_mat *m, const tc_quant_params *q, const void *cols,
                       uint32_t corr0, int8_t *out0)
{
#define TC_GEMM1(b) gemm(b, 1, 0, m, q, NULL, cols, corr0, 0u, out0, out0)
    TC_GEMM_WIDTHS(TC_GEMM1)
#undef TC_GEMM1
}

void tc_dense_gemm2_s8(const tc_dense_mat *m, const tc_quant_params *q, const tc_dense_rq *rq,
                       const void *cols, uint32_t corr0, uint32_t corr1, int8_t *out0,
                       int8_t *out1)
{
#define TC_GEMM2(b) gemm(b, 2, 1, m, q, rq, cols, corr0, corr1, out0, out1)
    TC_GEMM_WIDTHS(TC_GEMM2)
#undef TC_GEMM2
}
#undef TC_GEMM_WIDTHS

/* ---------------------------------------------------------------- FC */

int32_t tc_fc_dense_s8_buffer_size(const tc_fc_dims *dims, int32_t bits)
{
    if (dims == NULL || dims->fan_in < 1 || dims->units < 1 || bits < 1 || bits > 8) {
        return 0;
    }
    return tc_dense_column_bytes(dims->fan_in, bits) +
           tc_dense_tail_bytes(dims->units, dims->fan_in, bits);
}

tc_status tc_fc_dense_s8(const tc_context *ctx, const tc_fc_dims *dims,
                         const tc_quant_params *quant, const tc_dense_weights *weights,
                         const int8_t *input, int8_t *output)
{
    if (!tc_dense_ok(weights) || dims == NULL || dims->fan_in < 1 || dims->units < 1 ||
        !tc_quant_ok(quant) || input == NULL || output == NULL || !tc_context_ok(ctx,
        tc_fc_dense_s8_buffer_size(dims, weights->bits))) {
        return TC_ERR_ARG;
    }
    const int32_t bits = weights->bits;
    if (!tc_dense_exact(dims->fan_in, bits)) {
        return tc_fc_run(dims, quant, weights, input, output, tc_rows_dense_s8);
    }
    /* scratch: the packed input, then the tail rows */
    uint8_t *col = (uint8_t *)ctx->buf;
    uint8_t *tail = tc_dense_tail_bytes(dims->units, dims->fan_in, bits) > 0
                        ? col + tc_dense_column_bytes(dims->fan_in, bits) : NULL;
    tc_dense_mat m;
    tc_dense_mat_init(&m, weights, dims->units, dims->fan_in, tail);
    const uint32_t corr = tc_dense_pack_s8(bits, input, dims->fan_in, col, 1, 0);
    tc_dense_gemm1_s8(&m, quant, col, corr, output);
    return TC_OK;
}

/* ---------------------------------------------------------------- row engine
 * One output position at a time, for the depthwise kernel (inputs `elem_step`
 * apart, row r reading x + r) and for rows too long for the engine's lanes. */

/* Two 8-bit rows against the same n contiguous inputs. */
static void dot8_pair(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n,
                      int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1;
#ifdef TC_DENSE_DSP
    uint32_t u0 = (uint32_t)s0, u1 = (uint32_t)s1;
    for (; n >= 4; n -= 4, x += 4, w0 += 4, w1 += 4) {
        const uint32_t xv = ld32(x);
        const uint32_t x02 = sxtb16(xv), x13 = sxtb16_ror(xv, 8);
        const uint32_t a = ld32(w0), b = ld32(w1);
        u0 = smlad(sxtb16(a), x02, u0);
        u0 = smlad(sxtb16_ror(a, 8), x13, u0);
        u1 = smlad(sxtb16(b), x02, u1);
        u1 = smlad(sxtb16_ror(b, 8), x13, u1);
    }
    s0 = (int32_t)u0;
    s1 = (int32_t)u1;
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
