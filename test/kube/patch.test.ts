/**
 * The emulator's patch functions against the examples of RFC 7386 (Appendix A) and RFC 6902
 * (Appendix A), and strategic merge patch as k8s.io/apimachinery's strategicpatch applies it.
 */
import assert from 'node:assert/strict'
import { jsonPatch, mergePatch, type Json } from '../support/kube/patch.js'
import { strategicMergePatch } from '../support/kube/strategic.js'
import { ApiError } from '../support/kube/status.js'

describe('emulator patches', () => {
  describe('RFC 7386 JSON merge patch, Appendix A', () => {
    const cases: [Json, Json, Json][] = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ]
    cases.forEach(([target, patch, result], i) => it(`example ${i + 1}: ${JSON.stringify(patch)}`, () => assert.deepEqual(mergePatch(target, patch), result)))
  })

  describe('RFC 6902 JSON patch, Appendix A', () => {
    const ok: [string, Json, unknown, Json][] = [
      ['A.1 add an object member', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { baz: 'qux', foo: 'bar' }],
      ['A.2 add an array element', { foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
      ['A.3 remove an object member', { baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
      ['A.4 remove an array element', { foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
      ['A.5 replace a value', { baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
      ['A.6 move a value', { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }], { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } }],
      ['A.7 move an array element', { foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }], { foo: ['all', 'cows', 'eat', 'grass'] }],
      ['A.8 test a value: success', { baz: 'qux', foo: ['a', 2, 'c'] }, [{ op: 'test', path: '/baz', value: 'qux' }, { op: 'test', path: '/foo/1', value: 2 }], { baz: 'qux', foo: ['a', 2, 'c'] }],
      ['A.10 add a nested member object', { foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }], { foo: 'bar', child: { grandchild: {} } }],
      ['A.14 ~ escape ordering', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }],
      ['A.16 add an array value', { foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
    ]
    for (const [name, doc, ops, result] of ok) it(name, () => assert.deepEqual(jsonPatch(doc, ops), result))

    const failing: [string, Json, unknown][] = [
      ['A.9 test a value: error', { baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]],
      ['A.12 add to a nonexistent target', { foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]],
      ['A.15 comparing strings and numbers', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }]],
      ['remove a missing member', { foo: 'bar' }, [{ op: 'remove', path: '/baz' }]],
      ['index past the end', { foo: [] }, [{ op: 'replace', path: '/foo/0', value: 1 }]],
    ]
    for (const [name, doc, ops] of failing) it(name, () => assert.throws(() => jsonPatch(doc, ops), (e: unknown) => e instanceof ApiError && e.status.code === 422))

    it('A.13 an invalid operation → 400; the document passed in is never modified', () => {
      const doc: Json = { foo: 'bar' }
      assert.throws(() => jsonPatch(doc, [{ op: 'add', path: '/x', value: 1 }, { op: 'frobnicate', path: '/foo' }]), (e: unknown) => e instanceof ApiError && e.status.code === 400)
      assert.deepEqual(doc, { foo: 'bar' })
    })
  })

  describe('strategic merge patch of a built-in kind (apimachinery strategicpatch mergeMap/mergeSlice)', () => {
    const keys = { 'status.addresses': 'type', 'status.conditions': 'type' }
    const internal = { type: 'InternalIP', address: '10.0.0.1' }
    const host = { type: 'Hostname', address: 'gw' }
    const node: Json = { status: { addresses: [internal, host], images: [{ names: ['a'] }], nodeInfo: { a: '1', b: '2' } }, metadata: { finalizers: ['x', 'y'] } }
    const addresses = (patched: Json): Json => (patched as { status: { addresses: Json } }).status.addresses
    const cases: [string, Json, Json][] = [
      ['a keyed list merges by key: an address the patch leaves out stays (NodeStatus.addresses is patchStrategy=merge)', { status: { addresses: [host] } }, [internal, host]],
      ['an element whose key the list has is merged into it', { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } }, [{ type: 'InternalIP', address: '10.0.0.2' }, host]],
      ['a new element comes after those only the server has', { status: { addresses: [{ type: 'ExternalIP', address: '192.0.2.1' }] } }, [internal, host, { type: 'ExternalIP', address: '192.0.2.1' }]],
      ['an element {"$patch": "replace"} makes the patch the whole list (the kubelet’s fix for addresses)', { status: { addresses: [host, { $patch: 'replace' }] } }, [host]],
      ['an element {"$patch": "delete"} removes the element with its key', { status: { addresses: [{ type: 'InternalIP', $patch: 'delete' }] } }, [host]],
      ['$setElementOrder orders the list', { status: { '$setElementOrder/addresses': [{ type: 'Hostname' }, { type: 'InternalIP' }] } }, [host, internal]],
    ]
    for (const [name, patch, want] of cases) it(name, () => assert.deepEqual(addresses(strategicMergePatch(node, patch, keys)), want))

    it('a list without a merge key is replaced; null deletes; a map with {"$patch": "replace"} is replaced; $retainKeys and $deleteFromPrimitiveList', () => {
      const patched = strategicMergePatch(node, { status: { images: [{ names: ['b'] }], nodeInfo: { $patch: 'replace', a: '3' } }, metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } }, keys) as { status: Record<string, Json>; metadata: Json }
      assert.deepEqual(patched.status.images, [{ names: ['b'] }])
      assert.deepEqual(patched.status.nodeInfo, { a: '3' })
      assert.deepEqual(patched.metadata, { finalizers: ['y'] })
      assert.deepEqual((strategicMergePatch(node, { status: { nodeInfo: { $retainKeys: ['b'], b: '4' }, images: null } }, keys) as { status: Json }).status, { addresses: [internal, host], nodeInfo: { b: '4' } })
    })

    it('a field the object does not have takes the patch as it is: a lone {"$patch": "replace"} element becomes an empty element', () => {
      assert.deepEqual(addresses(strategicMergePatch({ status: {} }, { status: { addresses: [host, { $patch: 'replace' }] } }, keys)), [host, {}])
    })

    it('an element of a keyed list without its key → 400', () => {
      assert.throws(() => strategicMergePatch(node, { status: { addresses: [{ address: '10.0.0.3' }] } }, keys), (e: unknown) => e instanceof ApiError && e.status.code === 400)
    })
  })
})
