//! SQLite connections on dedicated threads: one writer that commits
//! concurrent requests together (group commit), and a few readers.
//!
//! rusqlite is blocking, so no connection ever runs on an async worker.
//! Requests reach the threads through channels and get their answer through
//! a oneshot; a write is answered only after the transaction holding it has
//! committed, so every acknowledged write is in the WAL.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{BUSY_TIMEOUT, classify};
use crate::store::{Counters, StoreError, StoreResult};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

/// How often the writer checks the WAL's length (see `keep_wal_short`).
const WAL_CHECK_EVERY: Duration = Duration::from_secs(1);
/// WAL frames (pages) past which the writer makes the WAL start over:
/// twice SQLite's automatic checkpoint (1,000).
const WAL_RESTART_FRAMES: i64 = 2_000;
/// Longest the writer waits for readers to let the WAL start over; writes
/// wait meanwhile. Reads take milliseconds here.
const WAL_RESTART_PATIENCE: Duration = Duration::from_millis(100);

type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// A write waiting for the writer thread.
trait WriteJob: Send {
    /// Runs the write; returns its outcome and how to answer once the
    /// transaction's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> (StoreResult<()>, Completion);
    /// Answers without running (the transaction could not be opened).
    fn fail(self: Box<Self>, error: StoreError);
}

struct Job<F, T> {
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> WriteJob for Job<F, T>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn run(self: Box<Self>, conn: &Connection) -> (StoreResult<()>, Completion) {
        let result = (self.f)(conn);
        let reply = self.reply;
        (
            result.as_ref().map(drop).map_err(Clone::clone),
            Box::new(move |commit| {
                let _ = reply.send(commit.and(result));
            }),
        )
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

pub(super) struct Threads {
    writer: Sender<Box<dyn WriteJob>>,
    readers: Sender<ReadJob>,
    pub counters: Arc<Counters>,
    pub connections: u64,
    writer_thread: Option<JoinHandle<()>>,
    reader_threads: Vec<JoinHandle<()>>,
}

/// Closing the channels ends the threads; the writer's connection closes
/// last, so SQLite checkpoints the WAL into the database file and removes
/// it, leaving one self-contained file after a clean shutdown.
impl Drop for Threads {
    fn drop(&mut self) {
        drop(std::mem::replace(
            &mut self.readers,
            crossbeam_channel::unbounded().0,
        ));
        for reader in self.reader_threads.drain(..) {
            let _ = reader.join();
        }
        drop(std::mem::replace(
            &mut self.writer,
            crossbeam_channel::unbounded().0,
        ));
        if let Some(writer) = self.writer_thread.take() {
            let _ = writer.join();
        }
    }
}

impl Threads {
    pub fn start(writer: Connection, readers: Vec<Connection>) -> Self {
        let counters = Arc::new(Counters::default());
        let connections = readers.len() as u64 + 1;

        let (write_tx, write_rx) = crossbeam_channel::unbounded::<Box<dyn WriteJob>>();
        let c = counters.clone();
        let writer_thread = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, write_rx, &c))
            .expect("spawn the SQLite writer thread");

        let (read_tx, read_rx) = crossbeam_channel::unbounded::<ReadJob>();
        let reader_threads = readers
            .into_iter()
            .enumerate()
            .map(|(i, mut conn)| {
                let rx = read_rx.clone();
                let c = counters.clone();
                thread::Builder::new()
                    .name(format!("sqlite-reader-{i}"))
                    .spawn(move || {
                        for job in rx {
                            c.queued_reads.fetch_sub(1, Ordering::Relaxed);
                            job(&mut conn);
                        }
                    })
                    .expect("spawn a SQLite reader thread")
            })
            .collect();

        Self {
            writer: write_tx,
            readers: read_tx,
            counters,
            connections,
            writer_thread: Some(writer_thread),
            reader_threads,
        }
    }

