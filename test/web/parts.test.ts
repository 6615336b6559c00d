/** The web view's pure parts: the chart history's bound and buckets, the login limit's windows. */
import { strict as assert } from 'node:assert'
import { BUCKET_MS, BUCKETS, History } from '../../web/history.js'
import { LoginLimit } from '../../web/login-limit.js'

describe('web view: chart history', () => {
  const t0 = 1_700_000_000_000 - (1_700_000_000_000 % BUCKET_MS)

  it('keeps the last value of each 30 s bucket for the last hour, oldest first', () => {
    const h = new History()
    h.record('a', t0, 1)
    h.record('a', t0 + 1000, 2)
    h.record('a', t0 + BUCKET_MS, 3)
    assert.deepEqual(h.points('a', t0 + BUCKET_MS), [
      [t0, 2],
      [t0 + BUCKET_MS, 3],
    ])
  })

  it('drops what is older than an hour, also where a newer value reuses the slot', () => {
    const h = new History()
    h.record('a', t0, 1)
    h.record('a', t0 + BUCKETS * BUCKET_MS, 5)
    assert.deepEqual(h.points('a', t0 + BUCKETS * BUCKET_MS), [[t0 + BUCKETS * BUCKET_MS, 5]])
    h.record('b', t0, 1)
    assert.deepEqual(h.points('b', t0 + BUCKETS * BUCKET_MS), [])
  })

  it('makes no series past its bound, and keeps recording the ones it has', () => {
    const h = new History(2)
    assert.equal(h.record('a', t0, 1), true)
    assert.equal(h.record('b', t0, 1), true)
    assert.equal(h.record('c', t0, 1), false)
    assert.equal(h.record('a', t0 + BUCKET_MS, 2), true)
    assert.equal(h.size, 2)
    h.forget('a')
    assert.equal(h.record('c', t0, 1), true)
  })
})

describe('web view: login limit', () => {
  it('refuses an address after maxFailures in the window, and admits it again when the window has passed', () => {
    const limit = new LoginLimit({ maxFailures: 3, windowMs: 1000 })
    for (let i = 0; i < 3; i++) limit.failed('10.0.0.1', `user-${i}`, 100)
    assert.equal(limit.retryAfter('10.0.0.1', 'someone', 200), 900)
    assert.equal(limit.retryAfter('10.0.0.2', 'someone', 200), 0)
    assert.equal(limit.retryAfter('10.0.0.1', 'someone', 1100), 0)
  })

  it('refuses a username tried from many addresses, until a success clears it', () => {
    const limit = new LoginLimit({ maxFailures: 3, windowMs: 1000 })
    for (let i = 0; i < 3; i++) limit.failed(`10.0.0.${i}`, 'admin', 100)
    assert.ok(limit.retryAfter('10.0.0.9', 'admin', 200) > 0)
    limit.succeeded('admin')
    assert.equal(limit.retryAfter('10.0.0.9', 'admin', 200), 0)
  })

  it('remembers at most maxEntries addresses', () => {
    const limit = new LoginLimit({ maxFailures: 1, windowMs: 1000, maxEntries: 2 })
    limit.failed('a', 'u1', 0)
    limit.failed('b', 'u2', 0)
    limit.failed('c', 'u3', 0)
    assert.equal(limit.retryAfter('a', 'x', 1), 0, 'the oldest address was dropped')
    assert.ok(limit.retryAfter('c', 'x', 1) > 0)
  })
})
