/** Time-series charts for the Metrics tab, drawn on canvas by uPlot (small and fast); loaded only when that tab opens. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line (or bars) of a chart. */
export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** A CSS custom property of the site's palette, e.g. `--accent`. */
  color: string;
  /** A dash pattern, so lines differ by more than colour. */
  dash?: number[];
  bars?: boolean;
}

const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

/** Whether a series has a value between two gaps (or at an end), which a line alone would not show. */
function sparse(values: (number | null)[]): boolean {
  return values.some((v, i) => v !== null && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null);
}

/** Draws `series` over `times` (epoch seconds) into `el`, sized to it; the chart follows the element's width. */
export function timeChart(
  el: HTMLElement,
  times: number[],
  series: ChartSeries[],
  format: (v: number) => string,
  counts = false,
): { destroy: () => void } {
  const muted = css('--fg-muted');
  const grid = css('--border');
  const font = `12px ${css('--sans')}`;
  const axis = (values?: uPlot.Axis['values']): uPlot.Axis => ({
    stroke: muted,
    font,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1 },
    ...(values ? { values, size: 64 } : {}),
    // Counts step by whole numbers: no "1.5 calls" on the axis.
    ...(values && counts ? { incrs: COUNT_STEPS } : {}),
  });
  const bars = uPlot.paths.bars?.({ size: [0.7, 48] });
  const opts: uPlot.Options = {
    width: Math.max(280, el.clientWidth),
    height: 200,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: [axis(), axis((_u, vals) => vals.map((v) => (v === null ? '' : format(v))))],
    series: [
      {},
      ...series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: css(s.color),
          width: 2,
          spanGaps: false,
          ...(s.dash ? { dash: s.dash } : {}),
          ...(s.bars && bars ? { paths: bars, fill: `${css(s.color)}99`, width: 0 } : {}),
          // A value with no neighbour would draw nothing as a line: sparse series get their points drawn.
          points: { show: sparse(s.values), size: 6 },
        }),
      ),
    ],
  };
  const chart = new uPlot(opts, [times, ...series.map((s) => s.values)], el);
  const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(280, el.clientWidth), height: 200 }));
  resize.observe(el);
  return {
    destroy: () => {
      resize.disconnect();
      chart.destroy();
    },
  };
}
