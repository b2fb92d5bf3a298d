import { useRef, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { ApiError, api } from '../lib/api';
import { dnsLabelError, formatBytes, formatTime, isGenericModelFile, nameFromFile } from '../lib/format';
import { Gate, reasonText as reasonSentence, useCan } from '../lib/session';
import { UploadCancelled, uploadModel, type UploadHandle } from '../lib/upload';
import type { Model, ModelVersion } from '../lib/types';
import { usePageTitle } from '../components/Layout';
import { ConfirmButton, CopyButton, Empty, ErrorBox, Loading, Pagination, TensorTable, usePage } from '../components/ui';

/** What an upload made: a new model, its next version, or nothing new (the same bytes). */
export function uploadOutcome(m: Model): string {
  if (m.unchanged) return `Same content as version ${m.version ?? '?'} of ${m.name}: no new version was made.`;
  if (m.version != null && m.version > 1) return `Version ${m.version} of ${m.name} created.`;
  return `Added ${m.name}.`;
}

function versionCount(m: Model): number | undefined {
  return typeof m.versions === 'number' ? m.versions : Array.isArray(m.versions) ? m.versions.length : undefined;
}

/** A model's versions, with the services that use each; one no service uses can be deleted. */
function Versions({ name }: { name: string }) {
  const client = useQueryClient();
  const q = useQuery({ queryKey: ['model', name], queryFn: () => api.model(name) });
  const canDeploy = useCan('deploy');
  const del = useMutation({
    mutationFn: (v: number) => api.deleteModelVersion(name, v),
    onSettled: () => {
      client.invalidateQueries({ queryKey: ['model', name] });
      client.invalidateQueries({ queryKey: ['models'] });
    },
  });
  const versions = Array.isArray(q.data?.versions) ? (q.data.versions as ModelVersion[]) : null;
  if (q.isPending) return <Loading />;
  if (q.error) return <ErrorBox error={q.error} onRetry={() => q.refetch()} />;
  if (!versions) return null;
  const delError = del.error instanceof ApiError && del.error.status === 409
    ? new Error(`Version ${del.variables} is still in use: ${del.error.message}. Move those services to another version first.`)
    : del.error;
  return (
    <div className="table-wrap">
      <table className="compact" data-testid={`versions-${name}`}>
        <caption>Versions</caption>
        <thead>
          <tr>
            <th scope="col">Version</th><th scope="col">SHA-256</th><th scope="col">Size</th>
            <th scope="col">Added</th><th scope="col">Used by</th><th scope="col"><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {[...versions].reverse().map((v) => (
            <tr key={v.version}>
              <td>{v.version}{v.version === q.data?.version && <> <span className="chip chip-accent">latest</span></>}</td>
              <td><code title={v.sha256}>{v.sha256.slice(0, 12)}…</code></td>
              <td>{formatBytes(v.size_bytes)}</td>
              <td>{formatTime(v.created_at)}</td>
              <td>{v.used_by.length ? v.used_by.map((s) => <Link key={s} className="chip" to={`/service/${encodeURIComponent(s)}`}>{s}</Link>) : <span className="muted">no service</span>}</td>
              <td className="actions">
                {v.used_by.length === 0 && (
                  <Gate action={canDeploy} label="Delete" className="btn btn-small btn-danger">
                    <ConfirmButton label="Delete" confirmLabel="Delete version" question={`Delete version ${v.version} of “${name}”?`}
                      busy={del.isPending && del.variables === v.version} onConfirm={() => del.mutate(v.version)} />
                  </Gate>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorBox error={delError} title="The version was not deleted" />
    </div>
  );
}

export function ModelDetails({ model }: { model: Model }) {
  return (
    <div className="model-details">
      <dl className="facts">
        {model.version != null && <><dt>Latest version</dt><dd>{model.version}</dd></>}
        <dt>Format</dt><dd>{model.format}</dd>
        <dt>Size</dt><dd>{formatBytes(model.size_bytes)}</dd>
        <dt>SHA-256</dt>
        <dd className="row"><code className="hash" title={model.sha256}>{model.sha256}</code> <CopyButton text={model.sha256} /></dd>
        <dt>Max batch size</dt><dd>{model.max_batch_size || 'no batching'}</dd>
        <dt>Source</dt><dd><code>{model.source}</code></dd>
        <dt>Added</dt><dd>{formatTime(model.created_at)}</dd>
      </dl>
      <div className="grid-2">
        <TensorTable title="Inputs" tensors={model.inputs} />
        <TensorTable title="Outputs" tensors={model.outputs} />
      </div>
      {model.version != null && <Versions name={model.name} />}
    </div>
  );
}

type UploadState =
  | { phase: 'idle' }
  | { phase: 'uploading'; file: File; loaded: number; total: number }
  | { phase: 'checking'; file: File }
  | { phase: 'done'; model: Model }
  | { phase: 'error'; message: string }
  | { phase: 'cancelled' };

export function Uploader({ onUploaded }: { onUploaded: (m: Model) => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [nameTouched, setNameTouched] = useState(false);
  const [generic, setGeneric] = useState<string | null>(null);
  const [drag, setDrag] = useState(false);
  const [state, setState] = useState<UploadState>({ phase: 'idle' });
  const handle = useRef<UploadHandle | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const nameError = nameTouched || state.phase === 'error' ? dnsLabelError(name) : null;
  const busy = state.phase === 'uploading' || state.phase === 'checking';

  const pick = (f: File | undefined) => {
    if (!f) return;
    setFile(f);
    // A generic file name says nothing about the model: the person names it (and an existing
    // name's next version is what they probably want).
    const isGeneric = isGenericModelFile(f.name);
    setGeneric(isGeneric ? f.name : null);
    setName(isGeneric ? '' : nameFromFile(f.name));
    setNameTouched(false);
    setState({ phase: 'idle' });
  };

  const start = () => {
    setNameTouched(true);
    if (!file || dnsLabelError(name)) return;
    const f = file;
    setState({ phase: 'uploading', file: f, loaded: 0, total: f.size });
    const h = uploadModel(name, f, (loaded, total) => {
      setState(loaded >= total ? { phase: 'checking', file: f } : { phase: 'uploading', file: f, loaded, total });
    });
    handle.current = h;
    h.promise.then(
      (m) => {
        setState({ phase: 'done', model: m });
        setFile(null);
        setName('');
        setGeneric(null);
        setNameTouched(false);
        onUploaded(m);
      },
      (e) => {
        if (e instanceof UploadCancelled) setState({ phase: 'cancelled' });
        else setState({ phase: 'error', message: e instanceof Error ? e.message : String(e) });
      },
    ).finally(() => { handle.current = null; });
  };

  const pct = state.phase === 'uploading' && state.total > 0 ? Math.round((state.loaded / state.total) * 100) : state.phase === 'checking' ? 100 : 0;

  return (
    <section className="card" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a model</h2>
      <div
        className={`dropzone ${drag ? 'dropzone-active' : ''}`}
        onDragOver={(e) => { e.preventDefault(); setDrag(true); }}
        onDragLeave={() => setDrag(false)}
        onDrop={(e) => { e.preventDefault(); setDrag(false); if (!busy) pick(e.dataTransfer.files[0]); }}
        data-testid="dropzone"
      >
        <p>
          <strong>Drop an ONNX or TorchScript file here</strong>
          <br />
          <span className="muted">or</span>
        </p>
        <button type="button" className="btn" onClick={() => input.current?.click()} disabled={busy}>
          Choose a file…
        </button>
        <input
          ref={input}
          type="file"
          className="sr-only"
          aria-label="Model file"
          accept=".onnx,.pt,.pth,.torchscript,application/octet-stream"
          tabIndex={-1}
          onChange={(e) => { pick(e.target.files?.[0]); e.target.value = ''; }}
        />
        {file && <p className="small">Selected: <strong>{file.name}</strong> ({formatBytes(file.size)})</p>}
      </div>

      <div className="form form-inline">
        <div className="field">
          <label htmlFor="upload-name">Model name</label>
          <input
            id="upload-name"
            value={name}
            disabled={busy}
            onChange={(e) => setName(e.target.value)}
            onBlur={() => setNameTouched(true)}
            aria-invalid={nameError ? true : undefined}
            aria-describedby="upload-name-help upload-name-error"
            list="model-names"
          />
          <p id="upload-name-help" className="help">
            {generic
              ? `“${generic}” is a generic file name, so no name is suggested: name the model yourself (an existing name gets a new version).`
              : 'An existing name gets a new version; the same file again makes none.'}
          </p>
          <p id="upload-name-error" className="field-error">{nameError}</p>
        </div>
        <div className="field field-button">
          {busy ? (
            <button type="button" className="btn" onClick={() => handle.current?.cancel()} disabled={state.phase === 'checking'}>
              Cancel upload
            </button>
          ) : (
            <button type="button" className="btn btn-primary" onClick={start} disabled={!file}>
              Upload
            </button>
          )}
        </div>
      </div>

      <div className="upload-status" aria-live="polite">
        {(state.phase === 'uploading' || state.phase === 'checking') && (
          <>
            <progress max={100} value={pct} aria-label="Upload progress" />
            <p className="small">
              {state.phase === 'uploading'
                ? `Uploading ${state.file.name}: ${pct}% (${formatBytes(state.loaded)} of ${formatBytes(state.total)})`
                : 'Uploaded. The server is checking the model (format, inputs and outputs)…'}
            </p>
          </>
        )}
        {state.phase === 'cancelled' && <p className="small">Upload cancelled. Nothing was kept.</p>}
        {state.phase === 'error' && (
          <div className="alert alert-error" role="alert">
            <span><strong>The model was not added:</strong> {state.message}</span>
          </div>
        )}
        {state.phase === 'done' && (
          <p className="alert alert-ok" role="status">
            <span data-testid="upload-outcome">{uploadOutcome(state.model)} ({state.model.format}, {formatBytes(state.model.size_bytes)})</span>
            <Link to={`/deploy?model=${encodeURIComponent(state.model.name)}`}>Deploy it</Link>
          </p>
        )}
      </div>
    </section>
  );
}

interface UriForm { name: string; uri: string }

function AddByUri({ onAdded }: { onAdded: (m: Model) => void }) {
  const { register, handleSubmit, reset, formState: { errors } } = useForm<UriForm>({ defaultValues: { name: '', uri: '' } });
  const add = useMutation({
    mutationFn: (f: UriForm) => api.addModelByUri(f.name, f.uri.trim()),
    onSuccess: (m) => { reset(); onAdded(m); },
  });
  return (
    <section className="card" aria-labelledby="uri-title">
      <h2 id="uri-title">Add by URI</h2>
      <form className="form form-inline" onSubmit={handleSubmit((f) => add.mutate(f))} noValidate>
        <div className="field">
          <label htmlFor="uri-name">Model name</label>
          <input id="uri-name" aria-invalid={errors.name ? true : undefined} aria-describedby="uri-name-error"
            {...register('name', { validate: (v) => dnsLabelError(v) ?? true })} />
          <p id="uri-name-error" className="field-error">{errors.name?.message}</p>
        </div>
        <div className="field grow">
          <label htmlFor="uri-uri">URI</label>
          <input id="uri-uri" placeholder="s3://bucket/model.onnx, https://…" aria-invalid={errors.uri ? true : undefined}
            aria-describedby="uri-uri-help uri-uri-error"
            {...register('uri', {
              validate: (v) => /^(file|https?|s3):\/\/\S+$/.test(v.trim()) || 'Use a file://, http://, https:// or s3:// URI.',
            })} />
          <p id="uri-uri-help" className="help">
            <code>file://</code> works only under a directory the server allows (<code>--allow-file-uris DIR</code>);
            otherwise upload the file above.
          </p>
          <p id="uri-uri-error" className="field-error">{errors.uri?.message}</p>
        </div>
        <div className="field field-button">
          <button type="submit" className="btn" disabled={add.isPending}>{add.isPending ? 'Fetching and checking…' : 'Add model'}</button>
        </div>
      </form>
      {add.data && <p className="alert alert-ok" role="status"><span>{uploadOutcome(add.data)} ({add.data.format})</span></p>}
      <ErrorBox error={add.error} title="The model was not added" />
    </section>
  );
}

export function Models() {
  usePageTitle('Models');
  const client = useQueryClient();
  const models = useQuery({ queryKey: ['models'], queryFn: api.models });
  const [open, setOpen] = useState<string | null>(null);
  const canDeploy = useCan('deploy');
  const del = useMutation({
    mutationFn: (name: string) => api.deleteModel(name),
    onSettled: () => client.invalidateQueries({ queryKey: ['models'] }),
  });
  const added = (m: Model) => {
    client.invalidateQueries({ queryKey: ['models'] });
    client.invalidateQueries({ queryKey: ['model', m.name] });
    setOpen(m.name);
  };
  const items = models.data?.items ?? [];
  const page = usePage(items, 10);

  return (
    <main className="page" id="main">
      <div className="page-head"><h1>Models</h1></div>
      {canDeploy.allowed ? (
        <>
          <Uploader onUploaded={added} />
          <AddByUri onAdded={added} />
        </>
      ) : (
        <p className="alert alert-info" role="note">You can look at models; adding them is not open to this key. {reasonSentence(canDeploy.reason)}</p>
      )}
      <datalist id="model-names">{items.map((m) => <option key={m.name} value={m.name} />)}</datalist>
      <section className="card" aria-labelledby="models-title">
        <h2 id="models-title">Models</h2>
        {models.isPending && <Loading />}
        <ErrorBox error={models.error} title="Could not load models" onRetry={() => models.refetch()} />
        <ErrorBox error={del.error} title="The model was not deleted" />
        {models.data && items.length === 0 && <Empty title="No models yet"><p>Upload one above.</p></Empty>}
        {items.length > 0 && (
          <>
            <ul className="model-list">
              {page.slice.map((m) => (
                <li key={m.name} className="model-item">
                  <div className="model-row">
                    <button
                      type="button"
                      className="linklike"
                      aria-expanded={open === m.name}
                      aria-controls={`model-${m.name}`}
                      onClick={() => setOpen(open === m.name ? null : m.name)}
                    >
                      <span aria-hidden="true">{open === m.name ? '▾' : '▸'}</span> <strong>{m.name}</strong>
                    </button>
                    <span className="chip">{m.format}</span>
                    {m.version != null && (
                      <span className="small" data-testid={`model-version-${m.name}`}>
                        v{m.version}{versionCount(m) != null ? ` · ${versionCount(m)} version${versionCount(m) === 1 ? '' : 's'}` : ''}
                      </span>
                    )}
                    <span className="muted small">{formatBytes(m.size_bytes)}</span>
                    <code className="small muted" title={m.sha256}>sha256:{m.sha256.slice(0, 12)}…</code>
                    <span className="spacer" />
                    {canDeploy.allowed && <Link className="btn btn-small" to={`/deploy?model=${encodeURIComponent(m.name)}`}>Deploy</Link>}
                    <Gate action={canDeploy} label="Delete" className="btn btn-small btn-danger">
                      <ConfirmButton
                        label="Delete"
                        confirmLabel="Delete"
                        question={`Delete model “${m.name}” and all its versions?`}
                        busy={del.isPending && del.variables === m.name}
                        onConfirm={() => del.mutate(m.name)}
                      />
                    </Gate>
                  </div>
                  {open === m.name && (
                    <div id={`model-${m.name}`}>
                      <ModelDetails model={m} />
                    </div>
                  )}
                </li>
              ))}
            </ul>
            <Pagination {...page} noun="models" />
          </>
        )}
      </section>
    </main>
  );
}
