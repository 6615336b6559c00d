/** Reading V8's `--trace-gc-verbose` output of a node process: the heap as the last GC left it. */

/** The V8 heap's committed MiB after the last GC in the output, all spaces and new space apart (undefined without the trace). */
export function heapCommittedMiB(output: string): { newSpace: number; all: number } | undefined {
  const newSpace = lastKiB(output, /New space,\s+used:\s+\d+ KB, available:\s+\d+ KB, committed:\s+(\d+) KB/g)
  const all = lastKiB(output, /All spaces,\s+used:\s+\d+ KB, available:\s+\d+ KB, committed:\s+(\d+) KB/g)
  return newSpace === undefined || all === undefined ? undefined : { newSpace: mib(newSpace), all: mib(all) }
}

/** The new space's committed MiB after the last GC in the output. */
export function newSpaceCommittedMiB(output: string): number | undefined {
  return heapCommittedMiB(output)?.newSpace
}

function lastKiB(output: string, re: RegExp): number | undefined {
  const kib = [...output.matchAll(re)].at(-1)?.[1]
  return kib === undefined ? undefined : Number(kib)
}

const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10

/**
 * What V8's `--trace-gc-nvp` lines in `output` add up to: bytes allocated (between collections) and
 * promoted to the old generation, and milliseconds paused, over the collections it lists; `full`:
 * how many of them were mark-compacts of the whole heap.
 */
export function gcTotals(output: string): { collections: number; full: number; allocated: number; promoted: number; pauseMs: number } {
  const totals = { collections: 0, full: 0, allocated: 0, promoted: 0, pauseMs: 0 }
  for (const m of output.matchAll(/\bpause=([\d.]+) .*?\bgc=(\w+) .*?\ballocated=(\d+) promoted=(\d+)/g)) {
    totals.collections++
    if (m[2] === 'mc' || m[2] === 'ms') totals.full++
    totals.pauseMs += Number(m[1])
    totals.allocated += Number(m[3])
    totals.promoted += Number(m[4])
  }
  return totals
}
