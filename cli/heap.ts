/**
 * Start-up without a grown young generation. V8 doubles its semi-spaces (up to 2 × 16 MiB on 64-bit)
 * whenever much of the young generation survives a scavenge, and loading the node (modules, 1,000
 * device manifests parsed and stored) does that until the maximum. Only a memory-reducing GC gives
 * the space back, and V8 starts one only after an ordinary full GC, which an idle node never
 * reaches: the node would idle with ~30 MiB of empty young generation. Holding the growth while the
 * node loads leaves that to the load that needs it: under traffic the semi-spaces grow as usual.
 */
import { setFlagsFromString } from 'node:v8'

/** V8's default `--semi-space-growth-factor` */
const V8_GROWTH_FACTOR = 2

/**
 * Runs `load` with the semi-spaces held at their size, then lets them grow again. Does nothing when
 * the process was started with a semi-space flag of its own (node or NODE_OPTIONS).
 */
export async function withYoungGenerationHeld<T>(load: () => Promise<T>): Promise<T> {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  if (flags.some((f) => /semi[-_]space/.test(f))) return load()
  setFlagsFromString('--semi-space-growth-factor=1')
  try {
    return await load()
  } finally {
    setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`)
  }
}
