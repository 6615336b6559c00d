/** The preinstalled kubectl (v1.32) pointed at an emulator through a generated kubeconfig. */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { startChild, type Child } from '../resources.js'
import { startOnTerminal, type Terminal } from '../terminal.js'
import type { KubeEmulator } from './server.js'

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl'

export interface KubectlResult {
  code: number
  stdout: string
  stderr: string
}

export interface Kubectl {
  /** Runs one kubectl command to completion (never throws on a non-zero exit). */
  run(args: readonly string[], input?: string): Promise<KubectlResult>
  /**
   * Starts a long-running kubectl (e.g. `get -w`); the caller stops it by its PID. `stdin`: a pipe
   * (child.process.stdin) instead of none, or a file descriptor to read; `stdout`: a file descriptor
   * to write instead of the pipe output() reads.
   */
  spawn(args: readonly string[], options?: { stdin?: boolean | number; stdout?: number }): Child
  /** Starts kubectl on a pseudo-terminal of `rows` × `cols` (e.g. `exec -it`); the caller stops it by its PID. */
  terminal(args: readonly string[], size: { rows: number; cols: number }): Terminal
}

/** `dir` holds the kubeconfig and kubectl's discovery cache (no state shared between tests). */
export async function kubectlFor(kube: KubeEmulator, dir: string): Promise<Kubectl> {
  return kubectlWith(await kube.writeKubeconfig(join(dir, 'kubeconfig')), dir, { home: dir })
}

/**
 * kubectl on any cluster's kubeconfig (a real one for the real-cluster suite); `dir` holds its
 * discovery cache; `home` isolates HOME too (not for real clusters: auth plugins read ~/);
 * `namespace` is the namespace of every command.
 */
export function kubectlWith(kubeconfig: string, dir: string, options: { home?: string; namespace?: string } = {}): Kubectl {
  const base = ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'kube-cache'), ...(options.namespace === undefined ? [] : ['--namespace', options.namespace])]
  const env = { ...process.env, ...(options.home === undefined ? {} : { HOME: options.home }), KUBECONFIG: kubeconfig }
  return {
    run: (args, input) =>
      new Promise((resolve) => {
        const child = execFile(KUBECTL, [...base, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
          resolve({ code, stdout, stderr })
        })
        if (input !== undefined) child.stdin?.end(input)
      }),
    spawn: (args, options = {}) => {
      const stdin = options.stdin === true ? 'pipe' : options.stdin === false || options.stdin === undefined ? 'ignore' : options.stdin
      return startChild(KUBECTL, [...base, ...args], { env, stdio: [stdin, options.stdout ?? 'pipe', 'pipe'] })
    },
    terminal: (args, size) => startOnTerminal(KUBECTL, [...base, ...args], { ...size, env }),
  }
}
