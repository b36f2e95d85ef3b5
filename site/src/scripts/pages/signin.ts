/** Sign in, sign up and accept an invitation (`?invitation=…`), then go back where the visitor came from. */
import { ApiError, auth, nextPath } from '../lib/api.ts';
import { byId } from '../lib/dom.ts';

const params = new URLSearchParams(location.search);
const invitation = params.get('invitation') ?? undefined;
const signup = params.get('mode') === 'signup' || invitation !== undefined;
const form = byId<HTMLFormElement>('auth-form');

if (signup) {
  byId('auth-title').textContent = invitation ? 'Accept your invitation' : 'Create your account';
  byId('auth-lead').textContent = invitation
    ? 'Choose a password to join your team.'
    : 'One account for your servers, changes and deploys.';
  byId('name-field').hidden = false;
  byId('auth-submit').textContent = invitation ? 'Join' : 'Sign up';
  byId<HTMLInputElement>('password').autocomplete = 'new-password';
  const next = params.get('next');
  byId('auth-switch').replaceChildren(
    'Have an account? ',
    Object.assign(document.createElement('a'), {
      href: `/signin/${next ? `?next=${encodeURIComponent(next)}` : ''}`,
      textContent: 'Sign in',
    }),
  );
} else if (params.get('next')) {
  byId<HTMLAnchorElement>('switch-link').href =
    `/signin/?mode=signup&next=${encodeURIComponent(params.get('next') ?? '')}`;
}

function showError(err: unknown): void {
  for (const id of ['email-error', 'password-error', 'form-error']) byId(id).textContent = '';
  const message = err instanceof Error ? err.message : String(err);
  const field = /password/i.test(message)
    ? 'password'
    : /email/i.test(message) && err instanceof ApiError && err.status === 400
      ? 'email'
      : undefined;
  if (field) {
    byId(`${field}-error`).textContent = message;
    byId<HTMLInputElement>(field).setAttribute('aria-invalid', 'true');
    byId<HTMLInputElement>(field).focus();
  } else byId('form-error').textContent = message;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = new FormData(form);
  const body = {
    email: String(data.get('email') ?? ''),
    password: String(data.get('password') ?? ''),
    ...(signup ? { name: String(data.get('name') ?? ''), invitation } : {}),
  };
  const submit = byId<HTMLButtonElement>('auth-submit');
  submit.disabled = true;
  try {
    await auth(signup ? '/signup' : '/login', body);
    location.assign(nextPath());
  } catch (err) {
    showError(err);
    submit.disabled = false;
  }
});

// The company provider's button, only where one is configured (the route answers 404 otherwise).
void fetch('/auth/oidc/start', { method: 'HEAD', redirect: 'manual', credentials: 'same-origin' }).then((r) => {
  if (r.status === 404) return;
  const p = byId('company-signin');
  p.append(
    Object.assign(document.createElement('a'), {
      href: '/auth/oidc/start',
      textContent: 'Sign in with your company provider',
    }),
  );
  p.hidden = false;
});
