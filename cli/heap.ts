/**
 * How a long-running node's V8 heap is sized (`tern edge`, `tern mapper`): the young generation
 * does not grow while the node loads, and once it runs the old generation grows little past what
 * it holds live. Node flags of the user's own (on the command line or in NODE_OPTIONS) take precedence.
 */
import { setFlagsFromString } from 'node:v8'

/**
 * The old generation may grow 20% past what survived the last full GC before the next one starts
 * (`--heap-growing-percent`; V8 otherwise picks up to 4x on a machine with GiBs of RAM, and never
 * grows by less than a few MiB). A Modbus mapper polling 1,000 devices promotes a few MiB/s: with
 * V8's own factor the node swung between 130 and 220 MiB, with this one it holds ~127 MiB, at the
 * same CPU time per broker message (README, Benchmarks).
 */
export const HEAP_GROWING_PERCENT = 20

/** V8's default `--semi-space-growth-factor` */
const V8_GROWTH_FACTOR = 2

/**
 * Applies HEAP_GROWING_PERCENT (V8 reads it at every full GC); called once the node has loaded:
 * during start-up the old generation grows anyway, and a full GC at every 20% of growth cost an
 * edge node starting 1,000 Modbus devices ~100 ms.
 */
export function limitOldGenerationGrowth(): void {
  if (startFlags().some((f) => /heap[-_]growing[-_]percent/.test(f))) return
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}

/**
 * Runs `load` with the semi-spaces held at their size, then lets them grow again. V8 doubles its
 * semi-spaces (up to 2 × 16 MiB on 64-bit) whenever much of the young generation survives a
 * scavenge, and loading the node (modules, 1,000 device manifests parsed and stored) does that
 * until the maximum. Only a memory-reducing GC gives the space back, and V8 starts one only after
 * an ordinary full GC, which an idle node never reaches: the node would idle with ~30 MiB of empty
 * young generation. Holding the growth while the node loads leaves that to the load that needs
 * it: under traffic the semi-spaces grow as usual.
 */
export async function withYoungGenerationHeld<T>(load: () => Promise<T>): Promise<T> {
  if (startFlags().some((f) => /semi[-_]space/.test(f))) return load()
  setFlagsFromString('--semi-space-growth-factor=1')
  try {
    return await load()
  } finally {
    setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`)
  }
}

function startFlags(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
}
