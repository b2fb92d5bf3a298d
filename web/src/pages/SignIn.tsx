import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, api } from '../lib/api';
import { useTheme } from '../lib/theme';
import { usePageTitle } from '../components/Layout';

interface Form {
  key: string;
}

function safeNext(next: string | null): string {
  // Only same-site paths: never bounce to another origin.
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/sign-in')) return '/';
  return next;
}

export function SignIn() {
  usePageTitle('Sign in');
  useTheme();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [serverError, setServerError] = useState<string | null>(null);
  const { register, handleSubmit, formState: { errors, isSubmitting } } = useForm<Form>({ defaultValues: { key: '' } });

  const onSubmit = async ({ key }: Form) => {
    setServerError(null);
    try {
      await api.signIn(key.trim());
      client.removeQueries();
      navigate(safeNext(params.get('next')), { replace: true });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setServerError('That key was not accepted: it may be mistyped, expired or revoked. Paste the whole key, starting with "brth_".');
      } else {
        setServerError(e instanceof Error ? e.message : String(e));
      }
    }
  };

  return (
    <main className="signin" id="main">
      <form className="card signin-card" onSubmit={handleSubmit(onSubmit)} noValidate aria-labelledby="signin-title">
        <div className="brand brand-large" aria-hidden="true">
          <span className="brand-mark">⚓</span> berth
        </div>
        <h1 id="signin-title">Sign in to the console</h1>
        {params.get('expired') && !serverError && (
          <p className="alert alert-info" role="status">Your session ended. Sign in again to continue.</p>
        )}
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoFocus
          placeholder="brth_…"
          aria-invalid={errors.key ? true : undefined}
          aria-describedby="api-key-help api-key-error"
          {...register('key', { validate: (v) => (v.trim() ? true : 'Paste an API key to sign in.') })}
        />
        <p id="api-key-help" className="help">
          The admin key is printed by <code>berth server</code> on its first start; any key made under
          API keys works too. The console keeps only a session cookie, never the key itself.
        </p>
        <p id="api-key-error" className="field-error" role="alert">
          {errors.key?.message ?? serverError ?? ''}
        </p>
        <button type="submit" className="btn btn-primary btn-block" disabled={isSubmitting}>
          {isSubmitting ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
