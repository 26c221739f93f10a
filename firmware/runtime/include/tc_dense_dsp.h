/**
 * @file tc_dense_dsp.h
 * @brief The dense engine's inner loops for cores with the DSP extension, in
 *        assembly (internal to tc_fc_dense_s8.c, not a public API).
 *
 * Each loop multiplies two weight rows (a, b) with one or two packed columns
 * over `groups` groups of levels (tc_fc_dense_s8.c describes the lanes); at
 * 8 bits also four rows with one column (dot8_4x1) and two rows with two
 * columns two groups an iteration (dot8_2x2_u2). In C,
 * GCC 12 spills some of the 12 to 15 values these loops keep live to the
 * stack inside the loop, which costs up to half again the instructions; here
 * every value has a register, but for the group count of the two-column
 * sub-byte loops (14 values: GCC hands out at most 13 registers to an asm
 * statement here), which lives on the stack. A lane pair is one AND of the (sign-flipped) weight word with a
 * shifted operand; the shifts per width are the table of tc_fc_dense_s8.c:
 *
 *   bits  first word: shift per pair        second word (at +group-4): shift
 *   4     0, >>4, >>8, >>12                 -
 *   2     >>0, >>2, ..., >>14               -
 *   1     >>0, >>1, ..., >>15               -
 *   3     <<4, <<1, >>2, >>5                >>4, >>7, >>10, >>13
 *   5     <<6, <<1                          >>6, >>11
 *   6     <<4, >>2                          >>4, >>10
 *   7     <<2, >>5                          >>2, >>9
 */
#ifndef TC_DENSE_DSP_H
#define TC_DENSE_DSP_H

#include <stdint.h>

#include "tc_dense_g8.h" /* TC_G8_2X2 */

/* (tc_sums, the sums of rows a and b against columns 0 and 1, and tc_sums4, of four rows
   against one column, come from the includer.) */

/* ---- instruction text ---- */

/* One lane pair (shift SH of the row words) times the next pair word of two columns. */
#define TC_P2(SH)                                                                           \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "and    %[t], %[m], %[va], " SH "\n\t"                                                  \
    "smlad  %[a0], %[t], %[x0], %[a0]\n\t"                                                  \
    "smlad  %[a1], %[t], %[x1], %[a1]\n\t"                                                  \
    "and    %[t], %[m], %[vb], " SH "\n\t"                                                  \
    "smlad  %[b0], %[t], %[x0], %[b0]\n\t"                                                  \
    "smlad  %[b1], %[t], %[x1], %[b1]\n\t"

/* Two lane pairs (shifts SH1, SH2) times the next two pair words of one column. */
#define TC_P1(SH1, SH2)                                                                     \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "and    %[t], %[m], %[va], " SH1 "\n\t"                                                 \
    "smlad  %[a0], %[t], %[x0], %[a0]\n\t"                                                  \
    "and    %[t], %[m], %[vb], " SH1 "\n\t"                                                 \
    "smlad  %[b0], %[t], %[x0], %[b0]\n\t"                                                  \
    "and    %[t], %[m], %[va], " SH2 "\n\t"                                                 \
    "smlad  %[a0], %[t], %[x1], %[a0]\n\t"                                                  \
    "and    %[t], %[m], %[vb], " SH2 "\n\t"                                                 \
    "smlad  %[b0], %[t], %[x1], %[b0]\n\t"

/* The row words of a one-load group (GB bytes), sign bits flipped by immediate FLIP. */
#define TC_LOAD1(GB, FLIP)                                                                  \
    "ldr    %[va], [%[a]], #" GB "\n\t"                                                     \
    "ldr    %[vb], [%[b]], #" GB "\n\t"                                                     \
    "eor    %[va], %[va], #" FLIP "\n\t"                                                    \
    "eor    %[vb], %[vb], #" FLIP "\n\t"

