// The console benchmark's browser side (driven by tests/benches/console.rs): Debian's chromium
// with playwright-core, signed in with a session cookie the bench made through the API.
// Environment: BASE, COOKIE (session cookie value), PAGES (JSON list of console paths),
// SESSION_PAGE, TABS. Protocol on stdin/stdout (one JSON line each):
//   -> {"pages": true}   <- per page: first paint, connected, first LiveView render (interactive),
//                           bytes (document, assets, socket until rendered), cold and warm cache
//   -> {"open_tabs": n}  <- when n tabs of SESSION_PAGE show the live run's block
//   -> {"collect": run}  <- per tab: [(answer length, Date.now()) samples] and connect time
//   -> {"close": true}
import { createInterface } from 'node:readline';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.BASE;
const host = new URL(base).hostname;
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // 50 background tabs: do not throttle their timers and rendering.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows'];

async function context() {
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'acorn-bench-')), {
    executablePath: '/usr/bin/chromium', headless: true, ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 }, args,
  });
  await ctx.addCookies([{ name: '__Host-acorn_session', value: process.env.COOKIE, domain: host,
    path: '/', secure: true, httpOnly: true, sameSite: 'Lax' }]);
  return ctx;
}

async function measure(page, path) {
  let socketBytes = 0;
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    socketBytes += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length;
  }));
  const t0 = Date.now();
  await page.goto(base + path);
  await page.waitForFunction(() => document.documentElement.dataset.lv === 'rendered'
    && !document.querySelector('#main [role=status] .spinner'), null, { timeout: 60000 });
  const wall = Date.now() - t0;
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const res = performance.getEntriesByType('resource');
    return {
      first_paint_ms: paint ? paint.startTime : null,
      connected_ms: window.__acorn.connectedAt,
      first_render_ms: window.__acorn.firstRenderAt,
      document_bytes: nav.transferSize,
      asset_bytes: res.reduce((n, r) => n + (r.transferSize || 0), 0),
    };
  });
  return { path, ...m, loaded_ms: wall, socket_bytes: socketBytes };
}

let tabsCtx = null;
const tabs = [];
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const step = JSON.parse(line);
  let value = null;
  if (step.pages) {
    value = [];
    for (const path of JSON.parse(process.env.PAGES)) {
      for (const cache of ['cold', 'warm']) {
        // cold: a fresh profile; warm: the same profile again (assets cached).
        const ctx = cache === 'cold' ? await context() : value.ctx;
        const page = await ctx.newPage();
        const r = await measure(page, path);
        value.push({ cache, ...r });
        await page.close();
        if (cache === 'cold') value.ctx = ctx; else { await ctx.close(); delete value.ctx; }
      }
    }
  } else if (step.open_tabs) {
    tabsCtx = tabsCtx || await context();
    const run = step.run;
    const t0 = Date.now();
    for (let i = 0; i < step.open_tabs; i += 1) {
      const page = await tabsCtx.newPage();
      await page.addInitScript((runId) => {
        // Samples of the run's answer as the DOM shows it: (length, wall-clock ms).
        window.__samples = [];
        const sample = () => {
          const el = document.querySelector(`section[data-run="${runId}"] .answer`);
          const n = el ? el.textContent.length : 0;
          const last = window.__samples[window.__samples.length - 1];
          if (!last || last[0] !== n) window.__samples.push([n, Date.now()]);
        };
        new MutationObserver(sample).observe(document, { childList: true, subtree: true, characterData: true });
      }, run);
      page.goto(base + process.env.SESSION_PAGE).catch(() => {});
      tabs.push(page);
    }
    for (const page of tabs) {
      await page.waitForSelector(`section[data-run="${run}"]`, { timeout: 120000 });
    }
    value = { opened_ms: Date.now() - t0, tabs: tabs.length };
  } else if (step.collect) {
    value = [];
    for (const page of tabs) {
      // The run has ended on the server; give each tab time to show its last event.
      await page.waitForFunction((n) => {
        const s = window.__samples;
        return s.length > 0 && s[s.length - 1][0] >= n;
      }, step.length, { timeout: 15000 }).catch(() => {});
      value.push(await page.evaluate(() => ({
        samples: window.__samples,
        connected: performance.timeOrigin + (window.__acorn.connectedAt || 0),
      })));
    }
  } else if (step.close) {
    if (tabsCtx) await tabsCtx.close();
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
    break;
  }
  process.stdout.write(JSON.stringify({ ok: true, value }) + '\n');
}
process.exit(0);
