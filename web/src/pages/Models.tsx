import { useRef, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../lib/api';
import { dnsLabelError, formatBytes, formatTime, nameFromFile } from '../lib/format';
import { UploadCancelled, uploadModel, type UploadHandle } from '../lib/upload';
import type { Model } from '../lib/types';
import { usePageTitle } from '../components/Layout';
import { ConfirmButton, CopyButton, Empty, ErrorBox, Loading, Pagination, TensorTable, usePage } from '../components/ui';

export function ModelDetails({ model }: { model: Model }) {
  return (
    <div className="model-details">
      <dl className="facts">
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
  const [drag, setDrag] = useState(false);
  const [state, setState] = useState<UploadState>({ phase: 'idle' });
  const handle = useRef<UploadHandle | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const nameError = nameTouched || state.phase === 'error' ? dnsLabelError(name) : null;
  const busy = state.phase === 'uploading' || state.phase === 'checking';

  const pick = (f: File | undefined) => {
    if (!f) return;
    setFile(f);
    setName(nameFromFile(f.name));
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
            aria-describedby="upload-name-error"
          />
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
            <span>Added <strong>{state.model.name}</strong> ({state.model.format}, {formatBytes(state.model.size_bytes)}).</span>
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
      {add.data && <p className="alert alert-ok" role="status"><span>Added <strong>{add.data.name}</strong> ({add.data.format}).</span></p>}
      <ErrorBox error={add.error} title="The model was not added" />
    </section>
  );
}

export function Models() {
  usePageTitle('Models');
  const client = useQueryClient();
  const models = useQuery({ queryKey: ['models'], queryFn: api.models });
  const [open, setOpen] = useState<string | null>(null);
  const del = useMutation({
    mutationFn: (name: string) => api.deleteModel(name),
    onSettled: () => client.invalidateQueries({ queryKey: ['models'] }),
  });
  const added = (m: Model) => {
    client.invalidateQueries({ queryKey: ['models'] });
    setOpen(m.name);
  };
  const items = models.data?.items ?? [];
  const page = usePage(items, 10);

  return (
    <main className="page" id="main">
      <div className="page-head"><h1>Models</h1></div>
      <Uploader onUploaded={added} />
      <AddByUri onAdded={added} />
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
                    <span className="muted small">{formatBytes(m.size_bytes)}</span>
                    <code className="small muted" title={m.sha256}>sha256:{m.sha256.slice(0, 12)}…</code>
                    <span className="spacer" />
                    <Link className="btn btn-small" to={`/deploy?model=${encodeURIComponent(m.name)}`}>Deploy</Link>
                    <ConfirmButton
                      label="Delete"
                      confirmLabel="Delete"
                      question={`Delete model “${m.name}”?`}
                      busy={del.isPending && del.variables === m.name}
                      onConfirm={() => del.mutate(m.name)}
                    />
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