/* The first word of a two-load group (GB bytes); sign bits in register c. */
#define TC_LOAD_FIRST(GB)                                                                   \
    "ldr    %[va], [%[a]], #" GB "\n\t"                                                     \
    "ldr    %[vb], [%[b]], #" GB "\n\t"                                                     \
    "eor    %[va], %[va], %[c]\n\t"                                                         \
    "eor    %[vb], %[vb], %[c]\n\t"

/* The second word, at group + GB - 4 (the pointers have moved on by GB); its sign bits are
   c shifted by the bit of its first level. */
#define TC_LOAD_SECOND(P0)                                                                  \
    "ldr    %[va], [%[a], #-4]\n\t"                                                         \
    "ldr    %[vb], [%[b], #-4]\n\t"                                                         \
    "eor    %[va], %[va], %[c], lsl #" P0 "\n\t"                                            \
    "eor    %[vb], %[vb], %[c], lsl #" P0 "\n\t"

#define TC_LOOP_REG "subs   %[n], %[n], #1\n\t" "bne    1b\n\t"
#define TC_LOOP_MEM                                                                         \
    "ldr    %[t], %[n]\n\t" "subs   %[t], %[t], #1\n\t" "str    %[t], %[n]\n\t" "bne    1b\n\t"

#define TC_SUMS2 [a0] "+r"(s.a0), [a1] "+r"(s.a1), [b0] "+r"(s.b0), [b1] "+r"(s.b1)
#define TC_SUMS1 [a0] "+r"(s.a0), [b0] "+r"(s.b0)
#define TC_PTRS [a] "+r"(a), [b] "+r"(b), [x] "+r"(x)
#define TC_TEMPS2                                                                           \
    [va] "=&r"(va), [vb] "=&r"(vb), [x0] "=&r"(x0), [x1] "=&r"(x1), [t] "=&r"(t)

/* ---- loops ---- */

/* Defines dot<BITS>_2x2 and dot<BITS>_2x1 for a one-load width (no sign register; the
   two-column loop keeps its count on the stack). */
#define TC_DOT_ONE_LOAD(BITS, BODY2, BODY1)                                                 \
    static inline tc_sums dot##BITS##_2x2(const uint8_t *a, const uint8_t *b,              \
                                          const uint32_t *x, int32_t n, uint32_t m,        \
                                          uint32_t c, tc_sums s)                           \
    {                                                                                       \
        uint32_t va, vb, x0, x1, t;                                                         \
        (void)c;                                                                            \
        __asm__ volatile("1:\n\t" BODY2 TC_LOOP_MEM                                         \
                         : TC_SUMS2, TC_PTRS, [n] "+m"(n), TC_TEMPS2                        \
                         : [m] "r"(m)                                                       \
                         : "cc", "memory");                                                 \
        return s;                                                                           \
    }                                                                                       \
    static inline tc_sums dot##BITS##_2x1(const uint8_t *a, const uint8_t *b,              \
                                          const uint32_t *x, int32_t n, uint32_t m,        \
                                          uint32_t c, tc_sums s)                           \
    {                                                                                       \
        uint32_t va, vb, x0, x1, t;                                                         \
        (void)c;                                                                            \
        __asm__ volatile("1:\n\t" BODY1 TC_LOOP_REG                                         \
                         : TC_SUMS1, TC_PTRS, [n] "+r"(n), TC_TEMPS2                        \
                         : [m] "r"(m)                                                       \
                         : "cc", "memory");                                                 \
        return s;                                                                           \
    }

