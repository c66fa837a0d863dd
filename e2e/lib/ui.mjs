// What a person does on the pages, written once against the contract in the
// web spec (labels, button names, ids).
import assert from 'node:assert/strict';
import { eventually, randomUser } from './util.mjs';

export const ALERT = '[role="alert"]';
export const NOTICE = '[role="status"]';

/** Path (plus query) of the page's URL. */
export function pathOf(page) {
  const u = new URL(page.url());
  return u.pathname + u.search;
}

/**
 * Waits until the page is at `pathname` (with the query parameter
 * `withQuery`); on time-out, fails telling where the page is instead and
 * what alerts it shows.
 */
export async function waitForPath(page, pathname, { withQuery } = {}) {
  try {
    await page.waitForURL((u) => u.pathname === pathname && (!withQuery || u.searchParams.has(withQuery)));
  } catch (e) {
    if (e?.name !== 'TimeoutError') throw e;
    const title = await page.title().catch(() => '?');
    const alerts = await page.locator(ALERT).allInnerTexts().catch(() => []);
    assert.fail(`expected to reach ${pathname}${withQuery ? `?${withQuery}=…` : ''} but the page is `
      + `${page.url()} ("${title}"), alerts: ${JSON.stringify(alerts)}`);
  }
}

/** The select labelled "Time zone" (sign-up and settings). */
export function timezoneSelect(page) {
  return page.getByRole('combobox', { name: 'Time zone', exact: true });
}

/** Fills and submits the sign-up form; ends on Today. */
export async function signUp(page, user, { timezone } = {}) {
  await page.goto('/sign-up');
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  if (timezone) await timezoneSelect(page).selectOption(timezone);
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await waitForPath(page, '/');
  await page.locator('#current-streak').waitFor();
}

/** Submits the sign-in form, without waiting for any outcome. */
export async function submitSignIn(page, user) {
  if (new URL(page.url()).pathname !== '/sign-in') await page.goto('/sign-in');
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

/** Logs in through the form; ends on Today. */
export async function signIn(page, user) {
  await page.goto('/sign-in');
  await submitSignIn(page, user);
  await waitForPath(page, '/');
  await page.locator('#current-streak').waitFor();
}

/** The fieldset "How do you feel?" of the log form. */
export function ratingGroup(page) {
  return page.getByRole('group', { name: 'How do you feel?' });
}

/** The visible label of rating n (its text is just the number). */
export function ratingLabel(page, n) {
  return ratingGroup(page).locator('label').filter({ hasText: new RegExp(`^\\s*${n}\\s*$`) });
}

export function ratingRadio(page, n) {
  return ratingGroup(page).getByRole('radio', { name: String(n), exact: true });
}

/**
 * Logs a mood on Today with two taps (the rating's label, then "Log mood"),
 * after filling the optional note and tags. Ends on `/?logged=ID`; returns ID.
 */
export async function logMood(page, rating, { note, tags } = {}) {
  if (new URL(page.url()).pathname !== '/') await page.goto('/');
  if (note !== undefined) await page.getByLabel('Note (optional)', { exact: true }).fill(note);
  if (tags !== undefined) await page.getByLabel('Tags (optional)', { exact: true }).fill(tags);
  await ratingLabel(page, rating).click();
  assert.equal(await ratingRadio(page, rating).isChecked(), true, `clicking the label "${rating}" checks that radio`);
  await page.getByRole('button', { name: 'Log mood', exact: true }).click();
  await waitForPath(page, '/', { withQuery: 'logged' });
  return new URL(page.url()).searchParams.get('logged');
}

/** Trimmed text of the first element matching `selector`. */
export async function textOf(page, selector) {
  return ((await page.locator(selector).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** Waits until the trimmed text of `selector` equals `expected`. */
export async function expectText(page, selector, expected, message) {
  await eventually(async () => {
    assert.equal(await textOf(page, selector), expected, message ?? `text of ${selector}`);
  });
}

/** Waits until the text of `selector` matches `re`. */
export async function expectTextMatch(page, selector, re, message) {
  await eventually(async () => {
    assert.match(await textOf(page, selector), re, message ?? `text of ${selector}`);
  });
}

/** The whole visible text of the page. */
export async function bodyText(page) {
  return page.locator('body').innerText();
}

/** Asserts the page shows no raw API error (JSON or problem details). */
export async function assertNoRawJson(page) {
  const text = await bodyText(page);
  assert.ok(!text.includes('{"'), `the page shows raw JSON:\n${text.slice(0, 1000)}`);
  assert.ok(!/problem/i.test(text), `the page mentions "problem" (raw problem details?):\n${text.slice(0, 1000)}`);
}

/** Clicks "Log out" in the header; ends on the sign-in page. */
export async function signOut(page) {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await waitForPath(page, '/sign-in');
}

/**
 * A user made through the JSON API (fast set-up), then logged in through the
 * sign-in form in a fresh context. Returns { user, token, context, page }.
 */
export async function userLoggedIn(s, { timezone = 'Europe/Berlin', contextOptions = {}, prefix } = {}) {
  const user = randomUser(prefix);
  await s.api.createUser(user, timezone);
  const token = await s.api.login(user);
  const { context, page } = await s.newPage(contextOptions);
  await signIn(page, user);
  return { user, token, context, page };
}

/**
 * Waits for a visible `selector` element (role=alert / role=status) whose
 * text contains `text`; fails listing the messages the page does show.
 */
export async function expectMessage(page, selector, text) {
  const loc = page.locator(selector).filter({ hasText: text });
  try {
    await loc.first().waitFor({ state: 'visible' });
  } catch {
    const shown = await page.locator(selector).allInnerTexts().catch(() => []);
    assert.fail(`expected a visible ${selector} containing ${JSON.stringify(String(text))} on ${page.url()}; `
      + `the page's ${selector} elements: ${JSON.stringify(shown)}`);
  }
  return loc.first();
}

export const expectAlert = (page, text) => expectMessage(page, ALERT, text);
export const expectNotice = (page, text) => expectMessage(page, NOTICE, text);
