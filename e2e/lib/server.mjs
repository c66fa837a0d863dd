// Starts the real moodlog binary on a free port with a throw-away SQLite
// database, and stops it with SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, createWriteStream, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const ARTIFACTS_DIR = join(REPO_ROOT, 'target', 'e2e-artifacts');

/** The binary under test: $MOODLOG_BIN, else target/debug/moodlog. */
export function moodlogBinary() {
  const bin = process.env.MOODLOG_BIN
    ? resolve(REPO_ROOT, process.env.MOODLOG_BIN)
    : join(REPO_ROOT, 'target', 'debug', 'moodlog');
  if (!existsSync(bin)) {
    throw new Error(`moodlog binary not found at ${bin}: run \`cargo build --locked\` or set MOODLOG_BIN`);
  }
  return bin;
}

/**
 * Starts `moodlog serve --bind 127.0.0.1:0` and resolves once it printed
 * `listening on http://ADDR`. Returns { baseURL, stop() }.
 * The server's stdout/stderr go to target/e2e-artifacts/<logName>.
 */
export async function startServer({ logName = 'server.log', extraArgs = [], startTimeoutMs = 30_000 } = {}) {
  const bin = moodlogBinary();
  const dir = mkdtempSync(join(tmpdir(), 'moodlog-e2e-'));
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const log = createWriteStream(join(ARTIFACTS_DIR, logName));
  const args = [
    'serve',
    '--bind', '127.0.0.1:0',
    '--database-url', `sqlite://${join(dir, 'e2e.db')}`,
    '--signup-limit', '0',
    ...extraArgs,
  ];
  const child = spawn(bin, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
  });
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  let stderrTail = '';
  child.stderr.on('data', (chunk) => {
    log.write(chunk);
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });

  // If the test process dies, do not leave the server behind.
  const killOnExit = () => { try { child.kill('SIGKILL'); } catch { /* already gone */ } };
  process.once('exit', killOnExit);

  const baseURL = await new Promise((res, rej) => {
    const timer = setTimeout(() => {
      rej(new Error(`moodlog did not print "listening on http://..." within ${startTimeoutMs} ms\n${stderrTail}`));
    }, startTimeoutMs);
    const lines = createInterface({ input: child.stdout });
    let found = false;
    lines.on('line', (line) => {
      log.write(`[stdout] ${line}\n`);
      const m = !found && /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        found = true;
        clearTimeout(timer);
        res(m[1].replace(/\/$/, ''));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!found) rej(new Error(`moodlog exited (code ${code}, signal ${signal}) before listening\n${stderrTail}`));
    });
    child.once('error', (e) => { clearTimeout(timer); rej(e); });
  }).catch((e) => {
    killOnExit();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });

  async function stop() {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer;
      const timeout = new Promise((res) => { timer = setTimeout(() => res('timeout'), 10_000); });
      const outcome = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        child.kill('SIGKILL');
        await exited;
        log.end();
        rmSync(dir, { recursive: true, force: true });
        throw new Error('moodlog did not exit within 10 s of SIGTERM');
      }
    }
    const { code, signal } = await exited;
    await new Promise((res) => log.end(res));
    rmSync(dir, { recursive: true, force: true });
    return { code, signal };
  }

  return { baseURL, stop, pid: child.pid };
}
