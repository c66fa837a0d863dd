// The test harness: one moodlog server and one chromium for the run; each
// scenario gets its own browser contexts (closed at its end) and, when it
// fails, leaves a screenshot and the HTML of every page it had open under
// target/e2e-artifacts/.
import { before, after, test } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, ARTIFACTS_DIR } from './server.mjs';
import { launchBrowser } from './browser.mjs';
import { Api } from './util.mjs';

/** Playwright waits this long for an element or a navigation. */
export const ACTION_TIMEOUT_MS = 10_000;

export class Env {
  server = null;
  browser = null;
  get baseURL() { return this.server.baseURL; }
  get api() { return new Api(this.server.baseURL); }
}

/** Registers the before/after hooks that start and stop the server and browser. */
export function setupEnv() {
  const env = new Env();
  before(async () => {
    env.server = await startServer();
    env.browser = await launchBrowser();
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.server) {
      const { code, signal } = await env.server.stop();
      // A clean SIGTERM shutdown is part of the contract.
      if (code !== 0) throw new Error(`moodlog exited with code ${code} (signal ${signal}) after SIGTERM`);
    }
  });
  return env;
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

/** What one scenario works with. */
export class Scenario {
  constructor(env, name) {
    this.env = env;
    this.name = name;
    this.contexts = [];
    this.api = env.api;
    this.baseURL = env.baseURL;
  }

  /** A fresh, isolated browser context (its own cookies) on the server. */
  async newContext(options = {}) {
    const context = await this.env.browser.newContext({
      baseURL: this.env.baseURL,
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
      locale: 'en-GB',
      timezoneId: 'Europe/Berlin',
      ...options,
    });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
    this.contexts.push(context);
    return context;
  }

  /** A new context with one page in it. */
  async newPage(options = {}) {
    const context = await this.newContext(options);
    const page = await context.newPage();
    return { context, page };
  }

  /** Screenshot + HTML + URL of every open page; returns the files written. */
  async saveArtifacts() {
    const written = [];
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const base = slug(this.name);
    let n = 0;
    for (const context of this.contexts) {
      for (const page of context.pages()) {
        n += 1;
        const stem = join(ARTIFACTS_DIR, `${base}-page${n}`);
        try {
          await page.screenshot({ path: `${stem}.png`, fullPage: true, timeout: 5000 });
          written.push(`${stem}.png`);
        } catch (e) { written.push(`(no screenshot: ${e.message.split('\n')[0]})`); }
        try {
          writeFileSync(`${stem}.html`, `<!-- ${page.url()} -->\n${await page.content()}`);
          written.push(`${stem}.html`);
        } catch (e) { written.push(`(no HTML: ${e.message.split('\n')[0]})`); }
      }
    }
    return written;
  }

  async close() {
    for (const context of this.contexts) {
      await context.close().catch(() => {});
    }
  }
}

/** A test with a Scenario; saves artifacts when it fails. */
export function scenario(env, name, fn, { timeout = 120_000 } = {}) {
  test(name, { timeout }, async (t) => {
    const s = new Scenario(env, name);
    try {
      await fn(s, t);
    } catch (e) {
      const files = await s.saveArtifacts().catch((err) => [`(saving artifacts failed: ${err.message})`]);
      if (files.length > 0) {
        const note = `failure artifacts: ${files.join(', ')}`;
        t.diagnostic(note);
        process.stderr.write(`# ${name}: ${note}\n`);
      }
      throw e;
    } finally {
      await s.close();
    }
  });
}
