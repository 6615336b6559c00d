/**
 * mqtt-packet, under aedes, calls its `debug` logger several times for every packet it parses or
 * writes, and the `debug` package checks whether a namespace is enabled on every call: 7% of the
 * broker's CPU at 100k msg/s (profile of fan-in QoS 0). When the DEBUG environment variable is
 * not set, `debug` can never print, so the module is replaced by one whose loggers do nothing.
 * This module must be imported before aedes (cli/tern.ts imports it first). With DEBUG set,
 * nothing is changed.
 */
import Module, { createRequire } from 'node:module'
import { dirname } from 'node:path'

type Logger = ((...args: unknown[]) => void) & { enabled: boolean; namespace: string; extend(ns: string): Logger; destroy(): void; log: () => void }

function logger(namespace: string): Logger {
  const log = (() => {}) as Logger
  log.enabled = false
  log.namespace = namespace
  log.extend = (ns: string) => logger(`${namespace}:${ns}`)
  log.destroy = () => {}
  log.log = () => {}
  return log
}

const createDebug = Object.assign(logger, {
  enable: () => {},
  disable: () => '',
  enabled: () => false,
  formatters: {},
  names: [] as unknown[],
  skips: [] as unknown[],
  humanize: (ms: number) => `${ms}ms`,
  coerce: (value: unknown) => value,
  selectColor: () => 0,
  debug: logger,
  default: logger,
})

if (process.env.DEBUG === undefined || process.env.DEBUG === '') {
  const require = createRequire(import.meta.url)
  try {
    const path = debugPath(require)
    if (require.cache[path] === undefined) {
      const stub = new Module(path)
      stub.filename = path
      stub.loaded = true
      stub.exports = createDebug
      require.cache[path] = stub
    }
  } catch {
    // mqtt-packet or debug not where expected: nothing to quiet
  }
}

/**
 * The `debug` module mqtt-packet loads: beside mqtt-packet in node_modules when running from the
 * sources; in the built package mqtt-packet is inside the bundle, which leaves `debug` to
 * node_modules, so it is the one this module resolves itself.
 */
function debugPath(require: NodeJS.Require): string {
  try {
    return require.resolve('debug', { paths: [dirname(require.resolve('mqtt-packet'))] })
  } catch {
    return require.resolve('debug')
  }
}
