import { pino, type Logger, type Level } from 'pino'

/** One structured JSON logger per process, on stderr; parts take child loggers with `{ part }`. */
export function createLogger(level: Level | 'silent'): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }))
}
