/*
 * Clock setup of the hardware build (TC_SIM=0): the board data's register steps
 * (tc_board_hw.h, generated from [clock] in boards/<name>.toml), run in order.
 *
 *   modify: REG = (REG & ~mask) | value
 *   wait:   until (REG & mask) == value, at most TC_CLOCK_WAIT_LOOPS reads
 *   delay:  value empty loop iterations
 *
 * Every wait is bounded, so a part whose PLL does not lock (or QEMU, whose
 * STM32 machines do not model the RCC and read its flags as 0) stops at that
 * step and keeps running on the reset clock instead of hanging; the caller
 * then keeps the UART divider of the reset clock and says so.
 */
#include <stdint.h>

#include "tc_board.h"

#if !TC_SIM
#include "tc_board_hw.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
/* About 5 cycles a read: 200,000 reads last 0.25 s at MSI 4 MHz, far above a PLL lock (< 1 ms). */
#define TC_CLOCK_WAIT_LOOPS 200000u

enum { STEP_MODIFY = 1, STEP_WAIT = 2, STEP_DELAY = 3 };

static const uint32_t clock_steps[][4] = {TC_CLOCK_STEPS};

static int wait_for(uint32_t addr, uint32_t mask, uint32_t value)
{
    for (uint32_t i = 0u; i < TC_CLOCK_WAIT_LOOPS; i++) {
        if ((REG(addr) & mask) == value) {
            return 1;
        }
    }
    return 0;
}

int32_t tc_clock_init(void)
{
    for (int32_t k = 0; k < TC_CLOCK_N_STEPS; k++) {
        const uint32_t *s = clock_steps[k];
        if (s[0] == STEP_MODIFY) {
            REG(s[1]) = (REG(s[1]) & ~s[2]) | s[3];
        } else if (s[0] == STEP_WAIT) {
            if (!wait_for(s[1], s[2], s[3])) {
                return k;
            }
        } else {
            for (volatile uint32_t i = 0u; i < s[3]; i++) {
            }
        }
    }
    return -1;
}
#endif
