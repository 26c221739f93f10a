"""Power meters and the energy-mode firmware's protocol (`tinycompress power`).

    dut        the energy-mode firmware's lines (UART on the board, semihosting in QEMU)
    integrate  current x voltage over each window framed by timestamp edges -> energy
    lpm01a     ST X-NUCLEO-LPM01A (PowerShield): its ASCII protocol over a serial port
    ppk2       Nordic PPK2 through `ppk2-api`
    joulescope Joulescope JS110 through `joulescope`
"""
