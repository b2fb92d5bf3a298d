import { useEffect, useRef, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../lib/api';
import { DNS_LABEL, formatTime, relativeTime } from '../lib/format';
import type { CreatedKey } from '../lib/types';
import { usePageTitle } from '../components/Layout';
import { reasonText, useCan, useSession } from '../lib/session';
import { ConfirmButton, CopyButton, Empty, ErrorBox, Loading, Pagination, usePage } from '../components/ui';

const SCOPES: { id: string; label: string; help: string }[] = [
  { id: 'admin', label: 'admin', help: 'everything, including keys' },
  { id: 'deploy', label: 'deploy', help: 'models and services; read and invoke everything' },
  { id: 'read', label: 'read', help: 'look, do not touch' },
];

/** Calling services: one choice, so a key never gets `invoke` and `invoke:NAME` together. */
type InvokeChoice = 'none' | 'all' | 'some';

const EXPIRY = [
  { days: 0, label: 'Never' },
  { days: 1, label: '1 day' },
  { days: 7, label: '7 days' },
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
  { days: 365, label: '1 year' },
];

interface Form {
  name: string;
  scopes: string[];
  invoke: InvokeChoice;
  invokeServices: string;
  expiry: string;
}

function serviceNames(v: string): string[] {
  return v.split(/[\s,]+/).filter(Boolean);
}

/** The scopes the form asks for. */
export function scopesOf(f: Pick<Form, 'scopes' | 'invoke' | 'invokeServices'>): string[] {
  const chosen = SCOPES.map((s) => s.id).filter((id) => (f.scopes ?? []).includes(id));
  if (f.invoke === 'all') return [...chosen, 'invoke'];
  if (f.invoke === 'some') return [...chosen, ...[...new Set(serviceNames(f.invokeServices))].map((s) => `invoke:${s}`)];
  return chosen;
}

function NewKey({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <section className="card card-highlight" aria-labelledby="newkey-title">
      <h2 id="newkey-title" ref={ref} tabIndex={-1}>Key “{created.name}” created</h2>
      <p className="alert alert-warn" role="note">
        Copy this key now and keep it somewhere safe. It will not be shown again: berth stores only its hash.
      </p>
      <label htmlFor="new-key-value">Your new key</label>
      <div className="row">
        <input
          id="new-key-value"
          className="mono grow"
          readOnly
          value={created.key}
          onFocus={(e) => e.currentTarget.select()}
          data-testid="new-key"
        />
        <CopyButton text={created.key} label="Copy key" />
      </div>
      <p className="small muted">
        Scopes: {created.scopes.join(', ')} · expires{' '}
        {created.expires_at ? <span title={formatTime(created.expires_at)}>{relativeTime(created.expires_at)}</span> : 'never'}
      </p>
      <button type="button" className="btn" onClick={onDone}>I have saved the key</button>
    </section>
  );
}

export function Keys() {
  usePageTitle('API keys');
  const client = useQueryClient();
  const allowed = useCan('manage_keys');
  const session = useSession();
  // Ask for the keys once the session says they may be listed (or cannot say: an error).
  const listKeys = allowed.allowed && !session.isPending;
  const keys = useQuery({ queryKey: ['keys'], queryFn: api.keys, enabled: listKeys });
  const me = session.data?.key;
  const services = useQuery({ queryKey: ['services'], queryFn: api.services, enabled: listKeys });
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const { register, handleSubmit, reset, watch, formState: { errors } } = useForm<Form>({
    defaultValues: { name: '', scopes: [], invoke: 'all', invokeServices: '', expiry: '30' },
  });
  const invoke = watch('invoke');

  const create = useMutation({
    mutationFn: (body: { name: string; scopes: string[]; expires_in_days?: number }) => api.createKey(body),
    onSuccess: (k) => {
      setCreated(k);
      reset();
      client.invalidateQueries({ queryKey: ['keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.revokeKey(id),
    onSettled: () => client.invalidateQueries({ queryKey: ['keys'] }),
  });

  const onSubmit = (f: Form) => {
    const scopes = scopesOf(f);
    const days = Number(f.expiry);
    create.mutate({ name: f.name.trim(), scopes, ...(days > 0 ? { expires_in_days: days } : {}) });
  };

  const items = keys.data?.items ?? [];
  const page = usePage(items, 10);
  const now = Date.now();

  if (!allowed.allowed) {
    return (
      <main className="page" id="main">
        <div className="page-head"><h1>API keys</h1></div>
        <p className="alert alert-info" role="note">{reasonText(allowed.reason)} Ask an admin for a key.</p>
      </main>
    );
  }

  return (
    <main className="page" id="main">
      <div className="page-head">
        <h1>API keys</h1>
      </div>

      {created && <NewKey key={created.id} created={created} onDone={() => setCreated(null)} />}

      <section className="card" aria-labelledby="create-key-title">
        <h2 id="create-key-title">Create a key</h2>
        <form onSubmit={handleSubmit(onSubmit)} noValidate className="form">
          <div className="field">
            <label htmlFor="key-name">Name</label>
            <input
              id="key-name"
              placeholder="e.g. ci, mobile-app"
              aria-invalid={errors.name ? true : undefined}
              aria-describedby="key-name-error"
              {...register('name', {
                validate: (v) => (v.trim() ? (v.trim().length <= 64 ? true : 'At most 64 characters.') : 'Give the key a name so you can recognise it later.'),
              })}
            />
            <p id="key-name-error" className="field-error">{errors.name?.message}</p>
          </div>
          <fieldset className="field">
            <legend>Scopes</legend>
            <div className="checks">
              {SCOPES.map((s) => (
                <label key={s.id} className="check">
                  <input
                    type="checkbox"
                    value={s.id}
                    {...register('scopes', {
                      validate: (v, all) => (v && v.length > 0) || all.invoke !== 'none' ? true : 'Pick at least one scope.',
                    })}
                  />
                  <span><strong>{s.label}</strong> <span className="muted small">— {s.help}</span></span>
                </label>
              ))}
            </div>
            <p className="field-error" role="alert">{errors.scopes?.message}</p>
          </fieldset>
          <fieldset className="field">
            <legend>Calling services</legend>
            <div className="checks">
              <label className="check">
                <input type="radio" value="all" {...register('invoke')} />
                <span><strong>invoke every service</strong> <span className="muted small">— the <code>invoke</code> scope</span></span>
              </label>
              <label className="check">
                <input type="radio" value="some" {...register('invoke')} />
                <span><strong>invoke only these services</strong> <span className="muted small">— <code>invoke:SERVICE</code> for each</span></span>
              </label>
              <label className="check">
                <input type="radio" value="none" {...register('invoke')} />
                <span><strong>no service calls</strong> <span className="muted small">— unless admin or deploy allows them</span></span>
              </label>
            </div>
            <div className="field">
              <label htmlFor="key-invoke">Services this key may call</label>
              <input
                id="key-invoke"
                list="service-names"
                placeholder="e.g. digits, resnet"
                disabled={invoke !== 'some'}
                aria-describedby="key-invoke-help key-invoke-error"
                aria-invalid={errors.invokeServices ? true : undefined}
                {...register('invokeServices', {
                  validate: (v, all) => {
                    if (all.invoke !== 'some') return true;
                    const names = serviceNames(v);
                    if (names.length === 0) return 'Name at least one service, or choose “invoke every service”.';
                    return names.every((n) => DNS_LABEL.test(n)) || 'Service names are lower-case letters, digits and "-".';
                  },
                })}
              />
              <datalist id="service-names">
                {(services.data?.items ?? []).map((s) => <option key={s.name} value={s.name} />)}
              </datalist>
              <p id="key-invoke-help" className="help">Names of existing services, separated by commas.</p>
              <p id="key-invoke-error" className="field-error">{errors.invokeServices?.message}</p>
            </div>
          </fieldset>
          <div className="field">
            <label htmlFor="key-expiry">Expires</label>
            <select id="key-expiry" {...register('expiry')}>
              {EXPIRY.map((e) => <option key={e.days} value={e.days}>{e.label}</option>)}
            </select>
          </div>
          <ErrorBox error={create.error} title="The key was not created" />
          <div>
            <button type="submit" className="btn btn-primary" disabled={create.isPending}>
              {create.isPending ? 'Creating…' : 'Create key'}
            </button>
          </div>
        </form>
      </section>

      <section className="card" aria-labelledby="keys-title">
        <h2 id="keys-title">Keys</h2>
        {keys.isPending && <Loading />}
        <ErrorBox error={keys.error} title="Could not load keys" onRetry={() => keys.refetch()} />
        <ErrorBox error={revoke.error} title="The key was not revoked" />
        {keys.data && items.length === 0 && <Empty title="No keys yet" />}
        {items.length > 0 && (
          <>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Prefix</th>
                    <th scope="col">Scopes</th>
                    <th scope="col">Created</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Last used</th>
                    <th scope="col"><span className="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  {page.slice.map((k) => (
                    <tr key={k.id}>
                      <td>{k.name}{me?.id === k.id && <span className="chip chip-accent">this session</span>}</td>
                      <td><code>{k.prefix}…</code></td>
                      <td>{k.scopes.map((s) => <span key={s} className="chip">{s}</span>)}</td>
                      <td title={formatTime(k.created_at)}>{relativeTime(k.created_at, now)}</td>
                      <td title={k.expires_at ? formatTime(k.expires_at) : undefined}>{k.expires_at ? relativeTime(k.expires_at, now) : 'never'}</td>
                      <td title={k.last_used_at ? formatTime(k.last_used_at) : undefined}>{relativeTime(k.last_used_at, now)}</td>
                      <td className="actions">
                        <ConfirmButton
                          label="Revoke"
                          confirmLabel="Revoke now"
                          question={me?.id === k.id
                            ? `Revoke “${k.name}”? You signed in with it: the console signs you out at once.`
                            : `Revoke “${k.name}”? Anything using it stops working at once.`}
                          busy={revoke.isPending && revoke.variables === k.id}
                          onConfirm={() => revoke.mutate(k.id)}
                        />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pagination {...page} noun="keys" />
          </>
        )}
      </section>
    </main>
  );
}
