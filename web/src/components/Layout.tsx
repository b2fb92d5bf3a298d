import { useEffect, useRef } from 'react';
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { api } from '../lib/api';
import { useSession } from '../lib/session';
import { useTheme } from '../lib/theme';

export function usePageTitle(title: string) {
  useEffect(() => {
    document.title = `${title} · berth console`;
  }, [title]);
}

export function Layout() {
  const session = useSession().data;
  const who = { data: session?.key };
  const canDeploy = session?.actions.deploy.allowed ?? true;
  const canKeys = session?.actions.manage_keys.allowed ?? true;
  const [theme, toggleTheme] = useTheme();
  const navigate = useNavigate();
  const client = useQueryClient();
  const location = useLocation();
  const first = useRef(true);

  // Move focus to the page heading on navigation, so screen readers announce the new page.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const h1 = document.querySelector<HTMLElement>('main h1');
    if (h1) {
      h1.tabIndex = -1;
      h1.focus({ preventScroll: false });
    }
  }, [location.pathname]);

  const signOut = async () => {
    try {
      await api.signOut();
    } catch {
      /* the cookie is gone either way once we forget everything */
    }
    client.clear();
    navigate('/sign-in', { replace: true });
  };

  return (
    <div className="shell">
      <a href="#main" className="skip-link">Skip to content</a>
      <header className="topbar">
        <NavLink to="/" className="brand" aria-label="berth console home">
          <span className="brand-mark" aria-hidden="true">⚓</span> berth
        </NavLink>
        <nav aria-label="Main" className="mainnav">
          <NavLink to="/" end>Overview</NavLink>
          {canDeploy && <NavLink to="/deploy">Deploy</NavLink>}
          <NavLink to="/models">Models</NavLink>
          {canKeys && <NavLink to="/keys">API keys</NavLink>}
        </nav>
        <div className="topbar-right">
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={toggleTheme}
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
            title={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
          {who.data && (
            <span className="who" title={`Signed in with key ${who.data.prefix}… (${who.data.scopes.join(', ')})`}>
              {who.data.name}
            </span>
          )}
          <button type="button" className="btn btn-small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <Outlet />
    </div>
  );
}
