/**
 * The samples of one metric in Prometheus text format, keyed by the value of
 * `label` (the empty string for a sample without it).
 */
export function samplesOf(text: string, metric: string, label: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labelValue = new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(m[2] ?? '')?.[1] ?? '';
    samples.set(labelValue, Number(m[3]));
  }
  return samples;
}

export async function scrape(metricsUrl: string): Promise<string> {
  return (await fetch(metricsUrl)).text();
}