/* As TC_DOT_ONE_LOAD for a two-load width (sign bits in register c). */
#define TC_DOT_TWO_LOADS(BITS, BODY2, BODY1)                                                \
    static inline tc_sums dot##BITS##_2x2(const uint8_t *a, const uint8_t *b,              \
                                          const uint32_t *x, int32_t n, uint32_t m,        \
                                          uint32_t c, tc_sums s)                           \
    {                                                                                       \
        uint32_t va, vb, x0, x1, t;                                                         \
        __asm__ volatile("1:\n\t" BODY2 TC_LOOP_MEM                                         \
                         : TC_SUMS2, TC_PTRS, [n] "+m"(n), TC_TEMPS2                        \
                         : [m] "r"(m), [c] "r"(c)                                           \
                         : "cc", "memory");                                                 \
        return s;                                                                           \
    }                                                                                       \
    static inline tc_sums dot##BITS##_2x1(const uint8_t *a, const uint8_t *b,              \
                                          const uint32_t *x, int32_t n, uint32_t m,        \
                                          uint32_t c, tc_sums s)                           \
    {                                                                                       \
        uint32_t va, vb, x0, x1, t;                                                         \
        __asm__ volatile("1:\n\t" BODY1 TC_LOOP_REG                                         \
                         : TC_SUMS1, TC_PTRS, [n] "+r"(n), TC_TEMPS2                        \
                         : [m] "r"(m), [c] "r"(c)                                           \
                         : "cc", "memory");                                                 \
        return s;                                                                           \
    }

static inline tc_sums dot8_2x2(const uint8_t *a, const uint8_t *b, const uint32_t *x, int32_t n,
                               uint32_t m, uint32_t c, tc_sums s)
{
    uint32_t va, vb, x0, x1, t;
    (void)m;
    (void)c;
    __asm__ volatile("1:\n\t" TC_G8_2X2 TC_LOOP_REG
                     : TC_SUMS2, TC_PTRS, [n] "+r"(n), TC_TEMPS2
                     :
                     : "cc", "memory");
    return s;
}

/* As dot8_2x2, two groups an iteration (an odd one first), for n >= 2: one loop branch per
   two groups. */
static inline tc_sums dot8_2x2_u2(const uint8_t *a, const uint8_t *b, const uint32_t *x,
                                  int32_t n, tc_sums s)
{
    uint32_t va, vb, x0, x1, t;
    __asm__ volatile("tst    %[n], #1\n\t"
                     "beq    2f\n\t" TC_G8_2X2
                     "2:\n\t"
                     "lsrs   %[n], %[n], #1\n\t"
                     "1:\n\t" TC_G8_2X2 TC_G8_2X2 TC_LOOP_REG
                     : TC_SUMS2, TC_PTRS, [n] "+r"(n), TC_TEMPS2
                     :
                     : "cc", "memory");
    return s;
}

static inline tc_sums dot8_2x1(const uint8_t *a, const uint8_t *b, const uint32_t *x, int32_t n,
                               uint32_t m, uint32_t c, tc_sums s)
{
    uint32_t va, vb, x0, x1, t;
    (void)m;
    (void)c;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[va], [%[a]], #4\n\t"
        "ldr    %[vb], [%[b]], #4\n\t"
        "ldrd   %[x0], %[x1], [%[x]], #8\n\t"
        "sxtb16 %[t], %[va]\n\t"
        "smlad  %[a0], %[t], %[x0], %[a0]\n\t"
        "sxtb16 %[t], %[vb]\n\t"
        "smlad  %[b0], %[t], %[x0], %[b0]\n\t"
        "sxtb16 %[t], %[va], ror #8\n\t"
        "smlad  %[a0], %[t], %[x1], %[a0]\n\t"
        "sxtb16 %[t], %[vb], ror #8\n\t"
        "smlad  %[b0], %[t], %[x1], %[b0]\n\t" TC_LOOP_REG
        : TC_SUMS1, TC_PTRS, [n] "+r"(n), TC_TEMPS2
        :
        : "cc", "memory");
    return s;
}

/* 8 bits, one group of four rows (a, a + rb, c = a + 2 rb, c + rb) against one column:
   each pair word of the column is loaded once for the four rows. */
