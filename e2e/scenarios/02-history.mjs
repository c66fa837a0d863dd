// History: entries grouped by day; deleting one (with confirmation) splits
// the streak.
import assert from 'node:assert/strict';
import { scenario } from '../lib/suite.mjs';
import { addDays, noonUtc } from '../lib/util.mjs';
import { expectText, expectTextMatch, expectNotice, waitForPath, userLoggedIn } from '../lib/ui.mjs';

const TZ = 'Europe/Berlin';

async function entryView(li) {
  return {
    rating: ((await li.locator('.rating').first().textContent()) ?? '').trim(),
    note: (await li.locator('.note').count()) ? ((await li.locator('.note').first().textContent()) ?? '').trim() : null,
    tags: (await li.locator('.tag').allTextContents()).map((t) => t.trim()),
    times: await li.locator('time').count(),
    streak: (await li.locator('.streak').count()) ? ((await li.locator('.streak').first().textContent()) ?? '').trim() : null,
  };
}

export default function register(env) {
  scenario(env, '3. history groups entries by day; deleting the middle day splits the streak', async (s) => {
    const { token, page } = await userLoggedIn(s, { timezone: TZ });

    const today = await s.api.postMood(token, {
      rating: 8, note: 'Long walk by the river', tags: ['outside', 'friends'], timezone: TZ,
    });
    const D = today.local_date;
    const middle = await s.api.postMood(token, {
      rating: 4, note: 'Tired after work', tags: ['work'], recorded_at: noonUtc(addDays(D, -1)), timezone: TZ,
    });
    const first = await s.api.postMood(token, {
      rating: 6, recorded_at: noonUtc(addDays(D, -2)), timezone: TZ,
    });
    const firstLater = await s.api.postMood(token, {
      rating: 9, note: 'Good evening', tags: ['family'], recorded_at: `${addDays(D, -2)}T17:00:00Z`, timezone: TZ,
    });

    await page.goto('/history');
    const days = page.locator('section.day');
    assert.deepEqual(await days.evaluateAll((els) => els.map((e) => e.dataset.date)),
      [D, addDays(D, -1), addDays(D, -2)], 'one section per day, newest first');
    for (const date of [D, addDays(D, -1), addDays(D, -2)]) {
      const h2 = page.locator(`section.day[data-date="${date}"] h2`);
      assert.ok(((await h2.textContent()) ?? '').trim().length > 0, `the section of ${date} has a heading`);
    }
    const oldest = page.locator(`section.day[data-date="${addDays(D, -2)}"] li.entry`);
    assert.deepEqual(await oldest.evaluateAll((els) => els.map((e) => e.dataset.id)).then((ids) => ids.sort()),
      [first.id, firstLater.id].sort(), 'both entries of the oldest day are in its section');

    const li = (id) => page.locator(`li.entry[data-id="${id}"]`);
    const t = await entryView(li(today.id));
    assert.equal(t.rating, '8/10');
    assert.equal(t.note, 'Long walk by the river');
    assert.deepEqual(t.tags, ['outside', 'friends']);
    assert.equal(t.times, 1, 'the entry shows its time');
    assert.match(t.streak ?? '', /\b3\b/, 'the newest day is day 3 of a streak');
    const m = await entryView(li(middle.id));
    assert.deepEqual([m.rating, m.note, m.tags], ['4/10', 'Tired after work', ['work']]);
    assert.match(m.streak ?? '', /\b2\b/, 'the middle day is day 2 of a streak');
    const f = await entryView(li(first.id));
    assert.equal(f.rating, '6/10');
    assert.match(f.streak ?? '', /\b1\b/, 'the oldest day is day 1 of a streak');

    // "Delete" → confirmation → "Cancel" keeps it.
    // The link reads "Delete" (its accessible name may say which entry).
    const deleteLink = li(middle.id).getByRole('link', { name: /^Delete\b/ });
    assert.match((await deleteLink.innerText()).trim(), /^Delete\b/, 'the link reads "Delete"');
    await deleteLink.click();
    await waitForPath(page, `/history/${middle.id}/delete`);
    const confirmText = await page.locator('body').innerText();
    assert.ok(confirmText.includes('4/10') && confirmText.includes('Tired after work'),
      'the confirmation page shows the entry');
    await page.getByRole('link', { name: 'Cancel', exact: true }).click();
    await page.waitForURL((u) => !u.pathname.endsWith('/delete'));
    assert.equal((await s.api.request('GET', `/mood/${middle.id}`, { token })).status, 200, 'Cancel deletes nothing');

    // … and "Delete entry" deletes it.
    await page.goto(`/history/${middle.id}/delete`);
    await page.getByRole('button', { name: 'Delete entry', exact: true }).click();
    await waitForPath(page, '/history', { withQuery: 'deleted' });
    await expectNotice(page, 'Entry deleted.');
    assert.equal(await li(middle.id).count(), 0, 'the deleted entry is gone from history');
    assert.equal(await page.locator(`section.day[data-date="${addDays(D, -1)}"]`).count(), 0, 'its day is gone');
    const after = await entryView(li(today.id));
    assert.match(after.streak ?? '', /\b1\b/, 'the newest day is now day 1 of a streak');
    assert.doesNotMatch(after.streak ?? '', /\b3\b/);
    assert.equal((await s.api.request('GET', `/mood/${middle.id}`, { token })).status, 404, 'deleted on the server');

    await page.getByRole('navigation').getByRole('link', { name: 'Today', exact: true }).click();
    await waitForPath(page, '/');
    await expectText(page, '#current-streak', '1', '#current-streak after splitting the streak');
    await expectText(page, '#longest-streak', '1', '#longest-streak after splitting the streak');
  });

  scenario(env, 'history: a new account has "No entries yet"', async (s) => {
    const { page } = await userLoggedIn(s);
    await page.goto('/history');
    await expectTextMatch(page, 'body', /No entries yet/);
    assert.equal(await page.locator('li.entry').count(), 0);
  });

  scenario(env, 'history: pages of 100 entries with an "Older entries" link', async (s) => {
    const { token, page } = await userLoggedIn(s, { timezone: TZ });
    const { today } = await s.api.getMood(token);
    // 101 entries over 51 days, two a day (the oldest day has one).
    const posts = [];
    for (let i = 0; i < 101; i += 1) {
      const date = addDays(today, -1 - Math.floor(i / 2));
      posts.push({ rating: 1 + (i % 10), recorded_at: `${date}T${i % 2 ? '09' : '18'}:00:00Z`, timezone: TZ });
    }
    for (const p of posts) await s.api.postMood(token, p);

    await page.goto('/history');
    assert.equal(await page.locator('li.entry').count(), 100, 'the first page has 100 entries');
    const older = page.getByRole('link', { name: 'Older entries', exact: true });
    assert.equal(await older.count(), 1, 'an "Older entries" link');
    const firstPageIds = await page.locator('li.entry').evaluateAll((els) => els.map((e) => e.dataset.id));
    await older.click();
    await page.waitForURL((u) => u.pathname === '/history' && u.search !== '');
    const rest = await page.locator('li.entry').evaluateAll((els) => els.map((e) => e.dataset.id));
    assert.equal(rest.length, 1, 'the second page has the 101st entry');
    assert.ok(!firstPageIds.includes(rest[0]), 'and it is not one of the first page');
    assert.equal(await page.locator(`section.day[data-date="${addDays(today, -51)}"]`).count(), 1,
      'the oldest day is on the second page');
    assert.equal(await page.getByRole('link', { name: 'Older entries', exact: true }).count(), 0, 'no more pages');
  });
}
