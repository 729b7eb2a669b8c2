import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, describeError, tokenStore } from './api';
import { Dashboard } from './pages/Dashboard';
import { Streams } from './pages/Streams';
import { Titles } from './pages/Titles';
import { Viewers } from './pages/Viewers';
import { Webhooks } from './pages/Webhooks';
import './style.css';

const pages = {
  dashboard: { label: 'Dashboard', Page: Dashboard },
  titles: { label: 'Titles', Page: Titles },
  streams: { label: 'Live streams', Page: Streams },
  viewers: { label: 'Viewers and plans', Page: Viewers },
  webhooks: { label: 'Webhooks', Page: Webhooks },
} as const;
type PageName = keyof typeof pages;

const pageOfHash = (): PageName => {
  const name = location.hash.replace(/^#\/?/, '');
  return name in pages ? (name as PageName) : 'dashboard';
};

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      // Any admin route tells whether the token is right.
      await api('/v1/webhooks', { token });
      tokenStore.set(token);
      onSignedIn();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <main class="signin">
      <h1>Weir</h1>
      <form onSubmit={submit}>
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" value={token} onInput={(e) => setToken(e.currentTarget.value)} required />
        <button type="submit">Sign in</button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(tokenStore.get() !== null);
  const [page, setPage] = useState<PageName>(pageOfHash());
  useEffect(() => {
    const onHash = () => setPage(pageOfHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const { Page } = pages[page];
  return (
    <>
      <header>
        <strong>Weir</strong>
        <nav aria-label="Sections">
          {(Object.keys(pages) as PageName[]).map((name) => (
            <a key={name} href={`#/${name}`} aria-current={name === page ? 'page' : undefined}>
              {pages[name].label}
            </a>
          ))}
        </nav>
        <button
          type="button"
          class="link"
          onClick={() => {
            tokenStore.clear();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Page />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
