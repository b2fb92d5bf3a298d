import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, type ReactNode } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { ApiError, api, setUnauthorizedHandler } from './api';
import type { Action, ApiKey, SessionInfo } from './types';
import { ErrorBox, Loading } from '../components/ui';

/** What a key's scopes allow, for a server without GET /api/v1/session (docs/api.md). */
export function actionsFromScopes(key: ApiKey): SessionInfo['actions'] {
  const has = (...s: string[]) => hasScope(key.scopes, ...s);
  const no = (what: string, needs: string): Action => ({
    allowed: false, reason: `the key '${key.name}' may not ${what} (it needs the ${needs} scope)`,
  });
  const perService = key.scopes.filter((s) => s.startsWith('invoke:')).map((s) => s.slice(7));
  const every = has('deploy', 'invoke');
  return {
    read: has('deploy', 'read') ? { allowed: true } : no('read the API', 'read, deploy or admin'),
    deploy: has('deploy') ? { allowed: true } : no('upload models or change services', 'deploy or admin'),
    manage_keys: has() ? { allowed: true } : no('manage keys', 'admin'),
    invoke: every
      ? { allowed: true, services: null }
      : perService.length
        ? { allowed: true, services: perService }
        : { ...no('call services', 'invoke or invoke:SERVICE'), services: [] },
  };
}

/** Who is signed in and what the key may do; read once per sign-in. */
export function useSession() {
  return useQuery({
    queryKey: ['session'],
    queryFn: async (): Promise<SessionInfo> => {
      try {
        return await api.session();
      } catch (e) {
        // An older server has no GET /api/v1/session: work it out from the key's scopes.
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
          const key = await api.whoami();
          return { key, via: 'session', actions: actionsFromScopes(key) };
        }
        throw e;
      }
    },
    retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
    staleTime: Infinity,
  });
}

export type ActionName = 'read' | 'deploy' | 'manage_keys';

/**
 * Whether the session may take an action. While the session is not known (it always is inside
 * the signed-in layout, which waits for it) the action is offered: the server still decides.
 */
export function useCan(action: ActionName): Action {
  const s = useSession().data;
  return s ? s.actions[action] : { allowed: true };
}

/** Whether the session may call this service's data plane. */
export function invokeAction(s: SessionInfo | undefined, service: string): Action {
  if (!s) return { allowed: true };
  const inv = s.actions.invoke;
  if (!inv.allowed) return { allowed: false, reason: inv.reason };
  if (inv.services == null || inv.services.includes(service)) return { allowed: true };
  return {
    allowed: false,
    reason: `the key '${s.key.name}' may call only ${inv.services.join(', ')}, not ${service} (it needs the invoke or invoke:${service} scope)`,
  };
}

export function useCanInvoke(service: string): Action {
  return invokeAction(useSession().data, service);
}

/** A sentence from the server's reason: capitalised, with a full stop. */
export function reasonText(reason: string | undefined): string {
  const r = (reason ?? 'your key may not do this').trim();
  const s = r.charAt(0).toUpperCase() + r.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/**
 * An action the session may not take: the control stays in place but disabled, with the reason
 * on hover (title) and for screen readers (aria-describedby). `children` is the control when allowed.
 */
export function Gate({ action, children, label, className = 'btn' }: {
  action: Action; children: ReactNode; label: string; className?: string;
}) {
  const id = useId();
  if (action.allowed) return <>{children}</>;
  const why = reasonText(action.reason);
  return (
    <span className="gate" title={why}>
      <button type="button" className={className} disabled aria-describedby={id}>{label}</button>
      <span id={id} className="sr-only">{why}</span>
    </span>
  );
}

/** Any 401 anywhere: forget everything and go to sign-in, remembering where the person was. */
export function UnauthorizedRedirect() {
  const navigate = useNavigate();
  const client = useQueryClient();
  const location = useLocation();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      if (window.location.pathname === '/sign-in') return;
      client.clear();
      const next = window.location.pathname + window.location.search;
      navigate(`/sign-in?next=${encodeURIComponent(next)}&expired=1`, { replace: true });
    });
    return () => setUnauthorizedHandler(() => {});
  }, [navigate, client, location.pathname]);
  return null;
}

export function RequireSession({ children }: { children: React.ReactNode }) {
  const who = useSession();
  const location = useLocation();
  if (who.isPending) return <main className="page"><Loading label="Checking your session…" /></main>;
  if (who.error) {
    if (who.error instanceof ApiError && who.error.status === 401) {
      const next = location.pathname + location.search;
      return <Navigate to={`/sign-in${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`} replace />;
    }
    return (
      <main className="page">
        <ErrorBox error={who.error} title="Could not check your session" onRetry={() => who.refetch()} />
      </main>
    );
  }
  return <>{children}</>;
}

export function hasScope(scopes: string[] | undefined, ...wanted: string[]): boolean {
  if (!scopes) return false;
  return scopes.includes('admin') || wanted.some((w) => scopes.includes(w));
}
