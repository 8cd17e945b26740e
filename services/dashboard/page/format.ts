export function percent(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '-' : `${(x * 100).toFixed(digits)}%`;
}

export function num(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

export function ms(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-';
  return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
}

export function duration(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined) return '-';
  const s = Math.round(msValue / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function when(iso: string | null): string {
  if (iso === null) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function lr(x: number): string {
  return x === 0 ? '0' : x >= 0.001 ? x.toPrecision(3) : x.toExponential(2);
}
