// A real browser for the console tests: Debian's chromium driven by playwright-core. The Rust
// test (tests/console/mod.rs) sends one JSON step per line on stdin and reads one JSON answer
// per line on stdout, so it can act on the appliance (start an agent, restart it) between
// steps. Environment: BASE (https://127.0.0.1:PORT), SHOTS (screenshot folder), PROFILE (a
// fresh user-data-dir).
//
// Steps: {goto}, {fill, text}, {click}, {dblclick}, {press, key}, {select, value}, {wait, text?, count?},
// {wait_url}, {wait_value, value}, {wait_eval}, {absent}, {text}, {value}, {count}, {eval}, {emulate}, {screenshot},
// {download}, {sign_out_elsewhere}, {metrics}, {key}, {type}, {focused}, {close}.
// {key} and {type} go to whatever has the focus (page.keyboard), as a keyboard-only user would;
// {focused} describes document.activeElement. Every answer: {ok, value?, error?, url}.
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE;
const shots = process.env.SHOTS;
mkdirSync(shots, { recursive: true });
const context = await chromium.launchPersistentContext(process.env.PROFILE, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: true, // the appliance's own CA; the tests pin it elsewhere
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] || await context.newPage();
const problems = [];
page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
let sockets = 0;
page.on('websocket', () => { sockets += 1; });

const url = (u) => (u.startsWith('http') ? u : base + u);
const T = (s) => s.timeout_ms ?? 20000;

// What has the focus: tag, id, name, type, role, text (short), and the id of its form.
async function focused() {
  // A key that submits a form navigates: there is no focus to report then.
  return await page.evaluate(() => {
    const e = document.activeElement;
    if (!e) return null;
    return {
      tag: e.tagName.toLowerCase(), id: e.id || null, name: e.getAttribute('name'),
      type: e.getAttribute('type'), role: e.getAttribute('role'),
      text: (e.innerText || e.value || '').trim().slice(0, 60),
      form: e.form ? (e.form.id || null) : null,
    };
  }).catch(() => null);
}

