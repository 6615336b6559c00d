/**
 * An esbuild plugin that leaves pino's transports out of the bundle. pino requires its transport
 * module (lib/transport.js) at load, and with it thread-stream, though tern never
 * uses a transport: it logs to a stream (cli/log.ts), and a transport's worker thread loads files
 * by path, which a bundle does not have. The module is replaced by one whose function throws a
 * clear error, so a transport added later fails at once instead of logging nowhere.
 */
import type { Plugin } from 'esbuild'

export const PINO_TRANSPORT_LEFT_OUT = "pino transports are left out of tern's bundle (scripts/no-pino-transport.ts): log to a stream (cli/log.ts)"

export const noPinoTransport: Plugin = {
  name: 'no-pino-transport',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pino[\\/]lib[\\/]transport\.js$/ }, () => ({
      contents: `module.exports = function transport() { throw new Error(${JSON.stringify(PINO_TRANSPORT_LEFT_OUT)}) }`,
      loader: 'js',
    }))
  },
}
