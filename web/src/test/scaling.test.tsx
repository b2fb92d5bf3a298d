import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Deploy } from '../pages/Deploy';
import {
  SCALING_DEFAULTS, buildAutoscaling, buildRollout, mergePatchOf, parseSteps, percentToFraction, scalingFromSpec,
} from '../lib/scaling';
import type { ServiceSpec } from '../lib/types';
import { mockFetch, renderAt, type Call } from './helpers';

const addSub = {
  name: 'add-sub', format: 'onnx', size_bytes: 1, sha256: 'x', source: 'upload',
  inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 16] }], outputs: [{ name: 'OUTPUT0', datatype: 'FP32', shape: [-1, 16] }],
  max_batch_size: 32, created_at: '2026-01-01T00:00:00Z',
};

function service(spec: Partial<ServiceSpec> = {}, status = 'Ready') {
  return {
    name: 'add-sub', model: 'add-sub', status, endpoint: 'http://h:8080/v2/models/add-sub/infer', replicas: 1, ready_replicas: 1,
    current_revision: 1, latest_revision: 1, spec: { name: 'add-sub', model: 'add-sub', replicas: 1, ...spec }, created_at: '', updated_at: '',
  };
}

const sent = (calls: Call[], method: string) => calls.filter((c) => c.method === method).map((c) => c.body as Record<string, unknown>);

async function fill(label: string, value: string) {
  const el = screen.getByLabelText(label);
  await userEvent.clear(el);
  if (value) await userEvent.type(el, value);
}

async function openAutoscaling() {
  await userEvent.click(await screen.findByRole('button', { name: 'Autoscaling' }));
  await userEvent.click(screen.getByRole('checkbox', { name: /Scale the replica count with the load/ }));
}

