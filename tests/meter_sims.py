"""Simulated hardware on pseudo-terminals for the power tests: a board's UART, an LPM01A, a PPK2.

Each simulator owns the master side of an `os.openpty()` pair and serves the
slave's path, which the real drivers open with pyserial (ppk2-api opens it
itself): only the device at the far end of the serial line is simulated.

The board plays the energy-mode protocol of templates/main.c.j2 with chosen
cycle counts; at each repetition it tells the meter to play a current trace
whose windows match those counts, so the energy of every window is known:

    idle window:      IDLE_S at IDLE_A
    inference window: INFER_S alternating INFER_LOW_A / INFER_HIGH_A (mean INFER_A)
"""
from __future__ import annotations

import os
import struct
import threading
import time

from tinycompress.target.boards import load_board

RUN_HZ = load_board("nucleo").run_hz  # the energy build's board: its cycles are at this clock
N = 4                        # inferences per window
IDLE_S, INFER_S = 0.05, 0.08
IDLE_CYCLES, INFER_CYCLES = round(IDLE_S * RUN_HZ), round(INFER_S * RUN_HZ)
IDLE_A, INFER_LOW_A, INFER_HIGH_A = 5.0e-3, 12.0e-3, 13.0e-3
INFER_A = (INFER_LOW_A + INFER_HIGH_A) / 2
VDD = 3.3
# Known energies (J) of the two windows: V x I x T
IDLE_J, INFER_J = VDD * IDLE_A * IDLE_S, VDD * INFER_A * INFER_S


