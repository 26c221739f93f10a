/**
 * @file tc_simd.h
 * @brief Four int8 lanes per 32-bit word (internal to the runtime, not a public API).
 *
 * With the DSP extension (__ARM_FEATURE_DSP: Cortex-M4/M7/M33) the lane
 * operations are single SIMD instructions (SSUB8 + SEL, SXTAB16, SXTB16);
 * the kernels that include this header keep a plain C path for the other
 * cores (Cortex-M3, M0) and the host, chosen by TC_SIMD_DSP. Byte k of a word
 * is the int8 at address p + k (little endian, as every Cortex-M here).
 */
#ifndef TC_SIMD_H
#define TC_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define TC_INLINE __attribute__((always_inline)) inline
#define TC_NOINLINE __attribute__((noinline))
#else
#define TC_INLINE inline
#define TC_NOINLINE
#endif

#if defined(__ARM_FEATURE_DSP)
#define TC_SIMD_DSP 1
#endif
#if defined(__ARM_FEATURE_SAT) || defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/** Four int8 at p, any alignment (one LDR on Cortex-M3/M4/M7). */
static TC_INLINE uint32_t tc_ld32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/** Store four int8 at p, any alignment. */
static TC_INLINE void tc_st32(int8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

/** v clamped to [-128, 127] (one SSAT where the core has it). */
static TC_INLINE int32_t tc_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_SAT)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/** c + floor(a * b / 2^32) (SMMLA with the DSP extension). */
static TC_INLINE int32_t tc_mulhi_add(int32_t a, int32_t b, int32_t c)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return c + (int32_t)(((int64_t)a * b) >> 32);
#endif
}

/** c + floor((a * b + 2^31) / 2^32) (SMMLAR with the DSP extension). */
static TC_INLINE int32_t tc_mulhi_round_add(int32_t a, int32_t b, int32_t c)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return c + (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/** Lane-wise a - b modulo 2^8 (no borrow between lanes; USUB8 with the DSP extension). */
static TC_INLINE uint32_t tc_sub8x4(uint32_t a, uint32_t b)
{
#ifdef TC_SIMD_DSP
    return __usub8(a, b);
#else
    const uint32_t h = 0x80808080u;
    return ((a | h) - (b & ~h)) ^ ((a ^ ~b) & h);
#endif
}

/** Byte k of every lane: v repeated four times. */
static TC_INLINE uint32_t tc_splat8(int32_t v)
{
    return (uint32_t)(uint8_t)v * 0x01010101u;
}

/**
 * First channel of group g of four when `channels` (>= 4) is not a multiple of
 * four: the last group overlaps the one before it instead of reading past the
 * last channel (its overlapping outputs are computed twice, to the same value).
 */
static TC_INLINE int32_t tc_group_first(int32_t g, int32_t channels)
{
    return 4 * g + 4 <= channels ? 4 * g : channels - 4;
}

/** w with byte `lane` (a constant) replaced by the low byte of v (one BFI on Thumb-2). */
static TC_INLINE uint32_t tc_put8(uint32_t w, uint32_t v, int lane)
{
#if defined(__GNUC__) && defined(__thumb2__)
    __asm__("bfi %0, %1, %2, #8" : "+r"(w) : "r"(v), "i"(8 * lane));
    return w;
#else
    return (w & ~(0xffu << (8 * lane))) | ((v & 0xffu) << (8 * lane));
#endif
}

/** The value of the int8 in byte `lane` of w. */
static TC_INLINE int32_t tc_lane8(uint32_t w, int lane)
{
    return (int32_t)(int8_t)(uint8_t)(w >> (8 * lane));
}

#ifndef TC_SIMD_DSP
/*
 * Lanes where a >= b (signed), as 0xff bytes, in plain C: with H the lanes' top
 * bits, t = (a | H) - (b & ~H) borrows across no lane and its top bit per lane
 * is low7(a) >= low7(b), which orders two int8 of the same sign; of
 * different signs the non-negative one is larger (b's top bit set, a's not).
 */
static TC_INLINE uint32_t tc_ge_s8x4(uint32_t a, uint32_t b)
{
    const uint32_t h = 0x80808080u;
    const uint32_t t = (a | h) - (b & ~h);
    const uint32_t ge = ((b & ~a) | (t & ~(a ^ b))) & h;
    return (ge << 1) - (ge >> 7);
}
#endif

/** Lane-wise signed max of two words of four int8 (DSP: SSUB8 sets GE, SEL picks). */
static TC_INLINE uint32_t tc_max_s8x4(uint32_t a, uint32_t b)
{
#ifdef TC_SIMD_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b));
    return r;
#else
    return b ^ ((a ^ b) & tc_ge_s8x4(a, b));
#endif
}

/** Lane-wise signed min of two words of four int8. */
static TC_INLINE uint32_t tc_min_s8x4(uint32_t a, uint32_t b)
{
#ifdef TC_SIMD_DSP
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b));
    return r;
