// Screenshots of the web app for the docs: starts the server on a fresh
// database, makes a user with three weeks of back-filled moods (notes, tags,
// one missed day), and saves full-page PNGs of Log in, Today, History and
// Settings at 375 px and 1280 px wide to docs/screenshots/.
//
//   scripts/e2e --screenshots      (or: cd e2e && npm run screenshots)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { Api, addDays, randomPassword } from './lib/util.mjs';
import { signIn } from './lib/ui.mjs';

const OUT = join(REPO_ROOT, 'docs', 'screenshots');
const TZ = 'Europe/Berlin';
const WIDTHS = [375, 1280];

// Three weeks, oldest first: [rating, note, tags, UTC time] per entry; null
// is the missed day. Berlin is UTC+1/+2, so these UTC times keep their date.
const DAYS = [
  [[6, 'First entry. Trying this out.', [], '20:10']],
  [[5, null, ['work'], '19:05']],
  [[7, 'Long walk along the canal after work.', ['outside', 'work'], '18:40']],
  [[4, 'Slept badly, headache most of the day.', ['sleep'], '21:15']],
  [[6, null, [], '08:30'], [7, 'Better by the evening.', [], '20:00']],
  [[8, 'Dinner with Mia and Tom.', ['friends'], '22:05']],
  [[9, 'Cycled to the lake. Perfect weather.', ['outside', 'exercise'], '17:20']],
  [[7, null, ['family'], '19:45']],
  [[5, 'Deadline week.', ['work', 'stress'], '20:30']],
  [[4, 'Too much coffee, too little sleep.', ['work', 'sleep'], '21:50']],
  [[6, null, ['work'], '18:00']],
  null,
  [[6, 'Back on track.', [], '09:10']],
  [[7, 'Yoga class, then cooked a big pot of soup.', ['exercise'], '19:00']],
  [[8, null, ['friends'], '21:30']],
  [[7, 'Quiet Sunday, read most of the afternoon.', ['reading'], '16:45']],
  [[5, 'Rainy and grey.', [], '18:20']],
  [[6, null, ['work'], '19:10'], [8, 'Good talk with my sister on the phone.', ['family'], '21:40']],
  [[7, 'Ran 5 km without stopping!', ['exercise', 'outside'], '07:50']],
  [[8, null, ['friends'], '20:15']],
  [[7, 'Productive day, left work on time.', ['work'], '18:35']],
];

async function main() {
  mkdirSync(OUT, { recursive: true });
  const server = await startServer({ logName: 'screenshots-server.log' });
  const browser = await launchBrowser();
  try {
    const api = new Api(server.baseURL);
    const user = { username: 'sam', password: randomPassword() };
    await api.createUser(user, TZ);
    const token = await api.login(user);
    const { today } = await api.getMood(token);
    // The last day of DAYS is yesterday: today is left for the user to log.
    for (const [i, day] of DAYS.entries()) {
      if (!day) continue;
      const date = addDays(today, i - DAYS.length);
      for (const [rating, note, tags, time] of day) {
        await api.postMood(token, {
          rating, note: note ?? undefined, tags, recorded_at: `${date}T${time}:00Z`, timezone: TZ,
        });
      }
    }

    const options = {
      baseURL: server.baseURL, timezoneId: TZ, locale: 'en-GB', colorScheme: 'light', reducedMotion: 'reduce',
    };
    const anon = await (await browser.newContext(options)).newPage();
    const page = await (await browser.newContext(options)).newPage();
    await signIn(page, user);

    const shots = [
      ['sign-in', anon, '/sign-in'],
      ['today', page, '/'],
      ['history', page, '/history'],
      ['settings', page, '/settings'],
    ];
    for (const width of WIDTHS) {
      for (const [name, p, path] of shots) {
        await p.setViewportSize({ width, height: width < 600 ? 812 : 900 });
        await p.goto(path);
        await p.waitForLoadState('networkidle');
        const file = join(OUT, `${name}-${width}.png`);
        await p.screenshot({ path: file, fullPage: true });
        console.log(`wrote ${file}`);
      }
    }
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
