/**
 * @file tc_fc_cser_s8.c
 * @brief tc_fc_cser_s8, and the CSER row engine the conv kernels share.
 *
 * The row loop is specialised for each (col_idx, omega_ptr) index-type pair
 * (tc_layouts_cer_rows.h) and picked once per call from a table. Only the
 * pairs in TC_CSER_VARIANTS are referenced by the table; GCC drops the other
 * static loops, so a model pays flash only for the variants it uses.
 */
#include <stddef.h>

#include "tc_fc.h"
#include "tc_layouts_internal.h"

#define TC_WEIGHTS_T tc_cser_weights
#define TC_CSER 1
#define TC_ROWS_NAME cser_rows_u8_u8
#define TC_ROWS_BODY cser_rows_u8_u8_body
#define TC_COL_T uint8_t
#define TC_PTR_T uint8_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u8_u16
#define TC_ROWS_BODY cser_rows_u8_u16_body
#define TC_COL_T uint8_t
#define TC_PTR_T uint16_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u8_u32
#define TC_ROWS_BODY cser_rows_u8_u32_body
#define TC_COL_T uint8_t
#define TC_PTR_T uint32_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u16_u8
#define TC_ROWS_BODY cser_rows_u16_u8_body
#define TC_COL_T uint16_t
#define TC_PTR_T uint8_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u16_u16
#define TC_ROWS_BODY cser_rows_u16_u16_body
#define TC_COL_T uint16_t
#define TC_PTR_T uint16_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u16_u32
#define TC_ROWS_BODY cser_rows_u16_u32_body
#define TC_COL_T uint16_t
#define TC_PTR_T uint32_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u32_u8
#define TC_ROWS_BODY cser_rows_u32_u8_body
#define TC_COL_T uint32_t
#define TC_PTR_T uint8_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u32_u16
#define TC_ROWS_BODY cser_rows_u32_u16_body
#define TC_COL_T uint32_t
#define TC_PTR_T uint16_t
#include "tc_layouts_cer_rows.h"

#define TC_ROWS_NAME cser_rows_u32_u32
#define TC_ROWS_BODY cser_rows_u32_u32_body
#define TC_COL_T uint32_t
#define TC_PTR_T uint32_t
#include "tc_layouts_cer_rows.h"

#undef TC_WEIGHTS_T
#undef TC_CSER

typedef void (*cser_rows_fn)(const tc_cser_weights *, const tc_quant_params *, int32_t,
                            const tc_patch *, const int8_t *, int32_t, int8_t *);

/* the loop of variant `bit`, or NULL when the build left it out (tc_cser_ok rejects it) */
#define PICK(bit, fn) (TC_HAS_VARIANT(TC_CSER_VARIANTS, bit) ? fn : (cser_rows_fn)NULL)

void tc_rows_cser_s8(const void *weights, const tc_quant_params *q, int32_t rows,
                    const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out)
{
    /* [col_idx type][omega_ptr type] */
    static const cser_rows_fn table[3][3] = {
        {PICK(0, cser_rows_u8_u8), PICK(1, cser_rows_u8_u16), PICK(2, cser_rows_u8_u32)},
        {PICK(3, cser_rows_u16_u8), PICK(4, cser_rows_u16_u16), PICK(5, cser_rows_u16_u32)},
        {PICK(6, cser_rows_u32_u8), PICK(7, cser_rows_u32_u16), PICK(8, cser_rows_u32_u32)}};
    const tc_cser_weights *w = (const tc_cser_weights *)weights;
    table[tc_index_slot(w->col_idx_type)][tc_index_slot(w->omega_ptr_type)](
        w, q, rows, patch, x, x_step, out);
}

tc_status tc_fc_cser_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                       const tc_cser_weights *weights, const int8_t *input, int8_t *output)
{
    if (!tc_cser_ok(weights)) {
        return TC_ERR_ARG;
    }
    return tc_fc_run(dims, quant, weights, input, output, tc_rows_cser_s8);
}
