/**
 * A grouped horizontal bar chart as a standalone SVG string, no dependencies: one group per
 * endpoint, one bar per server. Each group is scaled to its own largest value (req/s of a 1 MB
 * file and of /healthz differ a hundredfold), and every bar carries its figure as text.
 *
 * @example
 * ```ts
 * const svg = barChart([{ group: 'GET /healthz', label: 'Go', value: 50000, text: '50,000' }], { title: 'req/s', series: ['Go'] })
 * ```
 */

/** One bar. */
export interface Bar { group: string; label: string; value: number; text: string }

const COLORS = ['#8c8c8c', '#bdbdbd', '#9ecae1', '#d62728', '#2ca02c', '#1f77b4', '#ff7f0e', '#9467bd']
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * Renders `bars` (in group order, then series order) as SVG; `series` fixes each label's color.
 *
 * @example barChart(bars, { title: 'bench/peers, 1 core', series: ['raw Bun.serve', 'highperf'] })
 */
export function barChart(bars: readonly Bar[], opts: { title: string; series: readonly string[] }): string {
  const groups = [...new Set(bars.map((b) => b.group))]
  const barH = 14
  const gap = 10
  const labelW = 150
  const plotW = 460
  const textW = 70
  const legendH = 18 * Math.ceil(opts.series.length / 2) + 8
  const width = labelW + plotW + textW + 20
  let y = 34
  const out: string[] = []
  for (const g of groups) {
    const inGroup = bars.filter((b) => b.group === g)
    const max = Math.max(...inGroup.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1)
    const top = y
    for (const b of inGroup) {
      const w = Number.isFinite(b.value) ? Math.max(1, (b.value / max) * plotW) : 0
      const color = COLORS[Math.max(0, opts.series.indexOf(b.label)) % COLORS.length]
      out.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${color}"><title>${esc(`${b.label}: ${b.text}`)}</title></rect>`)
      out.push(`<text x="${labelW + w + 4}" y="${y + barH - 4}" font-size="10">${esc(b.text)}</text>`)
      y += barH
    }
    out.push(`<text x="${labelW - 6}" y="${(top + y) / 2 + 4}" font-size="11" text-anchor="end">${esc(g)}</text>`)
    y += gap
  }
  const legendTop = y + 4
  opts.series.forEach((s, i) => {
    const lx = 10 + (i % 2) * (width / 2)
    const ly = legendTop + Math.floor(i / 2) * 18
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`)
    out.push(`<text x="${lx + 16}" y="${ly + 10}" font-size="11">${esc(s)}</text>`)
  })
  const height = legendTop + legendH
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="13" font-weight="bold">${esc(opts.title)}</text>`,
    `<text x="${width - 10}" y="20" font-size="10" text-anchor="end" fill="#555">each group scaled to its fastest server</text>`,
    ...out,
    '</svg>',
    '',
  ].join('\n')
}
