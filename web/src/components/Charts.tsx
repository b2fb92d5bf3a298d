import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatClock, formatNumber } from '../lib/format';
import type { MetricPoint } from '../lib/types';

type Row = Record<string, number | string | null>;
interface Series { key: keyof MetricPoint; name: string; color: string }

function Chart({ title, unit, rows, series, summary }: {
  title: string; unit: string; rows: Row[]; series: Series[]; summary: string;
}) {
  const id = `chart-${title.replace(/\W+/g, '-').toLowerCase()}`;
  const reported = series.some((s) => rows.some((r) => r[s.key] !== undefined));
  // Gaps (no traffic) break lines into short pieces: show dots so single points stay visible.
  const sparse = series.some((s) => rows.filter((r) => r[s.key] != null).length < rows.length);
  return (
    <figure className="chart" aria-labelledby={`${id}-t`}>
      <figcaption id={`${id}-t`}>
        <span>{title}</span>
        <span className="chart-now" data-testid={`${id}-now`}>{summary}</span>
      </figcaption>
      <div className="chart-box" role="img" aria-label={`${title}: ${summary}`}>
        {rows.length > 0 && !reported ? (
          <p className="chart-empty muted small">This server does not report this metric yet.</p>
        ) : (
          <ResponsiveContainer width="100%" height="100%" minWidth={100} minHeight={100}>
            <LineChart data={rows} margin={{ top: 6, right: 8, bottom: 0, left: 0 }}>
              <CartesianGrid stroke="var(--grid)" strokeDasharray="3 3" />
              <XAxis dataKey="time" tickFormatter={formatClock} stroke="var(--muted)" fontSize={11} minTickGap={40} />
              <YAxis stroke="var(--muted)" fontSize={11} allowDecimals unit={unit} width={unit ? 64 : 44} />
              <Tooltip
                labelFormatter={(l) => formatClock(l as string | number)}
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
        )}
      </div>
    </figure>
  );
}

export function ServiceCharts({ points }: { points: MetricPoint[] }) {
  const last = points.length ? points[points.length - 1] : undefined;
  // A point without requests has no latency or batch size: a gap, not a zero.
  const rows: Row[] = points.map((p) => ({
    ...(p as unknown as Row),
    time: typeof p.time === 'number' ? p.time : new Date(p.time).getTime(),
    p50_ms: p.requests > 0 ? p.p50_ms : null,
    p99_ms: p.requests > 0 ? p.p99_ms : null,
    ...(p.avg_batch_size !== undefined ? { avg_batch_size: p.requests > 0 ? p.avg_batch_size : null } : {}),
  }));
  const lastWithTraffic = [...points].reverse().find((p) => p.requests > 0);
  return (
    <div className="charts">
      <Chart title="Requests per second" unit="" rows={rows} summary={last ? `${formatNumber(last.qps, 2)} req/s now` : 'no data yet'}
        series={[{ key: 'qps', name: 'QPS', color: 'var(--c1)' }]} />
      <Chart title="Latency" unit=" ms" rows={rows}
        summary={lastWithTraffic ? `p50 ${formatNumber(lastWithTraffic.p50_ms, 2)} ms · p99 ${formatNumber(lastWithTraffic.p99_ms, 2)} ms` : 'no traffic yet'}
        series={[{ key: 'p50_ms', name: 'p50', color: 'var(--c1)' }, { key: 'p99_ms', name: 'p99', color: 'var(--c2)' }]} />
      <Chart title="Errors" unit="" rows={rows} summary={last ? `${last.errors} in the last interval` : 'no data yet'}
        series={[{ key: 'errors', name: 'errors', color: 'var(--c3)' }]} />
      <Chart title="Ready replicas" unit="" rows={rows}
        summary={last?.ready_replicas !== undefined ? `${last.ready_replicas} ready` : last ? 'not reported' : 'no data yet'}
        series={[{ key: 'ready_replicas', name: 'replicas', color: 'var(--c4)' }]} />
      <Chart title="Average batch size" unit="" rows={rows}
        summary={lastWithTraffic?.avg_batch_size !== undefined ? `${formatNumber(lastWithTraffic.avg_batch_size, 2)} per batch` : lastWithTraffic ? 'not reported' : 'no traffic yet'}
        series={[{ key: 'avg_batch_size', name: 'batch size', color: 'var(--c5)' }]} />
    </div>
  );
}
