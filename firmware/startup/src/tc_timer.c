/*
 * tc_timer_*: DWT CYCCNT on hardware; under QEMU (TC_SIM=1) a timer driven by
 * QEMU's virtual clock, which with `-icount shift=0` advances 1 ns per executed
 * instruction, so counts are instructions and exactly repeatable.
 */
#include <stdint.h>

#include "tc_board.h"
#include "tc_platform.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#if !TC_SIM
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)

static void timer_init(void)
{
    DEMCR |= 1u << 24;      /* TRCENA: power the DWT */
    DWT_LAR = 0xC5ACCE55u;  /* unlock (needed on Cortex-M7, ignored elsewhere) */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;         /* CYCCNTENA */
}

static uint32_t timer_now(void) { return DWT_CYCCNT; }

#elif TC_SIM_TIMER == TC_TIMER_STM32_TIM2
/* netduinoplus2: QEMU clocks the STM32 timers at 1 GHz = one count per instruction. */
#define TIM2_BASE 0x40000000u
#define TIM2_CR1 REG(TIM2_BASE + 0x00u)
#define TIM2_EGR REG(TIM2_BASE + 0x14u)
#define TIM2_CNT REG(TIM2_BASE + 0x24u)
#define TIM2_PSC REG(TIM2_BASE + 0x28u)
#define TIM2_ARR REG(TIM2_BASE + 0x2Cu)

static void timer_init(void)
{
    TIM2_PSC = 0;
    TIM2_ARR = 0xFFFFFFFFu;
    TIM2_EGR = 1u;  /* UG: load the prescaler */
    TIM2_CR1 = 1u;  /* CEN */
}

static uint32_t timer_now(void) { return TIM2_CNT; }


#elif TC_SIM_TIMER == TC_TIMER_CMSDK_TIMER0
/*
 * mps2 machines: CMSDK APB TIMER0, a 32-bit down-counter on the 25 MHz
 * peripheral clock. Run with `-icount shift=7` (128 ns per instruction) it
 * moves 3.2 ticks per instruction, so rounding ticks / 3.2 gives the exact
 * instruction count (the read error is below one tick = 0.31 instruction).
 */
#define TIMER0_CTRL REG(0x40000000u)
#define TIMER0_VALUE REG(0x40000004u)
#define TIMER0_RELOAD REG(0x40000008u)

static void timer_init(void)
{
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u; /* enable, no interrupt */
}

static uint32_t timer_now(void) { return 0xFFFFFFFFu - TIMER0_VALUE; }

#else
#error "TC_SIM=1 needs TC_SIM_TIMER = TC_TIMER_STM32_TIM2 or TC_TIMER_CMSDK_TIMER0 (tc_board.h)"
#endif

static uint32_t timer_start_value;

void tc_timer_init(void) { timer_init(); }

void tc_timer_start(void) { timer_start_value = timer_now(); }

static uint32_t ticks_to_counts(uint32_t ticks)
{
#if TC_SIM
    /* ticks -> instructions: TC_SIM_TICKS_NUM / TC_SIM_TICKS_DEN ticks per instruction, rounded. */
    return (uint32_t)(((uint64_t)ticks * TC_SIM_TICKS_DEN + TC_SIM_TICKS_NUM / 2) / TC_SIM_TICKS_NUM);
#else
    return ticks;
#endif
}

uint32_t tc_timer_elapsed(void) { return ticks_to_counts(timer_now() - timer_start_value); }

uint32_t tc_timer_mark(void) { return timer_now(); }

uint32_t tc_timer_since(uint32_t mark) { return ticks_to_counts(timer_now() - mark); }

void tc_delay_cycles(uint32_t cycles)
{
    /* Each pass takes more than one cycle, so `cycles` passes bound the wait even
     * where the timer reads 0 (QEMU models no DWT cycle counter). */
    uint32_t start = timer_now();
    for (volatile uint32_t spins = 0u; spins < cycles; spins++) {
        if (ticks_to_counts(timer_now() - start) >= cycles) {
            break;
        }
    }
}
