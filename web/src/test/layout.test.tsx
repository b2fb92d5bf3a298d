import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Layout } from '../components/Layout';
import { actionsFromScopes } from '../lib/session';
import type { ApiKey, Scope } from '../lib/types';
import { mockFetch, renderAt } from './helpers';

function signedIn(scopes: Scope[]) {
  const key: ApiKey = {
    id: 'k1', name: 'ci', scopes, prefix: 'brth_ab', created_at: '2026-01-01T00:00:00Z', expires_at: null, last_used_at: null,
  };
  mockFetch({ 'GET /api/v1/session': { json: { key, via: 'session', actions: actionsFromScopes(key) } } });
}

// jsdom applies no style sheet: these tests hold the menu's behaviour; styles.css hides the
// button at desktop width and the closed menu at phone width.
describe('top bar menu', () => {
  it('is a disclosure button for the navigation and the account controls', async () => {
    signedIn(['admin']);
    renderAt(<Layout />, { route: '/models' });
    const button = screen.getByRole('button', { name: 'Menu' });
    expect(button).toHaveAttribute('aria-expanded', 'false');
    const menu = document.getElementById(button.getAttribute('aria-controls')!)!;
    expect(menu).not.toHaveClass('open');
    const nav = within(menu).getByRole('navigation', { name: 'Main' });
    expect(within(nav).getAllByRole('link').map((a) => a.textContent)).toEqual(['Overview', 'Deploy', 'Models', 'API keys']);
    expect(within(menu).getByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    expect(within(menu).getByRole('button', { name: /Switch to (dark|light) theme/ })).toBeInTheDocument();
    expect(await within(menu).findByText('ci')).toBeInTheDocument();

    await userEvent.click(button);
    expect(button).toHaveAttribute('aria-expanded', 'true');
    expect(menu).toHaveClass('open');
    // Escape closes it from inside and gives focus back to the button.
    await userEvent.tab();
    expect(within(nav).getByRole('link', { name: 'Overview' })).toHaveFocus();
    await userEvent.keyboard('{Escape}');
    expect(button).toHaveAttribute('aria-expanded', 'false');
    expect(button).toHaveFocus();
  });

  it('closes when a link is followed or something outside it is pressed', async () => {
    signedIn(['admin']);
    renderAt(<Layout />, { route: '/models' });
    const button = screen.getByRole('button', { name: 'Menu' });
    await userEvent.click(button);
    await userEvent.click(screen.getByRole('link', { name: 'API keys' }));
    expect(screen.getByTestId('location')).toHaveTextContent('/keys');
    expect(button).toHaveAttribute('aria-expanded', 'false');

    await userEvent.click(button);
    // The page shown already: the menu closes and focus stays on its button.
    await userEvent.click(screen.getByRole('link', { name: 'API keys' }));
    expect(button).toHaveAttribute('aria-expanded', 'false');
    expect(button).toHaveFocus();

    await userEvent.click(button);
    await userEvent.click(screen.getByTestId('location'));
    expect(button).toHaveAttribute('aria-expanded', 'false');
  });

  it('offers a read-only key neither Deploy nor API keys', async () => {
    signedIn(['read']);
    renderAt(<Layout />);
    await userEvent.click(screen.getByRole('button', { name: 'Menu' }));
    const nav = screen.getByRole('navigation', { name: 'Main' });
    await waitFor(() => expect(within(nav).queryByRole('link', { name: 'API keys' })).not.toBeInTheDocument());
    expect(within(nav).queryByRole('link', { name: 'Deploy' })).not.toBeInTheDocument();
    expect(within(nav).getAllByRole('link').map((a) => a.textContent)).toEqual(['Overview', 'Models']);
  });
});
