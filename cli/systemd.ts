/**
 * The systemd notify protocol (`Type=notify`, `WatchdogSec=`) without a native addon: its socket
 * (NOTIFY_SOCKET) is a unix datagram socket, which Node's `net` (stream only) and `dgram` (UDP
 * only) cannot send to, so each notification is handed to systemd's own `systemd-notify`. It sends
 * from its own PID, hence `NotifyAccess=all` in the units, and waits until the manager has read
 * the message (its barrier, systemd ≥ 246). Nothing happens outside a notify service.
 */
import { execFile } from 'node:child_process'
import type { Logger } from 'pino'

const NOTIFY = 'systemd-notify'

function notify(args: readonly string[], log: Logger): Promise<void> {
  return new Promise((resolve) => {
    execFile(NOTIFY, args, { timeout: 10_000 }, (err) => {
      if (err !== null) log.warn({ err: err.message, args }, 'systemd notification not sent')
      resolve()
    })
  })
}

/**
 * Tells systemd the process is ready and, with `WatchdogSec=`, keeps telling it the event loop
 * runs, every half of the watchdog interval; returns the step that says it is stopping.
 */
export async function notifyReady(log: Logger): Promise<() => Promise<void>> {
  const env = process.env
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return () => Promise.resolve()
  await notify(['--ready', `--pid=${process.pid}`], log)
  const usec = Number(env.WATCHDOG_USEC)
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid
  let timer: NodeJS.Timeout | undefined
  if (Number.isFinite(usec) && usec > 0 && forUs) {
    // a blocked event loop skips these, and systemd restarts the service
    timer = setInterval(() => void notify(['WATCHDOG=1'], log), Math.max(100, usec / 2000))
    timer.unref()
  }
  log.info({ watchdogMs: timer === undefined ? undefined : usec / 1000 }, 'told systemd the service is ready')
  return async () => {
    clearInterval(timer)
    await notify(['STOPPING=1'], log)
  }
}
