// Layout at phone and desktop widths, accessibility (axe-core), keyboard use.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { scenario } from '../lib/suite.mjs';
import { addDays, noonUtc } from '../lib/util.mjs';
import { expectNotice, expectText, waitForPath, userLoggedIn } from '../lib/ui.mjs';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const WIDTHS = [375, 1280];

const PAGES = [
  { name: 'Log in', path: '/sign-in', auth: false },
  { name: 'Sign up', path: '/sign-up', auth: false },
  { name: 'Today', path: '/', auth: true },
  { name: 'History', path: '/history', auth: true },
  { name: 'Settings', path: '/settings', auth: true },
];

/** A logged-in page (with a few entries) and an anonymous one, both bypassing CSP for axe. */
async function setup(s) {
  const { token, page } = await userLoggedIn(s, { contextOptions: { bypassCSP: true } });
  const first = await s.api.postMood(token, { rating: 7, note: 'Coffee with Sam, then a long walk', tags: ['friends', 'outside'] });
  for (const [days, rating, note] of [[1, 4, 'Slept badly'], [2, 6, null], [4, 8, 'Great day at the lake']]) {
    await s.api.postMood(token, {
      rating, note: note ?? undefined, recorded_at: noonUtc(addDays(first.local_date, -days)), timezone: 'Europe/Berlin',
    });
  }
  const { page: anon } = await s.newPage({ bypassCSP: true });
  return { pageFor: (p) => (p.auth ? page : anon), page };
}

async function gotoAt(page, path, width) {
  await page.setViewportSize({ width, height: 800 });
  const res = await page.goto(path);
  assert.equal(res.status(), 200, `GET ${path}`);
  assert.equal(new URL(page.url()).pathname, path, `${path} did not redirect`);
}

export default function register(env) {
  scenario(env, '10a. no horizontal overflow at 375 px and 1280 px; every form has a csrf field', async (s) => {
    const { pageFor } = await setup(s);
    const problems = [];
    for (const width of WIDTHS) {
      for (const p of PAGES) {
        const page = pageFor(p);
        await gotoAt(page, p.path, width);
        const m = await page.evaluate(() => {
          const wide = [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`);
          return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide };
        });
        if (m.scrollWidth > m.innerWidth) {
          problems.push(`${p.name} at ${width}px: scrollWidth ${m.scrollWidth} > innerWidth ${m.innerWidth} (wide: ${m.wide.join(', ')})`);
        }
        if (width === 1280) {
          const forms = await page.locator('form').evaluateAll((fs) => fs.map((f) => ({
            action: f.getAttribute('action'), method: (f.getAttribute('method') || 'get').toLowerCase(),
            csrf: !!f.querySelector('input[type="hidden"][name="csrf"]'),
          })));
          for (const f of forms) {
            if (f.method === 'post' && !f.csrf) problems.push(`${p.name}: form ${f.action} has no hidden csrf field`);
          }
        }
      }
    }
    assert.deepEqual(problems, [], `layout problems:\n  ${problems.join('\n  ')}`);
  });

  scenario(env, '10b. axe-core finds no serious or critical violations on the main pages', async (s) => {
    const { pageFor } = await setup(s);
    const problems = [];
    for (const width of WIDTHS) {
      for (const p of PAGES) {
        const page = pageFor(p);
        await gotoAt(page, p.path, width);
        await page.addScriptTag({ path: AXE_PATH });
        const violations = await page.evaluate(async () => {
          // eslint-disable-next-line no-undef
          const r = await axe.run(document, { resultTypes: ['violations'] });
          return r.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.split('\n').slice(1).join(' ').trim()})` : ''}`),
            count: v.nodes.length,
          }));
        });
        for (const v of violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
          problems.push(`${p.name} at ${width}px: [${v.impact}] ${v.id}: ${v.help} — ${v.count} node(s): ${v.nodes.join('; ')}`);
        }
      }
    }
    assert.deepEqual(problems, [], `accessibility violations:\n  ${problems.join('\n  ')}`);
  });

  scenario(env, '10c. keyboard only: choose a rating and log a mood on Today', async (s) => {
    const { page } = await userLoggedIn(s);
    await page.goto('/');
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      return {
        tag: el?.tagName.toLowerCase(), type: el?.getAttribute('type'), name: el?.getAttribute('name'),
        value: el?.value, text: (el?.innerText || el?.value || '').trim(),
      };
    });

    // Tab until a rating radio has focus.
    let f = await focused();
    for (let i = 0; i < 60 && !(f.type === 'radio' && f.name === 'rating'); i += 1) {
      await page.keyboard.press('Tab');
      f = await focused();
    }
    assert.equal(f.name, 'rating', `Tab reaches a rating radio (focus is on ${JSON.stringify(f)})`);

    // Space selects it; arrow keys move the selection to 8.
    await page.keyboard.press('Space');
    const checked = () => page.locator('input[name="rating"]:checked').evaluate((el) => el.value).catch(() => null);
    assert.equal(await checked(), f.value, 'Space checks the focused radio');
    for (let i = 0; i < 12 && Number(await checked()) < 8; i += 1) await page.keyboard.press('ArrowRight');
    for (let i = 0; i < 12 && Number(await checked()) > 8; i += 1) await page.keyboard.press('ArrowLeft');
    assert.equal(await checked(), '8', 'the arrow keys choose 8');

    // Tab to "Log mood" and press Enter.
    f = await focused();
    for (let i = 0; i < 15 && !(f.tag === 'button' && f.text === 'Log mood'); i += 1) {
      await page.keyboard.press('Tab');
      f = await focused();
    }
    assert.equal(f.text, 'Log mood', `Tab reaches "Log mood" (focus is on ${JSON.stringify(f)})`);
    await page.keyboard.press('Enter');
    await waitForPath(page, '/', { withQuery: 'logged' });
    await expectNotice(page, 'Logged 8/10.');
    await expectText(page, '#current-streak', '1');
  });
}
