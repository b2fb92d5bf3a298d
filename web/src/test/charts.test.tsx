import { beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/react';
import { ServiceCharts, minTickGap, timeAxis } from '../components/Charts';
import ServicePage from '../pages/ServicePage';
import { integerTicks } from '../lib/metrics';
import type { MetricPoint } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

const T0 = Date.parse('2026-01-01T00:01:00Z');

function points(values: Partial<MetricPoint>[]): MetricPoint[] {
  return values.map((v, i) => ({
    time: T0 + i * 5000, requests: 0, errors: 0, qps: 0, p50_ms: 0, p99_ms: 0, ...v,
  }));
}

/** The line of a chart as subpaths of [x, y] vertices (a curve segment counts by its end). */
function line(chart: HTMLElement): [number, number][][] {
  const d = chart.querySelector('.recharts-line-curve')?.getAttribute('d');
  if (!d) return [];
  return d.split('M').filter(Boolean).map((sub) =>
    sub.split(/[LC]/).map((seg) => {
      const nums = seg.split(/[ ,]+/).filter(Boolean).map(Number);
      return [nums[nums.length - 2], nums[nums.length - 1]] as [number, number];
    }));
}

/** The y-axis labels of a chart and where they sit: label → y. */
function yTicks(chart: HTMLElement): Map<string, number> {
  const texts = chart.querySelectorAll('.recharts-yAxis-tick-labels text');
  return new Map([...texts].map((t) => [t.textContent ?? '', Number(t.getAttribute('y'))]));
}

describe('replica and batch-size charts', () => {
  beforeEach(() => {
    // jsdom lays nothing out: give the charts' containers a size so recharts draws them.
    const real = HTMLElement.prototype.getBoundingClientRect;
    vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockImplementation(function (this: HTMLElement) {
      if (!this.classList.contains('recharts-responsive-container')) return real.call(this);
      return { width: 400, height: 180, top: 0, left: 0, right: 400, bottom: 180, x: 0, y: 0, toJSON: () => ({}) } as DOMRect;
    });
  });

  it('shows the callers\' 4xx beside the server\'s 5xx in the Errors chart', () => {
    render(<ServiceCharts points={points([{ requests: 5, errors: 0, client_errors: 2 },
      { requests: 10, errors: 1, client_errors: 4 }])} />);
    const chart = screen.getByTestId('chart-errors');
    expect(chart).toHaveTextContent('1 server (5xx) · 4 caller (4xx) in the last interval');
    expect(chart.querySelectorAll('.recharts-line-curve')).toHaveLength(2);
  });

  it('draws straight segments (no spline overshoot) and the same time ticks on every chart', () => {
    render(<ServiceCharts points={points([{ requests: 5, qps: 1, p50_ms: 1, p99_ms: 9 }, { requests: 1, qps: 0.2, p50_ms: 1, p99_ms: 1 },
      { requests: 9, qps: 1.8, p50_ms: 1, p99_ms: 20 }, { requests: 2, qps: 0.4, p50_ms: 1, p99_ms: 2 }]
      .map((p) => ({ ...p, ready_replicas: 1, avg_batch_size: 1 })))} />);
    const latency = screen.getByTestId('chart-latency');
    const d = latency.querySelector('.recharts-line-curve')!.getAttribute('d')!;
    expect(d).toMatch(/L/);
    expect(d).not.toMatch(/C/);
    const ticksOf = (id: string) => [...screen.getByTestId(id).querySelectorAll('.recharts-xAxis-tick-labels text')].map((t) => t.textContent);
    const qps = ticksOf('chart-requests-per-second');
    expect(qps.length).toBeGreaterThan(1);
    for (const id of ['chart-latency', 'chart-errors', 'chart-ready-replicas', 'chart-average-batch-size']) expect(ticksOf(id)).toEqual(qps);
  });

  it('draws fewer time ticks, the same on every chart, when the charts are narrow', () => {
    // A 5-minute window: five ticks would sit 60 s apart, under 60 px apart on a phone.
    const window5 = points(Array.from({ length: 61 }, () => ({ requests: 5, qps: 1, p50_ms: 1, p99_ms: 2, ready_replicas: 1, avg_batch_size: 1 })));
    const ticksOf = (id: string) => [...screen.getByTestId(id).querySelectorAll('.recharts-xAxis-tick-labels text')].map((t) => t.textContent);
    const ids = ['chart-requests-per-second', 'chart-latency', 'chart-errors', 'chart-ready-replicas', 'chart-average-batch-size'];
    const wide = render(<ServiceCharts points={window5} />);
    const many = ticksOf(ids[0]);
    expect(many.length).toBeGreaterThanOrEqual(4);
    wide.unmount();

    const real = HTMLElement.prototype.getBoundingClientRect;
    vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockImplementation(function (this: HTMLElement) {
      if (!this.classList.contains('recharts-responsive-container') && !this.classList.contains('chart-box')) return real.call(this);
      return { width: 320, height: 180, top: 0, left: 0, right: 320, bottom: 180, x: 0, y: 0, toJSON: () => ({}) } as DOMRect;
    });
    render(<ServiceCharts points={window5} />);
    const few = ticksOf(ids[0]);
    expect(few.length).toBeGreaterThan(1);
    expect(few.length).toBeLessThan(many.length);
    for (const id of ids) expect(ticksOf(id)).toEqual(few);
    // Labels at least a label and a space apart on the narrowest plot (the latency chart's).
    const xs = [...screen.getByTestId('chart-latency').querySelectorAll('.recharts-xAxis-tick-labels text')].map((t) => Number(t.getAttribute('x')));
    for (let i = 1; i < xs.length; i++) expect(xs[i] - xs[i - 1]).toBeGreaterThanOrEqual((few[0]!.length + 1) * 11 * 0.6);
  });

  it('spaces the time ticks by what the labels need', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const window5 = Array.from({ length: 60 }, (_, i) => start + i * 5000); // 295 s
    // Unknown width: as many as five ticks, whole 5-second steps.
    expect(minTickGap(undefined, '07:52:50 PM')).toBe(0);
    expect(timeAxis(window5)!.ticks.map((t) => (t - start) / 1000)).toEqual([0, 75, 150, 225]);
    // A phone's chart box (320 px): 11-character labels need a third of the plot.
    const phone = minTickGap(320, '07:52:50 PM');
    expect(phone).toBeCloseTo((12 * 6.6) / (320 - 64 - 24));
    const ticks = timeAxis(window5, 5, phone)!.ticks;
    expect(ticks).toHaveLength(3);
    expect(ticks[1] - ticks[0]).toBeGreaterThanOrEqual(phone * 295_000);
    // Shorter labels fit closer; a wide chart keeps to five at most.
    expect(minTickGap(320, '19:52:50')).toBeLessThan(phone);
    expect(timeAxis(window5, 5, minTickGap(2000, '07:52:50 PM'))!.ticks).toHaveLength(4);
  });

  it('draws the reported replica counts as steps on a whole-number axis', () => {
    const counts = [0, 1, 1, 2, 3, 3, 1];
    render(<ServiceCharts points={points(counts.map((n) => ({ ready_replicas: n })))} />);
    const chart = screen.getByTestId('chart-ready-replicas');
    expect(within(chart).getByTestId('chart-ready-replicas-now')).toHaveTextContent('1 ready');
    expect(within(chart).getByRole('img', { name: 'Ready replicas: 1 ready' })).toBeInTheDocument();

    const ticks = yTicks(chart);
    expect([...ticks.keys()]).toEqual(['0', '1', '2', '3']);
    const [path, ...more] = line(chart);
    expect(more).toHaveLength(0);
    // Steps: every segment is horizontal or vertical; the data points are every other vertex.
    for (let i = 1; i < path.length; i++) {
      const [[x0, y0], [x1, y1]] = [path[i - 1], path[i]];
      expect(x0 === x1 || y0 === y1).toBe(true);
    }
    const drawn = path.filter((_, i) => i % 2 === 0).map(([, y]) => y);
    expect(drawn).toEqual(counts.map((n) => ticks.get(String(n))));
    // A count has no dots for gaps: it has no gaps.
    expect(chart.querySelectorAll('.recharts-line-dot')).toHaveLength(0);
  });

  it('leaves a gap, not a zero, where no request reported a batch', () => {
    const batch = [
      { requests: 0, avg_batch_size: 0 },
      { requests: 10, avg_batch_size: 2 },
      { requests: 10, avg_batch_size: 4 },
      { requests: 3, avg_batch_size: 0 }, // requests that ran in no batch (gRPC only)
      { requests: 0, avg_batch_size: 0 },
      { requests: 10, avg_batch_size: 3 },
      { requests: 10, avg_batch_size: 2.5 },
      { requests: 0, avg_batch_size: 0 },
    ];
    render(<ServiceCharts points={points(batch.map((b) => ({ ...b, ready_replicas: 1 })))} />);
    const chart = screen.getByTestId('chart-average-batch-size');
    // The newest interval had no traffic: the summary is the last batch size reported.
    expect(within(chart).getByTestId('chart-average-batch-size-now')).toHaveTextContent('2.5 rows per batch');

    const zero = yTicks(chart).get('0');
    expect(zero).toBeDefined();
    const pieces = line(chart);
    expect(pieces).toHaveLength(2);
    expect(pieces.map((p) => p.length)).toEqual([2, 2]);
    expect(pieces.flat().every(([, y]) => y < zero!)).toBe(true);
    // Short pieces get dots so that a lone point still shows.
    expect(chart.querySelectorAll('.recharts-line-dot')).toHaveLength(4);
  });

  it('says when there have been no batches yet', () => {
    render(<ServiceCharts points={points([{ ready_replicas: 1, avg_batch_size: 0 }, { ready_replicas: 1, avg_batch_size: 0 }])} />);
    expect(screen.getByTestId('chart-average-batch-size-now')).toHaveTextContent('no batches yet');
    expect(screen.getByTestId('chart-average-batch-size').querySelector('.recharts-line-curve')?.getAttribute('d') ?? '').not.toMatch(/L|C/);
  });

  it('says so when an older server reports neither', () => {
    render(<ServiceCharts points={points([{ requests: 5, qps: 1 }, { requests: 5, qps: 1 }])} />);
    for (const id of ['chart-ready-replicas', 'chart-average-batch-size']) {
      const chart = screen.getByTestId(id);
      expect(chart).toHaveTextContent('This server does not report this metric yet.');
      expect(within(chart).getByTestId(`${id}-now`)).toHaveTextContent('not reported');
      expect(chart.querySelector('.recharts-line-curve')).toBeNull();
    }
    expect(line(screen.getByTestId('chart-requests-per-second'))[0]).toHaveLength(2);
  });

  it('refreshes with the other charts from the service page', async () => {
    let polls = 0;
    mockFetch({
      'GET /api/v1/services/digits': {
        json: {
        name: 'digits', model: 'digits', status: 'Ready', replicas: 2, ready_replicas: 2, current_revision: 1, latest_revision: 1,
        endpoint: 'http://h:8080/services/digits/v1/classify', spec: { name: 'digits', model: 'digits', replicas: 2 },
        created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
        },
      },
      'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
      'GET /api/v1/services/digits/replicas': { items: [] },
      'GET /api/v1/services/digits/metrics': () => {
        const later = ++polls > 1;
        return {
          json: {
            interval_s: 5, points: points([
              { ready_replicas: 1, requests: 4, qps: 0.8, avg_batch_size: 1 },
              { ready_replicas: later ? 2 : 1, requests: 8, qps: 1.6, avg_batch_size: later ? 3.25 : 1 },
            ]),
          },
        };
      },
    });
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    await waitFor(() => expect(screen.getByTestId('chart-ready-replicas-now')).toHaveTextContent('1 ready'));
    expect(screen.getByTestId('chart-average-batch-size-now')).toHaveTextContent('1 row per batch');
    // The next poll (every 3 s) moves both with the QPS chart.
    expect(await screen.findByText('2 ready', undefined, { timeout: 6000 })).toBeInTheDocument();
    expect(screen.getByTestId('chart-average-batch-size-now')).toHaveTextContent('3.25 rows per batch');
    expect(screen.getByTestId('chart-requests-per-second-now')).toHaveTextContent('1.6 req/s now');
    expect(screen.getByTestId('metrics-as-of')).toHaveAttribute('data-stale', 'false');
  });

  it('stops looking live when the metrics cannot be fetched', async () => {
    let down = false;
    mockFetch({
      'GET /api/v1/services/digits': { json: {
        name: 'digits', model: 'digits', status: 'Ready', replicas: 1, ready_replicas: 1, spec: { name: 'digits', model: 'digits' },
        created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
      } },
      'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
      'GET /api/v1/services/digits/replicas': { items: [] },
      'GET /api/v1/services/digits/metrics': () => {
        if (down) throw new TypeError('Failed to fetch');
        down = true;
        return { json: { interval_s: 5, points: points([{ requests: 1, qps: 0.2 }]) } };
      },
    });
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const asOf = await screen.findByTestId('metrics-as-of');
    expect(asOf).toHaveTextContent(/^data as of \S+/);
    await waitFor(() => expect(asOf).toHaveAttribute('data-stale', 'true'), { timeout: 6000 });
    expect(asOf).toHaveTextContent('the server is unreachable');
  });
});

describe('integer ticks', () => {
  it('counts in whole steps from 0, at most six ticks', () => {
    expect(integerTicks(0)).toEqual([0, 1]);
    expect(integerTicks(1)).toEqual([0, 1]);
    expect(integerTicks(3)).toEqual([0, 1, 2, 3]);
    expect(integerTicks(5)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(integerTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(integerTicks(64)).toEqual([0, 20, 40, 60, 80]);
  });
});
