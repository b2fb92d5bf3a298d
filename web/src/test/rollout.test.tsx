import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ServicePage from '../pages/ServicePage';
import { Overview } from '../pages/Overview';
import type { RolloutStatus } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

const spec = { name: 'digits', model: 'digits', replicas: 2 };

function service(extra: object = {}) {
  return {
    name: 'digits', model: 'digits', status: 'Ready', replicas: 2, ready_replicas: 2, current_revision: 2, latest_revision: 3,
    endpoint: 'http://h:8080/v2/models/digits/infer', spec, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

const halted: RolloutStatus = {
  revision: 3, stable_revision: 2, phase: 'halted', weight: 10, step: 0, steps: [10, 25, 50], interval_s: 30,
  step_started_at: '2026-12-04T21:00:00.000Z', next_step_at: null,
  gates: { max_error_rate: 0.01, max_p99_ms: 250, min_requests: 20 },
  last_check: { canary: { requests: 412, error_rate: 0.042, p99_ms: 12.5 }, stable: { requests: 3700, error_rate: 0, p99_ms: 9.1 }, passed: false },
  message: 'canary halted: error rate 4.2% > 1% over 412 requests',
};

const progressing: RolloutStatus = {
  ...halted, phase: 'progressing', weight: 25, step: 1, next_step_at: new Date(Date.now() + 20000).toISOString(),
  last_check: { canary: { requests: 300, error_rate: 0.001, p99_ms: 11 }, stable: { requests: 2900, error_rate: 0.002, p99_ms: 9 }, passed: true, at: '2026-12-04T21:00:30.000Z' },
  message: 'step 2 of 3: 25% of the traffic',
};

const revision = (number: number, traffic: number, status = 'Ready') => ({
  number, status, spec, created_at: '2026-01-01T00:00:00Z', traffic_percent: traffic, serving: number === 2,
});

function routes(rollout: RolloutStatus, extra: Record<string, unknown> = {}) {
  return {
    'GET /api/v1/services/digits': { json: service({ rollout_status: rollout }) },
    'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
    'GET /api/v1/services/digits/metrics': { interval_s: 5, points: [] },
    'GET /api/v1/services/digits/replicas': { items: [] },
    ...extra,
  };
}

describe('rollout panel', () => {
  it('shows a halted rollout: all traffic on the stable revision, the failed gate, the message, no buttons', async () => {
    mockFetch(routes(halted, {
      'GET /api/v1/services/digits/revisions': { items: [revision(1, 0, 'Retired'), revision(2, 100), revision(3, 0, 'Failed')] },
    }));
    // A rollout that has ended is shown with the revisions, not on the overview.
    const { unmount } = renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    await screen.findByRole('heading', { name: 'Live metrics' });
    expect(screen.queryByTestId('rollout')).not.toBeInTheDocument();
    unmount();
    renderAt(<ServicePage />, { route: '/service/digits?tab=revisions', path: '/service/:name' });
    const panel = await screen.findByTestId('rollout');
    expect(within(panel).getByRole('heading', { name: /Rollout of revision 3/ })).toBeInTheDocument();
    expect(within(panel).getByTestId('rollout-phase')).toHaveTextContent('halted');
    expect(within(panel).getByTestId('rollout-phase')).toHaveClass('badge-bad');
    expect(within(panel).getByTestId('weight-stable')).toHaveTextContent('Revision 2 (stable) 100%');
    expect(within(panel).getByTestId('weight-canary')).toHaveTextContent('Revision 3 (canary) 0%');
    expect(within(panel).getByTestId('rollout-message')).toHaveTextContent('canary halted: error rate 4.2% > 1% over 412 requests');
    // The step it stopped at.
    const steps = within(panel).getAllByRole('listitem');
    expect(steps.map((s) => s.getAttribute('data-state'))).toEqual(['stopped', 'todo', 'todo', 'todo']);
    expect(steps.map((s) => s.querySelector('.step-weight')!.textContent)).toEqual(['10%', '25%', '50%', '100%']);
    // Gates beside the last check's figures, canary against stable; the failing one is marked.
    const checks = within(panel).getByTestId('rollout-checks');
    expect(within(checks).getByText('Last check:')).toBeInTheDocument();
    expect(within(checks).getByText('failed')).toBeInTheDocument();
    const row = (label: string) => within(checks).getByRole('row', { name: new RegExp(`^${label}`) });
        expect(within(row('Requests')).getAllByRole('cell').map((c) => c.textContent)).toEqual(['≥ 20', '412', '3,700']);
    expect(within(row('Error rate')).getAllByRole('cell').map((c) => c.textContent)).toEqual(['≤ 1%', '4.2% (over the gate)', '0%']);
    expect(within(row('Error rate')).getAllByRole('cell')[1]).toHaveClass('gate-fail');
    expect(within(row('p99 latency')).getAllByRole('cell').map((c) => c.textContent)).toEqual(['≤ 250 ms', '12.5 ms', '9.1 ms']);
    expect(within(panel).queryByRole('button', { name: 'Promote' })).not.toBeInTheDocument();
    expect(within(panel).queryByRole('button', { name: 'Abort' })).not.toBeInTheDocument();
  });

  it('shows a progressing rollout with the split the revisions report, the current step marked', async () => {
    mockFetch(routes(progressing, {
      'GET /api/v1/services/digits/revisions': { items: [revision(3, 25, 'Deploying'), revision(2, 75), revision(1, 0, 'Retired')] },
    }));
    renderAt(<ServicePage />, { route: '/service/digits?tab=revisions', path: '/service/:name' });
    const panel = await screen.findByTestId('rollout');
    expect(within(panel).getByTestId('rollout-phase')).toHaveTextContent('progressing');
    await waitFor(() => expect(within(panel).getByTestId('weight-canary')).toHaveTextContent('Revision 3 (canary) 25%'));
    expect(within(panel).getByTestId('weight-stable')).toHaveTextContent('Revision 2 (stable) 75%');
    const steps = within(panel).getAllByRole('listitem');
    expect(steps.map((s) => s.getAttribute('data-state'))).toEqual(['done', 'current', 'todo', 'todo']);
    expect(steps[1]).toHaveAttribute('aria-current', 'step');
    expect(within(panel).getByTestId('rollout-timing')).toHaveTextContent(/Steps every 30 s; this step started .*; next check at .* \(in 2\d seconds\)/);
    expect(within(within(panel).getByTestId('rollout-checks')).getByText('passed')).toBeInTheDocument();
    expect(within(panel).getByTestId('rollout-checks')).toHaveTextContent(/Last check at \d/);
    // The Revisions tab below says the same shares, and which revision is which.
    const list = screen.getByTestId('revisions');
    const rev = (n: number) => list.querySelector(`[data-revision="${n}"]`) as HTMLElement;
    expect(within(rev(3)).getByTestId('traffic')).toHaveTextContent('25% of traffic');
    expect(within(rev(3)).getByTestId('rollout-role')).toHaveTextContent('canary');
    expect(within(rev(2)).getByTestId('traffic')).toHaveTextContent('75% of traffic');
    expect(within(rev(2)).getByTestId('rollout-role')).toHaveTextContent('stable');
  });

  it('falls back to the rollout\'s weight without the revisions\' shares', async () => {
    mockFetch(routes({ ...progressing, phase: 'waiting', interval_s: 0, next_step_at: null, last_check: null }));
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const panel = await screen.findByTestId('rollout');
    expect(within(panel).getByTestId('weight-canary')).toHaveTextContent('Revision 3 (canary) 25%');
    expect(within(panel).getByTestId('rollout-timing')).toHaveTextContent('Waiting for Promote or Abort. Manual: Promote gives it all the traffic');
    expect(within(panel).queryByTestId('rollout-checks')).not.toBeInTheDocument();
  });

  it('says when the last check had too few requests to judge', async () => {
    mockFetch(routes({ ...progressing, last_check: { ...progressing.last_check!, passed: null } }));
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const checks = await screen.findByTestId('rollout-checks');
    expect(within(checks).getByText('too few requests')).toHaveClass('badge-muted');
  });

  it('promotes and aborts after confirmation, with the console header, and shows a 409 in the server\'s words', async () => {
    let promoted = false;
    const promoting: RolloutStatus = { ...progressing, phase: 'promoting', message: 'promoting revision 3 as asked; it gets the full replica count first' };
    const calls = mockFetch(routes(progressing, {
      'GET /api/v1/services/digits': () => ({ json: service({ rollout_status: promoted ? promoting : progressing }) }),
      'POST /api/v1/services/digits/rollout/promote': () => {
        promoted = true;
        return { json: promoting };
      },
      'POST /api/v1/services/digits/rollout/abort': { status: 409, json: { error: 'no rollout in progress for digits' } },
    }));
    // (the panel stays on the overview when the rollout it showed ends: see the next test)
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const panel = await screen.findByTestId('rollout');
    await userEvent.click(within(panel).getByRole('button', { name: 'Promote' }));
    expect(within(panel).getByRole('group', { name: 'Give revision 3 all of the traffic? It gets the full replica count first.' })).toBeInTheDocument();
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    await userEvent.click(within(panel).getByRole('button', { name: 'Promote' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1));
    const post = calls.find((c) => c.method === 'POST')!;
    expect(post.url).toBe('/api/v1/services/digits/rollout/promote');
    expect(post.headers['X-Berth-Console']).toBe('1');
    // The answer is the new state: promoting, the full promotion marked as the current step.
    await waitFor(() => expect(within(panel).getByTestId('rollout-phase')).toHaveTextContent('promoting'));
    expect(within(panel).getAllByRole('listitem')[3]).toHaveAttribute('aria-current', 'step');
    expect(within(panel).getByTestId('rollout-message')).toHaveTextContent('promoting revision 3 as asked');

    await userEvent.click(within(panel).getByRole('button', { name: 'Abort' }));
    expect(within(panel).getByRole('group', { name: 'Send all the traffic back to revision 2 and drain revision 3?' })).toBeInTheDocument();
    await userEvent.click(within(panel).getByRole('button', { name: 'Abort rollout' }));
    expect(await within(panel).findByRole('alert')).toHaveTextContent('Not aborted: no rollout in progress for digits');
    const abort = calls.filter((c) => c.method === 'POST')[1];
    expect(abort.url).toBe('/api/v1/services/digits/rollout/abort');
    expect(abort.headers['X-Berth-Console']).toBe('1');
  });

  it('keeps showing a rollout on the overview when it ends while the page is open', async () => {
    let done = false;
    mockFetch(routes(progressing, {
      'GET /api/v1/services/digits': () => ({ json: service({ rollout_status: done ? { ...progressing, phase: 'promoted', weight: 100 } : progressing }) }),
      'POST /api/v1/services/digits/rollout/promote': () => {
        done = true;
        return { json: { ...progressing, phase: 'promoting' } };
      },
    }));
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const panel = await screen.findByTestId('rollout');
    await userEvent.click(within(panel).getByRole('button', { name: 'Promote' }));
    await userEvent.click(within(panel).getByRole('button', { name: 'Promote' }));
    await waitFor(() => expect(screen.getByTestId('rollout-phase')).toHaveTextContent('promoted'));
    expect(screen.getByTestId('weight-canary')).toHaveTextContent('100%');
    expect(screen.queryByRole('button', { name: 'Promote' })).not.toBeInTheDocument();
  });

  it('a session without the deploy scope sees Promote and Abort disabled, with the reason', async () => {
    mockFetch(routes(progressing, {
      'GET /api/v1/session': { json: {
        key: { id: 'k9', name: 'ro', scopes: ['read'], prefix: 'brth_ro', created_at: '', expires_at: null, last_used_at: null },
        via: 'session',
        actions: {
          read: { allowed: true },
          deploy: { allowed: false, reason: "the key 'ro' may not upload models or change services (it needs the deploy or admin scope)" },
          manage_keys: { allowed: false, reason: 'no' },
          invoke: { allowed: false, reason: 'no', services: [] },
        },
      } },
    }));
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const panel = await screen.findByTestId('rollout');
    await waitFor(() => expect(within(panel).getByRole('button', { name: 'Promote' })).toBeDisabled());
    expect(within(panel).getByRole('button', { name: 'Abort' })).toBeDisabled();
    expect(within(panel).getByRole('button', { name: 'Promote' })).toHaveAccessibleDescription(expect.stringContaining('deploy or admin scope'));
  });
});

describe('autoscaler on the service page', () => {
  it('shows the autoscaler\'s decision, a panicking badge and the settings', async () => {
    mockFetch({
      'GET /api/v1/services/digits': { json: service({
        latest_revision: 2, replicas: 4, ready_replicas: 2,
        spec: { ...spec, autoscaling: { metric: 'concurrency', target: 2, min_replicas: 1, max_replicas: 8, window_s: 60, scale_down_delay_s: 30 } },
        autoscaler: { desired_replicas: 4, panicking: true, observed: 7.5, metric: 'concurrency', reason: 'panic: concurrency 7.5 over 6 s wants 4' },
      }) },
      'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
      'GET /api/v1/services/digits/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/services/digits/replicas': { items: [] },
    });
    renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    const line = await screen.findByTestId('autoscaler');
    expect(line).toHaveTextContent('Autoscaler: 4 replicas — panic: concurrency 7.5 over 6 s wants 4');
    expect(within(line).getByText('panicking')).toHaveClass('badge-warn');
    const facts = screen.getByTestId('autoscaling-settings');
    expect(facts).toHaveTextContent('concurrency (requests in flight), target 2 per replica');
    expect(facts).toHaveTextContent('1 to 8');
    expect(facts).toHaveTextContent('7.5 requests in flight');
    expect(facts).toHaveTextContent('60 s, scale-down delay 30 s');
    expect(facts).not.toHaveTextContent('Cold-start timeout');
    expect(screen.queryByTestId('scaled-to-zero')).not.toBeInTheDocument();
    expect(screen.getByText(/2\/4 replicas ready/)).toBeInTheDocument();
  });

  it('says a service at zero is scaled to zero rather than 0/0, here and on the overview', async () => {
    const atZero = service({
      latest_revision: 2, replicas: 0, ready_replicas: 0, reason: 'scaled to zero: the next request starts a replica',
      spec: { ...spec, autoscaling: { metric: 'rps', target: 10, min_replicas: 0, max_replicas: 3, scale_to_zero_after_s: 60, cold_start_timeout_s: 30 } },
      autoscaler: { desired_replicas: 0, panicking: false, observed: 0, metric: 'rps', reason: 'idle for 60 s: scaled to zero' },
    });
    mockFetch({
      'GET /api/v1/services/digits': { json: atZero },
      'GET /api/v1/services': { items: [atZero] },
      'GET /api/v1/models/digits': { status: 404, json: { error: 'no' } },
      'GET /api/v1/services/digits/metrics': { interval_s: 5, points: [] },
      'GET /api/v1/services/digits/replicas': { items: [] },
      'GET /api/v1/server': { version: 'x', data_dir: '/d', grpc_port: 1, cpus: 2, memory_bytes: 1, replicas_running: 0 },
    });
    const { unmount } = renderAt(<ServicePage />, { route: '/service/digits', path: '/service/:name' });
    expect(await screen.findByTestId('scaled-to-zero')).toHaveTextContent('Scaled to zero — the next request starts a replica');
    expect(screen.queryByText(/0\/0 replicas/)).not.toBeInTheDocument();
    expect(screen.getByTestId('autoscaler')).not.toHaveTextContent('panicking');
    expect(screen.getByTestId('autoscaling-settings')).toHaveTextContent('0 to 3 (scales to zero)');
    expect(screen.getByTestId('autoscaling-settings')).toHaveTextContent('Cold-start timeout30 s');
    expect(await screen.findByText('Scaled to zero: the next request starts a replica.')).toBeInTheDocument();
    unmount();

    renderAt(<Overview />);
    const row = await screen.findByRole('row', { name: /digits/ });
    expect(within(row).getByText('scaled to zero')).toBeInTheDocument();
  });
});