describe('deploy form: autoscaling', () => {
  it('sends autoscaling instead of replicas, with the scale-to-zero settings only at a minimum of 0', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/add-sub': { status: 201, json: service({}, 'Deploying') },
      'GET /api/v1/services/add-sub': { json: service({}, 'Deploying') },
    });
    renderAt(<Deploy />, { route: '/deploy?model=add-sub' });
    const toggle = await screen.findByRole('button', { name: 'Autoscaling' });
    expect(toggle).toHaveAttribute('aria-expanded', 'false');
    await openAutoscaling();
    expect(toggle).toHaveAttribute('aria-expanded', 'true');
    // The replica count is the autoscaler's now.
    expect(screen.queryByLabelText('Replicas')).not.toBeInTheDocument();
    expect(screen.getByTestId('replicas-autoscaled')).toHaveTextContent('Set by the autoscaler');
    // The target follows the metric while it is the default.
    expect(screen.getByLabelText('Target (requests in flight per replica)')).toHaveValue(1);
    await userEvent.selectOptions(screen.getByLabelText('Scale on'), 'rps');
    expect(screen.getByLabelText('Target (requests/s per replica)')).toHaveValue(10);
    expect(screen.queryByLabelText('Scale to zero after (s)')).not.toBeInTheDocument();
    await fill('Min replicas', '0');
    await fill('Max replicas', '4');
    await fill('Scale to zero after (s)', '120');
    await fill('Cold-start timeout (s)', '30');
    expect(screen.getByTestId('autoscaling-summary')).toHaveTextContent('0–4 replicas, 10 requests/s per replica, scales to zero');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(sent(calls, 'PUT')).toHaveLength(1));
    const body = sent(calls, 'PUT')[0];
    expect(body.replicas).toBeUndefined();
    expect(body.rollout).toBeUndefined();
    expect(body.autoscaling).toEqual({
      metric: 'rps', target: 10, min_replicas: 0, max_replicas: 4, scale_to_zero_after_s: 120, cold_start_timeout_s: 30,
    });

    // Above 0 the scale-to-zero settings are neither shown nor sent (the server refuses them there).
    await fill('Min replicas', '2');
    await fill('Target (requests/s per replica)', '2.5');
    expect(screen.queryByLabelText('Cold-start timeout (s)')).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(sent(calls, 'PUT')).toHaveLength(2));
    expect(sent(calls, 'PUT')[1].autoscaling).toEqual({ metric: 'rps', target: 2.5, min_replicas: 2, max_replicas: 4 });
  });

  it('checks the server\'s ranges, says what is wrong, and sends nothing', async () => {
    const calls = mockFetch({ 'GET /api/v1/models': { items: [addSub] }, 'GET /api/v1/services': { items: [] } });
    renderAt(<Deploy />, { route: '/deploy?model=add-sub' });
    await openAutoscaling();
    await fill('Target (requests in flight per replica)', '0');
    await fill('Min replicas', '65');
    await fill('Max replicas', '0');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByText('Min replicas: must be between 0 and 64.')).toBeInTheDocument();
    expect(screen.getByText('Max replicas: must be between 1 and 64.')).toBeInTheDocument();
    expect(screen.getByText(/^Target: the requests in flight one replica should carry, a number above 0/)).toBeInTheDocument();
    expect(screen.getByLabelText('Min replicas')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Min replicas')).toHaveAccessibleDescription(expect.stringContaining('must be between 0 and 64'));

    await fill('Target (requests in flight per replica)', '4');
    await fill('Min replicas', '5');
    await fill('Max replicas', '3');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByText('Max replicas: must be at least the min replicas (5).')).toBeInTheDocument();

    await fill('Min replicas', '0');
    await fill('Max replicas', '3');
    await fill('Scale to zero after (s)', '0');
    await fill('Cold-start timeout (s)', '3601');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByText('Scale to zero after: must be between 1 and 86400.')).toBeInTheDocument();
    expect(screen.getByText('Cold-start timeout: must be between 1 and 3600.')).toBeInTheDocument();
    expect(screen.queryByText(/Max replicas:/)).not.toBeInTheDocument();

    // Folded, a section whose check fails opens again to show why, with the field focused.
    await userEvent.click(screen.getByRole('button', { name: 'Autoscaling' }));
    expect(screen.getByRole('button', { name: 'Autoscaling' })).toHaveAttribute('aria-expanded', 'false');
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Autoscaling' })).toHaveAttribute('aria-expanded', 'true'));
    await waitFor(() => expect(screen.getByLabelText('Scale to zero after (s)')).toHaveFocus());
    expect(calls.filter((c) => c.method === 'PUT' || c.method === 'PATCH')).toHaveLength(0);
  });

  it('shows the server\'s 400 in its own words', async () => {
    mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services': { items: [] },
      'PUT /api/v1/services/add-sub': { status: 400, json: { error: 'spec.autoscaling.max_replicas: 3 is below min_replicas (5)' } },
    });
    renderAt(<Deploy />, { route: '/deploy?model=add-sub' });
    await openAutoscaling();
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Not deployed: spec.autoscaling.max_replicas: 3 is below min_replicas (5)');
  });

  it('starts an update from the service\'s autoscaling and sends back what the form does not show', async () => {
    const autoscaling = {
      metric: 'concurrency' as const, target: 4, min_replicas: 0, max_replicas: 6, window_s: 120, scale_down_delay_s: 0,
      scale_to_zero_after_s: 300, cold_start_timeout_s: 20,
    };
    const calls = mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services/add-sub': { json: service({ autoscaling }) },
      'PUT /api/v1/services/add-sub': { json: service({ autoscaling }) },
    });
    renderAt(<Deploy />, { route: '/deploy?service=add-sub' });
    // A service that autoscales opens the section.
    await waitFor(() => expect(screen.getByRole('button', { name: 'Autoscaling' })).toHaveAttribute('aria-expanded', 'true'));
    expect(screen.getByLabelText('Min replicas')).toHaveValue(0);
    expect(screen.getByLabelText('Scale to zero after (s)')).toHaveValue(300);
    await userEvent.click(screen.getByRole('button', { name: 'Update service' }));
    await waitFor(() => expect(sent(calls, 'PUT')).toHaveLength(1));
    // The window is not the default: it goes back as it was; the default delay is left out.
    expect(sent(calls, 'PUT')[0].autoscaling).toEqual({
      metric: 'concurrency', target: 4, min_replicas: 0, max_replicas: 6, window_s: 120, scale_to_zero_after_s: 300, cold_start_timeout_s: 20,
    });
  });

  it('the blank form on a service that exists: a fixed count removes its autoscaling', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services': { items: [service({ autoscaling: { min_replicas: 0, max_replicas: 3 } })] },
      'PATCH /api/v1/services/add-sub': { json: service() },
      'GET /api/v1/services/add-sub': { json: service() },
    });
    renderAt(<Deploy />, { route: '/deploy?model=add-sub' });
    await screen.findByRole('button', { name: 'Canary' });
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }));
    await waitFor(() => expect(sent(calls, 'PATCH')).toHaveLength(1));
    const patch = sent(calls, 'PATCH')[0];
    expect(patch.replicas).toBe(1);
    expect(patch).toHaveProperty('autoscaling', null);
    // The canary was not asked for: the service keeps its own setting.
    expect(patch).not.toHaveProperty('rollout');
  });
});