#define TC_G8_4X1                                                                           \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "ldr    %[v], [%[a], %[rb]]\n\t"                                                        \
    "sxtb16 %[t], %[v]\n\t"                                                                 \
    "smlad  %[s1], %[t], %[x0], %[s1]\n\t"                                                  \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                         \
    "smlad  %[s1], %[v], %[x1], %[s1]\n\t"                                                  \
    "ldr    %[v], [%[a]], #4\n\t"                                                           \
    "sxtb16 %[t], %[v]\n\t"                                                                 \
    "smlad  %[s0], %[t], %[x0], %[s0]\n\t"                                                  \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                         \
    "smlad  %[s0], %[v], %[x1], %[s0]\n\t"                                                  \
    "ldr    %[v], [%[c], %[rb]]\n\t"                                                        \
    "sxtb16 %[t], %[v]\n\t"                                                                 \
    "smlad  %[s3], %[t], %[x0], %[s3]\n\t"                                                  \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                         \
    "smlad  %[s3], %[v], %[x1], %[s3]\n\t"                                                  \
    "ldr    %[v], [%[c]], #4\n\t"                                                           \
    "sxtb16 %[t], %[v]\n\t"                                                                 \
    "smlad  %[s2], %[t], %[x0], %[s2]\n\t"                                                  \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                         \
    "smlad  %[s2], %[v], %[x1], %[s2]\n\t"

/* The operands of both 4x1 loops (a, c: rows 0-1 and 2-3; x the packed column, n groups). */
#define TC_G8_4X1_OPERANDS                                                                   \
    : [s0] "+r"(s.r0), [s1] "+r"(s.r1), [s2] "+r"(s.r2), [s3] "+r"(s.r3), [a] "+r"(a),       \
      [c] "+r"(c), [x] "+r"(x), [n] "+r"(n), [v] "=&r"(v), [t] "=&r"(t), [x0] "=&r"(x0),     \
      [x1] "=&r"(x1)                                                                         \
    : [rb] "r"(rb)                                                                           \
    : "cc", "memory"

static inline tc_sums4 dot8_4x1(const uint8_t *a, int32_t rb, const uint32_t *x, int32_t n,
                                tc_sums4 s)
{
    const uint8_t *c = a + 2 * rb;
    uint32_t v, t, x0, x1;
    __asm__ volatile("1:\n\t" TC_G8_4X1 TC_LOOP_REG
        TC_G8_4X1_OPERANDS);
    return s;
}

/* As dot8_4x1, two groups an iteration (an odd one first), for n >= 2. */
static inline tc_sums4 dot8_4x1_u2(const uint8_t *a, int32_t rb, const uint32_t *x, int32_t n,
                                   tc_sums4 s)
{
    const uint8_t *c = a + 2 * rb;
    uint32_t v, t, x0, x1;
    __asm__ volatile("tst    %[n], #1\n\t"
                     "beq    2f\n\t" TC_G8_4X1
                     "2:\n\t"
                     "lsrs   %[n], %[n], #1\n\t"
                     "1:\n\t" TC_G8_4X1 TC_G8_4X1 TC_LOOP_REG
        TC_G8_4X1_OPERANDS);
    return s;
}

TC_DOT_ONE_LOAD(4,
    TC_LOAD1("4", "0x88888888")
    TC_P2("lsl #0") TC_P2("lsr #4") TC_P2("lsr #8") TC_P2("lsr #12"),
    TC_LOAD1("4", "0x88888888")
    TC_P1("lsl #0", "lsr #4") TC_P1("lsr #8", "lsr #12"))

TC_DOT_ONE_LOAD(2,
    TC_LOAD1("4", "0xaaaaaaaa")
    TC_P2("lsl #0") TC_P2("lsr #2") TC_P2("lsr #4") TC_P2("lsr #6")
    TC_P2("lsr #8") TC_P2("lsr #10") TC_P2("lsr #12") TC_P2("lsr #14"),
    TC_LOAD1("4", "0xaaaaaaaa")
    TC_P1("lsl #0", "lsr #2") TC_P1("lsr #4", "lsr #6")
    TC_P1("lsr #8", "lsr #10") TC_P1("lsr #12", "lsr #14"))

