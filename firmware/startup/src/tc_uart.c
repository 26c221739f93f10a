/*
 * Polled UART transmit for the NUCLEO virtual COM port (hardware builds only).
 * Every address and value comes from tc_board.h, generated from the board data;
 * the caller passes the baud divider of the clock the bounded clock setup
 * reached (tc_clock.c): TC_UART_BRR_RUN, or TC_UART_BRR on the reset clock.
 */
#include <stdint.h>

#include "tc_board.h"

#if !TC_SIM
#define REG(addr) (*(volatile uint32_t *)(addr))

/* Register layouts: 1 = STM32F4 USART (SR/DR), 2 = USART/LPUART with ISR/TDR (L4, F7, H7). */
#if TC_UART_LAYOUT == 1
#define UART_STATUS (TC_UART_BASE + 0x00u)
#define UART_DATA (TC_UART_BASE + 0x04u)
#define UART_BRR (TC_UART_BASE + 0x08u)
#define UART_CR1 (TC_UART_BASE + 0x0Cu)
#define UART_CR1_ENABLE ((1u << 13) | (1u << 3)) /* UE | TE */
#else
#define UART_CR1 (TC_UART_BASE + 0x00u)
#define UART_BRR (TC_UART_BASE + 0x0Cu)
#define UART_STATUS (TC_UART_BASE + 0x1Cu)
#define UART_DATA (TC_UART_BASE + 0x28u)
#define UART_CR1_ENABLE ((1u << 0) | (1u << 3)) /* UE | TE */
#endif
#define UART_TXE (1u << 7)

static const uint32_t uart_setbits[][2] = {TC_UART_SETBITS};

void tc_uart_init(uint32_t brr)
{
    for (uint32_t i = 0; i < sizeof uart_setbits / sizeof uart_setbits[0]; i++) {
        REG(uart_setbits[i][0]) |= uart_setbits[i][1];
    }
    (void)REG(uart_setbits[0][0]); /* read back: clock enable takes effect before use */
    uint32_t pin = TC_UART_TX_PIN;
    uint32_t moder = REG(TC_GPIO_BASE + 0x00u) & ~(3u << (2u * pin));
    REG(TC_GPIO_BASE + 0x00u) = moder | (2u << (2u * pin)); /* alternate function */
    uint32_t afr = TC_GPIO_BASE + 0x20u + 4u * (pin >> 3);
    REG(afr) = (REG(afr) & ~(0xFu << (4u * (pin & 7u)))) | ((uint32_t)TC_UART_AF << (4u * (pin & 7u)));
    REG(UART_BRR) = brr;
    REG(UART_CR1) = UART_CR1_ENABLE;
}

void tc_uart_write(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            while (!(REG(UART_STATUS) & UART_TXE)) {
            }
            REG(UART_DATA) = '\r';
        }
        while (!(REG(UART_STATUS) & UART_TXE)) {
        }
        REG(UART_DATA) = (uint8_t)*s;
    }
}
#endif
