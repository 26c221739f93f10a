/*
 * Energy-mode window marks. Hardware: a timestamp pulse on the board data's
 * GPIO ([energy] in boards/<name>.toml: pin, polarity), held >= 1 us as the
 * EnergyRunner timestamp convention asks (idle high, pulled low, released).
 * QEMU (TC_SIM=1): the same marks as "TC_MARK <what>" lines over semihosting.
 */
#include <stdint.h>

#include "tc_board.h"

#if !TC_SIM
#include "tc_board_hw.h"
#endif

#if !TC_SIM && defined(TC_ENERGY_PIN)
#define REG(addr) (*(volatile uint32_t *)(addr))
#define GPIO_MODER (TC_ENERGY_GPIO_BASE + 0x00u)
#define GPIO_BSRR (TC_ENERGY_GPIO_BASE + 0x18u)
#define PIN_HIGH (1u << TC_ENERGY_PIN)
#define PIN_LOW (1u << (TC_ENERGY_PIN + 16u))
#if TC_ENERGY_ACTIVE_LOW
#define PIN_IDLE PIN_HIGH
#define PIN_ACTIVE PIN_LOW
#else
#define PIN_IDLE PIN_LOW
#define PIN_ACTIVE PIN_HIGH
#endif

static const uint32_t energy_setbits[][2] = {TC_ENERGY_SETBITS};

void tc_energy_init(void)
{
    for (uint32_t i = 0u; i < TC_ENERGY_N_SETBITS; i++) {
        REG(energy_setbits[i][0]) |= energy_setbits[i][1];
    }
    (void)REG(energy_setbits[0][0]); /* read back: the port clock is on before its registers are used */
    REG(GPIO_BSRR) = PIN_IDLE;       /* the idle level first, then output mode: no glitch */
    REG(GPIO_MODER) = (REG(GPIO_MODER) & ~(3u << (2u * TC_ENERGY_PIN))) | (1u << (2u * TC_ENERGY_PIN));
}

void tc_energy_mark(const char *what)
{
    (void)what;
    REG(GPIO_BSRR) = PIN_ACTIVE;
    tc_delay_cycles(tc_clock_hz() / 500000u + 1u); /* 2 us */
    REG(GPIO_BSRR) = PIN_IDLE;
}

#else

void tc_energy_init(void) {}

void tc_energy_mark(const char *what)
{
    tc_print("TC_MARK ");
    tc_print(what);
    tc_print("\n");
}
#endif
