/** exec: the command's exit code decides (pkg/probe/exec); a command past its timeout is a failure, as the kubelet's ExecProbeTimeout. */
import { TernError } from '../../schemas/tern-error.js'
import type { ContainerRuntime } from '../cri/runtime.js'
import { clip, type ProbeOutcome } from './outcome.js'

export async function execProbe(runtime: ContainerRuntime, containerId: string, command: string[], timeoutSeconds: number): Promise<ProbeOutcome> {
  try {
    const r = await runtime.execSync(containerId, command, timeoutSeconds)
    const output = clip(Buffer.concat([r.stdout, r.stderr]).toString('utf8'))
    return r.exitCode === 0 ? { result: 'success', output } : { result: 'failure', output }
  } catch (err) {
    if (err instanceof TernError && err.code === 'EDGED_EXEC_TIMEOUT') return { result: 'failure', output: `command ${JSON.stringify(command.join(' '))} timed out` }
    return { result: 'error', output: (err as Error).message }
  }
}
