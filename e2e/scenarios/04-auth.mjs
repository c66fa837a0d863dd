// Signing in, up and out, and what the user sees when it goes wrong.
import assert from 'node:assert/strict';
import { scenario } from '../lib/suite.mjs';
import { randomUser } from '../lib/util.mjs';
import {
  expectAlert, assertNoRawJson, signUp, signOut, submitSignIn, waitForPath, signIn,
} from '../lib/ui.mjs';

/** Submits a form and returns the response of its POST (page load or fetch). */
async function submitAndCapture(page, path, click) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path),
    click(),
  ]);
  return res;
}

export default function register(env) {
  scenario(env, '5. log out: the pages redirect to sign-in and the old cookie is dead', async (s) => {
    const user = randomUser();
    const { context, page } = await s.newPage();
    await signUp(page, user);
    const cookie = (await context.cookies()).find((c) => c.name === 'moodlog_session');
    assert.ok(cookie, 'a moodlog_session cookie after sign-up');
    assert.equal(cookie.httpOnly, true, 'the session cookie is HttpOnly');
    assert.equal(cookie.sameSite, 'Lax', 'the session cookie is SameSite=Lax');

    await signOut(page);
    assert.equal(await page.getByRole('heading', { name: 'Log in', exact: true }).count(), 1, 'the sign-in page');
    for (const path of ['/', '/history', '/settings']) {
      await page.goto(path);
      await waitForPath(page, '/sign-in');
    }

    // The old cookie, replayed, is refused.
    const res = await fetch(`${s.baseURL}/`, { headers: { cookie: `moodlog_session=${cookie.value}` }, redirect: 'manual' });
    assert.equal(res.status, 303, 'GET / with the old cookie redirects');
    assert.equal(new URL(res.headers.get('location'), s.baseURL).pathname, '/sign-in');
    const me = await fetch(`${s.baseURL}/me`, { headers: { cookie: `moodlog_session=${cookie.value}` } });
    assert.equal(me.status, 401, 'GET /me with the old cookie');
    const { context: other, page: otherPage } = await s.newPage();
    await other.addCookies([{ ...cookie }]);
    await otherPage.goto('/history');
    await waitForPath(otherPage, '/sign-in');
  });

  scenario(env, '6. a wrong password shows "Wrong username or password." and no raw JSON', async (s) => {
    const user = randomUser();
    await s.api.createUser(user);
    const { page } = await s.newPage();
    await page.goto('/sign-in');
    assert.equal(await page.getByRole('heading', { name: 'Log in', exact: true }).count(), 1, 'heading "Log in"');
    assert.equal(await page.getByRole('link', { name: 'Create an account', exact: true }).getAttribute('href'), '/sign-up');

    for (const attempt of [{ ...user, password: `${user.password}x` }, { username: 'nobody_here', password: user.password }]) {
      const res = await submitAndCapture(page, '/sign-in', () => submitSignIn(page, attempt));
      assert.equal(res.status(), 401, 'POST /sign-in answers 401');
      await expectAlert(page, 'Wrong username or password.');
      assert.equal(new URL(page.url()).pathname, '/sign-in', 'still on the sign-in page');
      await assertNoRawJson(page);
      const html = await page.content();
      assert.ok(!html.includes(attempt.password), 'the password is not echoed into the page');
    }
    // And the right one still works.
    await signIn(page, user);
  });

  scenario(env, '7. sign-up errors: a taken username, a weak password', async (s) => {
    const taken = randomUser();
    await s.api.createUser(taken);
    const { page } = await s.newPage();

    await page.goto('/sign-up');
    assert.equal(await page.getByRole('heading', { name: 'Sign up', exact: true }).count(), 1, 'heading "Sign up"');
    await page.getByLabel('Username', { exact: true }).fill(taken.username);
    await page.getByLabel('Password', { exact: true }).fill(randomUser().password);
    let res = await submitAndCapture(page, '/sign-up',
      () => page.getByRole('button', { name: 'Sign up', exact: true }).click());
    assert.equal(res.status(), 409, 'POST /sign-up with a taken username');
    await expectAlert(page, 'That username is taken.');
    assert.ok((await page.locator('.field-error').count()) >= 1, 'a .field-error next to the field');
    assert.match((await page.locator('.field-error').allInnerTexts()).join(' '), /taken/i);
    assert.equal(new URL(page.url()).pathname, '/sign-up');
    await assertNoRawJson(page);

    const weak = { username: randomUser().username, password: 'password123' };
    await page.goto('/sign-up');
    await page.getByLabel('Username', { exact: true }).fill(weak.username);
    await page.getByLabel('Password', { exact: true }).fill(weak.password);
    res = await submitAndCapture(page, '/sign-up',
      () => page.getByRole('button', { name: 'Sign up', exact: true }).click());
    assert.equal(res.status(), 422, 'POST /sign-up with a weak password');
    const alert = page.locator('[role="alert"]');
    await alert.first().waitFor({ state: 'visible' });
    const alertText = (await alert.allInnerTexts()).join(' ');
    assert.ok(alertText.trim().length > 10, `the alert explains the weak password: "${alertText}"`);
    assert.ok((await page.locator('.field-error').count()) >= 1, 'a .field-error next to the password');
    assert.equal(new URL(page.url()).pathname, '/sign-up');
    await assertNoRawJson(page);
    assert.equal((await s.api.request('POST', '/login', { body: weak })).status, 401, 'no account was made');
  });

  scenario(env, '9. server unreachable: the log-in form says so, no browser error page', async (s) => {
    const user = randomUser();
    await s.api.createUser(user);
    const { page } = await s.newPage();
    const scriptErrors = [];
    page.on('pageerror', (e) => scriptErrors.push(e.message));
    await page.goto('/sign-in');
    await page.route((url) => url.pathname === '/sign-in', (route) => (
      route.request().method() === 'POST' ? route.abort('internetdisconnected') : route.continue()));

    await submitSignIn(page, user);
    const alert = page.locator('[role="alert"]').filter({ hasText: /reach|connect|offline|unreachable|network/i });
    try {
      await alert.first().waitFor({ state: 'visible' });
    } catch {
      assert.fail(`no role=alert telling that the server cannot be reached; URL ${page.url()}, `
        + `alerts: ${JSON.stringify(await page.locator('[role="alert"]').allInnerTexts().catch(() => []))}`);
    }
    assert.ok(page.url().startsWith(s.baseURL), `no browser error page (URL is ${page.url()})`);
    assert.equal(new URL(page.url()).pathname, '/sign-in');
    assert.equal(await page.getByRole('heading', { name: 'Log in', exact: true }).count(), 1, 'the form is still there');
    assert.equal(await page.getByLabel('Username', { exact: true }).inputValue(), user.username, 'the typed username is kept');
    assert.deepEqual(scriptErrors, [], 'no uncaught script errors');

    // Once the network is back, the same form logs in.
    await page.unrouteAll();
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await waitForPath(page, '/');
  });

  scenario(env, 'sign-in: five wrong passwords, then "Too many attempts"', async (s) => {
    const user = randomUser();
    await s.api.createUser(user);
    const { page } = await s.newPage();
    await page.goto('/sign-in');
    for (let i = 0; i < 5; i += 1) {
      const wrong = await submitAndCapture(page, '/sign-in',
        () => submitSignIn(page, { ...user, password: `${user.password} wrong ${i}` }));
      assert.equal(wrong.status(), 401, `wrong password ${i + 1}`);
      await expectAlert(page, 'Wrong username or password.');
    }
    const res = await submitAndCapture(page, '/sign-in', () => submitSignIn(page, user));
    assert.equal(res.status(), 429, 'the sixth attempt (even with the right password) is throttled');
    const alert = await expectAlert(page, 'Too many attempts.');
    assert.match(await alert.innerText(), /Try again in \d+ minutes?\./);
    await assertNoRawJson(page);
  });
}
