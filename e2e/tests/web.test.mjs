// moodlog's web app, end to end: the real binary (target/debug/moodlog or
// $MOODLOG_BIN) on a throw-away database, driven through Debian's chromium.
// The pages are tested against the web app's page contract: routes, labels,
// ids and messages. Run with scripts/e2e (or `npm test` in e2e/).
import { describe } from 'node:test';
import { setupEnv } from '../lib/suite.mjs';
import harness from '../scenarios/00-harness.mjs';
import today from '../scenarios/01-today.mjs';
import history from '../scenarios/02-history.mjs';
import settings from '../scenarios/03-settings.mjs';
import auth from '../scenarios/04-auth.mjs';
import isolation from '../scenarios/05-isolation.mjs';
import layout from '../scenarios/06-layout-a11y.mjs';

describe('moodlog web app', () => {
  const env = setupEnv();
  harness(env);
  today(env);
  history(env);
  settings(env);
  auth(env);
  isolation(env);
  layout(env);
});
