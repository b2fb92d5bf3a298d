import { useEffect, useRef, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { ApiError, api } from '../lib/api';
import { diffSpecs, showValue } from '../lib/diff';
import { formatBytes, formatClock, formatNumber, formatTime, oneLineReason, relativeTime } from '../lib/format';
import { pointsInWindow } from '../lib/metrics';
import { rolloutActive, scaledToZero } from '../lib/scaling';
import { Gate, reasonText, useCan, useCanInvoke } from '../lib/session';
import { servedModel } from '../lib/signature';
import type { BerthEvent, Model, Revision, Service } from '../lib/types';
import { usePageTitle } from '../components/Layout';
import { ServiceCharts } from '../components/Charts';
import { RolloutPanel } from '../components/RolloutPanel';
import { Endpoints, SampleCode } from '../components/SampleCode';
import { TryIt } from '../components/TryIt';
import {
  ConfirmButton, Empty, ErrorBox, Loading, Pagination, StatusBadge, TabPanel, Tabs, useNow, usePage,
} from '../components/ui';

type Tab = 'overview' | 'try' | 'revisions' | 'requests' | 'events' | 'logs' | 'api';
const TABS: { id: Tab; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'try', label: 'Try it' },
  { id: 'revisions', label: 'Revisions' },
  { id: 'requests', label: 'Requests' },
  { id: 'events', label: 'Events' },
  { id: 'logs', label: 'Logs' },
  { id: 'api', label: 'Endpoint & code' },
];

