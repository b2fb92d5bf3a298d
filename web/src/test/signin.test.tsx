import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SignIn } from '../pages/SignIn';
import { mockFetch, renderAt } from './helpers';

describe('sign-in', () => {
  it('posts the key to /api/v1/session with the console header and goes where the person was going', async () => {
    const calls = mockFetch({ 'POST /api/v1/session': { status: 204 } });
    renderAt(<SignIn />, { route: '/sign-in?next=%2Fkeys' });
    await userEvent.type(screen.getByLabelText('API key'), 'brth_secret123');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/keys'));
    expect(calls).toHaveLength(1);
    expect(calls[0].body).toEqual({ key: 'brth_secret123' });
    expect(calls[0].headers['X-Berth-Console']).toBe('1');
    // The key must not be kept anywhere the page can read it later.
    expect(JSON.stringify({ ...localStorage })).not.toContain('brth_secret123');
    expect(JSON.stringify({ ...sessionStorage })).not.toContain('brth_secret123');
    expect(document.cookie).not.toContain('brth_secret123');
  });

  it('explains a rejected key and stays on the page', async () => {
    mockFetch({ 'POST /api/v1/session': { status: 401, json: { error: 'invalid API key' } } });
    renderAt(<SignIn />, { route: '/sign-in' });
    await userEvent.type(screen.getByLabelText('API key'), 'brth_wrong');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText(/was not accepted/)).toBeInTheDocument();
    expect(screen.getByTestId('location')).toHaveTextContent('/sign-in');
  });

  it('asks for a key before calling the server', async () => {
    const calls = mockFetch({});
    renderAt(<SignIn />, { route: '/sign-in' });
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Paste an API key to sign in.')).toBeInTheDocument();
    expect(calls).toHaveLength(0);
  });

  it('never follows a next= to another site', async () => {
    mockFetch({ 'POST /api/v1/session': { status: 204 } });
    renderAt(<SignIn />, { route: '/sign-in?next=%2F%2Fevil.example' });
    await userEvent.type(screen.getByLabelText('API key'), 'brth_x');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent(/^\/$/));
  });
});