describe('deploy form: canary', () => {
  it('is offered for a service that exists, not for a new one', async () => {
    mockFetch({
      'GET /api/v1/models': { items: [addSub, { ...addSub, name: 'other' }] },
      'GET /api/v1/services': { items: [service()] },
    });
    renderAt(<Deploy />, { route: '/deploy?model=other' });
    const name = await screen.findByLabelText('Service name');
    await waitFor(() => expect(name).toHaveValue('other'));
    expect(screen.queryByRole('button', { name: 'Canary' })).not.toBeInTheDocument();
    await userEvent.clear(name);
    await userEvent.type(name, 'add-sub');
    expect(await screen.findByRole('button', { name: 'Canary' })).toHaveAttribute('aria-expanded', 'false');
    expect(screen.getByTestId('canary-summary')).toHaveTextContent('Off: a new revision takes all the traffic');
  });

  it('sends the steps, the interval and the gates, the error rate as a fraction', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services/add-sub': { json: service() },
      'PUT /api/v1/services/add-sub': { json: service() },
    });
    renderAt(<Deploy />, { route: '/deploy?service=add-sub' });
    await userEvent.click(await screen.findByRole('button', { name: 'Canary' }));
    await userEvent.click(screen.getByRole('checkbox', { name: /Roll each new revision out as a canary/ }));
    expect(screen.getByLabelText('Traffic steps (%)')).toHaveValue('10, 25, 50');
    expect(screen.getByLabelText('Step interval (s)')).toHaveValue(30);
    await fill('Max error rate (%)', '1.1');
    await fill('Max p99 latency (ms)', '250');
    expect(screen.getByTestId('canary-summary')).toHaveTextContent('10% → 25% → 50% → 100%, every 30 s');
    await userEvent.click(screen.getByRole('button', { name: 'Update service' }));
    await waitFor(() => expect(sent(calls, 'PUT')).toHaveLength(1));
    expect(sent(calls, 'PUT')[0].rollout).toEqual({
      steps: [10, 25, 50], interval_s: 30, max_error_rate: 0.011, max_p99_ms: 250, min_requests: 20,
    });
    expect(sent(calls, 'PUT')[0].replicas).toBe(1);
  });

  it('checks the steps, and a manual interval sends no gates', async () => {
    const calls = mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services/add-sub': { json: service() },
      'PUT /api/v1/services/add-sub': { json: service() },
    });
    renderAt(<Deploy />, { route: '/deploy?service=add-sub' });
    await userEvent.click(await screen.findByRole('button', { name: 'Canary' }));
    await userEvent.click(screen.getByRole('checkbox', { name: /Roll each new revision out as a canary/ }));
    const submit = screen.getByRole('button', { name: 'Update service' });
    for (const [steps, message] of [
      ['', 'Steps: give at least one percentage of the traffic, e.g. 10, 25, 50.'],
      ['10, 2.5', "Steps: '2.5' is not a whole number."],
      ['10, 100', 'Steps: 100 is not between 1 and 99 (after the last step the new revision takes all the traffic).'],
      ['50, 25', 'Steps: each step must be above the one before (25 comes after 50).'],
      ['10 10', 'Steps: each step must be above the one before (10 comes after 10).'],
    ]) {
      await fill('Traffic steps (%)', steps);
      await userEvent.click(submit);
      expect(await screen.findByText(message)).toBeInTheDocument();
    }
    await fill('Traffic steps (%)', Array.from({ length: 21 }, (_, i) => i + 1).join(', '));
    await userEvent.click(submit);
    expect(await screen.findByText('Steps: at most 20.')).toBeInTheDocument();
    await fill('Traffic steps (%)', '20%, 60%');
    await fill('Max error rate (%)', '100');
    await fill('Min requests', '0');
    await userEvent.click(submit);
    expect(await screen.findByText('Max error rate: a percentage from 0 to below 100, or empty for no gate.')).toBeInTheDocument();
    expect(screen.getByText('Min requests: must be between 1 and 1000000.')).toBeInTheDocument();
    await fill('Max error rate (%)', '5');
    await fill('Min requests', '50');
    for (const interval of ['-1', '3', '86401']) {
      await fill('Step interval (s)', interval);
      await userEvent.click(submit);
      expect(await screen.findByText(/^Step interval: 0 \(manual\) or from 5 to 86400 seconds/)).toBeInTheDocument();
    }
    expect(sent(calls, 'PUT')).toHaveLength(0);

    // Manual: the gates are not shown, and not sent.
    await fill('Step interval (s)', '0');
    expect(screen.queryByLabelText('Max error rate (%)')).not.toBeInTheDocument();
    expect(screen.getByTestId('canary-summary')).toHaveTextContent('20% → 60% → 100%, waits for Promote');
    await userEvent.click(submit);
    await waitFor(() => expect(sent(calls, 'PUT')).toHaveLength(1));
    expect(sent(calls, 'PUT')[0].rollout).toEqual({ steps: [20, 60], interval_s: 0 });
  });

  it('after the update, says the new revision rolls out as a canary and where to follow it, or that it was halted', async () => {
    const rollout = { steps: [10, 50], interval_s: 0 };
    const status = {
      revision: 2, stable_revision: 1, phase: 'waiting', weight: 10, step: 0, steps: [10, 50], interval_s: 0,
      next_step_at: null, last_check: null, message: 'step 1 of 2: 10% of the traffic; berth rollout promote moves it on',
    };
    let phase = 'waiting';
    const rolling = () => ({ ...service({ rollout }), current_revision: 1, latest_revision: 2, rollout_status: { ...status, phase } });
    mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services/add-sub': () => ({ json: rolling() }),
      'PUT /api/v1/services/add-sub': () => ({ json: rolling() }),
    });
    renderAt(<Deploy />, { route: '/deploy?service=add-sub' });
    await userEvent.click(await screen.findByRole('button', { name: 'Update service' }));
    expect(await screen.findByRole('heading', { name: 'add-sub: revision 2 is rolling out as a canary' })).toBeInTheDocument();
    expect(screen.getByTestId('deploy-canary')).toHaveTextContent('waiting 10% of the traffic — step 1 of 2');
    expect(screen.getByRole('link', { name: 'Follow the rollout' })).toHaveAttribute('href', '/service/add-sub');
    phase = 'halted';
    expect(await screen.findByRole('heading', { name: 'add-sub: the canary of revision 2 was halted' }, { timeout: 5000 })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('Revision 1 keeps the traffic');
  });

  it('starts an update from the service\'s rollout, the error rate as a percentage', async () => {
    const rollout = { steps: [5, 50], interval_s: 60, max_error_rate: 0.042, min_requests: 100 };
    const calls = mockFetch({
      'GET /api/v1/models': { items: [addSub] },
      'GET /api/v1/services/add-sub': { json: service({ rollout }) },
      'PUT /api/v1/services/add-sub': { json: service({ rollout }) },
    });
    renderAt(<Deploy />, { route: '/deploy?service=add-sub' });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Canary' })).toHaveAttribute('aria-expanded', 'true'));
    const canary = screen.getByRole('region', { name: 'Canary' });
    expect(within(canary).getByLabelText('Traffic steps (%)')).toHaveValue('5, 50');
    expect(within(canary).getByLabelText('Max error rate (%)')).toHaveValue(4.2);
    expect(within(canary).getByLabelText('Max p99 latency (ms)')).toHaveValue(null);
    await userEvent.click(screen.getByRole('button', { name: 'Update service' }));
    await waitFor(() => expect(sent(calls, 'PUT')).toHaveLength(1));
    expect(sent(calls, 'PUT')[0].rollout).toEqual(rollout);
  });
});

