/**
 * The CRI container log format containerd writes (the kubelet's pkg/kubelet/kuberuntime/logs):
 * one record per line, `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`, where P marks a partial
 * line the runtime split (a long line, or one without its newline yet) and F the record that ends it.
 */

export interface LogLine {
  time: string
  stream: 'stdout' | 'stderr'
  /** The whole line, partial records joined, without its newline. */
  text: string
  /** a piece of a line longer than parseRecords' `maxLine`, given before its end: more follows */
  partial?: true
  /** a piece of such a line after its first */
  continued?: true
}

const RECORD = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/

/**
 * Joins records into lines. `pending` carries a partial line from one chunk of a file to the next
 * (follow); records that do not parse are skipped, as the kubelet skips them. A line that grows
 * past `maxLine` characters without its end (a container writing without newlines) is given in
 * pieces as it comes, as the kubelet passes records on, instead of being held until it ends.
 */
export function parseRecords(records: string[], pending: Map<string, LogLine> = new Map(), maxLine = Infinity): LogLine[] {
  const lines: LogLine[] = []
  for (const record of records) {
    const m = RECORD.exec(record)
    if (m === null) continue
    const [, time, stream, tag, text = ''] = m as unknown as [string, string, 'stdout' | 'stderr', 'P' | 'F', string | undefined]
    const open = pending.get(stream)
    const line = open === undefined ? { time, stream, text } : { ...open, text: open.text + text }
    if (tag === 'P' && line.text.length >= maxLine) {
      lines.push({ ...line, partial: true })
      pending.set(stream, { time: line.time, stream: line.stream, text: '', continued: true })
    } else if (tag === 'P') pending.set(stream, line)
    else {
      pending.delete(stream)
      lines.push(line)
    }
  }
  return lines
}

/**
 * Splits a block read from a log file into complete records decoded as UTF-8, `rest` being what the
 * blocks before it left unterminated. Records end at '\n' only, so a block may end inside a UTF-8
 * character: the rest is kept as bytes (latin1 text) and only whole records are decoded.
 */
export function splitBlock(rest: string, block: Buffer): { records: string[]; rest: string } {
  const split = splitRecords(rest + block.toString('latin1'))
  return { records: split.records.map((r) => Buffer.from(r, 'latin1').toString('utf8')), rest: split.rest }
}

/** Splits a chunk of a log file into complete records; the unterminated rest is returned to prepend to the next chunk. */
export function splitRecords(chunk: string): { records: string[]; rest: string } {
  const parts = chunk.split('\n')
  const rest = parts.pop() ?? ''
  return { records: parts, rest }
}
