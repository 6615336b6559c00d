/** The edge's cloud link and what waits for it (the persistent outbox), read when scraped. */
import type { EdgeCloud } from '../../cloud-sync/edge/edge-cloud.js'
import { gaugedBy, type Registry, type Sample } from '../prom.js'

export function cloudLinkMetrics(registry: Registry, cloud: EdgeCloud): void {
  const read = <L extends string>(f: (c: EdgeCloud) => Array<Sample<L>>) => (): Array<Sample<L>> => f(cloud)
  gaugedBy(registry, { name: 'tern_cloud_link_up', help: '1 while the link to CloudHub is open, else 0', read: read((c) => [[{}, c.connected ? 1 : 0]]) })
  gaugedBy(registry, {
    name: 'tern_cloud_outbox_depth',
    help: 'What waits to reach the cloud: changes = twin and state changes not yet acknowledged (one per device property and state, coalesced); reports = node and pod status reports not yet acknowledged',
    labelNames: ['queue'],
    read: read((c) => [
      [{ queue: 'changes' }, c.outbox.changes],
      [{ queue: 'reports' }, c.outbox.reports],
    ]),
  })
  const certificate = cloud.certificate
  if (certificate === undefined) return // shared-secret mode
  gaugedBy(registry, {
    name: 'tern_cloud_certificate_expiry_timestamp_seconds',
    help: 'When the node certificate in use expires (renewals move it), seconds since the epoch',
    read: read((c) => [[{}, Date.parse(c.certificate?.notAfter ?? certificate.notAfter) / 1000]]),
  })
}
