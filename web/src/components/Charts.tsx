import { useLayoutEffect, useRef, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatClock, formatNumber } from '../lib/format';
import { batchSizeOf, integerTicks } from '../lib/metrics';
import type { MetricPoint } from '../lib/types';

type Row = Record<string, number | string | null | undefined>;
interface Series { key: keyof MetricPoint; name: string; color: string }

/** The time axis every chart of a row shares: the same domain and the same ticks. */
export interface TimeAxis { domain: [number, number]; ticks: number[] }

/**
 * `minGap`: the least share of the window between two ticks, so that their labels do not touch
 * on a narrow chart (see `minTickGap`); at most `count` ticks either way.
 */
export function timeAxis(times: number[], count = 5, minGap = 0): TimeAxis | undefined {
  if (times.length === 0) return undefined;
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  if (hi <= lo) return { domain: [lo - 1000, hi + 1000], ticks: [lo] };
  // Ticks on whole 5-second marks, evenly spread over the window.
  const raw = Math.max((hi - lo) / (count - 1), (hi - lo) * minGap);
  const step = Math.max(5000, Math.ceil(raw / 5000) * 5000);
  const first = Math.ceil(lo / step) * step;
  const ticks: number[] = [];
  for (let t = first; t <= hi; t += step) ticks.push(t);
  return { domain: [lo, hi], ticks };
}

// The plot area's neighbours in a chart box: the y axis (wider with a unit) and the right margin.
const Y_AXIS_PX = { unit: 64, plain: 44 };
const RIGHT_MARGIN_PX = 24;
const TICK_FONT_PX = 11;

/**
 * The least share of the time axis between two ticks in a chart box `width` px wide, so that
 * labels like `label` stay a character apart on the narrowest plot (the one beside the widest
 * y axis), at about 0.6 em a character. 0 when the width is not known (not laid out yet).
 */
export function minTickGap(width: number | undefined, label: string): number {
  if (!width) return 0;
  const plot = Math.max(1, width - Y_AXIS_PX.unit - RIGHT_MARGIN_PX);
  return Math.min(1, ((label.length + 1) * TICK_FONT_PX * 0.6) / plot);
}

