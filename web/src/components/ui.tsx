import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { TensorSpec } from '../lib/types';

/** The current time, renewed every `everyMs`, so that "5 seconds ago" keeps counting when the data does not change. */
export function useNow(everyMs = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export function ErrorBox({ error, title, onRetry }: { error: unknown; title?: string; onRetry?: () => void }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  // A 403's sentence is the server's own (it names the missing scope, or another reason such
  // as a file:// URI outside --allow-file-uris); without one, api.ts says what scope means.
  return (
    <div className="alert alert-error" role="alert">
      <div>
        {title && <strong>{title}: </strong>}
        {msg}
      </div>
      {onRetry && (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

const statusClass: Record<string, string> = {
  Ready: 'ok', Deploying: 'progress', Starting: 'progress', Pending: 'progress', Degraded: 'warn',
  Draining: 'warn', Failed: 'bad', CrashLoopBackOff: 'bad', Deleting: 'muted', Retired: 'muted', Terminated: 'muted',
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${statusClass[status] ?? 'muted'}`}>{status}</span>;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 2000);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <button type="button" className="btn btn-small" onClick={copy} aria-live="polite">
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy by hand' : label}
    </button>
  );
}

export function CodeBlock({ code, label }: { code: string; label: string }) {
  return (
    <div className="code">
      <div className="code-bar">
        <span className="muted">{label}</span>
        <CopyButton text={code} />
      </div>
      <pre tabIndex={0} aria-label={label}>
        <code>{code}</code>
      </pre>
    </div>
  );
}

/** Tabs following the WAI-ARIA tabs pattern (arrow keys move between tabs). */
/** A tab; one with `disabledReason` stays visible but cannot be chosen, and says why. */
export interface TabDef<T extends string> { id: T; label: string; disabledReason?: string }

export function Tabs<T extends string>({
  tabs, value, onChange, label, idPrefix,
}: { tabs: TabDef<T>[]; value: T; onChange: (id: T) => void; label: string; idPrefix?: string }) {
  const auto = useId();
  const prefix = idPrefix ?? auto;
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const active = tabs.findIndex((t) => t.id === value);
  // On a narrow screen the tab strip scrolls: keep the chosen tab in view.
  useEffect(() => {
    const el = refs.current[active];
    const strip = el?.parentElement;
    if (!el || !strip || strip.scrollWidth <= strip.clientWidth) return;
    const left = el.offsetLeft - strip.offsetLeft;
    if (left < strip.scrollLeft || left + el.offsetWidth > strip.scrollLeft + strip.clientWidth) {
      strip.scrollLeft = Math.max(0, left - (strip.clientWidth - el.offsetWidth) / 2);
    }
  }, [active]);
  const onKey = (e: React.KeyboardEvent, i: number) => {
    let next = -1;
    const ok = (j: number) => !tabs[j].disabledReason;
    const step = (d: number) => {
      let j = i;
      for (let n = 0; n < tabs.length; n++) {
        j = (j + d + tabs.length) % tabs.length;
        if (ok(j)) return j;
      }
      return -1;
    };
    if (e.key === 'ArrowRight') next = step(1);
    else if (e.key === 'ArrowLeft') next = step(-1);
    else if (e.key === 'Home') next = tabs.findIndex((_, j) => ok(j));
    else if (e.key === 'End') next = tabs.length - 1 - [...tabs].reverse().findIndex((_, j) => ok(tabs.length - 1 - j));
    if (next >= 0) {
      e.preventDefault();
      onChange(tabs[next].id);
      refs.current[next]?.focus();
    }
  };
  return (
    <div role="tablist" aria-label={label} className="tabs">
      {tabs.map((t, i) => (
        <button
          key={t.id}
          ref={(el) => { refs.current[i] = el; }}
          type="button"
          role="tab"
          id={`${prefix}-tab-${t.id}`}
          aria-selected={t.id === value}
          aria-controls={`${prefix}-panel-${t.id}`}
          aria-disabled={t.disabledReason ? true : undefined}
          aria-describedby={t.disabledReason ? `${prefix}-tab-${t.id}-why` : undefined}
          title={t.disabledReason}
          tabIndex={t.id === value ? 0 : -1}
          className={t.id === value ? 'tab active' : t.disabledReason ? 'tab tab-disabled' : 'tab'}
          onClick={() => { if (!t.disabledReason) onChange(t.id); }}
          onKeyDown={(e) => onKey(e, i)}
        >
          {t.label}
        </button>
      ))}
      {tabs.filter((t) => t.disabledReason).map((t) => (
        <span key={t.id} id={`${prefix}-tab-${t.id}-why`} className="sr-only">{t.disabledReason}</span>
      ))}
    </div>
  );
}

export function TabPanel({ id, active, children, idPrefix }: { id: string; active: boolean; children: ReactNode; idPrefix: string }) {
  if (!active) return null;
  return (
    <div role="tabpanel" id={`${idPrefix}-panel-${id}`} aria-labelledby={`${idPrefix}-tab-${id}`} className="tabpanel">
      {children}
    </div>
  );
}

export function usePage<T>(items: T[], pageSize: number) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const current = Math.min(page, pages - 1);
  return {
    page: current,
    pages,
    setPage,
    slice: items.slice(current * pageSize, current * pageSize + pageSize),
    total: items.length,
  };
}

export function Pagination({ page, pages, setPage, total, noun }: {
  page: number; pages: number; setPage: (p: number) => void; total: number; noun: string;
}) {
  const nouns = total === 1 ? noun.replace(/s$/, '') : noun;
  if (pages <= 1) return <p className="muted small">{total} {nouns}</p>;
  return (
    <nav className="pagination" aria-label={`${noun} pages`}>
      <button type="button" className="btn btn-small" disabled={page === 0} onClick={() => setPage(page - 1)}>
        Previous
      </button>
      <span aria-live="polite">
        Page {page + 1} of {pages} · {total} {nouns}
      </span>
      <button type="button" className="btn btn-small" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/**
 * A section that folds away (the WAI-ARIA disclosure pattern): its heading is a button that says
 * whether it is open, with a one-line summary beside it so that a folded section still says what
 * it holds. The body stays mounted while folded, so its fields keep their values and checks.
 */
export function Disclosure({ id, title, summary, open, onToggle, children }: {
  id: string; title: string; summary: ReactNode; open: boolean; onToggle: () => void; children: ReactNode;
}) {
  return (
    <section className="disclosure" aria-labelledby={`${id}-toggle`}>
      <h3 className="disclosure-head">
        <button type="button" id={`${id}-toggle`} className="disclosure-toggle" aria-expanded={open} aria-controls={`${id}-body`}
          onClick={onToggle}>
          <span className="disclosure-mark" aria-hidden="true">{open ? '▾' : '▸'}</span>{title}
        </button>
        <span className="disclosure-summary" data-testid={`${id}-summary`}>{summary}</span>
      </h3>
      <div id={`${id}-body`} className="disclosure-body" hidden={!open}>{children}</div>
    </section>
  );
}

/** An inline "are you sure?" that replaces a destructive button until confirmed or cancelled. */
export function ConfirmButton({
  label, confirmLabel, question, onConfirm, disabled, busy, className = 'btn btn-small btn-danger',
}: {
  label: string; confirmLabel: string; question: string; onConfirm: () => void; disabled?: boolean; busy?: boolean; className?: string;
}) {
  const [asking, setAsking] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const triggerRef = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) cancelRef.current?.focus();
    else if (wasAsking.current) triggerRef.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button ref={triggerRef} type="button" className={className} disabled={disabled || busy} onClick={() => setAsking(true)}>
        {busy ? 'Working…' : label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span className="confirm-q">{question}</span>
      <button type="button" className="btn btn-small btn-danger" onClick={() => { setAsking(false); onConfirm(); }}>
        {confirmLabel}
      </button>
      <button
        ref={cancelRef}
        type="button"
        className="btn btn-small"
        onClick={() => setAsking(false)}
        onKeyDown={(e) => { if (e.key === 'Escape') setAsking(false); }}
      >
        Cancel
      </button>
    </span>
  );
}

function shapeText(s: number[]) {
  return `[${s.map((d) => (d < 0 ? '?' : d)).join(', ')}]`;
}

/** A model's inputs or outputs: name, type and shape (`?` = dynamic). */
export function TensorTable({ title, tensors }: { title: string; tensors: TensorSpec[] }) {
  return (
    <div className="table-wrap">
      <table className="compact">
        <caption>{title}</caption>
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Shape</th></tr>
        </thead>
        <tbody>
          {tensors.length === 0 && <tr><td colSpan={3} className="muted">none reported</td></tr>}
          {tensors.map((t) => (
            <tr key={t.name}><td><code>{t.name}</code></td><td>{t.datatype}</td><td><code>{shapeText(t.shape)}</code></td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
