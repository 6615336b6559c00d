/**
 * `serialport` as modbus-serial sees it in the bundle (scripts/bundle.ts). modbus-serial requires
 * serialport when it loads, for its RTU classes, and serialport loads its native binding at once.
 * A node whose Modbus devices are all on TCP never needs it, so the real module is loaded when the
 * first serial port is constructed. modbus-serial only uses `new SerialPort(options)` and
 * `SerialPort.list()`.
 */
import { createRequire } from 'node:module'

type SerialPortModule = typeof import('serialport')

const require = createRequire(import.meta.url)
let real: SerialPortModule | undefined
const load = (): SerialPortModule => (real ??= require('serialport') as SerialPortModule)

export class SerialPort {
  constructor(...args: ConstructorParameters<SerialPortModule['SerialPort']>) {
    // a constructor that returns an object makes `new` give that object: the real port
    return new (load().SerialPort)(...args)
  }

  static list(): ReturnType<SerialPortModule['SerialPort']['list']> {
    return load().SerialPort.list()
  }
}
