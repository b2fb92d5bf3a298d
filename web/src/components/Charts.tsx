import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatClock, formatNumber } from '../lib/format';
import type { MetricPoint } from '../lib/types';

interface Series { key: keyof MetricPoint; name: string; color: string }

function Chart({ title, unit, points, series, summary }: {
  title: string; unit: string; points: MetricPoint[]; series: Series[]; summary: string;
}) {
  const id = `chart-${title.replace(/\W+/g, '-').toLowerCase()}`;
  // Gaps (no traffic) break lines into short pieces: show dots so single points stay visible.
  const sparse = series.some((s) => points.filter((p) => p[s.key] != null).length < points.length);
  return (
    <figure className="chart" aria-labelledby={`${id}-t`}>
      <figcaption id={`${id}-t`}>
        <span>{title}</span>
        <span className="chart-now" data-testid={`${id}-now`}>{summary}</span>
      </figcaption>
      <div className="chart-box" role="img" aria-label={`${title}: ${summary}`}>
        <ResponsiveContainer width="100%" height="100%" minWidth={100} minHeight={100}>
          <LineChart data={points} margin={{ top: 6, right: 8, bottom: 0, left: -12 }}>
            <CartesianGrid stroke="var(--grid)" strokeDasharray="3 3" />
            <XAxis dataKey="time" tickFormatter={formatClock} stroke="var(--muted)" fontSize={11} minTickGap={40} />
            <YAxis stroke="var(--muted)" fontSize={11} allowDecimals unit={unit} width={56} />
            <Tooltip
              labelFormatter={(l) => formatClock(String(l))}
              formatter={(v) => `${formatNumber(Number(v), 2)}${unit}`}
              contentStyle={{ background: 'var(--surface)', border: '1px solid var(--border)', color: 'var(--text)' }}
            />
            {series.length > 1 && <Legend wrapperStyle={{ fontSize: 12 }} />}
            {series.map((s) => (
              <Line key={s.key} type="monotone" dataKey={s.key} name={s.name} stroke={s.color}
                dot={sparse ? { r: 2.5, fill: s.color, strokeWidth: 0 } : false}
                strokeWidth={2} isAnimationActive={false} connectNulls={false} />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

export function ServiceCharts({ points }: { points: MetricPoint[] }) {
  const last = points.length ? points[points.length - 1] : undefined;
  // A point with no requests has no meaningful latency: show a gap, not a zero.
  const data = points.map((p) => ({ ...p, p50_ms: p.requests > 0 ? p.p50_ms : null, p99_ms: p.requests > 0 ? p.p99_ms : null,
    avg_batch_size: p.requests > 0 ? p.avg_batch_size : null })) as unknown as MetricPoint[];
  const lastWithTraffic = [...points].reverse().find((p) => p.requests > 0);
  return (
    <div className="charts">
      <Chart title="Requests per second" unit="" points={data} summary={last ? `${formatNumber(last.qps, 2)} req/s now` : 'no data yet'}
        series={[{ key: 'qps', name: 'QPS', color: 'var(--c1)' }]} />
      <Chart title="Latency" unit=" ms" points={data}
        summary={lastWithTraffic ? `p50 ${formatNumber(lastWithTraffic.p50_ms, 2)} ms · p99 ${formatNumber(lastWithTraffic.p99_ms, 2)} ms` : 'no traffic yet'}
        series={[{ key: 'p50_ms', name: 'p50', color: 'var(--c1)' }, { key: 'p99_ms', name: 'p99', color: 'var(--c2)' }]} />
      <Chart title="Errors" unit="" points={data} summary={last ? `${last.errors} in the last interval` : 'no data yet'}
        series={[{ key: 'errors', name: 'errors', color: 'var(--c3)' }]} />
      <Chart title="Ready replicas" unit="" points={data} summary={last ? `${last.ready_replicas} ready` : 'no data yet'}
        series={[{ key: 'ready_replicas', name: 'replicas', color: 'var(--c4)' }]} />
      <Chart title="Average batch size" unit="" points={data}
        summary={lastWithTraffic ? `${formatNumber(lastWithTraffic.avg_batch_size, 2)} per batch` : 'no traffic yet'}
        series={[{ key: 'avg_batch_size', name: 'batch size', color: 'var(--c5)' }]} />
    </div>
  );
}