describe('scaling settings', () => {
  it('parses steps with commas, spaces and percent signs', () => {
    expect(parseSteps('10, 25,50')).toEqual({ steps: [10, 25, 50] });
    expect(parseSteps(' 5% 95% ')).toEqual({ steps: [5, 95] });
    expect(parseSteps('0')).toHaveProperty('error');
  });

  it('turns percentages into fractions without a float tail', () => {
    expect(percentToFraction(1.1)).toBe(0.011);
    expect(percentToFraction(4.2)).toBe(0.042);
    expect(scalingFromSpec({ name: 'x', model: 'x', rollout: { steps: [10], interval_s: 5, max_error_rate: 0.07 } }).canaryMaxErrorPct).toBe('7');
  });

  it('round-trips a spec through the form', () => {
    const spec: ServiceSpec = {
      name: 'x', model: 'x',
      autoscaling: { metric: 'rps', target: 20, min_replicas: 1, max_replicas: 8, window_s: 60, scale_down_delay_s: 30 },
      rollout: { steps: [10, 50], interval_s: 30, max_p99_ms: 250 },
    };
    const f = scalingFromSpec(spec);
    expect(buildAutoscaling(f)).toEqual({ metric: 'rps', target: 20, min_replicas: 1, max_replicas: 8, scale_down_delay_s: 30 });
    expect(buildRollout(f)).toEqual({ steps: [10, 50], interval_s: 30, max_p99_ms: 250 });
    expect(scalingFromSpec(undefined)).toEqual(SCALING_DEFAULTS);
  });

  it('a merge patch removes what the form left out of the objects it sends', () => {
    expect(mergePatchOf({ name: 'x', model: 'x', replicas: 2 })).toEqual({ name: 'x', model: 'x', replicas: 2, autoscaling: null });
    expect(mergePatchOf({ name: 'x', model: 'x', autoscaling: { min_replicas: 1, max_replicas: 3 }, rollout: { steps: [10], interval_s: 0 } })).toEqual({
      name: 'x', model: 'x',
      autoscaling: { min_replicas: 1, max_replicas: 3, scale_to_zero_after_s: null, cold_start_timeout_s: null },
      rollout: { steps: [10], interval_s: 0, max_error_rate: null, max_p99_ms: null, min_requests: null },
    });
    const toZero = { min_replicas: 0, max_replicas: 3, scale_to_zero_after_s: 60, cold_start_timeout_s: 60 };
    expect(mergePatchOf({ name: 'x', model: 'x', autoscaling: toZero }).autoscaling).toEqual(toZero);
  });
});