async function run(s) {
  if (s.goto !== undefined) { await page.goto(url(s.goto)); return null; }
  if (s.fill !== undefined) { await page.locator(s.fill).first().fill(s.text, { timeout: T(s) }); return null; }
  if (s.dblclick !== undefined) { await page.locator(s.dblclick).first().dblclick({ timeout: T(s) }); return null; }
  if (s.click !== undefined) { await page.locator(s.click).first().click({ timeout: T(s) }); return null; }
  if (s.press !== undefined) { await page.locator(s.press).first().press(s.key, { timeout: T(s) }); return null; }
  if (s.select !== undefined) { await page.locator(s.select).first().selectOption(s.value, { timeout: T(s) }); return null; }
  if (s.wait !== undefined) {
    let loc = page.locator(s.wait);
    if (s.text !== undefined) loc = loc.filter({ hasText: s.text });
    if (s.count !== undefined) {
      const deadline = Date.now() + T(s);
      while ((await loc.count()) < s.count) {
        if (Date.now() > deadline) throw new Error(`fewer than ${s.count} of ${s.wait}`);
        await page.waitForTimeout(100);
      }
      return await loc.count();
    }
    await loc.first().waitFor({ state: 'visible', timeout: T(s) });
    return await loc.first().innerText();
  }
  if (s.wait_url !== undefined) { await page.waitForURL(new RegExp(s.wait_url), { timeout: T(s) }); return page.url(); }
  if (s.wait_value !== undefined) {
    const deadline = Date.now() + T(s);
    for (;;) {
      const v = await page.locator(s.wait_value).first().inputValue({ timeout: T(s) }).catch(() => null);
      if (v === s.value) return v;
      if (Date.now() > deadline) throw new Error(`${s.wait_value} has ${JSON.stringify(v)}`);
      await page.waitForTimeout(100);
    }
  }
  if (s.wait_eval !== undefined) {
    const deadline = Date.now() + T(s);
    for (;;) {
      const v = await page.evaluate(s.wait_eval).catch(() => null);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`${s.wait_eval} stayed falsy`);
      await page.waitForTimeout(100);
    }
  }
  if (s.absent !== undefined) {
    await page.waitForTimeout(s.settle_ms ?? 300);
    const n = await page.locator(s.absent).count();
    if (n !== 0) throw new Error(`${s.absent} is present ${n} times`);
    return 0;
  }
  if (s.text !== undefined) return await page.locator(s.text).first().innerText({ timeout: T(s) });
  if (s.value !== undefined) return await page.locator(s.value).first().inputValue({ timeout: T(s) });
  if (s.count !== undefined) return await page.locator(s.count).count();
  if (s.eval !== undefined) return await page.evaluate(s.eval);
  if (s.emulate !== undefined) {
    // {emulate: {colorScheme: 'dark'|'light', width, height}}
    if (s.emulate.colorScheme) await page.emulateMedia({ colorScheme: s.emulate.colorScheme });
    if (s.emulate.width) await page.setViewportSize({ width: s.emulate.width, height: s.emulate.height || 800 });
    return null;
  }
  if (s.screenshot !== undefined) {
    const path = `${shots}/${s.screenshot}.png`;
    await page.screenshot({ path, fullPage: true });
    return path;
  }
  if (s.download !== undefined) {
    // Clicks a link that downloads; answers the file's suggested name and its text.
    const [dl] = await Promise.all([
      page.waitForEvent('download', { timeout: T(s) }),
      page.locator(s.download).first().click({ timeout: T(s) }),
    ]);
    const path = `${process.env.PROFILE}/download-${n}`;
    await dl.saveAs(path);
    return { filename: dl.suggestedFilename(), text: readFileSync(path, 'utf8') };
  }
  if (s.sign_out_elsewhere !== undefined) {
    // The session is ended by another tab: the API's sign-out with this browser's cookie.
    const me = await page.request.get(url('/api/v1/me'));
    const csrf = (await me.json()).csrf_token;
    const r = await page.request.post(url('/api/v1/auth/logout'), { headers: { 'x-csrf-token': csrf } });
    return r.status();
  }
  if (s.metrics !== undefined) {
    return await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const paint = performance.getEntriesByName('first-contentful-paint')[0];
      const res = performance.getEntriesByType('resource');
      return {
        first_paint_ms: paint ? paint.startTime : null,
        connected_ms: window.__acorn && window.__acorn.connectedAt,
        rendered_ms: window.__acorn && window.__acorn.firstRenderAt,
        document_bytes: nav ? nav.transferSize : null,
        resource_bytes: res.reduce((n, r) => n + (r.transferSize || 0), 0),
      };
    });
  }
  if (s.key !== undefined) { await page.keyboard.press(s.key); return await focused(); }
  if (s.type !== undefined) { await page.keyboard.type(s.type); return await focused(); }
  if (s.focused !== undefined) return await focused();
  if (s.close !== undefined) { await context.close(); return { problems, sockets }; }
  throw new Error(`unknown step ${JSON.stringify(s)}`);
}

const rl = createInterface({ input: process.stdin });
let n = 0;
for await (const line of rl) {
  if (!line.trim()) continue;
  const step = JSON.parse(line);
  n += 1;
  try {
    const value = await run(step);
    process.stdout.write(JSON.stringify({ ok: true, value, url: page.url(), problems }) + '\n');
    if (step.close !== undefined) break;
  } catch (e) {
    let shot = null;
    try { shot = `${shots}/failure-${process.pid}-${n}.png`; await page.screenshot({ path: shot, fullPage: true }); } catch (_) { shot = null; }
    process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e), url: page.url(), screenshot: shot, problems }) + '\n');
  }
}
process.exit(0);
