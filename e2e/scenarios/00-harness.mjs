// The harness itself: the server answers its JSON API and chromium renders
// a page of it. Fails fast (and plainly) when the set-up is broken.
import assert from 'node:assert/strict';
import { scenario } from '../lib/suite.mjs';
import { randomUser } from '../lib/util.mjs';

export default function register(env) {
  scenario(env, 'harness: server answers the API and chromium renders /docs', async (s) => {
    const health = await s.api.request('GET', '/healthz');
    assert.equal(health.status, 200, 'GET /healthz');

    const user = randomUser();
    const created = await s.api.createUser(user, 'Europe/Berlin');
    assert.equal(created.username, user.username);
    const token = await s.api.login(user);
    assert.ok(token.length >= 16, 'a bearer token');

    const { page } = await s.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto('/docs');
    assert.equal(res.status(), 200, 'GET /docs in chromium');
    assert.ok((await page.title()).length > 0 || (await page.locator('body').innerText()).length > 0, '/docs renders something');
    assert.equal(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone), 'Europe/Berlin',
      'the context runs in Europe/Berlin');
    assert.deepEqual(errors, [], 'no script errors on /docs');
  });
}
