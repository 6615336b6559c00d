/**
 * The web view's page: one script, no framework. It asks who the session is (a login form when
 * there is none), then follows the server-sent event stream: a snapshot of the devices the user
 * may see, then each change. Values are put in with textContent only, never as HTML.
 */
import type { DeviceView as Device, PropertyView as Property, SideView as Side } from '../view-types.js'

interface Mappers {
  protocol: string
  timestamp: number
  devices: Record<string, Record<string, number>>
}
interface Cloud {
  connected: boolean
  timestamp: number
}
type Point = [number, number]
/** Every field any API answer has; each answer fills some. */
interface Reply {
  csrf?: string
  node?: string
  user?: string | null
  errorCode?: string
  reason?: string
  problems?: Array<{ errorCode: string; reason: string }>
  points?: Point[]
}

const HOUR = 3600_000
const $ = <T extends Element>(selector: string, root: ParentNode = document): T => root.querySelector(selector) as T
let csrf = ''
/** server time minus this browser's, so ages are right on a phone with a wrong clock */
let skew = 0
let stream: EventSource | undefined
const devices = new Map<string, Device>()
const charts = new Map<string, Point[]>()

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  if (text !== undefined) node.textContent = text
  return node
}

function age(at: number): string {
  const s = Math.max(0, Math.round((Date.now() + skew - at) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

async function api(path: string, body?: unknown): Promise<{ status: number; data: Reply }> {
  const init: RequestInit = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-tern-csrf': csrf }, body: JSON.stringify(body) }
  const res = await fetch(path, { credentials: 'same-origin', ...init })
  const text = await res.text()
  return { status: res.status, data: text === '' ? {} : (JSON.parse(text) as Reply) }
}

async function boot(): Promise<void> {
  const { status, data } = await api('/ui/api/session')
  if (status === 401) return showLogin()
  signedIn(data)
}

function showLogin(): void {
  stream?.close()
  $<HTMLElement>('#login').hidden = false
  $<HTMLElement>('#devices').replaceChildren()
  $<HTMLElement>('#mappers').hidden = true
  $<HTMLElement>('#logout').hidden = true
  $<HTMLElement>('#user').textContent = ''
  $<HTMLElement>('#link').textContent = 'logged out'
}

function signedIn(data: Reply): void {
  csrf = data.csrf ?? ''
  $<HTMLElement>('#login').hidden = true
  $<HTMLElement>('#node').textContent = data.node ?? ''
  $<HTMLElement>('#user').textContent = data.user ?? 'anonymous (loopback)'
  $<HTMLElement>('#logout').hidden = data.user === null || data.user === undefined
  follow()
}

function follow(): void {
  stream?.close()
  stream = new EventSource('/ui/api/events')
  const link = $<HTMLElement>('#link')
  stream.onopen = () => {
    link.textContent = 'live'
    link.className = 'badge ok'
  }
  stream.onerror = () => {
    link.textContent = 'reconnecting…'
    link.className = 'badge bad'
  }
  stream.addEventListener('snapshot', (e) => {
    const data = JSON.parse((e as MessageEvent<string>).data) as { time: number; devices: Device[]; mappers: Mappers[]; cloud: Cloud | null }
    skew = data.time - Date.now()
    devices.clear()
    for (const d of data.devices) devices.set(d.key, d)
    $<HTMLElement>('#devices').replaceChildren(...data.devices.map(card))
    if (data.devices.length === 0) $<HTMLElement>('#devices').append(el('p', { class: 'empty' }, 'No devices you may see on this node.'))
    renderMappers(data.mappers)
    renderCloud(data.cloud)
  })
  stream.addEventListener('device', (e) => {
    const { time, device } = JSON.parse((e as MessageEvent<string>).data) as { time: number; device: Device }
    skew = time - Date.now()
    devices.set(device.key, device)
    const old = document.querySelector(`[data-device="${CSS.escape(device.key)}"]`)
    const fresh = card(device)
    if (old === null) $<HTMLElement>('#devices').append(fresh)
    else {
      keepEdits(old, fresh)
      old.replaceWith(fresh)
    }
  })
  stream.addEventListener('mappers', (e) => renderMappers(JSON.parse((e as MessageEvent<string>).data) as Mappers[]))
  stream.addEventListener('cloud', (e) => renderCloud(JSON.parse((e as MessageEvent<string>).data) as Cloud))
}

/** A value being typed, or an error being shown, survives the card being redrawn. */
function keepEdits(old: Element, fresh: Element): void {
  for (const form of old.querySelectorAll<HTMLFormElement>('form[data-prop]')) {
    const twin = fresh.querySelector<HTMLFormElement>(`form[data-prop="${CSS.escape(form.dataset.prop ?? '')}"]`)
    if (twin === null) continue
    $<HTMLInputElement>('input', twin).value = $<HTMLInputElement>('input', form).value
    const error = $<HTMLElement>('.error', form)
    $<HTMLElement>('.error', twin).textContent = error.textContent
    if (document.activeElement === $('input', form)) queueMicrotask(() => $<HTMLInputElement>('input', twin).focus())
  }
}

function card(d: Device): HTMLElement {
  const root = el('article', { class: 'device', 'data-device': d.key })
  const head = el('div', { class: 'head' })
  head.append(el('h2', {}, d.name), el('span', { class: `badge state ${d.state.toLowerCase()}` }, d.state))
  root.append(head, el('p', { class: 'meta' }, `${d.namespace} · model ${d.model} · ${d.protocol}`))
  const labels = el('div', { class: 'prop labels', 'aria-hidden': 'true' })
  labels.append(el('span', {}, 'property'), el('span', {}, 'actual'), el('span', {}, 'expected'))
  root.append(labels, ...d.properties.map((p) => property(d, p)))
  return root
}

function property(d: Device, p: Property): HTMLElement {
  const row = el('div', { class: 'prop', 'data-prop': p.name })
  const name = el('div', { class: 'name' }, p.name)
  const range = p.minimum !== undefined || p.maximum !== undefined ? ` ${p.minimum ?? '…'}–${p.maximum ?? '…'}` : ''
  name.append(el('small', {}, `${p.type}${range}${p.unit === undefined ? '' : ` ${p.unit}`}${p.owner === 'cloud' ? ' · set by the cloud' : ''}`))
  const expected = side('expected', p.expected)
  row.append(name, side('actual', p.actual, p.unit), expected)
  if (p.settable) row.append(setForm(d, p))
  if (p.numeric) row.append(chart(d.key, p))
  return row
}

function row(tag: 'th' | 'td', cells: string[]): HTMLTableRowElement {
  const tr = el('tr')
  for (const c of cells) tr.append(el(tag, {}, c))
  return tr
}

function side(cls: string, s: Side | undefined, unit?: string): HTMLElement {
  const cell = el('div', { class: cls })
  cell.append(el('span', { class: 'value' }, s === undefined ? '—' : `${s.value}${unit === undefined ? '' : ` ${unit}`}`))
  if (s !== undefined) cell.append(el('time', { class: 'age', 'data-at': String(s.at) }, age(s.at)))
  return cell
}

function setForm(d: Device, p: Property): HTMLFormElement {
  const form = el('form', { class: 'set', 'data-prop': p.name })
  const input = el('input', { name: 'value', 'aria-label': `new expected ${p.name}`, inputmode: p.numeric ? 'decimal' : 'text', autocomplete: 'off' })
  const error = el('p', { class: 'error', role: 'alert' })
  form.append(input, el('button', { type: 'submit' }, 'Set'), error)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    error.textContent = ''
    void api('/ui/api/expected', { device: d.key, property: p.name, value: input.value }).then(({ status, data }) => {
      if (status === 401) return showLogin()
      // the new expected value arrives on the stream, as every change does
      if (status === 200) return void (input.value = '')
      const problems = data.problems ?? []
      error.textContent = problems.length > 0 ? problems.map((x) => `${x.errorCode}: ${x.reason}`).join('; ') : `${data.errorCode ?? ''}: ${data.reason ?? ''}`
    })
  })
  return form
}

/** The last hour of a numeric property as a small line, fetched once, then extended from the stream. */
function chart(key: string, p: Property): SVGSVGElement {
  const id = `${key}\u0000${p.name}`
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('class', 'chart')
  svg.setAttribute('viewBox', '0 0 120 30')
  svg.setAttribute('aria-label', `${p.name}, last hour`)
  svg.setAttribute('preserveAspectRatio', 'none')
  const points = charts.get(id)
  const value = Number(p.actual?.value)
  if (points === undefined) {
    charts.set(id, [])
    void api(`/ui/api/history?device=${encodeURIComponent(key)}&property=${encodeURIComponent(p.name)}`).then(({ status, data }) => {
      if (status !== 200) return
      const got = data.points ?? []
      charts.set(id, got)
      const live = document.querySelector(`[data-device="${CSS.escape(key)}"] .prop[data-prop="${CSS.escape(p.name)}"] svg.chart`)
      if (live !== null) draw(live as SVGSVGElement, got)
    })
  } else if (p.actual !== undefined && Number.isFinite(value)) {
    points.push([p.actual.at, value])
    while (points.length > 0 && (points[0]?.[0] ?? 0) < Date.now() + skew - HOUR) points.shift()
    if (points.length > 720) points.splice(0, points.length - 720)
  }
  draw(svg, charts.get(id) ?? [])
  return svg
}

function draw(svg: SVGSVGElement, points: Point[]): void {
  svg.replaceChildren()
  if (points.length === 0) return
  const end = Date.now() + skew
  const values = points.map((q) => q[1])
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  const y = (v: number): number => (hi === lo ? 15 : 28 - ((v - lo) / (hi - lo)) * 26)
  const x = (t: number): number => Math.max(0, 120 - ((end - t) / HOUR) * 120)
  // a step line: a value holds until the next one
  let d = ''
  points.forEach(([t, v], i) => {
    d += i === 0 ? `M${x(t).toFixed(1)} ${y(v).toFixed(1)}` : `H${x(t).toFixed(1)}V${y(v).toFixed(1)}`
  })
  d += 'H120'
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path')
  path.setAttribute('d', d)
  svg.append(path)
  const title = document.createElementNS('http://www.w3.org/2000/svg', 'title')
  title.textContent = `last hour: ${lo} – ${hi}`
  svg.append(title)
}

function renderMappers(list: Mappers[]): void {
  const section = $<HTMLElement>('#mappers')
  const body = $<HTMLElement>('tbody', section)
  body.replaceChildren()
  for (const m of list) {
    for (const [device, counters] of Object.entries(m.devices)) {
      const text = Object.entries(counters).map(([k, v]) => `${k} ${v}`).join(' · ')
      const tr = row('td', [m.protocol, device, text])
      tr.setAttribute('data-counters', device)
      body.append(tr)
    }
  }
  section.hidden = body.children.length === 0
}

function renderCloud(cloud: Cloud | null): void {
  const badge = $<HTMLElement>('#cloud')
  badge.hidden = cloud === null
  if (cloud === null) return
  badge.textContent = cloud.connected ? 'cloud: connected' : 'cloud: disconnected'
  badge.className = `badge ${cloud.connected ? 'ok' : 'bad'}`
}

$<HTMLFormElement>('#login').addEventListener('submit', (e) => {
  e.preventDefault()
  const form = e.currentTarget as HTMLFormElement
  const fields = new FormData(form)
  void api('/ui/api/login', { username: (fields.get('username') as string | null) ?? '', password: (fields.get('password') as string | null) ?? '' }).then(({ status, data }) => {
    if (status === 200) return signedIn(data)
    $<HTMLElement>('.error', form).textContent = `${data.errorCode ?? ''}: ${data.reason ?? ''}`
  })
})

$<HTMLButtonElement>('#logout').addEventListener('click', () => {
  void api('/ui/api/logout', {}).then(() => showLogin())
})

setInterval(() => {
  for (const t of document.querySelectorAll<HTMLElement>('time.age')) t.textContent = age(Number(t.dataset.at))
}, 1000)

void boot()
