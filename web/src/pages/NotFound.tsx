import { Link } from 'react-router';
import { usePageTitle } from '../components/Layout';

export function NotFound() {
  usePageTitle('Not found');
  return (
    <main className="page" id="main">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. Go to the <Link to="/">overview</Link>.
      </p>
    </main>
  );
}
