/** What every tern process reports about itself: version, start time and memory (the few of prom-client's default metrics worth their cost). */
import { gaugedBy, type Registry } from './prom.js'

export function processMetrics(registry: Registry, version: string): void {
  const started = Date.now() / 1000 - process.uptime()
  gaugedBy(registry, { name: 'tern_build_info', help: 'Always 1; the running version in its label', labelNames: ['version'], read: () => [[{ version }, 1]] })
  gaugedBy(registry, { name: 'process_start_time_seconds', help: 'Start time of the process since the epoch, seconds', read: () => [[{}, Math.round(started)]] })
  gaugedBy(registry, { name: 'process_resident_memory_bytes', help: 'Resident memory size, bytes', read: () => [[{}, process.memoryUsage.rss()]] })
  gaugedBy(registry, { name: 'nodejs_heap_used_bytes', help: 'V8 heap in use, bytes', read: () => [[{}, process.memoryUsage().heapUsed]] })
}
