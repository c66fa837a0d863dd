// Small helpers with no browser in them: credentials, the JSON API, dates,
// CSV, retries.
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

// ---------------------------------------------------------------- users ---

const WORDS = `amber anchor apricot arcade atlas badger bamboo banjo basil beacon
biscuit blossom bramble breeze bucket cactus candle canyon caramel cellar cherry
cinder clover cobalt comet copper coral cricket crystal cypress dahlia dingo
dolphin domino dragon drizzle ember falcon fennel ferret fig fjord flannel
fossil galaxy garnet gecko ginger glacier goblet granite harbor hazel heron
hickory igloo indigo iris ivory jackal jasmine juniper kayak kettle kiwi koala
lagoon lantern lemon lilac lobster lotus magnet mango maple marble meadow
meteor mitten mosaic nectar nickel nimbus nutmeg oasis octopus olive onyx orbit
otter paddle pebble pepper pigeon pixel plum poppy quartz quill quiver radish
raven reef ribbon rocket saffron salmon sapphire satchel sequoia shadow sierra
sparrow spruce squid strudel summit tamarind teapot thimble thistle thunder
tiger topaz tulip tundra turnip umber velvet violet walnut walrus willow
wombat yarrow yonder zephyr zinnia`.split(/\s+/).filter(Boolean);

/** A fresh username (3–32 chars of a-z0-9_.-). */
export function randomUsername(prefix = 'e2e') {
  return `${prefix}_${randomBytes(6).toString('hex')}`.slice(0, 32);
}

/** A long random passphrase: zxcvbn scores it 4. */
export function randomPassword() {
  const words = Array.from({ length: 4 }, () => WORDS[randomInt(WORDS.length)]);
  return `${words.join(' ')} ${randomInt(1000, 10000)}`;
}

export function randomUser(prefix) {
  return { username: randomUsername(prefix), password: randomPassword() };
}

export { randomUUID };

// ------------------------------------------------------------------ API ---

/** The JSON API, used by tests to set up data (back-filling) and to check it. */
export class Api {
  constructor(baseURL) {
    this.baseURL = baseURL;
  }

  async request(method, path, { token, body, headers = {}, expect } = {}) {
    const h = { accept: 'application/json', ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(this.baseURL + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
    });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (expect !== undefined) {
      assert.equal(res.status, expect, `${method} ${path}: expected ${expect}, got ${res.status}: ${text.slice(0, 500)}`);
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  async createUser(user, timezone = 'UTC') {
    return (await this.request('POST', '/users', {
      body: { username: user.username, password: user.password, timezone },
      expect: 201,
    })).json;
  }

  async login(user) {
    return (await this.request('POST', '/login', {
      body: { username: user.username, password: user.password },
      expect: 200,
    })).json.token;
  }

  /** POST /mood; returns the created entry. */
  async postMood(token, entry) {
    return (await this.request('POST', '/mood', {
      token,
      body: entry,
      headers: { 'idempotency-key': randomUUID() },
      expect: 201,
    })).json;
  }

  /** GET /mood (every entry, newest first, with streak figures). */
  async getMood(token) {
    return (await this.request('GET', '/mood', { token, expect: 200 })).json;
  }
}

// ---------------------------------------------------------------- dates ---

/** 'YYYY-MM-DD' shifted by n calendar days (no time zones involved). */
export function addDays(date, n) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/**
 * An RFC 3339 instant on the calendar day `date` in any zone whose UTC offset
 * is between -11 and +11 hours (noon UTC), e.g. Europe/Berlin.
 */
export function noonUtc(date) {
  return `${date}T12:00:00Z`;
}

// ------------------------------------------------------------------ CSV ---

/** RFC 4180: returns an array of rows, each an array of fields. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i += 1; continue;
      }
      field += c; i += 1; continue;
    }
    if (c === '"') {
      assert.equal(field, '', `CSV: a quote in the middle of an unquoted field at offset ${i}`);
      quoted = true; i += 1; continue;
    }
    if (c === ',') { row.push(field); field = ''; i += 1; continue; }
    if (c === '\r' && text[i + 1] === '\n') { i += 1; continue; }
    if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 1; continue; }
    field += c; i += 1;
  }
  assert.ok(!quoted, 'CSV: unterminated quoted field');
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

// -------------------------------------------------------------- retries ---

/**
 * Retries `fn` (an async function that asserts) until it passes or
 * `timeout` ms went by; then throws its last error.
 */
export async function eventually(fn, { timeout = 5000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}
