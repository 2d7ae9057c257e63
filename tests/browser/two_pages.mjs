// The web client in Debian's Chromium (playwright-core): two users in one room see each
// other's messages, each once, in the same order; a reload catches up from history; a
// message over the limit shows an error. Every WebSocket frame either way is written to
// FRAMES_FILE (when given) for check_frames.py to judge against schemas/protocol/, and so
// is every history page the pages fetched.
// Usage: node two_pages.mjs http://127.0.0.1:PORT [FRAMES_FILE]
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.argv[2];
const room = `b${Date.now().toString(36)}`;
const fail = (msg) => { console.log(`FAIL: ${msg}`); process.exit(1); };
const ok = (msg) => console.log(`ok: ${msg}`);
const frames = []; // {from: "client"|"server"|"history", data}, in the order the pages saw them
const bodies = []; // promises of history pages (GET /v1/rooms/{room}/messages) as frames entries

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});  // launch() gives Chromium a fresh temporary profile of its own
// one browser context per user: each has its own localStorage, as two people's browsers do
const contexts = {};
try {
  const open = async (user) => {
    contexts[user] ??= await browser.newContext();
    contexts[user].setDefaultTimeout(15000);
    const page = await contexts[user].newPage();
    page.on("pageerror", (e) => fail(`${user}: page error ${e}`));
    page.on("websocket", (ws) => {
      ws.on("framesent", (f) => frames.push({ from: "client", data: String(f.payload) }));
      ws.on("framereceived", (f) => frames.push({ from: "server", data: String(f.payload) }));
    });
    page.on("response", (r) => {
      if (r.request().method() === "GET" && /\/v1\/rooms\/[^/]+\/messages/.test(new URL(r.url()).pathname) && r.ok())
        bodies.push(r.text().then((data) => frames.push({ from: "history", data }), () => {}));
    });
    await page.goto(base);
    await page.fill("#user", user);
    await page.click("#connect");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected"));
    await page.fill("#room", room);
    await page.click("#join");
    await page.waitForFunction((r) => document.getElementById("status").textContent.startsWith(`in ${r}`), room);
    return page;
  };
  const ids = (page) => page.$$eval("#messages li[data-id]", (lis) => lis.map((li) => li.dataset.id));
  const texts = (page) => page.$$eval("#messages li[data-id] .text", (s) => s.map((x) => x.textContent));
  const say = async (page, text) => { await page.fill("#text", text); await page.click("#send"); };
  const waitCount = async (page, n) => {
    try {
      await page.waitForFunction((k) => document.querySelectorAll("#messages li[data-id]").length >= k, n);
    } catch (e) {
      const have = await page.$$eval("#messages li", (lis) => lis.map((li) => `${li.dataset.id || "-"}:${li.textContent}`));
      fail(`waiting for ${n} messages; status "${await page.textContent("#status")}", list ${JSON.stringify(have)}`);
    }
  };

  const alice = await open("alice");
  const bob = await open("bob");
  await say(alice, "hello from alice");
  await waitCount(bob, 1);
  await say(bob, "hi alice, <b>bob</b> here");
  await say(alice, "see you in class");
  await waitCount(alice, 3);
  await waitCount(bob, 3);
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would have arrived by now
  const a = await ids(alice), b = await ids(bob);
  if (a.length !== 3 || b.length !== 3) fail(`expected 3 messages on each page, got ${a.length} and ${b.length}`);
  if (new Set(a).size !== 3) fail("a message shown twice");
  if (a.join() !== b.join()) fail(`different orders: ${a} vs ${b}`);
  ok("both pages show the 3 messages once, in the same order");
  const t = await texts(bob);
  if (!t.includes("hi alice, <b>bob</b> here")) fail(`markup must be shown as text, got ${t}`);
  if (await bob.$("#messages b")) fail("message text was interpreted as HTML");
  ok("message text is shown as text, never as HTML");

  // bob reloads: catches up (join with `since`) and sees what alice sends meanwhile, once
  await bob.close();
  await say(alice, "bob, are you there?");
  await waitCount(alice, 4);
  const bob2 = await open("bob");
  await waitCount(bob2, 1);
  await new Promise((r) => setTimeout(r, 500));
  const b2 = await ids(bob2);
  const a2 = await ids(alice);
  if (b2.length !== 1 || b2[0] !== a2[3]) fail(`after reload bob should catch up with exactly the missed message, got ${b2}`);
  ok("a reloaded page catches up with exactly what it missed");

  // a new user's browser has no `since`: it loads the history page instead
  const carol = await open("carol");
  await waitCount(carol, 4);
  const c = await ids(carol);
  if (c.join() !== a2.join()) fail(`history on a new page differs: ${c} vs ${a2}`);
  ok("a new browser sees the room's history in order");

  // too long a message: an error in the status line, the connection stays usable
  await say(alice, "x".repeat(5000));
  await alice.waitForFunction(() => document.getElementById("status").classList.contains("error"));
  const st = await alice.textContent("#status");
  if (!st.includes("too_large")) fail(`expected a too_large error, status says: ${st}`);
  await say(alice, "still here");
  await waitCount(bob2, 2);
  ok(`an oversized message shows "${st}" and the page keeps working`);
} finally {
  await browser.close();
  await Promise.all(bodies);
  if (process.argv[3]) writeFileSync(process.argv[3], frames.map((f) => JSON.stringify(f) + "\n").join(""));
}
