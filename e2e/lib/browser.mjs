// Launches Debian's chromium through playwright-core (which never downloads a
// browser). playwright's `launch` always runs chromium with a fresh, temporary
// --user-data-dir of its own (it refuses a --user-data-dir argument and
// deletes the directory on close); every browser context is isolated on top.
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    // Nothing of the user's environment leaks into the browser (no proxy,
    // no extensions).
    env: { ...process.env, http_proxy: '', https_proxy: '', HTTP_PROXY: '', HTTPS_PROXY: '' },
  });
}
