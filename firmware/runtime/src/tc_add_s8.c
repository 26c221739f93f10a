/**
 * @file tc_add_s8.c
 * @brief tc_add_s8; see tc_int_ops.h. Twin of int_eval.add_s8.
 *
 * Two inputs, as prepared (one of them has the largest scale), take a short
 * path of two multiplies per element. It is the reference formula rewritten
 * with identities that hold for every integer (floor(floor(a / 2^p) / 2^q) =
 * floor(a / 2^(p+q)); scaling numerator and denominator by 2^j), so the
 * results are the same bits (tests/test_kernel_paths_host.py and, on the
 * Cortex-M4 and M3, tests/test_kernel_speed.py check all 256 x 256 input pairs
 * for several scale ratios). With L = left_shift, t = 31 - in_shift and
 * k = t - L (in [9, 32]), input i contributes
 *   a_i = rq(v_i * 2^L, m_i, s_i) = floor((v_i * m_i + 2^(k-1)) / 2^k)
 *       = floor(((v_i << (32 - k)) * m_i + 2^31) / 2^32)      (SMMLAR)
 *       = v_i * (m_i >> k)            when 2^k divides m_i (the largest scale:
 *                                     m = 2^30, k = 11, a = v << 19; one MLA),
 * and with T = 31 - out_shift in [33, 54] the output is
 *   rq(total) + z_out = floor((floor(total * m_out / 2^32) + 2^(T-33)
 *                              + z_out * 2^(T-32)) / 2^(T-32))   (SMMLA, ASR),
 * saturated to int8 (SSAT). Four outputs are stored as one word. A narrower
 * act range: the output is computed lifted by d = 127 - act_max (z_out + d in
 * the rounding constant: an exact integer shift), so SSAT's 127 is act_max + d;
 * then, four at a time, a lane-wise max with act_min + d and a lane-wise - d.
 * Other parameters (more inputs, shifts outside these ranges), and the last
 * size % 4 elements, take the reference loop as written.
 */
#include "tc_add_internal.h"
#include "tc_int_ops.h"
#include "tc_requant.h"
#include "tc_simd.h"

#define TC_ADD_MAX_INPUTS 16

/* k = t - L of an input, or 0 when the SMMLAR form does not apply (k outside [9, 32]:
   v << (32 - k) must fit an int32 for |v| <= 255). */
static int32_t input_k(int32_t shift, int32_t left_shift)
{
    const int32_t k = 31 - shift - left_shift;
    return (k >= 9 && k <= 32) ? k : 0;
}

/* 1 when input (m, k) is an exact multiple: a = v * (m >> k). */
static int exact_input(int32_t m, int32_t k)
{
    return k != 0 && k < 31 && (m & (((int32_t)1 << k) - 1)) == 0;
}

/* The output step, its result offset by `lift` (the clamp's d, else 0). */
static int plan_output(const tc_add_params *p, int32_t lift, add2_plan *pl)
{
    const int32_t total_shift = 31 - p->out_shift;
    if (total_shift < 33 || total_shift > 54) {
        return 0;
    }
    pl->shift_out = total_shift - 32;
    const int64_t round = ((int64_t)1 << (total_shift - 33)) +
                          (int64_t)(p->out_zp + lift) * ((int64_t)1 << pl->shift_out);
    if (round < -((int64_t)1 << 30) || round > ((int64_t)1 << 30)) {
        return 0; /* keep floor(total * m_out / 2^32) + round inside int32 */
    }
    pl->m_out = p->out_multiplier;
    pl->round_out = (int32_t)round;
    return 1;
}

/* Fill pl; return which input is the exact one (0 or 1), or -1 for "no short path". */
static int32_t plan_add2(const tc_add_params *p, int32_t lift, add2_plan *pl)
{
    const int32_t k0 = input_k(p->in_shift[0], p->left_shift);
    const int32_t k1 = input_k(p->in_shift[1], p->left_shift);
    const int32_t e = exact_input(p->in_multiplier[0], k0) ? 0
                      : exact_input(p->in_multiplier[1], k1) ? 1 : -1;
    if (e < 0 || k0 == 0 || k1 == 0 || !plan_output(p, lift, pl)) {
        return -1;
    }
    const int32_t r = 1 - e, ke = e ? k1 : k0, kr = e ? k0 : k1;
    pl->mul_e = p->in_multiplier[e] >> ke; /* < 2^22 */
    pl->add_e = -p->in_zp[e] * pl->mul_e;
    pl->mul_r = (int32_t)1 << (32 - kr);   /* <= 2^23, so |(x - z) * mul_r| < 2^31 */
    pl->add_r = -p->in_zp[r] * pl->mul_r;
    pl->m_r = p->in_multiplier[r];
    return e;
}

