/**
 * `$(VAR)` references in env values, command and args, as the kubelet expands them
 * (third_party/forked/golang/expansion): `$(NAME)` becomes the variable's value when it is
 * defined and stays as written when not; `$$` is a literal `$`; any other `$` is kept.
 */

export type Mapping = (name: string) => string

/** The mapping over the variables known so far; an unknown name is written back as `$(name)`. */
export function mappingFor(...contexts: ReadonlyArray<ReadonlyMap<string, string>>): Mapping {
  return (name) => {
    for (const vars of contexts) {
      const value = vars.get(name)
      if (value !== undefined) return value
    }
    return `$(${name})`
  }
}

export function expand(input: string, mapping: Mapping): string {
  let out = ''
  let checkpoint = 0
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue
    out += input.slice(checkpoint, cursor)
    const { text, isVar, advance } = readVariableName(input.slice(cursor + 1))
    out += isVar ? mapping(text) : text
    cursor += advance
    checkpoint = cursor + 1
  }
  return out + input.slice(checkpoint)
}

function readVariableName(input: string): { text: string; isVar: boolean; advance: number } {
  if (input[0] === '$') return { text: '$', isVar: false, advance: 1 }
  if (input[0] === '(') {
    const close = input.indexOf(')', 1)
    // An unclosed `$(` is kept as written.
    return close < 0 ? { text: '$(', isVar: false, advance: 1 } : { text: input.slice(1, close), isVar: true, advance: close + 1 }
  }
  return { text: `$${input[0] ?? ''}`, isVar: false, advance: 1 }
}
