// Settings: downloads, time zone, deleting the account.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { scenario } from '../lib/suite.mjs';
import { addDays, noonUtc, parseCsv, randomUser } from '../lib/util.mjs';
import {
  expectAlert, expectNotice, waitForPath, userLoggedIn, timezoneSelect, signUp, submitSignIn,
} from '../lib/ui.mjs';

const TZ = 'Europe/Berlin';
const CSV_HEADER = 'id,recorded_at,local_date,timezone,rating,note,tags,streak';

/** Clicks a link that downloads; returns { filename, text }. */
async function download(page, linkName) {
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: linkName, exact: true }).click(),
  ]);
  const failure = await dl.failure();
  assert.equal(failure, null, `the download of "${linkName}" failed: ${failure}`);
  return { filename: dl.suggestedFilename(), text: await readFile(await dl.path(), 'utf8') };
}

export default function register(env) {
  scenario(env, '4. Download CSV and Download JSON on /settings hold every entry', async (s) => {
    const { token, page } = await userLoggedIn(s, { timezone: TZ });
    const tricky = 'Said "hi", then left';
    const e0 = await s.api.postMood(token, { rating: 7, note: tricky, tags: ['work', 'friends'], timezone: TZ });
    const D = e0.local_date;
    const e1 = await s.api.postMood(token, {
      rating: 3, note: 'line one\nline two', tags: ['sleep'], recorded_at: noonUtc(addDays(D, -1)), timezone: TZ,
    });
    const e2 = await s.api.postMood(token, { rating: 9, recorded_at: noonUtc(addDays(D, -2)), timezone: TZ });
    const stored = new Map((await s.api.getMood(token)).entries.map((e) => [e.id, e]));
    assert.equal(stored.size, 3);

    await page.goto('/settings');
    assert.equal(await page.getByRole('link', { name: 'Download CSV', exact: true }).getAttribute('href'),
      '/mood/export?format=csv');

    // CSV
    const csv = await download(page, 'Download CSV');
    assert.match(csv.filename, /\.csv$/, 'the CSV download has a .csv name');
    assert.ok(csv.text.includes('"Said ""hi"", then left"'),
      `RFC 4180 quoting of a note with a comma and a double quote, in:\n${csv.text}`);
    const rows = parseCsv(csv.text.replace(/^\uFEFF/, '')).filter((r) => !(r.length === 1 && r[0] === ''));
    assert.equal(rows[0].join(','), CSV_HEADER, 'the CSV header row');
    assert.equal(rows.length, 1 + 3, `one row per entry:\n${csv.text}`);
    const col = Object.fromEntries(rows[0].map((name, i) => [name, i]));
    const seen = new Set();
    for (const row of rows.slice(1)) {
      assert.equal(row.length, rows[0].length, `every row has ${rows[0].length} fields: ${JSON.stringify(row)}`);
      const e = stored.get(row[col.id]);
      assert.ok(e, `the CSV row's id ${row[col.id]} is an entry of the user`);
      seen.add(e.id);
      assert.equal(row[col.rating], String(e.rating), `rating of ${e.id}`);
      assert.equal(row[col.note], e.note ?? '', `note of ${e.id}`);
      assert.equal(row[col.local_date], e.local_date, `local_date of ${e.id}`);
      assert.equal(row[col.timezone], TZ, `timezone of ${e.id}`);
      assert.equal(row[col.streak], String(e.streak), `streak of ${e.id}`);
      assert.equal(Date.parse(row[col.recorded_at]), Date.parse(e.recorded_at), `recorded_at of ${e.id}`);
      for (const tag of e.tags) assert.ok(row[col.tags].includes(tag), `tag ${tag} of ${e.id} in "${row[col.tags]}"`);
    }
    assert.deepEqual([...seen].sort(), [e0.id, e1.id, e2.id].sort(), 'every entry exactly once');

    // JSON
    const json = await download(page, 'Download JSON');
    assert.match(json.filename, /\.json$/, 'the JSON download has a .json name');
    const parsed = JSON.parse(json.text);
    const entries = Array.isArray(parsed) ? parsed : parsed.entries;
    assert.ok(Array.isArray(entries), `the JSON export is (or has) an entries array: ${json.text.slice(0, 300)}`);
    assert.deepEqual(entries.map((e) => e.id).sort(), [e0.id, e1.id, e2.id].sort());
    for (const e of entries) {
      const want = stored.get(e.id);
      assert.equal(e.rating, want.rating);
      assert.equal(e.note, want.note);
      assert.deepEqual(e.tags, want.tags);
    }
  });

  scenario(env, 'settings: saving the time zone', async (s) => {
    const { token, page } = await userLoggedIn(s, { timezone: 'UTC' });
    await page.goto('/settings');
    await timezoneSelect(page).selectOption('America/New_York');
    await page.getByRole('button', { name: 'Save time zone', exact: true }).click();
    await waitForPath(page, '/settings', { withQuery: 'saved' });
    await expectNotice(page, 'Time zone saved.');
    assert.equal(await timezoneSelect(page).inputValue(), 'America/New_York',
      'the select shows the saved zone');
    const me = (await s.api.request('GET', '/me', { token, expect: 200 })).json;
    assert.equal(me.timezone, 'America/New_York');
  });

  scenario(env, '11. delete the account with the password; its credentials stop working', async (s) => {
    const user = randomUser();
    const { page } = await s.newPage();
    await signUp(page, user);
    await page.goto('/settings');
    const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Delete account', exact: true }) });

    // A wrong password deletes nothing.
    await form.getByLabel('Password', { exact: true }).fill(`${user.password} nope`);
    await form.getByRole('button', { name: 'Delete account', exact: true }).click();
    await expectAlert(page, 'The password is wrong.');
    assert.equal((await s.api.request('POST', '/login', { body: user })).status, 200, 'the account is still there');

    const form2 = page.locator('form').filter({ has: page.getByRole('button', { name: 'Delete account', exact: true }) });
    await form2.getByLabel('Password', { exact: true }).fill(user.password);
    await form2.getByRole('button', { name: 'Delete account', exact: true }).click();
    await waitForPath(page, '/sign-in', { withQuery: 'deleted' });
    await expectNotice(page, 'Your account has been deleted.');

    await submitSignIn(page, user);
    await expectAlert(page, 'Wrong username or password.');
    assert.equal(new URL(page.url()).pathname, '/sign-in');
    assert.equal((await s.api.request('POST', '/login', { body: user })).status, 401, 'the API refuses them too');
    await page.goto('/');
    await waitForPath(page, '/sign-in');
  });
}
