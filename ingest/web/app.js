// chatstream web client: protocol v1 (schemas/protocol/PROTOCOL.md) over one WebSocket.
// Plain ES module, no build step. All user data reaches the page through textContent.

const $ = (id) => document.getElementById(id);
const ID_RE = /^[A-Za-z0-9_.:@|+-]{1,128}$/;
const RETRIABLE = new Set(['rate_limited', 'unavailable']);
const MAX_SEND_ATTEMPTS = 8;
const HISTORY_LIMIT = 50;
const CLOSE_REASONS = {
  1000: 'closed normally', 1001: 'server shutting down', 1006: 'connection lost',
  1007: 'invalid UTF-8 sent', 1009: 'frame too large', 4401: 'not authenticated (token missing, invalid or expired)',
  4403: 'origin not allowed', 4408: 'idle timeout', 4429: 'too many connections from this address',
  4508: 'too slow reading messages',
};
const NO_RECONNECT = new Set([4401, 4403]);   // retrying cannot help: a new token or another origin is needed

const state = {
  cred: null,          // {user} (dev mode) or {token}
  user: null,          // as confirmed by `ready`
  room: null,          // the room shown
  ws: null,
  ready: false,
  joined: false,
  backoff: 0,          // current reconnect delay, ms
  reconnectTimer: null,
  seen: new Set(),     // message ids shown in the current room
  pending: new Map(),  // cmid -> {room, text, attempts, timer, li}
  cmidSeq: 0,
};
const cmidPrefix = 'w' + Math.random().toString(36).slice(2, 10);

// --- status area ----------------------------------------------------------

function status(text, isError = false) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (isError) li.className = 'error';
  $('status').append(li);
  while ($('status').children.length > 50) $('status').firstElementChild.remove();
  li.scrollIntoView({ block: 'nearest' });
}

function conn(text, up = false) {
  $('conn').textContent = text;
  $('conn').classList.toggle('up', up);
}

// --- storage: the last message id seen, per room and user -------------------

const lastKey = (room) => `chatstream.last.${state.user ?? ''}.${room}`;
const getLast = (room) => localStorage.getItem(lastKey(room));
function setLast(room, id) {
  const prev = getLast(room);
  if (!prev || id > prev) localStorage.setItem(lastKey(room), id);   // UUIDv7 sorts in time
}

// --- messages -------------------------------------------------------------

function renderMessage(m, li = document.createElement('li')) {
  li.replaceChildren();
  if (m.id) li.dataset.id = m.id;
  li.className = m.user === state.user ? 'mine' : '';
  const time = document.createElement('time');
  if (m.ts) {
    const d = new Date(m.ts);
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString();
  }
  const user = document.createElement('span');
  user.className = 'user';
  user.textContent = m.user;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text;
  li.append(time, user, text);
  return li;
}

// Adds a message of the shown room once. Live messages arrive in the room's order and are
// appended (above the outbox: own sends not yet seen as `msg`); older ones (history) go
// before the first shown message with a larger id. Own sends are shown where the room's
// order puts them, so every member sees the same list.
function addMessage(m, { live }) {
  if (m.room !== state.room || !m.id || state.seen.has(m.id)) return;
  state.seen.add(m.id);
  const list = $('messages');
  const li = renderMessage(m);
  const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.querySelector(`li.outbox[data-acked-id="${CSS.escape(m.id)}"]`)?.remove();
  if (live) {
    list.insertBefore(li, list.querySelector('li.outbox'));
    setLast(m.room, m.id);
  } else {
    const after = [...list.querySelectorAll('li[data-id]')].find((x) => x.dataset.id > m.id);
    list.insertBefore(li, after ?? list.querySelector('li.outbox'));
  }
  if (pinned) list.scrollTop = list.scrollHeight;
}

async function loadHistory(room) {
  const headers = state.cred.token
    ? { Authorization: `Bearer ${state.cred.token}` }
    : { 'X-Chatstream-Insecure-User': state.cred.user };   // dev mode only
  try {
    const res = await fetch(`/v1/rooms/${encodeURIComponent(room)}/messages?limit=${HISTORY_LIMIT}`,
                            { headers, cache: 'no-store' });
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      status(`history of ${room}: HTTP ${res.status} ${body?.error?.code ?? ''} ${body?.error?.message ?? ''}`, true);
      return;
    }
    for (const m of body.messages ?? []) addMessage({ room, ...m }, { live: false });
  } catch (e) {
    status(`history of ${room}: ${e.message}`, true);
  }
}

// --- connection -----------------------------------------------------------