    /// Runs `f` on a reader connection.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.counters.queued_reads.fetch_add(1, Ordering::Relaxed);
        self.readers.send(job).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Runs `f` inside the writer's current transaction and answers once
    /// that transaction has committed. If `f` fails, its changes are rolled
    /// back and the other writes of the batch are unaffected.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Job { f, reply });
        self.counters.queued_writes.fetch_add(1, Ordering::Relaxed);
        self.writer.send(job).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database threads have stopped".into())
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn write_loop(conn: Connection, jobs: Receiver<Box<dyn WriteJob>>, counters: &Counters) {
    let mut batch: Vec<Box<dyn WriteJob>> = Vec::with_capacity(MAX_BATCH);
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    let mut wal_checked = Instant::now();
    // Blocks for the first job, then takes whatever else is already waiting.
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        counters
            .queued_writes
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);

        if !conn.is_autocommit() {
            // A failed COMMIT whose ROLLBACK failed too (the disk went away
            // in between) must not leave this connection inside a
            // transaction, or every later BEGIN would fail.
            let _ = exec(&conn, "ROLLBACK");
        }
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            let e = classify(e);
            // Never run outside a transaction: fail the whole batch.
            for job in batch.drain(..) {
                job.fail(e.clone());
            }
            continue;
        }
        let mut aborted: Option<StoreError> = None;
        for job in batch.drain(..) {
            if let Some(e) = &aborted {
                job.fail(e.clone());
                continue;
            }
            let (outcome, complete) = run_in_savepoint(&conn, job);
            completions.push(complete);
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back, as it may on a
                // full disk or an I/O error: the writes before this one are
                // undone, and the ones after must not run outside a
                // transaction (each would commit alone, then be reported
                // failed with the batch).
                aborted = Some(outcome.err().unwrap_or_else(|| {
                    StoreError::Unavailable("SQLite rolled the transaction back".into())
                }));
            }
        }
        let commit = match aborted {
            Some(e) => Err(e),
            None => {
                let commit = exec(&conn, "COMMIT").map_err(classify);
                if commit.is_err() {
                    let _ = exec(&conn, "ROLLBACK");
                } else {
                    counters.committed(completions.len() as u64);
                }
                if wal_checked.elapsed() >= WAL_CHECK_EVERY {
                    wal_checked = Instant::now();
                    keep_wal_short(&conn);
                }
                commit
            }
        };
        for complete in completions.drain(..) {
            complete(commit.clone());
        }
    }
}

/// Makes the WAL start over from its beginning once it is long.
///
/// SQLite restarts the WAL only when a write begins while no reader uses
/// it. With reads arriving all the time (4 reader threads under load) that
/// moment may never come: the WAL grew without bound (230 MB in a
/// 10-minute soak, beside a 62 MB database), and, being always over the
/// automatic checkpoint's threshold, made every commit run a checkpoint
/// (with its fsyncs). A RESTART checkpoint waits, briefly, for the readers
/// to move to the database file, so that the next write starts the WAL
/// over. Writes queued meanwhile wait at most `WAL_RESTART_PATIENCE`.
fn keep_wal_short(conn: &Connection) {
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
    };
    // PASSIVE never waits; it reports the WAL's length in frames.
    match checkpoint("PASSIVE") {
        Ok((_, frames)) if frames >= WAL_RESTART_FRAMES => {}
        _ => return,
    }
    let _ = conn.busy_timeout(WAL_RESTART_PATIENCE);
    match checkpoint("RESTART") {
        Ok((0, frames)) => tracing::debug!(frames, "the WAL starts over"),
        Ok(_) => tracing::debug!("readers kept the WAL busy; trying again later"),
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
    }
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
}

