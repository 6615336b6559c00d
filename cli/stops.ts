import type { Logger } from 'pino'

/**
 * The stop steps of a composition root: pushed as parts start, run in reverse by `stop()` (once;
 * a step that fails is logged and the rest still run), so a failed start undoes what it began.
 */
export function stopSteps(log: Logger): { push: (step: () => Promise<void>) => void; stop: () => Promise<void> } {
  const steps: Array<() => Promise<void>> = []
  return {
    push: (step) => void steps.push(step),
    stop: async () => {
      for (const step of steps.splice(0).reverse()) {
        try {
          await step()
        } catch (err) {
          log.error({ err }, 'error while stopping')
        }
      }
    },
  }
}
