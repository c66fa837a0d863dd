// Today: sign up, log a mood, streaks, back-filling, the chart.
import assert from 'node:assert/strict';
import { scenario } from '../lib/suite.mjs';
import { randomUser, addDays, noonUtc, eventually } from '../lib/util.mjs';
import {
  signUp, logMood, expectText, expectTextMatch, expectAlert, expectNotice, waitForPath, userLoggedIn, timezoneSelect,
} from '../lib/ui.mjs';

export default function register(env) {
  scenario(env, '1. sign up, log a mood in two taps, the streak shows 1', async (s) => {
    const user = randomUser();
    const { page } = await s.newPage();
    await signUp(page, user);

    // The header nav of an authenticated page.
    const nav = page.getByRole('navigation');
    for (const [name, href] of [['Today', '/'], ['History', '/history'], ['Settings', '/settings']]) {
      assert.equal(await nav.getByRole('link', { name, exact: true }).getAttribute('href'), href, `nav link "${name}"`);
    }
    assert.equal(await page.getByRole('button', { name: 'Log out', exact: true }).count(), 1, 'a "Log out" button');

    await expectText(page, '#current-streak', '0', 'a new account has no streak');
    await expectTextMatch(page, '#today-status', /^Not logged yet today/, '#today-status before logging');
    assert.equal(await page.locator('#streak-nudge').count(), 0, 'no streak nudge without a streak');

    // Two taps: the label "7", then "Log mood".
    const id = await logMood(page, 7);
    assert.ok(id, '303 to /?logged=ID');

    await expectText(page, '#current-streak', '1', '#current-streak after the first mood');
    await expectText(page, '#longest-streak', '1', '#longest-streak after the first mood');
    await expectTextMatch(page, '#today-status', /^Logged today/, '#today-status after logging');
    const notice = await expectNotice(page, 'Logged 7/10.');
    assert.match(await notice.innerText(), /streak/i, 'the notice mentions the streak');
    assert.equal(await page.locator('#streak-nudge').count(), 0, 'no streak nudge once today is logged');

    // The server stored exactly that.
    const mood = await s.api.getMood(await s.api.login(user));
    assert.equal(mood.entries.length, 1, 'one entry stored');
    assert.equal(mood.entries[0].id, id, 'the stored entry is the one in ?logged=');
    assert.equal(mood.entries[0].rating, 7);
    assert.equal(mood.current_streak, 1);
  });

  scenario(env, '2. back-filled days through the API: streak 3 and 3 points on the chart', async (s) => {
    const user = randomUser();
    const { page } = await s.newPage({ timezoneId: 'Europe/Berlin' });

    // Sign-up preselects the browser's time zone.
    await page.goto('/sign-up');
    const zone = timezoneSelect(page);
    await eventually(async () => assert.equal(await zone.inputValue(), 'Europe/Berlin',
      'the time zone select is preselected to the browser zone'));
    await page.getByLabel('Username', { exact: true }).fill(user.username);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign up', exact: true }).click();
    await waitForPath(page, '/');

    const token = await s.api.login(user);
    const me = (await s.api.request('GET', '/me', { token, expect: 200 })).json;
    assert.equal(me.timezone, 'Europe/Berlin', 'the profile got the detected zone');

    const id = await logMood(page, 6);
    await expectText(page, '#current-streak', '1');

    // Anchor on the local date of the entry just logged (D), not on the test
    // machine's clock: D-1 and D-2 are then the two days before it in the
    // user's zone, and the streak is 3 whether "today" is still D or has
    // just become D+1 (a streak stays alive through the next day).
    const before = await s.api.getMood(token);
    const D = before.entries.find((e) => e.id === id).local_date;
    assert.ok(D === before.today || D === addDays(before.today, -1), `entry date ${D} vs today ${before.today}`);
    for (const [days, rating] of [[1, 5], [2, 8]]) {
      const date = addDays(D, -days);
      // Noon UTC is 13:00 or 14:00 in Berlin: the same calendar date.
      const entry = await s.api.postMood(token, { rating, recorded_at: noonUtc(date), timezone: 'Europe/Berlin' });
      assert.equal(entry.local_date, date, 'the back-filled entry lands on the intended day');
    }

    await page.goto('/');
    await expectText(page, '#current-streak', '3', '#current-streak after back-filling two days');
    await expectText(page, '#longest-streak', '3', '#longest-streak after back-filling two days');

    const circles = page.locator('#mood-chart svg circle');
    assert.equal(await circles.count(), 3, 'one chart point per logged day');
    const rows = page.locator('details').filter({ has: page.locator('summary', { hasText: 'Show data' }) })
      .locator('table tr:has(td)');
    assert.equal(await rows.count(), 3, 'the "Show data" table has one row per day');
    assert.equal(await page.locator('#calendar svg').count(), 1, 'the calendar heat map is an inline svg');

    // Range links: 30 days is the default.
    const link30 = page.getByRole('link', { name: '30 days', exact: true });
    assert.equal(await link30.getAttribute('aria-current'), 'page', '"30 days" is the current range');
    await page.getByRole('link', { name: '90 days', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('range') === '90');
    assert.equal(await page.getByRole('link', { name: '90 days', exact: true }).getAttribute('aria-current'), 'page',
      '"90 days" is current after following it');
    assert.notEqual(await page.getByRole('link', { name: '30 days', exact: true }).getAttribute('aria-current'), 'page');
    assert.equal(await page.locator('#mood-chart svg circle').count(), 3, 'still 3 points over 90 days');
  });

  scenario(env, 'today: the nudge asks to keep a streak alive when today is not logged', async (s) => {
    const { token, page } = await userLoggedIn(s);
    const { today } = await s.api.getMood(token);
    await s.api.postMood(token, { rating: 6, recorded_at: noonUtc(addDays(today, -1)), timezone: 'Europe/Berlin' });
    await page.goto('/');
    await expectText(page, '#current-streak', '1', 'yesterday keeps the streak alive');
    await expectTextMatch(page, '#today-status', /^Not logged yet today/);
    await expectText(page, '#streak-nudge', 'Log today to keep your 1-day streak.');
  });

  scenario(env, 'today: logging without a rating asks for one', async (s) => {
    const { token, page } = await userLoggedIn(s);
    // Let the server decide (a `required` attribute would stop the browser first).
    await page.locator('form', { has: page.getByRole('button', { name: 'Log mood', exact: true }) })
      .evaluate((form) => { form.noValidate = true; });
    await page.getByLabel('Note (optional)', { exact: true }).fill('forgot the rating');
    await page.getByRole('button', { name: 'Log mood', exact: true }).click();
    await expectAlert(page, 'Choose a rating from 1 to 10.');
    assert.equal((await s.api.getMood(token)).entries.length, 0, 'nothing was logged');
  });

  scenario(env, 'today: everything works without JavaScript (sign up, log a mood)', async (s) => {
    const user = randomUser();
    const { page } = await s.newPage({ javaScriptEnabled: false });
    await signUp(page, user);
    const id = await logMood(page, 3, { note: 'no scripts today', tags: 'quiet, home' });
    await expectText(page, '#current-streak', '1');
    const token = await s.api.login(user);
    const entry = (await s.api.request('GET', `/mood/${id}`, { token, expect: 200 })).json;
    assert.equal(entry.rating, 3);
    assert.equal(entry.note, 'no scripts today');
    assert.deepEqual(entry.tags, ['quiet', 'home'], 'comma-separated tags, trimmed');
    assert.equal(entry.timezone, 'UTC', 'without JS the profile zone (UTC by default) is used');
    await expectTextMatch(page, '#today-status', /^Logged today/);
  });

  scenario(env, "today: a mood logged in the browser gets the browser's time zone", async (s) => {
    const { token, page } = await userLoggedIn(s, { timezone: 'UTC', contextOptions: { timezoneId: 'Asia/Tokyo' } });
    const id = await logMood(page, 5);
    const entry = (await s.api.request('GET', `/mood/${id}`, { token, expect: 200 })).json;
    assert.equal(entry.timezone, 'Asia/Tokyo', 'the hidden timezone field carries the browser zone');
    const tokyoToday = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date());
    assert.ok([tokyoToday, addDays(tokyoToday, -1)].includes(entry.local_date),
      `local_date ${entry.local_date} is the Tokyo date (${tokyoToday})`);
  });
}