function Replicas({ name, atZero }: { name: string; atZero: boolean }) {
  const q = useQuery({ queryKey: ['replicas', name], queryFn: () => api.replicas(name), refetchInterval: 3000 });
  const now = useNow();
  const items = (q.data?.items ?? []).filter((r) => r.state !== 'Terminated');
  return (
    <section className="card" aria-labelledby="replicas-title">
      <h2 id="replicas-title">Replicas</h2>
      <ErrorBox error={q.error} onRetry={() => q.refetch()} />
      {q.isPending && <Loading />}
      {q.data && items.length === 0 && (
        <Empty title="No replicas running">{atZero ? 'Scaled to zero: the next request starts a replica.' : null}</Empty>
      )}
      {items.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Replica</th><th scope="col">Revision</th><th scope="col">State</th>
                <th scope="col" className="num">Restarts</th><th scope="col">PID</th><th scope="col">Ready since</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={r.id}>
                  <td><code>{r.id}</code></td>
                  <td>{r.revision}</td>
                  <td><StatusBadge status={r.state} />{r.reason && <div className="small muted">{r.reason}</div>}</td>
                  <td className="num">{r.restarts}</td>
                  <td>{r.pid ?? '—'}</td>
                  <td>{r.ready_at ? relativeTime(r.ready_at, now) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** spec.autoscaling and the autoscaler's latest decision (`autoscaler` on the service). */
function Autoscaling({ service }: { service: Service }) {
  const a = service.spec?.autoscaling;
  const d = service.autoscaler;
  if (!a && !d) return null;
  const metric = d?.metric ?? a?.metric ?? 'concurrency';
  const unit = metric === 'rps' ? 'requests/s' : 'requests in flight';
  const min = a?.min_replicas ?? 1;
  return (
    <section className="card" aria-labelledby="autoscaling-title">
      <h2 id="autoscaling-title">Autoscaling</h2>
      <p data-testid="autoscaler">
        {d ? `Autoscaler: ${d.desired_replicas} replica${d.desired_replicas === 1 ? '' : 's'} — ${d.reason}` : 'Autoscaler: no decision yet.'}
        {d?.panicking && <> <span className="badge badge-warn" title="The short window asks for twice the ready replicas: no scale-down until it calms">panicking</span></>}
      </p>
      {a && (
        <dl className="facts" data-testid="autoscaling-settings">
          <dt>Scales on</dt>
          <dd>
            {metric === 'rps' ? 'requests per second' : 'concurrency (requests in flight)'}, target{' '}
            {formatNumber(a.target ?? (metric === 'rps' ? 10 : 1), 2)} per replica
          </dd>
          <dt>Replicas</dt>
          <dd>{min} to {a.max_replicas ?? Math.max(min, 10)}{min === 0 ? ' (scales to zero)' : ''}</dd>
          {d && <><dt>Load</dt><dd>{formatNumber(d.observed, 2)} {unit}, over the window</dd></>}
          <dt>Window</dt>
          <dd>{a.window_s ?? 60} s{a.scale_down_delay_s ? `, scale-down delay ${a.scale_down_delay_s} s` : ''}</dd>
          {min === 0 && (
            <>
              <dt>Scale to zero after</dt><dd>{a.scale_to_zero_after_s ?? 60} s without a request</dd>
              <dt>Cold-start timeout</dt><dd>{a.cold_start_timeout_s ?? 60} s</dd>
            </>
          )}
        </dl>
      )}
    </section>
  );
}

const RANGES = [{ s: 120, label: '2 min' }, { s: 300, label: '5 min' }, { s: 900, label: '15 min' }];

function Metrics({ name, createdAt }: { name: string; createdAt?: string }) {
  const q = useQuery({ queryKey: ['metrics', name], queryFn: () => api.metrics(name), refetchInterval: 3000 });
  const [range, setRange] = useState(300);
  const points = pointsInWindow(q.data?.points ?? [], range, q.data?.interval_s ?? 0, createdAt);
  // A failed refresh keeps the last data on screen: say how old it is and stop looking live.
  const stale = Boolean(q.data) && (q.isError || q.failureCount > 0);
  return (
    <section className="card" aria-labelledby="metrics-title">
      <div className="section-head">
        <h2 id="metrics-title">Live metrics</h2>
        <div className="row">
          {q.data && (
            <span className={`small ${stale ? 'stale-note' : 'muted'}`} data-testid="metrics-as-of" data-stale={stale}>
              data as of {formatClock(q.dataUpdatedAt)}{stale ? ' · the server is unreachable, retrying' : ` · ${q.data.interval_s} s points, refreshes every 3 s`}
            </span>
          )}
          <label htmlFor="metrics-range" className="small">Window</label>
          <select id="metrics-range" value={range} onChange={(e) => setRange(Number(e.target.value))}>
            {RANGES.map((r) => <option key={r.s} value={r.s}>last {r.label}</option>)}
          </select>
        </div>
      </div>
      {!q.data && <ErrorBox error={q.error} onRetry={() => q.refetch()} />}
      <div className={stale ? 'stale' : undefined}><ServiceCharts points={points} /></div>
    </section>
  );
}

function specSummary(r: Revision) {
  const s = r.spec;
  const parts = [
    s.model_version != null ? `${s.model} v${s.model_version}` : s.model,
    s.resources?.cpu != null || s.resources?.memory ? `${s.resources.cpu ?? 'any'} CPU / ${s.resources.memory ?? 'any memory'}` : 'no resource limit',
    s.replicas != null ? `${s.replicas} replica${s.replicas === 1 ? '' : 's'}` : null,
    s.batching?.max_batch_size ? `batch ≤ ${s.batching.max_batch_size}` : null,
    s.batching?.max_queue_delay_us != null ? `delay ${s.batching.max_queue_delay_us} µs` : null,
    s.image?.enabled ? 'image' : null,
    s.inputs?.length ? `declared signature (${s.inputs.length} in, ${s.outputs?.length ?? 0} out)` : null,
  ];
  return parts.filter(Boolean).join(' · ');
}

/** Two revisions side by side: every field of the spec that differs. */
function RevisionDiff({ items, defaultA, defaultB }: { items: Revision[]; defaultA?: number; defaultB?: number }) {
  const [a, setA] = useState<number | undefined>(defaultA);
  const [b, setB] = useState<number | undefined>(defaultB);
  const ra = items.find((r) => r.number === (a ?? defaultA));
  const rb = items.find((r) => r.number === (b ?? defaultB));
  const changes = ra && rb ? diffSpecs(ra.spec, rb.spec) : [];
  return (
    <section className="diff" aria-labelledby="diff-title">
      <h3 id="diff-title">Compare revisions</h3>
      <div className="row">
        <label htmlFor="diff-a" className="small">Revision</label>
        <select id="diff-a" value={ra?.number ?? ''} onChange={(e) => setA(Number(e.target.value))}>
          {items.map((r) => <option key={r.number} value={r.number}>{r.number}</option>)}
        </select>
        <label htmlFor="diff-b" className="small">with revision</label>
        <select id="diff-b" value={rb?.number ?? ''} onChange={(e) => setB(Number(e.target.value))}>
          {items.map((r) => <option key={r.number} value={r.number}>{r.number}</option>)}
        </select>
      </div>
      {ra && rb && (changes.length === 0 ? (
        <p className="small muted" data-testid="diff-none">Revisions {ra.number} and {rb.number} have the same spec.</p>
      ) : (
        <div className="table-wrap">
          <table className="compact" data-testid="revision-diff">
            <caption className="sr-only">Fields that differ between revision {ra.number} and revision {rb.number}</caption>
            <thead>
              <tr><th scope="col">Field</th><th scope="col">Revision {ra.number}</th><th scope="col">Revision {rb.number}</th></tr>
            </thead>
            <tbody>
              {changes.map((c) => (
                <tr key={c.path}>
                  <th scope="row"><code>{c.path}</code></th>
                  <td className="diff-old"><code>{showValue(c.before)}</code></td>
                  <td className="diff-new"><code>{showValue(c.after)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

function Revisions({ service }: { service: Service }) {
  const client = useQueryClient();
  const canDeploy = useCan('deploy');
  const q = useQuery({ queryKey: ['revisions', service.name], queryFn: () => api.revisions(service.name), refetchInterval: 3000 });
  // The revision the rollback made, and the one whose spec it took.
  const [done, setDone] = useState<{ revision?: number; specOf?: number } | null>(null);
  const rollback = useMutation({
    // `chosen`: a revision picked in the list (sent as {"revision": N}); else the server's default.
    mutationFn: ({ specOf, chosen }: { specOf: number | undefined; chosen: boolean }) =>
      api.rollback(service.name, chosen ? specOf : undefined).then((s) => ({ s, specOf })),
    onSuccess: ({ s, specOf }) => {
      setDone({ revision: s.latest_revision, specOf });
      client.invalidateQueries({ queryKey: ['revisions', service.name] });
      client.invalidateQueries({ queryKey: ['service', service.name] });
    },
  });
  const items = [...(q.data?.items ?? [])].sort((a, b) => b.number - a.number);
  const page = usePage(items, 10);
  const current = service.current_revision;
  const previous = items.find((r) => current != null && r.number < current && r.status !== 'Failed');
  const isServing = (r: Revision) => r.serving ?? r.number === current;
  // The revisions of a rollout in progress are marked as the panel above names them.
  const rollout = rolloutActive(service.rollout_status) ? service.rollout_status : null;
  return (
    <section className="card" aria-labelledby="rev-title">
      <div className="section-head">
        <h2 id="rev-title">Revisions</h2>
        <Gate action={canDeploy} label="Roll back">
          <ConfirmButton
            className="btn"
            label={previous ? `Roll back to revision ${previous.number}` : 'Roll back'}
            confirmLabel="Roll back"
            question={`Deploy the spec of the previous revision as a new revision of ${service.name}?`}
            disabled={items.length < 2}
            busy={rollback.isPending}
            onConfirm={() => rollback.mutate({ specOf: previous?.number, chosen: false })}
          />
        </Gate>
      </div>
      <p className="help">
        Each change of the spec is a new revision. A new revision takes traffic once all its replicas are ready; one that
        fails leaves the old one serving. Roll back deploys the spec of the revision before the current one, or of the one you pick.
      </p>
      {done && (
        <p className="alert alert-ok" role="status">
          {done.revision != null && done.revision === current && service.status === 'Ready'
            ? `Rolled back: revision ${done.revision}${done.specOf ? ` serves the spec of revision ${done.specOf}` : ' serves'}.`
            : `Rolling back: revision ${done.revision ?? ''} takes over once its replicas are ready.`}
        </p>
      )}
      <ErrorBox error={rollback.error} title="Not rolled back" />
      <ErrorBox error={q.error} onRetry={() => q.refetch()} />
      {q.isPending && <Loading />}
      {items.length > 0 && (
        <>
          <ol className="revisions" data-testid="revisions">
            {page.slice.map((r) => (
              <li key={r.number} className={isServing(r) ? 'rev current' : 'rev'} data-revision={r.number}>
                <div className="rev-head">
                  <strong>Revision {r.number}</strong>
                  <StatusBadge status={r.status} />
                  {isServing(r) && <span className="chip chip-accent">serving</span>}
                  {rollout && r.number === rollout.revision && <span className="chip" data-testid="rollout-role">canary</span>}
                  {rollout && r.number === rollout.stable_revision && <span className="chip" data-testid="rollout-role">stable</span>}
                  {r.traffic_percent ? (
                    <span className="chip" data-testid="traffic" title="Its share of the service's traffic as the gateway routes it now">
                      {r.traffic_percent}% of traffic
                    </span>
                  ) : null}
                  {r.rollback_of != null && <span className="chip">spec of revision {r.rollback_of}</span>}
                  <span className="muted small">{formatTime(r.created_at)}</span>
                  <span className="spacer" />
                  {!isServing(r) && r.status !== 'Failed' && canDeploy.allowed && (
                    <ConfirmButton
                      className="btn btn-small"
                      label="Roll back to this revision"
                      confirmLabel={`Roll back to revision ${r.number}`}
                      question={`Deploy the spec of revision ${r.number} as a new revision?`}
                      busy={rollback.isPending && rollback.variables?.specOf === r.number}
                      onConfirm={() => rollback.mutate({ specOf: r.number, chosen: true })}
                    />
                  )}
                </div>
                <div className="small">{specSummary(r)}</div>
                {r.reason && <div className="small muted" title={r.reason}>{oneLineReason(r.reason)}</div>}
              </li>
            ))}
          </ol>
          <Pagination {...page} noun="revisions" />
          {items.length > 1 && (
            <RevisionDiff items={items} defaultA={(previous ?? items[1]).number} defaultB={current ?? items[0].number} />
          )}
        </>
      )}
    </section>
  );
}

/** The service's recent requests, newest first, as the gateway recorded them. */
function Requests({ name }: { name: string }) {
  const q = useQuery({ queryKey: ['requests', name], queryFn: () => api.requests(name, 200), refetchInterval: 3000 });
  const items = q.data?.items ?? [];
  const page = usePage(items, 25);
  const missing = q.error instanceof ApiError && q.error.status === 404 && /no route/i.test(q.error.message);
  return (
    <section className="card" aria-labelledby="requests-title">
      <div className="section-head">
        <h2 id="requests-title">Recent requests</h2>
        <span className="small muted">newest first · the last 1000 are kept · refreshes every 3 s</span>
      </div>
      {missing ? <p className="muted">This server does not record requests yet.</p> : <ErrorBox error={q.error} onRetry={() => q.refetch()} />}
      {q.isPending && <Loading />}
      {q.data && items.length === 0 && <Empty title="No requests yet">Calls to the endpoint show up here.</Empty>}
      {items.length > 0 && (
        <>
          <div className="table-wrap scroll-cue" tabIndex={0} role="region" aria-label="Recent requests table">
            <table className="compact nowrap" data-testid="requests">
              <thead>
                <tr>
                  <th scope="col">Time</th><th scope="col">Method</th><th scope="col">Route</th><th scope="col" className="num">Status</th>
                  <th scope="col" className="num">Latency</th><th scope="col" className="num">Revision</th><th scope="col">Replica</th>
                  <th scope="col">Key</th><th scope="col" className="num">In</th><th scope="col" className="num">Out</th>
                </tr>
              </thead>
              <tbody>
                {page.slice.map((r, i) => (
                  <tr key={`${r.time}-${i}`} className={r.status >= 500 ? 'req-bad' : r.status >= 400 ? 'req-warn' : undefined}>
                    <td><time dateTime={r.time} title={formatTime(r.time)}>{formatClock(r.time)}</time></td>
                    <td>{r.protocol === 'grpc' ? 'gRPC' : r.method}</td>
                    <td><code>{r.route}</code></td>
                    <td className="num">{r.status}{r.grpc_code != null ? ` (gRPC ${r.grpc_code})` : ''}</td>
                    <td className="num">{r.latency_ms.toFixed(1)} ms</td>
                    <td className="num">{r.revision}</td>
                    <td><code>{r.replica || '—'}</code></td>
                    <td>{r.key || '—'}</td>
                    <td className="num">{formatBytes(r.bytes_in)}</td>
                    <td className="num">{formatBytes(r.bytes_out)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pagination {...page} noun="requests" />
        </>
      )}
    </section>
  );
}

/** Events arrive oldest first; poll with `after` to get only the new ones. */
function useEvents(name: string) {
  const [events, setEvents] = useState<BerthEvent[]>([]);
  const [error, setError] = useState<unknown>(null);
  const last = useRef<string | number | null>(null);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    last.current = null;
    setEvents([]);
    const tick = async () => {
      try {
        // Drain in pages of 100 so a long history is read completely.
        for (let i = 0; i < 50 && !stop; i++) {
          const page = await api.events(name, last.current, 100);
          if (stop) return;
          if (page.items.length) {
            last.current = page.items[page.items.length - 1].id;
            setEvents((prev) => [...prev, ...page.items]);
          }
          if (page.items.length < 100) break;
        }
        setError(null);
      } catch (e) {
        if (!stop) setError(e);
        if (e instanceof ApiError && e.status === 401) return;
      }
      if (!stop) timer = setTimeout(tick, 3000);
    };
    tick();
    return () => { stop = true; clearTimeout(timer); };
  }, [name]);
  return { events, error };
}

function Events({ name }: { name: string }) {
  const { events, error } = useEvents(name);
  const newest = [...events].reverse();
  const page = usePage(newest, 20);
  return (
    <section className="card" aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      <ErrorBox error={error} />
      {events.length === 0 && !error && <Empty title="No events yet" />}
      {events.length > 0 && (
        <>
          <ol className="timeline" aria-label="Events, newest first">
            {page.slice.map((e) => (
              <li key={e.id} className={`event ev-${/Fail|Crash|Error/i.test(e.reason) ? 'bad' : /Ready|Created|Promoted/i.test(e.reason) ? 'ok' : 'info'}`}>
                <time dateTime={e.time} title={formatTime(e.time)}>{formatClock(e.time)}</time>
                <strong>{e.reason}</strong>
                <span className="muted small">{e.object}</span>
                <span className="event-msg">{e.message}</span>
              </li>
            ))}
          </ol>
          <Pagination {...page} noun="events" />
        </>
      )}
    </section>
  );
}

function Logs({ name }: { name: string }) {
  const replicas = useQuery({ queryKey: ['replicas', name], queryFn: () => api.replicas(name) });
  const [replica, setReplica] = useState<string>('');
  const [tail, setTail] = useState(200);
  const [follow, setFollow] = useState(true);
  const q = useQuery({
    queryKey: ['logs', name, replica, tail],
    queryFn: () => api.logs(name, replica || null, tail),
    refetchInterval: follow ? 3000 : false,
  });
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [q.data, follow]);
  return (
    <section className="card" aria-labelledby="logs-title">
      <div className="section-head">
        <h2 id="logs-title">Logs</h2>
        <div className="row">
          <label htmlFor="log-replica" className="small">Replica</label>
          <select id="log-replica" value={replica} onChange={(e) => setReplica(e.target.value)}>
            <option value="">All replicas</option>
            {(replicas.data?.items ?? []).map((r) => <option key={r.id} value={r.id}>{r.id} ({r.state})</option>)}
          </select>
          <label htmlFor="log-tail" className="small">Lines</label>
          <select id="log-tail" value={tail} onChange={(e) => setTail(Number(e.target.value))}>
            {[100, 200, 500, 1000].map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
          <label className="check small"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow</label>
          <button type="button" className="btn btn-small" onClick={() => q.refetch()}>Refresh</button>
        </div>
      </div>
      <ErrorBox error={q.error} onRetry={() => q.refetch()} />
      <pre ref={pre} className="logs" tabIndex={0} aria-label="Log lines" data-testid="logs">
        {q.isPending ? 'Loading…' : q.data ? q.data : ''}
        {q.data === '' && 'No log lines yet.'}
      </pre>
    </section>
  );
}

export default function ServicePage() {
  const { name = '' } = useParams();
  usePageTitle(name);
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const tab = (TABS.some((t) => t.id === params.get('tab')) ? params.get('tab') : 'overview') as Tab;
  const svc = useQuery({ queryKey: ['service', name], queryFn: () => api.service(name), refetchInterval: 3000 });
  const now = useNow();
  const model = useQuery<Model>({
    queryKey: ['model', svc.data?.model],
    queryFn: () => api.model(svc.data!.model),
    enabled: Boolean(svc.data?.model),
  });
  const del = useMutation({
    mutationFn: () => api.deleteService(name),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: ['services'] });
      navigate('/');
    },
  });
  const setTab = (t: Tab) => setParams(t === 'overview' ? {} : { tab: t }, { replace: true });
  const canDeploy = useCan('deploy');
  const canInvoke = useCanInvoke(name);
  const tabs = TABS.map((t) => (t.id === 'try' && !canInvoke.allowed ? { ...t, disabledReason: reasonText(canInvoke.reason) } : t));
  const s = svc.data;
  const served = servedModel(model.data, s?.spec);
  // The overview shows a rollout while it is in progress, and its end when that came while the
  // page was open (a Promote or Abort pressed here); an older one is on the Revisions tab.
  const rolloutNow = s?.rollout_status;
  const [watched, setWatched] = useState<number | null>(null);
  useEffect(() => {
    if (rolloutNow && rolloutActive(rolloutNow)) setWatched(rolloutNow.revision);
  }, [rolloutNow]);
  const rolloutOnOverview = Boolean(rolloutNow && (rolloutActive(rolloutNow) || watched === rolloutNow.revision));
  const prefix = 'svc';

  if (svc.isPending) return <main className="page" id="main"><h1>{name}</h1><Loading /></main>;
  if (!s) {
    return (
      <main className="page" id="main">
        <h1>{name}</h1>
        <ErrorBox error={svc.error} title="Could not load the service" onRetry={() => svc.refetch()} />
        {svc.error instanceof ApiError && svc.error.status === 404 && <p><Link to="/">Back to the overview</Link></p>}
      </main>
    );
  }

  return (
    <main className="page" id="main">
      <div className="page-head">
        <div>
          <p className="crumbs"><Link to="/">Services</Link> /</p>
          <h1>{s.name} <StatusBadge status={s.status} /></h1>
          <p className="muted small">
            model <Link to="/models">{s.model}</Link>
            {(s.model_version ?? s.spec?.model_version) != null && <span data-testid="served-version"> version {s.model_version ?? s.spec.model_version}</span>}
            {' '}· {scaledToZero(s)
              ? <span data-testid="scaled-to-zero">Scaled to zero — the next request starts a replica</span>
              : `${s.ready_replicas}/${s.replicas} replicas ready`} · revision{' '}
            {s.current_revision ?? '—'}{s.latest_revision != null && s.latest_revision !== s.current_revision ? ` (revision ${s.latest_revision} rolling out)` : ''}
            {' '}· updated {relativeTime(s.updated_at, now)}
          </p>
          {s.reason && s.status !== 'Ready' && <p className="small" title={s.reason}>{oneLineReason(s.reason, 300)}</p>}
        </div>
        <div className="row">
          <Gate action={canDeploy} label="Edit deployment">
            <Link className="btn" to={`/deploy?service=${encodeURIComponent(s.name)}`}>Edit deployment</Link>
          </Gate>
          <Gate action={canDeploy} label="Delete" className="btn btn-danger">
            <ConfirmButton label="Delete" confirmLabel="Delete service" question={`Delete ${s.name}? Its endpoint stops answering.`}
              className="btn btn-danger" busy={del.isPending} onConfirm={() => del.mutate()} />
          </Gate>
        </div>
      </div>
      <ErrorBox error={del.error} title="Not deleted" />
      <ErrorBox error={svc.error} title="Could not refresh" />
      <Tabs label="Service sections" tabs={tabs} value={tab} onChange={setTab} idPrefix={prefix} />
      <TabPanel id="overview" active={tab === 'overview'} idPrefix={prefix}>
        {rolloutOnOverview && <RolloutPanel service={s} />}
        <Metrics name={name} createdAt={s.created_at} />
        <Autoscaling service={s} />
        <Replicas name={name} atZero={scaledToZero(s)} />
      </TabPanel>
      <TabPanel id="try" active={tab === 'try'} idPrefix={prefix}>
        <div className="card">
          {canInvoke.allowed ? <TryIt service={s} model={served} /> : <p className="muted">{reasonText(canInvoke.reason)}</p>}
        </div>
      </TabPanel>
      <TabPanel id="revisions" active={tab === 'revisions'} idPrefix={prefix}>
        {s.rollout_status && <RolloutPanel service={s} />}
        <Revisions service={s} />
      </TabPanel>
      <TabPanel id="requests" active={tab === 'requests'} idPrefix={prefix}>
        <Requests name={name} />
      </TabPanel>
      <TabPanel id="events" active={tab === 'events'} idPrefix={prefix}>
        <Events name={name} />
      </TabPanel>
      <TabPanel id="logs" active={tab === 'logs'} idPrefix={prefix}>
        <Logs name={name} />
      </TabPanel>
      <TabPanel id="api" active={tab === 'api'} idPrefix={prefix}>
        <section className="card">
          <h2>Endpoint</h2>
          <Endpoints service={s} />
          <SampleCode service={s} model={served} />
        </section>
      </TabPanel>
    </main>
  );
}
