import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { ApiError, api, setUnauthorizedHandler } from './api';
import { forgetTryKeys } from './memoryKeys';
import { ErrorBox, Loading } from '../components/ui';

export function useWhoami() {
  return useQuery({
    queryKey: ['whoami'],
    queryFn: api.whoami,
    retry: (count, err) => !(err instanceof ApiError && (err.status === 401 || err.status === 403)) && count < 2,
    staleTime: 60_000,
  });
}

/** Any 401 anywhere: forget everything and go to sign-in, remembering where the person was. */
export function UnauthorizedRedirect() {
  const navigate = useNavigate();
  const client = useQueryClient();
  const location = useLocation();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      if (window.location.pathname === '/sign-in') return;
      forgetTryKeys();
      client.clear();
      const next = window.location.pathname + window.location.search;
      navigate(`/sign-in?next=${encodeURIComponent(next)}&expired=1`, { replace: true });
    });
    return () => setUnauthorizedHandler(() => {});
  }, [navigate, client, location.pathname]);
  return null;
}

export function RequireSession({ children }: { children: React.ReactNode }) {
  const who = useWhoami();
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
