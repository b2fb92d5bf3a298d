import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router';
import { api } from '../lib/api';
import { formatBytes, formatNumber, oneLineReason, parseMemory } from '../lib/format';
import { Gate, useCan } from '../lib/session';
import { scaledToZero } from '../lib/scaling';
import type { Metrics, Service } from '../lib/types';
import { usePageTitle } from '../components/Layout';
import { Empty, ErrorBox, Loading, Pagination, StatusBadge, usePage } from '../components/ui';

function latest(m: Metrics | undefined) {
  const pts = m?.points ?? [];
  return pts.length ? pts[pts.length - 1] : undefined;
}

/** The port this page was loaded from: the server's HTTP port (or a proxy's in front of it). */
function pagePort(): string {
  const { port, protocol } = window.location;
  return port || (protocol === 'https:' ? '443' : '80');
}

function Meter({ label, used, total, format, note }: {
  label: string; used: number; total: number; format: (n: number) => string; note?: string;
}) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const over = used > total;
  return (
    <div className="meter">
      <div className="meter-label">
        <span>{label}</span>
        <span className="muted">{format(used)} of {format(total)}</span>
      </div>
      {over && (
        <p className="small warn-text" data-testid={`over-${label.split(' ')[0].toLowerCase()}`}>
          Over-committed: services asked for {format(used)}, the machine has {format(total)}. They share it and may run slower.
        </p>
      )}
      {note && <p className="small muted">{note}</p>}
      <div
        className={`bar ${pct > 90 ? 'bar-bad' : pct > 70 ? 'bar-warn' : ''}`}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={used}
        aria-valuetext={`${format(used)} of ${format(total)}`}
      >
        <div className="bar-fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

export function Overview() {
  usePageTitle('Overview');
  const services = useQuery({ queryKey: ['services'], queryFn: api.services, refetchInterval: 5000 });
  const server = useQuery({ queryKey: ['server'], queryFn: api.server, refetchInterval: 10000 });
  const items = services.data?.items ?? [];
  const page = usePage(items, 10);
  const metrics = useQueries({
    queries: page.slice.map((s) => ({
      queryKey: ['metrics', s.name],
      queryFn: () => api.metrics(s.name),
      refetchInterval: 5000,
    })),
  });

  // Only what services asked for: a service without a limit reserves nothing (it shares the machine).
  const reservedCpu = items.reduce((a, s) => a + (s.spec?.resources?.cpu ?? 0) * (s.replicas ?? 0), 0);
  const reservedMem = items.reduce((a, s) => a + (parseMemory(s.spec?.resources?.memory) ?? 0) * (s.replicas ?? 0), 0);
  const unlimited = items.filter((s) => s.spec?.resources?.cpu == null).length;
  const canDeploy = useCan('deploy');
  const navigate = useNavigate();
  const client = useQueryClient();
  const demo = useMutation({
    mutationFn: () => api.createService({ name: 'demo', model: 'digits' }),
    onSuccess: (s) => {
      client.invalidateQueries({ queryKey: ['services'] });
      navigate(`/service/${encodeURIComponent(s.name)}`);
    },
  });

  return (
    <main className="page" id="main">
      <div className="page-head">
        <h1>Overview</h1>
        {canDeploy.allowed && <Link to="/deploy" className="btn btn-primary">Deploy a model</Link>}
      </div>

      <section aria-labelledby="svc-title" className="card">
        <h2 id="svc-title">Services</h2>
        {services.isPending && <Loading />}
        <ErrorBox error={services.error} title="Could not load services" onRetry={() => services.refetch()} />
        {services.data && items.length === 0 && (
          <Empty title="No services yet">
            <p>Deploy the demo model (a digit classifier) in one click, or upload a model of your own and deploy it.</p>
            <p className="row center">
              <Gate action={canDeploy} label="Deploy the demo model" className="btn btn-primary">
                <button type="button" className="btn btn-primary" disabled={demo.isPending} onClick={() => demo.mutate()}>
                  {demo.isPending ? 'Deploying the demo…' : 'Deploy the demo model'}
                </button>
              </Gate>
              {canDeploy.allowed && <><Link to="/models">Upload a model</Link> · <Link to="/deploy">Deploy</Link></>}
            </p>
            <ErrorBox error={demo.error} title="The demo was not deployed" />
          </Empty>
        )}
        {items.length > 0 && (
          <>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Model</th>
                    <th scope="col">Status</th>
                    <th scope="col" className="num">QPS</th>
                    <th scope="col" className="num">p99</th>
                    <th scope="col" className="num">Replicas</th>
                  </tr>
                </thead>
                <tbody>
                  {page.slice.map((s: Service, i) => {
                    const last = latest(metrics[i]?.data);
                    return (
                      <tr key={s.name}>
                        <td><Link to={`/service/${s.name}`}>{s.name}</Link></td>
                        <td>{s.model}</td>
                        <td>
                          <StatusBadge status={s.status} />
                          {s.reason && s.status !== 'Ready' && (
                            <div className="small muted one-line" title={s.reason}>{oneLineReason(s.reason)}</div>
                          )}
                        </td>
                        <td className="num">{last ? formatNumber(last.qps) : '—'}</td>
                        <td className="num">{last && last.requests > 0 ? `${formatNumber(last.p99_ms)} ms` : '—'}</td>
                        <td className="num">{scaledToZero(s) ? <span title="The next request starts a replica">scaled to zero</span> : `${s.ready_replicas} / ${s.replicas}`}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            <Pagination {...page} noun="services" />
          </>
        )}
      </section>

      <section aria-labelledby="machine-title" className="card">
        <h2 id="machine-title">Machine</h2>
        {server.isPending && <Loading />}
        <ErrorBox error={server.error} title="Could not load server information" onRetry={() => server.refetch()} />
        {server.data && (
          <div className="grid-2">
            <div>
              <Meter label="CPU reserved by services" used={reservedCpu} total={server.data.cpus} format={(n) => `${formatNumber(n)} CPU`}
                note={unlimited ? `${unlimited} service${unlimited === 1 ? ' has' : 's have'} no CPU limit and reserve${unlimited === 1 ? 's' : ''} none.` : undefined} />
              <Meter label="Memory reserved by services" used={reservedMem} total={server.data.memory_bytes} format={formatBytes} />
              <p className="small muted">Reservations are the resources each service asked for × its desired replicas.</p>
            </div>
            <dl className="facts">
              <dt>Version</dt><dd>{server.data.version}</dd>
              <dt>CPUs</dt><dd>{server.data.cpus}</dd>
              <dt>Memory</dt><dd>{formatBytes(server.data.memory_bytes)}</dd>
              <dt>Replicas running</dt><dd>{server.data.replicas_running}</dd>
              <dt>Ports</dt><dd>HTTP {server.data.http_port ?? pagePort()} · gRPC {server.data.grpc_port}</dd>
              <dt>Data directory</dt><dd><code>{server.data.data_dir}</code></dd>
            </dl>
          </div>
        )}
      </section>
    </main>
  );
}
