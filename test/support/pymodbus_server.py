"""A Modbus peer for tests: pymodbus 3.0 (Debian python3-pymodbus), run with /usr/bin/python3.

    pymodbus_server.py tcp [--port N] [--slaves 1,2]
    pymodbus_server.py rtu --device PATH [--baud 9600] [--slaves 1,2,3]

Each slave has 4000 coils, discrete inputs, input registers and holding registers at addresses
0-3999 (zero_mode: address n is register n on the wire); reading past them is exception 2.
A slave id that is not in --slaves gets exception 11 (gateway target failed to respond).

Prints `READY <port or device>` on stdout when serving. Commands, one per line on stdin, each
answered by one line on stdout starting with `= `:
    set SLAVE TABLE ADDR V1,V2,...     TABLE: co di hr ir            -> = ok
    get SLAVE TABLE ADDR COUNT                                        -> = V1,V2,...
    mode SLAVE MODE                    normal | silent | exception:N | garbage | badcrc
                                                                      -> = ok
    stats                              requests answered per slave and function code
                                                                      -> = {"1:3": 4, ...}
    reset                              zero the request counts        -> = ok
Modes: silent never answers; exception:N answers every request with exception N; garbage
answers with bytes that are no frame; badcrc answers the right frame with a broken CRC (RTU).
"""
import argparse
import asyncio
import json
import logging
import struct
import sys
import threading

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.pdu import ExceptionResponse
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer
from pymodbus.utilities import computeCRC

SIZE = 4000
TABLES = {"co": 1, "di": 2, "hr": 3, "ir": 4}

counts = {}
modes = {}


def make_context(slaves):
    stores = {}
    for unit in slaves:
        stores[unit] = ModbusSlaveContext(
            di=ModbusSequentialDataBlock(0, [0] * SIZE),
            co=ModbusSequentialDataBlock(0, [0] * SIZE),
            hr=ModbusSequentialDataBlock(0, [0] * SIZE),
            ir=ModbusSequentialDataBlock(0, [0] * SIZE),
            zero_mode=True,
        )
    return ModbusServerContext(slaves=stores, single=False)


def make_manipulator(rtu):
    def manipulate(response):
        unit = response.unit_id
        fc = response.function_code & 0x7F
        key = f"{unit}:{fc}"
        counts[key] = counts.get(key, 0) + 1
        mode = modes.get(unit, "normal")
        if mode == "silent":
            return b"", True
        if mode.startswith("exception:"):
            ex = ExceptionResponse(fc, int(mode.split(":")[1]))
            ex.unit_id = unit
            ex.transaction_id = response.transaction_id
            return ex, False
        if mode == "garbage":
            return b"\xde\xad\xbe\xef\x00\x11\x22", True
        if mode == "badcrc" and rtu:
            frame = struct.pack(">BB", unit, response.function_code) + response.encode()
            return frame + struct.pack(">H", computeCRC(frame) ^ 0xFFFF), True
        return response, False

    return manipulate


def command(context, line):
    parts = line.split()
    if not parts:
        return "error empty"
    op = parts[0]
    if op == "set":
        unit, table, addr, values = int(parts[1]), parts[2], int(parts[3]), parts[4]
        context[unit].setValues(TABLES[table], addr, [int(v) for v in values.split(",")])
        return "ok"
    if op == "get":
        unit, table, addr, count = int(parts[1]), parts[2], int(parts[3]), int(parts[4])
        return ",".join(str(int(v)) for v in context[unit].getValues(TABLES[table], addr, count))
    if op == "mode":
        modes[int(parts[1])] = parts[2]
        return "ok"
    if op == "stats":
        return json.dumps(counts)
    if op == "reset":
        counts.clear()
        return "ok"
    return f"error unknown command {op}"


def read_commands(loop, context):
    for line in sys.stdin:
        done = threading.Event()
        answer = []

        def run(text=line):
            try:
                answer.append(command(context, text))
            except Exception as exc:  # report, keep serving
                answer.append(f"error {exc}")
            done.set()

        loop.call_soon_threadsafe(run)
        done.wait()
        print(f"= {answer[0]}", flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["tcp", "rtu"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--device")
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--slaves", default="1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)
    slaves = [int(s) for s in args.slaves.split(",")]
    context = make_context(slaves)
    loop = asyncio.get_running_loop()
    if args.mode == "tcp":
        server = ModbusTcpServer(
            context, ModbusSocketFramer, None, ("127.0.0.1", args.port),
            allow_reuse_address=True, response_manipulator=make_manipulator(False),
        )
        task = asyncio.create_task(server.serve_forever())
        await server.serving
        where = server.server.sockets[0].getsockname()[1]
    else:
        server = ModbusSerialServer(
            context, framer=ModbusRtuFramer, port=args.device, baudrate=args.baud,
            bytesize=8, parity="N", stopbits=1, timeout=1, response_manipulator=make_manipulator(True),
        )
        await server.start()
        task = asyncio.create_task(server.serve_forever())
        where = args.device
    threading.Thread(target=read_commands, args=(loop, context), daemon=True).start()
    print(f"READY {where}", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
