/** The first-run page: a set-password link's token is in the fragment, so it never reaches a server log. */
import { ApiError, auth } from '../lib/api.ts';
import { byId } from '../lib/dom.ts';

const token = location.hash.slice(1);
// Keep the token out of the history and of anything that reads the address bar later.
history.replaceState(null, '', location.pathname);
const form = byId<HTMLFormElement>('setup-form');
if (!token)
  byId('form-error').textContent = 'This page needs the link from the start banner (or POST /api/v1/me/setup-link).';

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  for (const id of ['email-error', 'password-error', 'form-error']) byId(id).textContent = '';
  const data = new FormData(form);
  const email = String(data.get('email') ?? '').trim();
  try {
    await auth('/setup', { token, password: String(data.get('password') ?? ''), ...(email ? { email } : {}) });
    location.assign('/dashboard/');
  } catch (err) {
    const field = err instanceof ApiError ? err.field : undefined;
    const message = err instanceof Error ? err.message : String(err);
    if (field === 'email' || field === 'password') {
      byId(`${field}-error`).textContent = message;
      byId(field).focus();
    } else byId('form-error').textContent = message;
  }
});