def trace(rate_hz: int, extra_edge: bool = False) -> tuple[list[float], list[int]]:
    """(amperes, sample indices of timestamp edges) of one repetition at `rate_hz`."""
    idle, infer = round(IDLE_S * rate_hz), round(INFER_S * rate_hz)
    amps = [IDLE_A] * idle + [INFER_LOW_A if k % 2 == 0 else INFER_HIGH_A for k in range(infer)]
    edges = [0, idle, idle + infer] + ([idle + infer // 2] if extra_edge else [])
    return amps + [IDLE_A] * (rate_hz // 20), sorted(edges)  # 50 ms of idle after the end edge


def ascii_dec(amps: float) -> str:
    """An LPM01A ascii_dec sample "DDDDSZZ": 5 mA = "5000-06", 12 mA = "1200-05"."""
    ua = round(amps * 1e6)
    return f"{ua:04d}-06" if ua < 10_000 else f"{ua // 10:04d}-05"


class _Pty:
    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.stop = threading.Event()

    def write(self, data: bytes) -> None:
        """Write to the line; nothing once the test has closed it."""
        try:
            os.write(self.master, data)
        except OSError:
            self.stop.set()

    def close(self):
        self.stop.set()
        time.sleep(0.05)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Board(_Pty):
    """The board's UART: TC_BEGIN, then per repetition (after the quiet gap) the meter's trace, then lines."""

    def __init__(self, meter=None, repeats: int = 30, gap_s: float = 0.3):
        super().__init__()
        self.meter, self.repeats, self.gap_s = meter, repeats, gap_s
        threading.Thread(target=self._run, daemon=True).start()

    def _write(self, text: str):
        self.write(text.encode("ascii"))

    def _run(self):
        time.sleep(0.2)
        self._write(f"TC_BEGIN energy digits_lenet {N} {IDLE_CYCLES}\r\n")
        for r in range(self.repeats):
            if self.stop.wait(self.gap_s):
                return
            if self.meter is not None:
                self.meter.play()  # the timestamp pulses and the current the meter sees
            self._write(f"WINDOW {r} idle {IDLE_CYCLES}\r\nWINDOW {r} infer {N} {INFER_CYCLES}\r\n"
                        f"CYCLES {r} {INFER_CYCLES // N}\r\nOUT {r} 7f808080808080808080\r\n")


class Lpm01a(_Pty):
    """A PowerShield: acks commands; after `start`, streams the trace from the next timestamp (D7)."""

    RATE = 10_000

    def __init__(self, answer: bool = True):
        super().__init__()
        self.answer, self.armed, self.commands = answer, False, []
        self._play = threading.Event()
        threading.Thread(target=self._commands, daemon=True).start()

    def play(self):
        if self.armed:
            self._play.set()
            while self._play.is_set() and not self.stop.is_set():
                time.sleep(0.005)

    def _commands(self):
        pending = b""
        while not self.stop.is_set():
            try:
                pending += os.read(self.master, 256)
            except OSError:
                return
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self._command(line.decode().strip())

    def _command(self, cmd: str):
        self.commands.append(cmd)
        if not self.answer:
            return
        self.write(f"ack {cmd}\r\n".encode())
        if cmd == "start":
            self.armed = True
            threading.Thread(target=self._stream, daemon=True).start()
        elif cmd == "stop":
            self.armed = False

    def _stream(self):
        while self.armed and not self._play.wait(0.01):
            if self.stop.is_set():
                return
        amps, _ = trace(self.RATE)
        lines = [ascii_dec(a) for a in amps]
        lines.insert(len(lines) // 2, "TimeStamp: 000s 080ms, buff 00%")  # metadata is skipped
        self.write(("\r\n".join(lines) + "\r\n").encode())
        self._play.clear()
        while self.armed and not self.stop.is_set():  # idle current until `stop`
            self.write(b"5000-06\r\n" * 100)
            time.sleep(0.01)


class Ppk2(_Pty):
    """A PPK2: calibration metadata on request, then 4-byte samples with the logic inputs.

    Its metadata makes range 2 read one ADC code as exactly 1 uA: ppk2-api computes
    code x 4 x (1.8 / 163840) / R2 amperes, and R2 = 4 x 1.8 / 163840 / 1e-6 = 43.9453125 ohm.
    """

    RATE = 100_000
    RANGE = 2
    METADATA = ("Calibrated: 0\nR0: 1031.64\nR1: 101.65\nR2: 43.9453125\nR3: 0.94\nR4: 0.043\n"
                + "".join(f"GS{i}: 0\nGI{i}: 1\nO{i}: 0\nS{i}: 0\nI{i}: 0\nUG{i}: 1\n" for i in range(5))
                + "HW: 9173\nIA: 56\nEND\n")

    def __init__(self, answer: bool = True, extra_edge: bool = False, pulses: bool = True):
        super().__init__()
        self.answer, self.extra_edge, self.pulses = answer, extra_edge, pulses
        self.streaming = False
        self._play = threading.Event()
        threading.Thread(target=self._commands, daemon=True).start()

    def play(self):
        self._play.set()
        while self._play.is_set() and not self.stop.is_set():
            time.sleep(0.005)

    @classmethod
    def sample(cls, amps: float, logic: int) -> bytes:
        code = round(amps * 1e6)  # 1 code = 1 uA with this metadata
        return struct.pack("<I", code | cls.RANGE << 14 | logic << 24)

    def _commands(self):
        while not self.stop.is_set():
            try:
                data = os.read(self.master, 64)
            except OSError:
                return
            if self.answer and 0x19 in data:
                self.write(self.METADATA.encode())
            if self.answer and 0x06 in data and not self.streaming:
                self.streaming = True
                threading.Thread(target=self._stream, daemon=True).start()

    def _stream(self):
        idle = self.sample(IDLE_A, 1) * 1000  # timestamp input D0 idle high
        while not self.stop.is_set():
            if self._play.is_set():
                amps, edges = trace(self.RATE, self.extra_edge)
                low = set(edges) if self.pulses else set()
                self.write(b"".join(self.sample(a, 0 if k in low else 1) for k, a in enumerate(amps)))
                self._play.clear()
            self.write(idle)
            time.sleep(0.01)


class Js110Usb:
    """A Joulescope JS110 at the USB transport of `joulescope`'s pure-Python driver (joulescope.v0):
    the `DeviceDriverApi` its `Device` drives (control transfers, the bulk sample stream).

    It answers SERIAL_NUMBER, CALIBRATION (a calibration made by the library's own
    `Calibration.save`, unsigned: range 2 reads 1 uA per code, voltage 1 mV per code),
    STATUS (settings applied) and streams 512-byte bulk packets of 126 samples at 2 MS/s
    in real time: raw current = code << 2 | range, the code's LSB carrying input IN0
    (the timestamp), raw voltage = code << 2 | 0x02. At `play()` the packets carry the
    repetition's trace, IN0 low for one sample at each edge.
    """

    RATE = 2_000_000
    PER_PACKET = 126
    SN = bytes(range(16))

    def __init__(self, extra_edge: bool = False):
        from joulescope.v0.calibration import Calibration
        import datetime
        import numpy as np
        self.np = np
        cal = Calibration()
        cal.serial_number = self.SN.hex()
        cal.time = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        cal.current_offset = np.zeros(9, np.float32)
        cal.current_gain = np.array([1e-6] * 7 + [0.0, np.nan], np.float32)
        cal.voltage_offset, cal.voltage_gain = np.zeros(2, np.float32), np.array([1e-3, 1e-3], np.float32)
        self.calibration = cal.save()
        self.extra_edge, self.stream, self.index = extra_edge, None, 0
        self._play, self._sent, self._t0 = threading.Event(), 0, 0.0
        self.stop = threading.Event()

    def __str__(self):
        return f"Joulescope:{self.SN.hex()[-6:]}"

    @property
    def serial_number(self):
        return self.SN.hex()[-6:]

    def open(self, event_callback_fn):
        pass

    def close(self):
        self.stream = None

    def _respond(self, cbk_fn, result, data=b""):
        from joulescope.v0.usb.core import ControlTransferResponse
        cbk_fn(ControlTransferResponse(None, result, data))
        return True

    def control_transfer_out(self, cbk_fn, recipient, type_, request, value=0, index=0, data=None):
        return self._respond(cbk_fn, 0)

    def control_transfer_in(self, cbk_fn, recipient, type_, request, value, index, length):
        from joulescope.v0.driver import HOST_API_VERSION, PacketType, UsbdRequest
        if request == UsbdRequest.SERIAL_NUMBER:
            return self._respond(cbk_fn, 0, self.SN)
        if request == UsbdRequest.CALIBRATION:
            return self._respond(cbk_fn, 0, self.calibration[index:index + length])
        if request == UsbdRequest.STATUS:
            pdu = struct.pack("<BBBBI", HOST_API_VERSION, 24, PacketType.STATUS, 0, 0)
            return self._respond(cbk_fn, 0, pdu + struct.pack("<iIIBBBx", 0, 0, 0, 0, 2, 0))
        return self._respond(cbk_fn, 1)  # INFO and the rest: not supported (old firmware)

    def read_stream_start(self, endpoint_id, transfers, block_size, data_fn, process_fn, stop_fn):
        self.stream = (data_fn, process_fn, stop_fn)
        self._t0, self._sent = time.monotonic(), 0
        return 0

    def read_stream_stop(self, endpoint_id):
        if self.stream is not None:
            data_fn, _, stop_fn = self.stream
            self.stream = None
            data_fn(None)
            stop_fn(0, "stopped")

    def status(self):
        return {}

    def signal(self):
        pass

    def play(self):
        if self.stream is None:  # not recording: the pulses go unseen
            return
        self._play.set()
        while self._play.is_set() and not self.stop.is_set():
            time.sleep(0.005)

    def _packets(self, amps, in0):
        np = self.np
        codes = (np.round(np.asarray(amps) * 1e6).astype(np.uint32) & np.uint32(0xFFFE)) | np.asarray(in0, np.uint32)
        pad = (-len(codes)) % self.PER_PACKET
        codes = np.concatenate([codes, np.full(pad, codes[-1], np.uint32)])
        n = len(codes) // self.PER_PACKET
        raw = np.empty((n, self.PER_PACKET, 2), np.uint16)
        raw[..., 0] = (codes.reshape(n, -1) << 2) | 2          # range 2
        raw[..., 1] = (round(VDD * 1e3) << 2) | 0x02            # 3300 mV
        hdr = np.zeros((n, 4), np.uint16)
        hdr[:, 0], hdr[:, 1] = 1, 0x0200                        # raw packet, 512 bytes
        hdr[:, 2] = (self.index + np.arange(n)) & 0xFFFF
        self.index += n
        return np.concatenate([hdr, raw.reshape(n, -1)], axis=1).astype("<u2").view(np.uint8).ravel()

    def process(self, timeout=None):
        if self.stream is None:
            time.sleep(timeout or 0.01)
            return
        data_fn, process_fn, stop_fn = self.stream
        # filler up to now first, so a repetition lands at the real time it was played
        due = max(0, int((time.monotonic() - self._t0) * self.RATE) - self._sent)
        amps, in0 = [IDLE_A] * due, [1] * due
        if self._play.is_set():
            rep, edges = trace(self.RATE, self.extra_edge)
            mark = self.np.ones(len(rep), self.np.uint32)
            mark[edges] = 0
            amps, in0 = amps + rep, in0 + mark.tolist()
            self._play.clear()
        elif due < self.PER_PACKET:
            time.sleep(0.002)
            return
        self._sent += len(amps)
        if data_fn(self._packets(amps, in0)) or process_fn():
            self.stream = None
            stop_fn(-1, "done")
