import { useEffect } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../lib/api';
import { formatClock, formatNumber, relativeTime } from '../lib/format';
import { canaryShare, fractionToPercent, rolloutActive } from '../lib/scaling';
import { Gate, useCan } from '../lib/session';
import type { RolloutFigures, RolloutStatus, Service } from '../lib/types';
import { ConfirmButton, ErrorBox, useNow } from './ui';

const PHASE_BADGE: Record<string, string> = {
  starting: 'progress', progressing: 'progress', promoting: 'progress', waiting: 'warn', paused: 'warn',
  promoted: 'ok', halted: 'bad', aborting: 'muted', aborted: 'muted',
};

const PHASE_TEXT: Record<string, string> = {
  starting: 'The new revision gets its share once a replica of it is ready.',
  progressing: 'The steps advance when the gates pass.',
  waiting: 'Waiting for Promote or Abort.',
  paused: 'The weights were set by hand; the steps wait.',
  promoting: 'The new revision is getting the full replica count and all the traffic.',
  promoted: 'The new revision serves all the traffic.',
  halted: 'Stopped: the traffic went back to the stable revision.',
  aborting: 'Aborting: the traffic goes back to the stable revision.',
  aborted: 'Aborted: the traffic went back to the stable revision.',
};

const percent = (fraction: number) => `${formatNumber(fractionToPercent(fraction), 2)}%`;
const ms = (v: number) => `${formatNumber(v, 1)} ms`;

/** Stable and canary shares side by side. */
function WeightsBar({ r, canary }: { r: RolloutStatus; canary: number }) {
  const stable = 100 - canary;
  return (
    <div className="weights" data-testid="rollout-weights">
      <div className="weights-bar" aria-hidden="true">
        <span className="weights-stable" style={{ width: `${stable}%` }} />
        <span className="weights-canary" style={{ width: `${canary}%` }} />
      </div>
      <div className="weights-legend">
        <span data-testid="weight-stable"><i className="swatch swatch-stable" aria-hidden="true" />Revision {r.stable_revision} (stable) <strong>{stable}%</strong></span>
        <span data-testid="weight-canary"><i className="swatch swatch-canary" aria-hidden="true" />Revision {r.revision} (canary) <strong>{canary}%</strong></span>
      </div>
    </div>
  );
}

/** The steps, then all of the traffic, with the one in progress marked. */
function StepsTrack({ r }: { r: RolloutStatus }) {
  const stopped = r.phase === 'halted' || r.phase === 'aborted' || r.phase === 'aborting';
  const last = r.steps.length; // the index of the full promotion
  const current = r.phase === 'promoting' ? last : r.phase === 'promoted' ? last + 1 : r.step;
  const label = (state: string) => ({ done: 'done', current: 'in progress', stopped: 'stopped here', todo: 'to come' })[state];
  return (
    <ol className="steps" aria-label="Rollout steps" data-testid="rollout-steps">
      {[...r.steps, 100].map((w, i) => {
        const state = i < current ? 'done' : i === current ? (stopped ? 'stopped' : 'current') : 'todo';
        return (
          <li key={i} className={`step step-${state}`} aria-current={state === 'current' ? 'step' : undefined} data-state={state}>
            <span className="step-weight">{w}%</span>
            <span className="sr-only"> ({label(state)})</span>
          </li>
        );
      })}
    </ol>
  );
}

