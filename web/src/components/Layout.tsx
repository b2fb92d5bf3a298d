import { useEffect, useRef, useState, type MouseEvent } from 'react';
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
  // At phone width the navigation and the account controls fold into a menu (styles.css).
  const [menuOpen, setMenuOpen] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);

  // Move focus to the page heading on navigation, so screen readers announce the new page.
  useEffect(() => {
    setMenuOpen(false);
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

  // An open menu closes on Escape (focus back on its button) and on a press anywhere outside it.
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setMenuOpen(false);
      menuButton.current?.focus();
    };
    const onPress = (e: PointerEvent) => {
      const t = e.target as Node;
      if (!menu.current?.contains(t) && !menuButton.current?.contains(t)) setMenuOpen(false);
    };
    document.addEventListener('keydown', onKey);
    document.addEventListener('pointerdown', onPress);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onPress);
    };
  }, [menuOpen]);

  // A link in the menu closes it. Another page moves focus to its heading (above); the page
  // already shown keeps focus on the menu button rather than on a link that has just been hidden.
  const onNavClick = (e: MouseEvent<HTMLElement>) => {
    const link = (e.target as Element).closest('a');
    if (!link || !menuOpen) return;
    setMenuOpen(false);
    if (link.getAttribute('aria-current') === 'page') menuButton.current?.focus();
  };

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
        <button
          ref={menuButton}
          type="button"
          className="btn btn-small menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="topbar-menu"
          onClick={() => setMenuOpen((open) => !open)}
        >
          <span aria-hidden="true">{menuOpen ? '✕' : '☰'}</span> Menu
        </button>
        <div
          id="topbar-menu"
          ref={menu}
          className={menuOpen ? 'topbar-menu open' : 'topbar-menu'}
          onBlur={(e) => {
            // Tabbing out of the open menu closes it, so that it does not cover what has focus.
            const to = e.relatedTarget as Node | null;
            if (to && !e.currentTarget.contains(to) && !menuButton.current?.contains(to)) setMenuOpen(false);
          }}
        >
          <nav aria-label="Main" className="mainnav" onClick={onNavClick}>
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
        </div>
      </header>
      <Outlet />
    </div>
  );
}
