import { lazy, Suspense } from 'react';
import { QueryClient } from '@tanstack/react-query';
import { Route, Routes } from 'react-router';
import { ApiError } from './lib/api';
import { RequireSession, UnauthorizedRedirect } from './lib/session';
import { Layout } from './components/Layout';
import { Loading } from './components/ui';
import { SignIn } from './pages/SignIn';
import { Overview } from './pages/Overview';
import { Keys } from './pages/Keys';
import { Models } from './pages/Models';
import { Deploy } from './pages/Deploy';
import { NotFound } from './pages/NotFound';

// The service page carries the charts library; load it when first needed.
const ServicePage = lazy(() => import('./pages/ServicePage'));

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });
}

export function App() {
  return (
    <>
      <UnauthorizedRedirect />
      <Routes>
        <Route path="/sign-in" element={<SignIn />} />
        <Route
          element={
            <RequireSession>
              <Layout />
            </RequireSession>
          }
        >
          <Route index element={<Overview />} />
          <Route path="keys" element={<Keys />} />
          <Route path="models" element={<Models />} />
          <Route path="deploy" element={<Deploy />} />
          <Route
            path="service/:name"
            element={
              <Suspense fallback={<main className="page"><Loading /></main>}>
                <ServicePage />
              </Suspense>
            }
          />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </>
  );
}