/// Runs one write in its own savepoint; returns its outcome (the job's
/// own error first) and how to answer it.
fn run_in_savepoint(conn: &Connection, job: Box<dyn WriteJob>) -> (StoreResult<()>, Completion) {
    if let Err(e) = exec(conn, "SAVEPOINT job") {
        let e = classify(e);
        job.fail(e.clone());
        return (Err(e), Box::new(|_| {}));
    }
    let (outcome, complete) = job.run(conn);
    if conn.is_autocommit() {
        // The job's error ended the whole transaction: no savepoint is left.
        return (outcome, complete);
    }
    let end = if outcome.is_ok() {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
    };
    match end {
        Ok(()) => (outcome, complete),
        Err(e) => {
            let e = classify(e);
            let outcome = outcome.and(Err(e.clone()));
            (outcome, Box::new(move |_| complete(Err(e))))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn insert(conn: &Connection, x: i64) -> StoreResult<()> {
        conn.execute("INSERT INTO t VALUES (?1)", [x])?;
        Ok(())
    }

    #[tokio::test]
    async fn a_transaction_sqlite_rolled_back_fails_its_whole_batch_and_nothing_after_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        let threads = Threads::start(writer, vec![reader]);

        // The first write holds the writer while the next three queue, so
        // that they share one transaction.
        let first = threads.write(|conn| {
            std::thread::sleep(Duration::from_millis(300));
            insert(conn, 1)
        });
        let batch = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::join!(
                threads.write(|conn| insert(conn, 2)),
                // What SQLite does on a full disk or an I/O error in the
                // middle of a transaction: it rolls all of it back.
                threads.write(|conn| {
                    conn.execute_batch("ROLLBACK")?;
                    Err::<(), _>(StoreError::Unwritable("disk full".into()))
                }),
                threads.write(|conn| insert(conn, 3)),
            )
        };
        let (first, (before, failing, after)) = tokio::join!(first, batch);
        first.unwrap();
        for (name, result) in [("before", before), ("failing", failing), ("after", after)] {
            assert!(
                matches!(result, Err(StoreError::Unwritable(_))),
                "{name}: {result:?}"
            );
        }

        // The writer goes on, and only acknowledged writes are stored.
        threads.write(|conn| insert(conn, 4)).await.unwrap();
        let stored = threads
            .read(|conn| {
                let mut stmt = conn.prepare("SELECT x FROM t ORDER BY x")?;
                let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
            .unwrap();
        assert_eq!(stored, [1, 4]);
    }

    /// The WAL header's salt-1, which SQLite changes each time the WAL
    /// starts over.
    fn wal_salt(db: &std::path::Path) -> [u8; 4] {
        let header = std::fs::read(db.with_extension("db-wal")).unwrap();
        header[16..20].try_into().unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_wal_starts_over_even_while_reads_never_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x BLOB)")
            .unwrap();
        let threads = Threads::start(writer, vec![Connection::open(&path).unwrap()]);
        threads
            .write(|conn| {
                conn.execute("INSERT INTO t VALUES (zeroblob(100))", [])?;
                Ok(())
            })
            .await
            .unwrap();
        let salt = wal_salt(&path);

        // Two readers whose transactions overlap, so that at every moment
        // one of them reads from the WAL: SQLite alone never restarts it.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers = {
            let (stop, path) = (stop.clone(), path.clone());
            thread::spawn(move || {
                let a = Connection::open(&path).unwrap();
                let b = Connection::open(&path).unwrap();
                let read = |c: &Connection| {
                    c.execute_batch("BEGIN").unwrap();
                    c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                        .unwrap();
                };
                read(&a);
                while !stop.load(Ordering::Relaxed) {
                    read(&b);
                    thread::sleep(Duration::from_millis(20));
                    a.execute_batch("COMMIT").unwrap();
                    read(&a);
                    thread::sleep(Duration::from_millis(20));
                    b.execute_batch("COMMIT").unwrap();
                }
                a.execute_batch("COMMIT").unwrap();
            })
        };

        // Writes of 8 KiB rows (a few WAL frames each) for 3.5 s: past the
        // restart threshold within each one-second check.
        let until = Instant::now() + Duration::from_millis(3500);
        while Instant::now() < until {
            threads
                .write(|conn| {
                    conn.execute("INSERT INTO t VALUES (zeroblob(8192))", [])?;
                    Ok(())
                })
                .await
                .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        readers.join().unwrap();

        assert_ne!(wal_salt(&path), salt, "the WAL never started over");
    }
}
