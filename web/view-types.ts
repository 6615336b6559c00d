/**
 * What the web view sends the page about a device (server-sent events, web/device-view.ts builds
 * it): shared by the server and the page's script, so it imports nothing.
 */
export interface SideView {
  value: string
  /** edge time the value was stored, ms since the epoch */
  at: number
}

export interface PropertyView {
  name: string
  type: string
  accessMode: string
  minimum?: string
  maximum?: string
  unit?: string
  owner: 'cloud' | 'edge'
  settable: boolean
  numeric: boolean
  expected?: SideView
  actual?: SideView
}

export interface DeviceView {
  /** `<namespace>/<name>`: the twin's key and the page's */
  key: string
  name: string
  namespace: string
  model: string
  protocol: string
  state: string
  lastOnline?: string
  properties: PropertyView[]
}