function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/v1/ws`;
}

function send(frame) {
  if (state.ws?.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(frame));
  return true;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.ready = state.joined = false;
  conn('Connecting…');
  const ws = new WebSocket(wsUrl(), 'chatstream.v1');
  state.ws = ws;
  ws.onopen = () => send(state.cred.token ? { type: 'auth', token: state.cred.token } : { type: 'auth', user: state.cred.user });
  ws.onmessage = (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch { status('server sent a frame that is not JSON', true); return; }
    onFrame(f);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.ready = state.joined = false;
    updateSendButton();
    const why = CLOSE_REASONS[ev.code] ?? 'closed';
    const msg = `connection closed: ${ev.code} ${why}${ev.reason ? ` (${ev.reason})` : ''}`;
    if (!state.cred) return;
    if (NO_RECONNECT.has(ev.code)) {
      status(`${msg}; sign in again`, true);
      conn(`Disconnected (${ev.code})`);
      return;
    }
    status(msg, ev.code !== 1000);
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  state.backoff = Math.min(state.backoff ? state.backoff * 2 : 500, 30000);
  const delay = Math.round(state.backoff * (0.5 + Math.random() / 2));   // jitter: not every client at once
  conn(`Disconnected; reconnecting in ${(delay / 1000).toFixed(1)} s`);
  state.reconnectTimer = setTimeout(connect, delay);
}

function joinRoom() {
  if (!state.ready || !state.room) return;
  const since = getLast(state.room);
  send(since ? { type: 'join', room: state.room, since } : { type: 'join', room: state.room });
}

function onFrame(f) {
  switch (f.type) {
    case 'ready':
      state.ready = true;
      state.backoff = 0;
      state.user = f.user;
      $('who').textContent = `Signed in as ${f.user}`;
      conn('Connected', true);
      joinRoom();
      break;
    case 'joined':
      if (f.room !== state.room) break;
      state.joined = true;
      status(`joined ${f.room}`);
      updateSendButton();
      loadHistory(f.room);
      for (const [cmid, p] of state.pending) if (p.room === f.room && !p.timer) transmit(cmid);   // unacked before a reconnect
      break;
    case 'left':
      break;
    case 'msg':
      addMessage(f, { live: true });
      break;
    case 'ack': {
      const p = state.pending.get(f.cmid);
      if (!p) break;
      state.pending.delete(f.cmid);
      clearTimeout(p.timer);
      if (state.seen.has(f.id)) p.li.remove();         // its msg already arrived
      else { p.li.classList.remove('pending'); p.li.dataset.ackedId = f.id; p.li.setAttribute('aria-label', 'sent'); }
      break;
    }
    case 'error':
      onError(f);
      break;
    default:
      status(`unknown frame type from server: ${String(f.type).slice(0, 40)}`, true);
  }
}

function onError(f) {
  const p = f.cmid ? state.pending.get(f.cmid) : null;
  if (p && RETRIABLE.has(f.code) && p.attempts < MAX_SEND_ATTEMPTS) {
    const delay = Math.max(0, Number(f.retry_after_ms) || 1000);
    status(`${f.code}: retrying in ${delay} ms`);
    p.timer = setTimeout(() => { p.timer = null; transmit(f.cmid); }, delay);
    return;
  }
  status(`error ${f.code}${f.room ? ` in ${f.room}` : ''}: ${f.message ?? ''}`, true);
  if (p) {
    state.pending.delete(f.cmid);
    p.li.remove();
    if (!$('text').value) $('text').value = p.text;   // give the text back to fix it
  }
  if (f.code === 'not_member' && f.room === state.room) state.joined = false;
}

// Sends (or resends, with the same cmid) a pending message.
function transmit(cmid) {
  const p = state.pending.get(cmid);
  if (!p) return;
  if (!state.joined || p.room !== state.room) return;   // resent after the next `joined`
  p.attempts++;
  send({ type: 'send', room: p.room, text: p.text, cmid });
}

function updateSendButton() {
  $('send').disabled = !state.joined;
}

// --- UI -------------------------------------------------------------------

function showRoom(room) {
  if (state.room && state.room !== room && state.joined) send({ type: 'leave', room: state.room });
  state.room = room;
  state.joined = false;
  state.seen.clear();
  for (const [cmid, p] of state.pending) { clearTimeout(p.timer); state.pending.delete(cmid); }
  $('messages').replaceChildren();
  $('room-title').textContent = `Room ${room}`;
  history.replaceState(null, '', `#${encodeURIComponent(room)}`);
  updateSendButton();
  joinRoom();
}

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = $('user').value.trim();
  const token = $('token').value.trim();
  if (!token && !ID_RE.test(user)) { status('enter a user name (letters, digits, _ . : @ | + -) or a token', true); return; }
  state.cred = token ? { token } : { user };
  sessionStorage.setItem('chatstream.cred', JSON.stringify(state.cred));
  $('signin').hidden = true;
  $('chat').hidden = false;
  $('room').focus();
  connect();
});

$('signout').addEventListener('click', () => {
  sessionStorage.removeItem('chatstream.cred');
  state.cred = null;
  clearTimeout(state.reconnectTimer);
  state.ws?.close(1000);
  state.ws = null;
  state.user = null;
  $('who').textContent = 'Not signed in';
  conn('Disconnected');
  $('chat').hidden = true;
  $('signin').hidden = false;
});

$('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = $('room').value.trim();
  if (!ID_RE.test(room)) { status('room names are 1-128 letters, digits and _ . : @ | + -', true); return; }
  showRoom(room);
});

$('send-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  if (!text.trim() || !state.joined) return;
  const cmid = `${cmidPrefix}-${Date.now().toString(36)}-${++state.cmidSeq}`;
  const li = renderMessage({ user: state.user, text });
  li.classList.add('outbox', 'pending');
  li.setAttribute('aria-label', 'sending');
  $('messages').append(li);
  state.pending.set(cmid, { room: state.room, text, attempts: 0, timer: null, li });
  $('text').value = '';
  transmit(cmid);
});

$('text').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); $('send-form').requestSubmit(); }
});

// A reload keeps the sign-in (this tab only) and the room (in the URL).
const saved = sessionStorage.getItem('chatstream.cred');
if (saved) {
  state.cred = JSON.parse(saved);
  $('signin').hidden = true;
  $('chat').hidden = false;
  const room = decodeURIComponent(location.hash.slice(1));
  if (ID_RE.test(room)) { $('room').value = room; showRoom(room); }
  connect();
}
updateSendButton();
