// Shared by the service's pages: the token (kept for this tab only), API calls with it, and a tiny renderer.
export const token = {
  get: () => sessionStorage.getItem('agent-trainer-token') || '',
  set: value => sessionStorage.setItem('agent-trainer-token', value.trim()),
};

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  const body = text && (response.headers.get('content-type') || '').includes('json') ? JSON.parse(text) : text;
  if (!response.ok) throw new Error(body.detail || body.title || `${response.status} ${response.statusText}`);
  return body;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child ?? ''));
  return node;
}

export const loss = value => (value === null || value === undefined) ? '–' : Number(value).toFixed(4);
export const when = value => value ? new Date(value).toLocaleString() : '–';

// The token form and who it belongs to.
export async function header() {
  const form = document.getElementById('token-form');
  const input = form.querySelector('input');
  input.value = token.get();
  form.addEventListener('submit', event => { event.preventDefault(); token.set(input.value); location.reload(); });
  try {
    const me = await api('/api/service/me');
    document.getElementById('me').textContent = me.name === 'anonymous' ? 'not signed in' : `${me.name} (${me.role})`;
  } catch (error) {
    document.getElementById('me').textContent = error.message;
  }
}