/** The gates and the last check's figures for both revisions; a canary figure over its gate is marked. */
function Checks({ r }: { r: RolloutStatus }) {
  const g = r.gates ?? {};
  const c = r.last_check;
  const rows: { label: string; gate: string; key: keyof RolloutFigures; show: (v: number) => string; over?: (v: number) => boolean }[] = [
    { label: 'Requests', gate: g.min_requests != null ? `≥ ${g.min_requests}` : '—', key: 'requests', show: (v) => formatNumber(v, 0) },
    {
      label: 'Error rate', gate: g.max_error_rate != null ? `≤ ${percent(g.max_error_rate)}` : '—', key: 'error_rate', show: percent,
      over: g.max_error_rate != null ? (v) => v > g.max_error_rate! : undefined,
    },
    {
      label: 'p99 latency', gate: g.max_p99_ms != null ? `≤ ${ms(g.max_p99_ms)}` : '—', key: 'p99_ms', show: ms,
      over: g.max_p99_ms != null ? (v) => v > g.max_p99_ms! : undefined,
    },
  ];
  return (
    <div className="table-wrap">
      <table className="compact rollout-checks" data-testid="rollout-checks">
        <caption>
          {c ? (
            <>
              Last check{c.at ? ` at ${formatClock(c.at)}` : ''}:{' '}
              {c.passed == null
                ? <span className="badge badge-muted">too few requests</span>
                : <span className={`badge badge-${c.passed ? 'ok' : 'bad'}`}>{c.passed ? 'passed' : 'failed'}</span>}
            </>
          ) : 'No check yet'}
        </caption>
        <thead>
          <tr>
            <th scope="col"><span className="sr-only">Figure</span></th><th scope="col">Gate</th>
            <th scope="col" className="num">Canary (rev. {r.revision})</th><th scope="col" className="num">Stable (rev. {r.stable_revision})</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const canary = c?.canary[row.key];
            const bad = canary != null && row.over?.(canary);
            return (
              <tr key={row.key}>
                <th scope="row">{row.label}</th>
                <td>{row.gate}</td>
                <td className={`num${bad ? ' gate-fail' : ''}`}>{canary != null ? row.show(canary) : '—'}{bad && <span className="sr-only"> (over the gate)</span>}</td>
                <td className="num">{c ? row.show(c.stable[row.key]) : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A service's canary rollout (`rollout_status`): the traffic split, the phase, the steps, the
 * gates against the last check, and Promote / Abort while it is in progress. The split is the
 * revisions' `traffic_percent` when the revisions list has both (the same figures as the
 * Revisions tab), else what the rollout's phase and weight imply.
 */
export function RolloutPanel({ service }: { service: Service }) {
  const r = service.rollout_status!;
  const name = service.name;
  const client = useQueryClient();
  const canDeploy = useCan('deploy');
  const now = useNow(1000);
  const revisions = useQuery({ queryKey: ['revisions', name], queryFn: () => api.revisions(name), refetchInterval: 3000 });
  const find = (n: number) => revisions.data?.items.find((x) => x.number === n)?.traffic_percent;
  const routedCanary = find(r.revision);
  const routedStable = find(r.stable_revision);
  const canary = routedCanary != null && routedStable != null && routedCanary + routedStable === 100 ? routedCanary : canaryShare(r);
  // A move of the rollout changes the split: read the revisions' shares again at once.
  useEffect(() => {
    client.invalidateQueries({ queryKey: ['revisions', name] });
  }, [client, name, r.phase, r.step, r.weight]);

  const done = (next: RolloutStatus) => {
    client.setQueryData<Service>(['service', name], (old) => (old ? { ...old, rollout_status: next } : old));
    client.invalidateQueries({ queryKey: ['service', name] });
    client.invalidateQueries({ queryKey: ['revisions', name] });
  };
  const promote = useMutation({ mutationFn: () => api.promoteRollout(name), onSuccess: done });
  const abort = useMutation({ mutationFn: () => api.abortRollout(name), onSuccess: done });
  const active = rolloutActive(r);
  const timed = r.interval_s > 0;

  return (
    <section className="card rollout" aria-labelledby="rollout-title" data-testid="rollout">
      <div className="section-head">
        <h2 id="rollout-title">
          Rollout of revision {r.revision} <span className={`badge badge-${PHASE_BADGE[r.phase] ?? 'muted'}`} data-testid="rollout-phase">{r.phase}</span>
        </h2>
        {active && (
          <div className="row">
            <Gate action={canDeploy} label="Promote">
              <ConfirmButton className="btn btn-primary" label="Promote" confirmLabel="Promote"
                question={`Give revision ${r.revision} all of the traffic? It gets the full replica count first.`}
                busy={promote.isPending} disabled={abort.isPending} onConfirm={() => { abort.reset(); promote.mutate(); }} />
            </Gate>
            <Gate action={canDeploy} label="Abort" className="btn btn-danger">
              <ConfirmButton className="btn btn-danger" label="Abort" confirmLabel="Abort rollout"
                question={`Send all the traffic back to revision ${r.stable_revision} and drain revision ${r.revision}?`}
                busy={abort.isPending} disabled={promote.isPending} onConfirm={() => { promote.reset(); abort.mutate(); }} />
            </Gate>
          </div>
        )}
      </div>
      <WeightsBar r={r} canary={canary} />
      <StepsTrack r={r} />
      <p className="small muted" data-testid="rollout-timing">
        {PHASE_TEXT[r.phase] ?? ''}{' '}
        {timed ? `Steps every ${r.interval_s} s` : 'Manual: Promote gives it all the traffic'}
        {r.step_started_at && active ? `; this step started ${relativeTime(r.step_started_at, now)}` : ''}
        {r.next_step_at && active ? `; next check at ${formatClock(r.next_step_at)} (${relativeTime(r.next_step_at, now)})` : ''}.
      </p>
      {r.message && (
        <p className={`alert ${r.phase === 'halted' ? 'alert-error' : 'alert-info'}`} data-testid="rollout-message">{r.message}</p>
      )}
      <ErrorBox error={promote.error} title="Not promoted" />
      <ErrorBox error={abort.error} title="Not aborted" />
      {(timed || r.last_check) && <Checks r={r} />}
    </section>
  );
}