#if TC_REQUANT_TFLITE
/* Two inputs in TFLite's arithmetic: the reference formula with the parameters in locals
   (an int8 store may alias *p) and each requantization inline. */
static void add2_tflite(const int8_t *a, const int8_t *b, int32_t size, const tc_add_params *p,
                        int8_t *out)
{
    const int32_t scale = (int32_t)1 << p->left_shift;
    const int32_t z0 = p->in_zp[0], m0 = p->in_multiplier[0], s0 = p->in_shift[0];
    const int32_t z1 = p->in_zp[1], m1 = p->in_multiplier[1], s1 = p->in_shift[1];
    const int32_t mo = p->out_multiplier, so = p->out_shift, zo = p->out_zp;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < size; i++) {
        const int32_t total = tc_requantize_tflite(((int32_t)a[i] - z0) * scale, m0, s0) +
                              tc_requantize_tflite(((int32_t)b[i] - z1) * scale, m1, s1);
        int32_t v = tc_requantize_tflite(total, mo, so) + zo;
        v = v < lo ? lo : v;
        out[i] = (int8_t)(v > hi ? hi : v);
    }
}
#endif

/* The reference loop, any number of inputs. */
static void add_any(const int8_t *const *inputs, int32_t size, const tc_add_params *p,
                    int8_t *out)
{
    /* A multiply, not <<: left-shifting a negative int is undefined in C99. */
    const int32_t scale = (int32_t)1 << p->left_shift;
    for (int32_t i = 0; i < size; i++) {
        int32_t total = 0;
        for (int32_t k = 0; k < p->n_inputs; k++) {
            const int32_t v = ((int32_t)inputs[k][i] - p->in_zp[k]) * scale;
            total += tc_requantize(v, p->in_multiplier[k], p->in_shift[k]);
        }
        out[i] = tc_requantize_s8(total, p->out_multiplier, p->out_shift, p->out_zp,
                                  p->act_min, p->act_max);
    }
}

int tc_add2_init(tc_add2 *a, const tc_add_params *p)
{
    if (p == NULL || p->n_inputs != 2 || p->left_shift < 0 || p->left_shift > 22 ||
        p->in_zp == NULL || p->in_multiplier == NULL || p->in_shift == NULL) {
        return 0;
    }
    a->p = p;
    a->full = p->act_min <= -128 && p->act_max >= 127;
    const int32_t lift = a->full ? 0 : 127 - p->act_max;
    a->lo4 = tc_splat8(p->act_min + lift);
    a->d4 = tc_splat8(lift);
    a->e = TC_REQUANT_TFLITE ? -1 : plan_add2(p, lift, &a->pl);
    return 1;
}

void tc_add2_run(const tc_add2 *a, const int8_t *x0, const int8_t *x1, int32_t size, int8_t *out)
{
#if TC_REQUANT_TFLITE
    add2_tflite(x0, x1, size, a->p, out);
#else
    const int8_t *in[2] = {x0, x1};
    int32_t done = 0;
    if (a->e >= 0) {
        done = size & ~(int32_t)3; /* the rest: the reference loop */
        if (a->full) {
            tc_add2_loop(in[a->e], in[1 - a->e], size, &a->pl, 0, 0u, 0u, out);
        } else {
            tc_add2_loop(in[a->e], in[1 - a->e], size, &a->pl, 1, a->lo4, a->d4, out);
        }
    }
    if (done < size) {
        const int8_t *rest[2] = {x0 + done, x1 + done};
        add_any(rest, size - done, a->p, out + done);
    }
#endif
}

tc_status tc_add_s8(const int8_t *const *inputs, int32_t size, const tc_add_params *p,
                    int8_t *out)
{
    if (inputs == NULL || p == NULL || out == NULL || size < 0 || p->n_inputs < 2 ||
        p->n_inputs > TC_ADD_MAX_INPUTS || p->left_shift < 0 || p->left_shift > 22) {
        return TC_ERR_ARG;
    }
    for (int32_t k = 0; k < p->n_inputs; k++) {
        if (inputs[k] == NULL) {
            return TC_ERR_ARG;
        }
    }
    tc_add2 a;
    if (p->n_inputs == 2 && tc_add2_init(&a, p)) {
        tc_add2_run(&a, inputs[0], inputs[1], size, out);
    } else {
        add_any(inputs, size, p, out);
    }
    return TC_OK;
}
