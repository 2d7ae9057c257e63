// chatstream web client: protocol v1 (schemas/protocol/PROTOCOL.md) in plain JavaScript.
// All text from the network goes into the page through textContent, never as HTML.
const $ = (id) => document.getElementById(id);
const state = {
  ws: null, user: null, token: null, room: null, ready: false,
  seen: new Set(),          // ids shown in the current room (a push is shown once)
  pending: new Map(),       // cmid -> {text, room, li} sent and not yet acked
  backoff: 500, closing: false,
};

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

const lastKey = (room) => `chatstream.last.${room}`;
const cmidAlphabet = (s) => s.replace(/[^A-Za-z0-9_.:@|+-]/g, "");
function newCmid() {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return cmidAlphabet(`w${Date.now().toString(36)}-${r[0].toString(36)}${r[1].toString(36)}`).slice(0, 64);
}

function showMessage(m) {
  if (state.seen.has(m.id)) return;
  state.seen.add(m.id);
  const mine = m.cmid && state.pending.get(m.cmid);
  if (mine && mine.li) { mine.li.remove(); state.pending.delete(m.cmid); }
  const li = document.createElement("li");
  li.dataset.id = m.id;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.user;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.text;
  const when = document.createElement("time");
  when.className = "when";
  when.dateTime = new Date(m.ts).toISOString();
  when.textContent = new Date(m.ts).toLocaleTimeString();
  li.append(who, text, when);
  // Placed by id (time-ordered), as history is: another region's message can arrive after
  // newer local ones. Unacked sends (no id yet) stay at the bottom.
  const list = $("messages");
  let before = null;
  for (let el = list.lastElementChild; el && (!el.dataset.id || el.dataset.id > m.id);
       el = el.previousElementSibling) before = el;
  list.insertBefore(li, before);
  list.scrollTop = list.scrollHeight;
  const last = localStorage.getItem(lastKey(m.room));
  if (m.room === state.room && (!last || m.id > last)) localStorage.setItem(lastKey(m.room), m.id);
}

async function loadHistory(room) {
  // Only when this browser has never seen the room: otherwise `since` on join catches up.
  if (localStorage.getItem(lastKey(room))) return;
  const auth = state.token ? `Bearer ${state.token}` : `Dev ${state.user}`;
  const res = await fetch(`/v1/rooms/${encodeURIComponent(room)}/messages?limit=50`,
                          { headers: { Authorization: auth } });
  if (!res.ok) { status(`history: HTTP ${res.status}`, true); return; }
  const body = await res.json();
  for (const m of body.messages.reverse()) showMessage(m);
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function join(room) {
  state.room = room;
  state.seen.clear();
  $("messages").replaceChildren();
  const since = localStorage.getItem(lastKey(room));
  const frame = { type: "join", room };
  if (since) frame.since = since;
  send(frame);
}

function onFrame(f) {
  switch (f.type) {
    case "ready":
      state.ready = true;
      state.backoff = 500;
      status(`connected as ${f.user}`);
      if (state.room) join(state.room);
      break;
    case "joined":
      status(`in ${f.room} as ${state.user || "token user"}`);
      loadHistory(f.room).catch((e) => status(`history: ${e}`, true));
      break;
    case "msg":
      if (f.room === state.room) showMessage(f);
      break;
    case "ack": {
      const p = state.pending.get(f.cmid);
      if (p && p.li) p.li.dataset.acked = f.id;
      break;
    }
    case "error": {
      const retry = f.retry_after_ms;
      status(`error ${f.code}: ${f.message}${retry ? ` (retrying in ${retry} ms)` : ""}`, true);
      const p = f.cmid && state.pending.get(f.cmid);
      if (p && (f.code === "unavailable" || f.code === "rate_limited")) {
        setTimeout(() => send({ type: "send", room: p.room, text: p.text, cmid: f.cmid }), retry || 1000);
      } else if (p) {
        p.li?.remove();
        state.pending.delete(f.cmid);
      }
      break;
    }
  }
}

function connect() {
  state.closing = false;
  const q = state.token ? `?token=${encodeURIComponent(state.token)}` : "";
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws${q}`);
  state.ws = ws;
  ws.onopen = () => { if (!state.token) ws.send(JSON.stringify({ type: "auth", user: state.user })); };
  ws.onmessage = (ev) => {
    try { onFrame(JSON.parse(ev.data)); } catch (e) { status(`bad frame from server: ${e}`, true); }
  };
  ws.onclose = (ev) => {
    state.ready = false;
    if (state.closing) return;
    status(`disconnected (close ${ev.code}${ev.reason ? ` ${ev.reason}` : ""}); reconnecting in ${state.backoff} ms`, true);
    if (ev.code === 4401 || ev.code === 4403) return; // auth or origin: retrying will not help
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 15000);
  };
}

$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim() || null;
  state.user = $("user").value.trim() || null;
  if (!state.token && !state.user) { status("enter a user name (dev mode) or a token", true); return; }
  if (state.ws) { state.closing = true; state.ws.close(); }
  connect();
});

$("joinform").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = $("room").value.trim();
  if (!room) return;
  if (state.room && state.room !== room) send({ type: "leave", room: state.room });
  state.room = room;
  if (state.ready) join(room);
});

$("sendform").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value;
  if (!text || !state.room) return;
  const cmid = newCmid();
  const li = document.createElement("li");
  li.className = "pending";
  li.textContent = text;
  $("messages").append(li);
  state.pending.set(cmid, { text, room: state.room, li });
  send({ type: "send", room: state.room, text, cmid });
  $("text").value = "";
});
