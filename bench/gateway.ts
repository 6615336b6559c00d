/**
 * A gateway's memory, emulated: the tern process runs in a memory cgroup limited to the gateway's
 * RAM (e.g. 1024 MiB, a Raspberry Pi 3 or a 1 GB Pi 4). Node sizes V8's heap from the memory it may
 * use (`process.constrainedMemory()`), so on this 24 GiB machine V8 would otherwise take a 2 × 16 MiB
 * young generation and a 4 GiB old-generation limit that lets the old generation grow to ~4 × its
 * live size between full collections, more than it does on the gateway the targets are about. Seen
 * here: in a 1,024 MiB cgroup the young generation stops at 2 × 4 MiB and the limit is 524 MiB; in
 * 512 MiB, 2 × 1 MiB and 259 MiB. Needs root and the cgroup memory controller (v1 or v2).
 */
import { mkdirSync, rmdirSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'

export interface Gateway {
  /** command and arguments that run `command args` inside the cgroup */
  wrap(command: string, args: readonly string[]): [string, string[]]
  remove(): void
}

const V2_ROOT = '/sys/fs/cgroup'
const V1_ROOT = '/sys/fs/cgroup/memory'

/** A memory cgroup limited to `mib` MiB for the bench's tern processes. */
export function gatewayMemory(mib: number): Gateway {
  const v2 = existsSync(join(V2_ROOT, 'cgroup.controllers'))
  const root = v2 ? V2_ROOT : V1_ROOT
  if (!existsSync(root)) throw new Error(`--gateway-memory needs the cgroup memory controller (${V1_ROOT} or cgroup v2 at ${V2_ROOT})`)
  const dir = join(root, `tern-bench-${process.pid}`)
  try {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(mib * 1024 * 1024))
  } catch (err) {
    throw new Error(`--gateway-memory: cannot create the memory cgroup ${dir} (root needed): ${(err as Error).message}`, { cause: err })
  }
  return {
    // the shell joins the cgroup and execs node in its place: the PID the bench watches is node's
    wrap: (command, args) => ['/bin/sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec "$0" "$@"`, command, ...args]],
    remove() {
      try {
        rmdirSync(dir)
      } catch {
        // still has a process (a child that outlived the bench): the kernel keeps it; nothing to do
      }
    },
  }
}