/** The width of the first chart box under `ref`: every chart of the grid has the same. */
function useChartBoxWidth() {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState<number>();
  useLayoutEffect(() => {
    const grid = ref.current;
    if (!grid) return;
    const measure = () => {
      const w = Math.round(grid.querySelector('.chart-box')?.getBoundingClientRect().width ?? 0);
      setWidth(w > 0 ? w : undefined);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(grid);
    return () => observer.disconnect();
  }, []);
  return [ref, width] as const;
}

function Chart({ title, unit, rows, series, summary, integer = false, step = false, axis }: {
  title: string; unit: string; rows: Row[]; series: Series[]; summary: string; axis?: TimeAxis;
  /** Whole numbers only: integer ticks from 0, no decimals in the tooltip. */
  integer?: boolean;
  /** A value that holds until the next point (a count), drawn as steps rather than a curve. */
  step?: boolean;
}) {
  const id = `chart-${title.replace(/\W+/g, '-').toLowerCase()}`;
  const reported = series.some((s) => rows.some((r) => r[s.key] !== undefined));
  // Gaps (no traffic) break lines into short pieces: show dots so single points stay visible.
  const sparse = series.some((s) => rows.filter((r) => r[s.key] != null).length < rows.length);
  const ticks = integer
    ? integerTicks(Math.max(0, ...series.flatMap((s) => rows.map((r) => Number(r[s.key] ?? 0)))))
    : undefined;
  return (
    <figure className="chart" aria-labelledby={`${id}-t`} data-testid={id}>
      <figcaption id={`${id}-t`}>
        <span>{title}</span>
        <span className="chart-now" data-testid={`${id}-now`}>{summary}</span>
      </figcaption>
      <div className="chart-box" role="img" aria-label={`${title}: ${summary}`}>
        {rows.length > 0 && !reported ? (
          <p className="chart-empty muted small">This server does not report this metric yet.</p>
        ) : (
          <ResponsiveContainer width="100%" height="100%" minWidth={100} minHeight={100}>
            <LineChart data={rows} margin={{ top: 6, right: RIGHT_MARGIN_PX, bottom: 0, left: 0 }}>
              <CartesianGrid stroke="var(--grid)" strokeDasharray="3 3" />
              <XAxis dataKey="time" type="number" scale="time" tickFormatter={formatClock} stroke="var(--muted)" fontSize={TICK_FONT_PX}
                {...(axis ? { domain: axis.domain, ticks: axis.ticks, interval: 0 } : { domain: ['dataMin', 'dataMax'] })} />
              <YAxis stroke="var(--muted)" fontSize={TICK_FONT_PX} unit={unit} width={unit ? Y_AXIS_PX.unit : Y_AXIS_PX.plain}
                allowDecimals={!integer} {...(ticks ? { ticks, domain: [0, ticks[ticks.length - 1]], interval: 0 } : {})} />
              <Tooltip
                labelFormatter={(l) => formatClock(l as string | number)}
                formatter={(v) => `${formatNumber(Number(v), integer ? 0 : 2)}${unit}`}
                contentStyle={{ background: 'var(--surface)', border: '1px solid var(--border)', color: 'var(--text)' }}
              />
              {series.length > 1 && <Legend wrapperStyle={{ fontSize: 12 }} />}
              {series.map((s) => (
                <Line key={s.key} type={step ? 'stepAfter' : 'linear'} dataKey={s.key} name={s.name} stroke={s.color}
                  dot={sparse ? { r: 2.5, fill: s.color, strokeWidth: 0 } : false}
                  strokeWidth={2} isAnimationActive={false} connectNulls={false} />
              ))}
            </LineChart>
          </ResponsiveContainer>
        )}
      </div>
    </figure>
  );
}

function rowsPer(n: number): string {
  return `${formatNumber(n, 2)} ${n === 1 ? 'row' : 'rows'} per batch`;
}

export function ServiceCharts({ points }: { points: MetricPoint[] }) {
  const last = points.length ? points[points.length - 1] : undefined;
  // A point without requests has no latency: a gap, not a zero. Nor has one in which no request
  // reported a batch (the server sends avg_batch_size 0). Ready replicas are a count that the
  // server carries over quiet intervals, so 0 there is a real 0.
  const rows: Row[] = points.map((p) => ({
    ...(p as unknown as Row),
    time: typeof p.time === 'number' ? p.time : new Date(p.time).getTime(),
    p50_ms: p.requests > 0 ? p.p50_ms : null,
    p99_ms: p.requests > 0 ? p.p99_ms : null,
    avg_batch_size: batchSizeOf(p),
    client_errors: p.client_errors ?? 0,
  }));
  // One axis for all, its ticks as far apart as the charts' width needs (a phone fits fewer).
  const [grid, boxWidth] = useChartBoxWidth();
  const times = rows.map((r) => Number(r.time));
  const axis = timeAxis(times, 5, minTickGap(boxWidth, times.length ? formatClock(times[0]) : ''));
  const lastWithTraffic = [...points].reverse().find((p) => p.requests > 0);
  const batchReported = points.some((p) => batchSizeOf(p) !== undefined);
  const lastBatch = [...points].reverse().map(batchSizeOf).find((b) => b != null);
  return (
    <div className="charts" ref={grid}>
      <Chart axis={axis} title="Requests per second" unit="" rows={rows} summary={last ? `${formatNumber(last.qps, 2)} req/s now` : 'no data yet'}
        series={[{ key: 'qps', name: 'QPS', color: 'var(--c1)' }]} />
      <Chart axis={axis} title="Latency" unit=" ms" rows={rows}
        summary={lastWithTraffic ? `p50 ${formatNumber(lastWithTraffic.p50_ms, 2)} ms · p99 ${formatNumber(lastWithTraffic.p99_ms, 2)} ms` : 'no traffic yet'}
        series={[{ key: 'p50_ms', name: 'p50', color: 'var(--c1)' }, { key: 'p99_ms', name: 'p99', color: 'var(--c2)' }]} />
      <Chart axis={axis} title="Errors" unit="" rows={rows}
        summary={last ? `${last.errors} server (5xx) · ${last.client_errors ?? 0} caller (4xx) in the last interval` : 'no data yet'}
        series={[{ key: 'errors', name: '5xx (server)', color: 'var(--c3)' },
          { key: 'client_errors', name: '4xx (caller)', color: 'var(--c2)' }]} />
      <Chart axis={axis} title="Ready replicas" unit="" rows={rows} integer step
        summary={last?.ready_replicas != null ? `${last.ready_replicas} ready` : last ? 'not reported' : 'no data yet'}
        series={[{ key: 'ready_replicas', name: 'ready replicas', color: 'var(--c4)' }]} />
      <Chart axis={axis} title="Average batch size" unit="" rows={rows}
        summary={lastBatch != null ? rowsPer(lastBatch) : !last ? 'no data yet' : batchReported ? 'no batches yet' : 'not reported'}
        series={[{ key: 'avg_batch_size', name: 'rows per batch', color: 'var(--c5)' }]} />
    </div>
  );
}
