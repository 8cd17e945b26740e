import { readFileSync } from 'node:fs';

/** The CPUs this process may run on (Linux: Cpus_allowed_list), or null where that is unknown. */
export function allowedCpus(statusText?: string): number[] | null {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return null;
    }
  }
  const line = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(text)?.[1];
  return line ? parseCpuList(line) : null;
}

/** "0-3,8,10-11" -> [0, 1, 2, 3, 8, 10, 11]. */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new RangeError(`not a CPU list: "${list}"`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}
