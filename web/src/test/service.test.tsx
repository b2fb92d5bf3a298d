import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ServicePage from '../pages/ServicePage';
import { Overview } from '../pages/Overview';
import { pointsInWindow } from '../lib/metrics';
import type { MetricPoint, Revision } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

const spec = (batch: number) => ({ name: 'digits', model: 'digits', replicas: 1, batching: { max_batch_size: batch } });

function service(current: number, latest: number, status = 'Ready') {
  return {
    name: 'digits', model: 'digits', status, replicas: 1, ready_replicas: 1, current_revision: current, latest_revision: latest,
    endpoint: 'http://h:8080/services/digits/v1/classify', spec: spec(8), created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
  };
}

function revision(number: number, batch: number, status: Revision['status'], traffic = status === 'Ready' ? 100 : 0): Revision {
  return { number, status, spec: spec(batch), created_at: '2026-01-01T00:00:00Z', traffic_percent: traffic } as Revision;
}

describe('service page', () => {
  it('rolls back after confirmation and says so once the new revision serves', async () => {
    let rolledBack = false;
    let servicePolls = 0;
    const calls = mockFetch({
      // Revision 3 is still starting on the first poll after the rollback, then serves.
      'GET /api/v1/services/digits': () => ({
        json: !rolledBack ? service(2, 2) : ++servicePolls < 2 ? service(2, 3, 'Deploying') : service(3, 3),
      }),
      'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
      'GET /api/v1/services/digits/revisions': () => ({
        json: { items: rolledBack ? [revision(1, 8, 'Retired'), revision(2, 4, 'Retired'), revision(3, 8, 'Ready')] : [revision(1, 8, 'Retired'), revision(2, 4, 'Ready')] },
      }),
      'POST /api/v1/services/digits/rollback': () => { rolledBack = true; return { json: service(2, 3, 'Deploying') }; },
    });
    renderAt(<ServicePage />, { route: '/service/digits?tab=revisions', path: '/service/:name' });
    await userEvent.click(await screen.findByRole('button', { name: 'Roll back to revision 1' }));
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    await userEvent.click(screen.getByRole('button', { name: 'Roll back' }));
    expect(await screen.findByText('Rolling back: revision 3 takes over once its replicas are ready.')).toBeInTheDocument();
    expect(await screen.findByText('Rolled back: revision 3 serves the spec of revision 1.', undefined, { timeout: 5000 })).toBeInTheDocument();
    const serving = within(screen.getByTestId('revisions')).getByText('serving').closest('li')!;
    expect(serving).toHaveTextContent('Revision 3');
  });

  it('shows each revision\'s share of the traffic, nothing for none', async () => {
    mockFetch({
      'GET /api/v1/services/digits': { json: service(2, 3, 'Deploying') },
      'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
      'GET /api/v1/services/digits/revisions': { items: [
        revision(1, 8, 'Retired'), revision(2, 4, 'Ready', 75), revision(3, 8, 'Deploying', 25),
        // An older server sends no traffic_percent.
        { number: 4, status: 'Failed', spec: spec(2), created_at: '2026-01-01T00:00:00Z' },
      ] },
    });
    renderAt(<ServicePage />, { route: '/service/digits?tab=revisions', path: '/service/:name' });
    const list = await screen.findByTestId('revisions');
    const traffic = (n: number) => within(list.querySelector(`[data-revision="${n}"]`) as HTMLElement).queryByTestId('traffic');
    expect(traffic(2)).toHaveTextContent(/^75% of traffic$/);
    expect(traffic(3)).toHaveTextContent(/^25% of traffic$/);
    expect(traffic(1)).toBeNull();
    expect(traffic(4)).toBeNull();
  });
});

describe('metric window', () => {
  const point = (t: number, requests = 0): MetricPoint => ({ time: t, requests, errors: 0, qps: requests / 5, p50_ms: 1, p99_ms: 2 });
  const created = '2026-01-01T00:10:02Z';
  const born = Date.parse(created);
  const start = Date.parse('2026-01-01T00:00:00Z');
  const points = Array.from({ length: 200 }, (_, i) => point(start + i * 5000, i > 125 ? 10 : 0));

  it('starts at the interval in which the service was created', () => {
    const shown = pointsInWindow(points, 900, 5, created);
    expect(shown[0].time).toBe(born - 2000);
    expect(shown.at(-1)).toBe(points.at(-1));
  });

  it('keeps to the chosen range for an older service', () => {
    const shown = pointsInWindow(points, 120, 5, '2025-12-31T00:00:00Z');
    expect(shown).toHaveLength(24);
    expect(shown.at(-1)).toBe(points.at(-1));
  });
});

describe('overview', () => {
  it('shows the HTTP port the console came from when the server does not report one', async () => {
    mockFetch({
      'GET /api/v1/services': { items: [] },
      'GET /api/v1/server': { version: '0.1.0', data_dir: '/d', grpc_port: 8081, cpus: 2, memory_bytes: 2 ** 30, replicas_running: 0 },
    });
    renderAt(<Overview />);
    const port = window.location.port || '80';
    expect(await screen.findByText(`HTTP ${port} · gRPC 8081`)).toBeInTheDocument();
  });
});
