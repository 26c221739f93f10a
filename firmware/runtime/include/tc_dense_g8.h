/**
 * @file tc_dense_g8.h
 * @brief The 8-bit dense engines' shared instruction text (internal): one group of four
 *        levels of two weight rows against two packed columns, for the FC loops
 *        (tc_dense_dsp.h) and the conv DSP path (tc_conv2d_dense_s8.c). Operands: rows
 *        [a], [b] (advanced a word), columns [x] (advanced two words), sums [a0] [a1]
 *        (row a) and [b0] [b1] (row b), temporaries [va] [vb] [x0] [x1] [t].
 */
#ifndef TC_DENSE_G8_H
#define TC_DENSE_G8_H

/* 8 bits, one group of two rows against two columns: SXTB16 of a weight word gives levels
   (0, 2), of it rotated by 8 levels (1, 3). */
#define TC_G8_2X2                                                                           \
    "ldr    %[va], [%[a]], #4\n\t"                                                          \
    "ldr    %[vb], [%[b]], #4\n\t"                                                          \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "sxtb16 %[t], %[va]\n\t"                                                                \
    "smlad  %[a0], %[t], %[x0], %[a0]\n\t"                                                  \
    "smlad  %[a1], %[t], %[x1], %[a1]\n\t"                                                  \
    "sxtb16 %[t], %[vb]\n\t"                                                                \
    "smlad  %[b0], %[t], %[x0], %[b0]\n\t"                                                  \
    "smlad  %[b1], %[t], %[x1], %[b1]\n\t"                                                  \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "sxtb16 %[t], %[va], ror #8\n\t"                                                        \
    "smlad  %[a0], %[t], %[x0], %[a0]\n\t"                                                  \
    "smlad  %[a1], %[t], %[x1], %[a1]\n\t"                                                  \
    "sxtb16 %[t], %[vb], ror #8\n\t"                                                        \
    "smlad  %[b0], %[t], %[x0], %[b0]\n\t"                                                  \
    "smlad  %[b1], %[t], %[x1], %[b1]\n\t"

#endif /* TC_DENSE_G8_H */
