/**
 * What crosses the web view's boundaries (web/): the JSON bodies the page sends, and the tern
 * topics it reads from the bus (a mapper's counters, the cloud link's state), which any client with
 * write access to them could publish.
 */
import { Type, type Static } from '@sinclair/typebox'

export const WebLogin = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 256 }),
    password: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false, title: 'web view login' },
)

export const WebSetExpected = Type.Object(
  {
    /** `<namespace>/<name>` */
    device: Type.String({ minLength: 3, maxLength: 512 }),
    property: Type.String({ minLength: 1, maxLength: 128 }),
    /** the twin checks the value itself (type, range, 4 KiB); this bound only keeps the body small */
    value: Type.String({ maxLength: 4096 }),
  },
  { additionalProperties: false, title: 'web view: set the expected value of a property' },
)

/** `$tern/mappers/<node>/<protocol>/metrics` (mappers/runtime/mapper.ts) */
export const MapperMetricsMessage = Type.Object({
  timestamp: Type.Integer(),
  node: Type.String(),
  protocol: Type.String(),
  devices: Type.Record(Type.String(), Type.Record(Type.String(), Type.Number())),
})

/** `$tern/nodes/<node>/cloud` (cloud-sync/edge/link-status.ts) */
export const CloudLinkMessage = Type.Object({
  timestamp: Type.Integer(),
  node: Type.String(),
  connected: Type.Boolean(),
  certificate: Type.Optional(Type.Object({ notAfter: Type.Optional(Type.String()) })),
})

export type WebLogin = Static<typeof WebLogin>
export type WebSetExpected = Static<typeof WebSetExpected>
export type MapperMetricsMessage = Static<typeof MapperMetricsMessage>
export type CloudLinkMessage = Static<typeof CloudLinkMessage>
