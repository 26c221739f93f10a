/**
 * @file tc_fc_csr_s8.c
 * @brief tc_fc_csr_s8, and the CSR row engine the conv kernels share.
 *
 * One loop per col_idx type; only those in TC_CSR_VARIANTS are linked.
 */
#include <stddef.h>

#include "tc_fc.h"
#include "tc_layouts_internal.h"

#define TC_ROWS_NAME csr_rows_u8
#define TC_COL_T uint8_t
#include "tc_layouts_csr_rows.h"
#define TC_ROWS_NAME csr_rows_u16
#define TC_COL_T uint16_t
#include "tc_layouts_csr_rows.h"
#define TC_ROWS_NAME csr_rows_u32
#define TC_COL_T uint32_t
#include "tc_layouts_csr_rows.h"

typedef void (*csr_rows_fn)(const tc_csr_weights *, const tc_quant_params *, int32_t,
                            const int8_t *, int32_t, int8_t *);

/* the loop of variant `bit`, or NULL when the build left it out (tc_csr_ok rejects it) */
#define PICK(bit, fn) (TC_HAS_VARIANT(TC_CSR_VARIANTS, bit) ? fn : (csr_rows_fn)NULL)

void tc_rows_csr_s8(const void *weights, const tc_quant_params *q, int32_t rows,
                    const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out)
{
    static const csr_rows_fn by_col_type[3] = {PICK(0, csr_rows_u8), PICK(1, csr_rows_u16),
                                               PICK(2, csr_rows_u32)};
    const tc_csr_weights *w = (const tc_csr_weights *)weights;
    (void)patch; /* CSR never needs the patch sum */
    by_col_type[tc_index_slot(w->col_idx_type)](w, q, rows, x, x_step, out);
}

tc_status tc_fc_csr_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                       const tc_csr_weights *weights, const int8_t *input, int8_t *output)
{
    if (!tc_csr_ok(weights)) {
        return TC_ERR_ARG;
    }
    return tc_fc_run(dims, quant, weights, input, output, tc_rows_csr_s8);
}
