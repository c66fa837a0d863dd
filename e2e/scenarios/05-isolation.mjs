// Two users in two browser contexts never see each other's entries.
import assert from 'node:assert/strict';
import { scenario } from '../lib/suite.mjs';
import { randomUser, parseCsv } from '../lib/util.mjs';
import { signUp, logMood, expectText, expectTextMatch, waitForPath, userLoggedIn } from '../lib/ui.mjs';

export default function register(env) {
  scenario(env, "8. user B never sees user A's entries, and cannot delete them", async (s) => {
    const a = randomUser('a');
    const b = randomUser('b');
    const secret = `A's private note ${a.username}`;

    const { page: pa } = await s.newPage();
    await signUp(pa, a);
    const idA = await logMood(pa, 9, { note: secret, tags: 'private' });

    const { context: cb, page: pb } = await s.newPage();
    await signUp(pb, b);
    await expectText(pb, '#current-streak', '0', "B's streak");

    await pb.goto('/history');
    await expectTextMatch(pb, 'body', /No entries yet/, "B's history is empty");
    assert.equal(await pb.locator('li.entry').count(), 0, "no entries in B's history");
    assert.ok(!(await pb.content()).includes(secret), "A's note is nowhere in B's history");

    // B's API and exports, through B's cookie.
    const mood = await cb.request.get('/mood');
    assert.equal(mood.status(), 200);
    assert.deepEqual((await mood.json()).entries, [], "GET /mood as B");
    const json = await cb.request.get('/mood/export?format=json');
    assert.equal(json.status(), 200);
    const parsed = await json.json();
    assert.deepEqual(Array.isArray(parsed) ? parsed : parsed.entries, [], "B's JSON export");
    const csv = await cb.request.get('/mood/export?format=csv');
    assert.equal(csv.status(), 200);
    const rows = parseCsv(await csv.text()).filter((r) => !(r.length === 1 && r[0] === ''));
    assert.equal(rows.length, 1, "B's CSV export has the header row only");
    assert.equal((await cb.request.get(`/mood/${idA}`)).status(), 404, "GET /mood/<A's id> as B");

    // The confirmation page of A's entry, and the POST behind it.
    const res = await pb.goto(`/history/${idA}/delete`);
    assert.equal(res.status(), 404, "B opening /history/<A's id>/delete");
    assert.ok(!(await pb.content()).includes(secret), "the 404 page does not show A's note");
    await pb.goto('/');
    const csrf = await pb.locator('input[name="csrf"]').first().inputValue();
    const post = await cb.request.post(`/history/${idA}/delete`, {
      form: { csrf },
      headers: { origin: s.baseURL },
      maxRedirects: 0,
    });
    assert.equal(post.status(), 404, "B posting the deletion of A's entry");

    // A's entry is still there.
    await pa.goto('/history');
    await pa.locator(`li.entry[data-id="${idA}"]`).waitFor();
    const token = await s.api.login(a);
    assert.equal((await s.api.request('GET', `/mood/${idA}`, { token })).status, 200, "A's entry survives");
    await waitForPath(pa, '/history');
  });

  scenario(env, 'forms refuse a missing or wrong csrf token', async (s) => {
    const { token, context } = await userLoggedIn(s);
    for (const form of [{ rating: '5' }, { rating: '5', csrf: 'not-the-token' }]) {
      const res = await context.request.post('/entries', {
        form, headers: { origin: s.baseURL }, maxRedirects: 0,
      });
      assert.ok(res.status() >= 400, `POST /entries with ${JSON.stringify(form)} is refused (got ${res.status()})`);
    }
    assert.equal((await s.api.getMood(token)).entries.length, 0, 'nothing was logged');
  });
}