TC_DOT_ONE_LOAD(1,
    TC_LOAD1("4", "0xffffffff")
    TC_P2("lsl #0") TC_P2("lsr #1") TC_P2("lsr #2") TC_P2("lsr #3")
    TC_P2("lsr #4") TC_P2("lsr #5") TC_P2("lsr #6") TC_P2("lsr #7")
    TC_P2("lsr #8") TC_P2("lsr #9") TC_P2("lsr #10") TC_P2("lsr #11")
    TC_P2("lsr #12") TC_P2("lsr #13") TC_P2("lsr #14") TC_P2("lsr #15"),
    TC_LOAD1("4", "0xffffffff")
    TC_P1("lsl #0", "lsr #1") TC_P1("lsr #2", "lsr #3")
    TC_P1("lsr #4", "lsr #5") TC_P1("lsr #6", "lsr #7")
    TC_P1("lsr #8", "lsr #9") TC_P1("lsr #10", "lsr #11")
    TC_P1("lsr #12", "lsr #13") TC_P1("lsr #14", "lsr #15"))

TC_DOT_TWO_LOADS(3,
    TC_LOAD_FIRST("6")
    TC_P2("lsl #4") TC_P2("lsl #1") TC_P2("lsr #2") TC_P2("lsr #5")
    TC_LOAD_SECOND("8")
    TC_P2("lsr #4") TC_P2("lsr #7") TC_P2("lsr #10") TC_P2("lsr #13"),
    TC_LOAD_FIRST("6")
    TC_P1("lsl #4", "lsl #1") TC_P1("lsr #2", "lsr #5")
    TC_LOAD_SECOND("8")
    TC_P1("lsr #4", "lsr #7") TC_P1("lsr #10", "lsr #13"))

TC_DOT_TWO_LOADS(5,
    TC_LOAD_FIRST("5") TC_P2("lsl #6") TC_P2("lsl #1")
    TC_LOAD_SECOND("12") TC_P2("lsr #6") TC_P2("lsr #11"),
    TC_LOAD_FIRST("5") TC_P1("lsl #6", "lsl #1")
    TC_LOAD_SECOND("12") TC_P1("lsr #6", "lsr #11"))

TC_DOT_TWO_LOADS(6,
    TC_LOAD_FIRST("6") TC_P2("lsl #4") TC_P2("lsr #2")
    TC_LOAD_SECOND("8") TC_P2("lsr #4") TC_P2("lsr #10"),
    TC_LOAD_FIRST("6") TC_P1("lsl #4", "lsr #2")
    TC_LOAD_SECOND("8") TC_P1("lsr #4", "lsr #10"))

TC_DOT_TWO_LOADS(7,
    TC_LOAD_FIRST("7") TC_P2("lsl #2") TC_P2("lsr #5")
    TC_LOAD_SECOND("4") TC_P2("lsr #2") TC_P2("lsr #9"),
    TC_LOAD_FIRST("7") TC_P1("lsl #2", "lsr #5")
    TC_LOAD_SECOND("4") TC_P1("lsr #2", "lsr #9"))

#undef TC_G8_4X1
#undef TC_P2
#undef TC_P1
#undef TC_LOAD1
#undef TC_LOAD_FIRST
#undef TC_LOAD_SECOND
#undef TC_LOOP_REG
#undef TC_LOOP_MEM
#undef TC_SUMS2
#undef TC_SUMS1
#undef TC_PTRS
#undef TC_TEMPS2
#undef TC_DOT_ONE_LOAD
#undef TC_DOT_TWO_LOADS

#endif /* TC_DENSE_DSP_H */
