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

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::classify;
use crate::store::{Counters, StoreError, StoreResult};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// A write waiting for the writer thread.
trait WriteJob: Send {
    /// Runs the write; returns whether it succeeded and how to answer once
    /// the transaction's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Completion);
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
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Completion) {
        let result = (self.f)(conn);
        let reply = self.reply;
        (
            result.is_ok(),
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
    // Blocks for the first job, then takes whatever else is already waiting.
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        counters
            .queued_writes
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);

        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            let e = classify(e);
            // Never run outside a transaction: fail the whole batch.
            for job in batch.drain(..) {
                job.fail(e.clone());
            }
            continue;
        }
        for job in batch.drain(..) {
            completions.push(run_in_savepoint(&conn, job));
        }
        let commit = exec(&conn, "COMMIT").map_err(classify);
        if commit.is_err() {
            let _ = exec(&conn, "ROLLBACK");
        } else {
            counters.committed(completions.len() as u64);
        }
        for complete in completions.drain(..) {
            complete(commit.clone());
        }
    }
}

fn run_in_savepoint(conn: &Connection, job: Box<dyn WriteJob>) -> Completion {
    if let Err(e) = exec(conn, "SAVEPOINT job") {
        job.fail(classify(e));
        return Box::new(|_| {});
    }
    let (ok, complete) = job.run(conn);
    let end = if ok {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
    };
    match end {
        Ok(()) => complete,
        Err(e) => {
            let e = classify(e);
            Box::new(move |_| complete(Err(e)))
        }
    }
}
