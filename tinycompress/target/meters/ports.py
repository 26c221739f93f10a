"""Serial ports: the board's ST-LINK virtual COM port (the firmware's lines) and finding devices by USB id."""
from __future__ import annotations

import re
import time

import serial
from serial.tools import list_ports

from tinycompress.target.meters.integrate import PowerError

ST_VID = 0x0483
STLINK_PIDS = {0x374B, 0x374E, 0x374F, 0x3752, 0x3753, 0x3754}  # ST-LINK/V2-1, V3 (with VCP)
POWERSHIELD_PID = 0x5740  # the LPM01A's virtual COM port (ST's CDC id)
UART_BAUD = 115200


def find_port(what: str) -> str:
    """The device path of the first attached `what` (stlink | lpm01a | ppk2); PowerError when none is."""
    for port in list_ports.comports():
        if what == "stlink" and port.vid == ST_VID and port.pid in STLINK_PIDS:
            return port.device
        if what == "lpm01a" and port.vid == ST_VID and port.pid == POWERSHIELD_PID:
            return port.device
        if what == "ppk2" and (port.product == "PPK2" or "PPK2" in (port.description or "")):
            return port.device
    flag = "--uart" if what == "stlink" else "--port"
    raise PowerError(f"no {what} device found among the serial ports: connect it or give {flag}")


class DutPort:
    """The board's UART: lines collected as they come, looked up by repetition."""

    def __init__(self, port: str, baud: int = UART_BAUD):
        try:
            self.ser = serial.Serial(port, baud, timeout=0)
        except (serial.SerialException, OSError) as exc:
            raise PowerError(f"cannot open the board's UART {port}: {exc}".splitlines()[0]) from exc
        self.port = port
        self.lines: list[str] = []
        self._pending = b""

    def poll(self) -> None:
        """Read what has arrived; complete lines go to `lines`."""
        self._pending += self.ser.read(65536)
        *done, self._pending = self._pending.split(b"\n")
        self.lines += [ln.decode("ascii", "replace").strip() for ln in done]

    def wait_for(self, pattern: str, timeout_s: float, after: int = 0) -> int:
        """Index of the first line (from `after`) matching `pattern`; PowerError on timeout."""
        deadline = time.monotonic() + timeout_s
        regex = re.compile(pattern)
        while True:
            for i in range(after, len(self.lines)):
                if regex.match(self.lines[i]):
                    return i
                if self.lines[i].startswith(("TC_ERROR", "TC_FAULT")):
                    raise PowerError(f"the board reported {self.lines[i]!r}")
            if time.monotonic() > deadline:
                last = self.lines[-1] if self.lines else "nothing"
                raise PowerError(f"the board printed no {pattern.strip('^')!r} line on {self.port} within "
                                 f"{timeout_s:g} s (last: {last!r}): is energy-mode firmware flashed?")
            self.poll()
            time.sleep(0.005)

    def repetition(self, after: int) -> tuple[int, int, int, int] | None:
        """(index of its OUT line, N, idle cycles, inference cycles) of the first repetition
        reported completely after line `after`, or None yet."""
        self.poll()
        seen: dict[int, dict] = {}
        for index, line in enumerate(self.lines[after:], start=after):
            words = line.split()
            if len(words) >= 4 and words[0] == "WINDOW":
                seen.setdefault(int(words[1]), {})[words[2]] = [int(w) for w in words[3:]]
            elif len(words) == 3 and words[0] == "OUT" and {"idle", "infer"} <= seen.get(int(words[1]), {}).keys():
                (idle,), (n, infer) = seen[int(words[1])]["idle"], seen[int(words[1])]["infer"]
                return index, n, idle, infer
        return None

    def close(self) -> None:
        self.ser.close()
