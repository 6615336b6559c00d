import { pino, type Bindings, type ChildLoggerOptions, type Logger, type Level } from 'pino'

/**
 * One structured JSON logger per process, on stderr; parts take child loggers with `{ part }`,
 * and a part's own parts nest: `cloud/edgehub` (see {@link bindOnce}).
 * Written asynchronously: lines logged while a write is in flight go out together in the next
 * one, and pino flushes what is left when the process exits (only a SIGKILL loses the last lines).
 * Synchronous writes cost an edge node starting 1,000 Modbus devices ~160 ms of its start-up in
 * `write(2)` calls, one per line.
 */
export function createLogger(level: Level | 'silent'): Logger {
  return bindOnce(pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false })))
}

type Child = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger
/** pino keeps a logger's serialised bindings under this symbol (exported for integrations as `pino.symbols`) */
type WithChindings = Logger & Record<typeof pino.symbols.chindingsSym, string>

/**
 * Makes every descendant of `root` carry each binding once. pino appends a child's bindings to its
 * parent's as they are, so a key bound again (a part inside a part, a node bound by two layers)
 * appears twice in every line (`"part":"cloud","part":"edgehub"`), and which one a JSON reader
 * keeps is up to the reader. Here a child's value replaces the inherited one, except `part`, which
 * nests: `cloud` then `edgehub` is `cloud/edgehub`. pino makes children with `Object.create(parent)`,
 * so this `child` is the one every descendant calls.
 */
export function bindOnce(root: Logger): Logger {
  const base = (root as WithChindings)[pino.symbols.chindingsSym] // the root's own bindings (pid), already serialised
  // called with each child as `this` below, never detached
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const pinoChild = root.child as unknown as Child
  const child: Child = function (this: Logger, bindings, options) {
    const inherited = this.bindings()
    if (!Object.keys(bindings).some((key) => Object.hasOwn(inherited, key))) return pinoChild.call(this, bindings, options)
    const merged: Bindings = { ...inherited, ...bindings }
    if (typeof inherited.part === 'string' && typeof bindings.part === 'string') merged.part = `${inherited.part}/${bindings.part}`
    // a child with no bindings of its own keeps everything else pino inherits (level, serializers)
    const made = pinoChild.call(this, {}, options) as WithChindings
    made[pino.symbols.chindingsSym] = base
    made.setBindings(merged)
    return made
  }
  root.child = child as unknown as Logger['child']
  return root
}
