import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Keys } from '../pages/Keys';
import { mockFetch, renderAt } from './helpers';

const listed = {
  id: 'k1', name: 'ci', scopes: ['deploy'], prefix: 'brth_abcdefg', created_at: '2026-01-01T00:00:00Z',
  expires_at: null, last_used_at: null,
};

describe('API keys', () => {
  it('shows a new key once, with a warning and a copy button, and sends the chosen scopes and expiry', async () => {
    let items = [listed];
    const calls = mockFetch({
      'GET /api/v1/keys': () => ({ json: { items } }),
      'GET /api/v1/services': { items: [] },
      'POST /api/v1/keys': (c) => {
        const b = c.body as { name: string; scopes: string[] };
        const created = { ...listed, id: 'k2', name: b.name, scopes: b.scopes, prefix: 'brth_zzzzzzz', key: 'brth_zzzzzzz_FULLSECRET' };
        items = [...items, { ...created, key: undefined } as never];
        return { status: 201, json: created };
      },
    });
    renderAt(<Keys />);
    expect(await screen.findByText('ci')).toBeInTheDocument();

    await userEvent.type(screen.getByLabelText('Name'), 'mobile');
    await userEvent.click(screen.getByRole('checkbox', { name: /^read/ }));
    expect(screen.getByLabelText('Services this key may call')).toBeDisabled();
    await userEvent.click(screen.getByRole('radio', { name: /invoke only these services/ }));
    await userEvent.type(screen.getByLabelText('Services this key may call'), 'digits');
    await userEvent.selectOptions(screen.getByLabelText('Expires'), '7');
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));

    const shown = await screen.findByTestId('new-key');
    expect(shown).toHaveValue('brth_zzzzzzz_FULLSECRET');
    expect(screen.getByText(/will not be shown again/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Copy key' })).toBeInTheDocument();
    const post = calls.find((c) => c.method === 'POST')!;
    // One choice: never `invoke` together with `invoke:digits`.
    expect(post.body).toEqual({ name: 'mobile', scopes: ['read', 'invoke:digits'], expires_in_days: 7 });
    expect(post.headers['X-Berth-Console']).toBe('1');

    await userEvent.click(screen.getByRole('button', { name: 'I have saved the key' }));
    await waitFor(() => expect(screen.queryByTestId('new-key')).not.toBeInTheDocument());
    expect(document.body.textContent).not.toContain('FULLSECRET');
    expect(await screen.findByText('mobile')).toBeInTheDocument();
  });

  it('requires a name and at least one scope', async () => {
    const calls = mockFetch({ 'GET /api/v1/keys': { items: [] }, 'GET /api/v1/services': { items: [] } });
    renderAt(<Keys />);
    await userEvent.click(screen.getByRole('radio', { name: /no service calls/ })); // away from the default
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    expect(await screen.findByText(/Give the key a name/)).toBeInTheDocument();
    expect(screen.getByText('Pick at least one scope.')).toBeInTheDocument();
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);
  });

  it('moves focus to the new key every time one is created, and shows the server\'s 409', async () => {
    let n = 0;
    mockFetch({
      'GET /api/v1/keys': { items: [listed] },
      'GET /api/v1/services': { items: [] },
      'POST /api/v1/keys': (c) => {
        const b = c.body as { name: string; scopes: string[] };
        if (b.name === 'ci') return { status: 409, json: { error: "a key named 'ci' exists; pick another name or revoke it" } };
        n++;
        return { status: 201, json: { ...listed, id: `k${n + 1}`, name: b.name, scopes: b.scopes, key: `brth_${n}_SECRET` } };
      },
    });
    renderAt(<Keys />);
    await screen.findByText('ci');
    for (const name of ['one', 'two']) {
      await userEvent.type(screen.getByLabelText('Name'), name);
      await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
      const heading = await screen.findByRole('heading', { name: `Key “${name}” created` });
      await waitFor(() => expect(heading).toHaveFocus());
    }
    await userEvent.type(screen.getByLabelText('Name'), 'ci');
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    expect(await screen.findByText(/a key named 'ci' exists/)).toBeInTheDocument();
  });

  it('asks for a service name when "only these services" is chosen', async () => {
    const calls = mockFetch({ 'GET /api/v1/keys': { items: [] }, 'GET /api/v1/services': { items: [] } });
    renderAt(<Keys />);
    await userEvent.type(screen.getByLabelText('Name'), 'x');
    await userEvent.click(screen.getByRole('radio', { name: /invoke only these services/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    expect(await screen.findByText(/Name at least one service/)).toBeInTheDocument();
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);
  });

  it('says why a key that is not admin cannot manage keys, and loads none', async () => {
    const calls = mockFetch({
      'GET /api/v1/session': { json: {
        key: { ...listed, scopes: ['read'] }, via: 'session',
        actions: { read: { allowed: true }, deploy: { allowed: false, reason: 'no' }, invoke: { allowed: false, reason: 'no' },
          manage_keys: { allowed: false, reason: "the key 'ci' may not manage keys (it needs the admin scope)" } },
      } },
    });
    renderAt(<Keys />);
    expect(await screen.findByText(/The key 'ci' may not manage keys \(it needs the admin scope\)\./)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Create key' })).not.toBeInTheDocument();
    expect(calls.some((c) => c.url === '/api/v1/keys')).toBe(false);
  });

  it('revokes only after confirmation', async () => {
    const calls = mockFetch({
      'GET /api/v1/keys': { items: [listed] },
      'GET /api/v1/services': { items: [] },
      'DELETE /api/v1/keys/k1': { status: 204 },
    });
    renderAt(<Keys />);
    const row = (await screen.findByText('ci')).closest('tr')!;
    await userEvent.click(within(row).getByRole('button', { name: 'Revoke' }));
    expect(calls.filter((c) => c.method === 'DELETE')).toHaveLength(0);
    expect(within(row).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await userEvent.click(within(row).getByRole('button', { name: 'Revoke now' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'DELETE')).toHaveLength(1));
  });
});