#else
    return a ^ ((a ^ b) & tc_ge_s8x4(a, b));
#endif
}

#ifdef TC_SIMD_DSP
/* SXTB16 / SXTAB16 of the word rotated right by 8 (bytes 1 and 3) in one instruction:
   GCC 12 does not fold a separate rotate into the operand rotation. */
static TC_INLINE uint32_t tc_sxtb16_ror8(uint32_t w)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

static TC_INLINE uint32_t tc_sxtab16_ror8(uint32_t acc, uint32_t w)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(w));
    return r;
}
#endif /* TC_SIMD_DSP */

/**
 * Sums of four int8 channels, minus a bias, in 16-bit lanes: e holds channels
 * 0 and 2, o channels 1 and 3. DSP: signed lanes that start at -bias and add
 * each byte (SXTAB16); a lane is exact modulo 2^16, so it is the sum whenever
 * the sum fits an int16: |sum| <= 255 n for n <= TC_LANES_MAX words. Plain C:
 * each byte biased to x + 128 (XOR 0x80) and added into an unsigned lane
 * (<= 255 n < 2^16); tc_lanes_sum takes 128 n and the bias off again.
 */
typedef struct {
    uint32_t e, o;
} tc_lanes;

/** Words a tc_lanes may add (255 * 128 = 32640 fits an int16 lane). */
#define TC_LANES_MAX 128

static TC_INLINE tc_lanes tc_lanes_start(int32_t bias)
{
#ifdef TC_SIMD_DSP
    const uint32_t v = (uint32_t)(uint16_t)(-bias) * 0x00010001u;
    const tc_lanes l = {v, v};
#else
    const tc_lanes l = {0u, 0u};
    (void)bias;
#endif
    return l;
}

static TC_INLINE void tc_lanes_add(tc_lanes *l, uint32_t w)
{
#ifdef TC_SIMD_DSP
    l->e = __sxtab16(l->e, w);
    l->o = tc_sxtab16_ror8(l->o, w);
#else
    const uint32_t u = w ^ 0x80808080u;
    l->e += u & 0x00ff00ffu;
    l->o += (u >> 8) & 0x00ff00ffu;
#endif
}

/** Sum of channel `lane` (0..3) minus the bias, after `n` words were added. */
static TC_INLINE int32_t tc_lanes_sum(const tc_lanes *l, int lane, int32_t n, int32_t bias)
{
    const uint32_t w = (lane & 1) ? l->o : l->e;
#ifdef TC_SIMD_DSP
    (void)n;
    (void)bias;
    return (lane & 2) ? (int32_t)w >> 16 : (int32_t)(int16_t)(uint16_t)w;
#else
    return (int32_t)((lane & 2) ? w >> 16 : w & 0xffffu) - 128 * n - bias;
#endif
}

#endif /* TC_SIMD_H */
