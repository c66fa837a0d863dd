//! The SQLite database becoming unwritable under the running binary: a full
//! disk (a small tmpfs filled up) and files that refuse writes (`chattr +i`
//! on ext4 in a loop device, which holds even for root and for files
//! already open). Writes answer 503 problem details saying nothing could be
//! stored, reads go on, service comes back by itself when the space or the
//! permission does, and afterwards the database passes `PRAGMA
//! integrity_check` and holds exactly the acknowledged writes.
//!
//! Both need root and `mount`; where mounting is impossible (not root, a
//! container without CAP_SYS_ADMIN, no loop devices) each test prints why
//! and returns without testing anything.

#[path = "common/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use server::{Server, call, user};

/// A file system mounted for one test, unmounted when it ends.
struct Mount {
    /// Holds the mount point (and the loop image, if any).
    _dir: TempDir,
    point: PathBuf,
}

impl Mount {
    /// A tmpfs of `size` (e.g. `8m`).
    fn tmpfs(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point).map_err(|e| e.to_string())?;
        run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &point,
        )?;
        Ok(Self { _dir: dir, point })
    }

    /// An ext4 file system of `mb` MiB in a loop device.
    fn ext4(mb: u64) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = dir.path().join("fs.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(mb << 20))
            .map_err(|e| e.to_string())?;
        // No blocks reserved for root: the test runs as root.
        run("mkfs.ext4", &["-q", "-F", "-m", "0"], &image)?;
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point).map_err(|e| e.to_string())?;
        let mut args = vec!["-o".to_string(), "loop".to_string()];
        args.push(image.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("mount", &args, &point)?;
        Ok(Self { _dir: dir, point })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(&self.point)
            .status();
    }
}

/// Runs `program args... path`; the error says what failed and why.
fn run(program: &str, args: &[&str], path: &Path) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {} {}` failed: {}",
            args.join(" "),
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The mount, or `None` after printing why the test cannot run here.
fn mount_or_skip(test: &str, mount: Result<Mount, String>) -> Option<Mount> {
    match mount {
        Ok(mount) => Some(mount),
        Err(why) => {
            eprintln!(
                "SKIPPED {test}: this machine does not let the test mount a file system ({why}); \
                 it needs root with CAP_SYS_ADMIN (and loop devices for ext4)"
            );
            None
        }
    }
}

/// The server's logs live outside the file system under test.
fn start(mount: &Mount, logs: &TempDir) -> Server {
    Server::start_logging_to(
        &mount.point.join("moodlog.db"),
        &logs.path().join("moodlog.log"),
        &[],
    )
}

async fn post_mood(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    note: &str,
) -> (u16, Value) {
    let (status, body, content_type) = call(
        client,
        Method::POST,
        server.url("/mood"),
        Some(token),
        Some(json!({"rating": 6, "note": note})),
    )
    .await;
    if status != 201 {
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{status} {body}"
        );
    }
    (status, body)
}

/// Writes while the database cannot store anything: each must be refused
/// with the 503 that says so, or (had it fitted after all) acknowledged.
/// Returns the notes acknowledged.
async fn writes_are_refused(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
) -> BTreeSet<String> {
    // Concurrent, so that several share a transaction in the writer.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, token) = (client.clone(), token.to_string());
        let url = server.url("/mood");
        tasks.push(tokio::spawn(async move {
            let note = format!("during-{i}");
            let (status, body, content_type) = call(
                &client,
                Method::POST,
                url,
                Some(&token),
                Some(json!({"rating": 3, "note": note})),
            )
            .await;
            (note, status, body, content_type)
        }));
    }
    let mut acknowledged = BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        let (note, status, body, content_type) = task.await.unwrap();
        match status {
            201 => {
                acknowledged.insert(note);
            }
            503 => {
                refused += 1;
                assert_eq!(content_type.as_deref(), Some("application/problem+json"));
                assert_eq!(body["status"], 503);
                let detail = body["detail"].as_str().unwrap();
                assert!(detail.contains("cannot store"), "{detail}");
                assert!(
                    !detail.contains("SQL") && !detail.contains(".db"),
                    "leaks internals: {detail}"
                );
            }
            other => panic!("{other} {body}"),
        }
    }
    assert!(
        refused > 0,
        "every write was stored: the fault did not bite"
    );
    eprintln!("{refused} of 20 concurrent writes refused");

    // Other writes too: a sign-up.
    let (status, body, _) = call(
        client,
        Method::POST,
        server.url("/users"),
        None,
        Some(json!({"username": "bob", "password": server::PASSWORD})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    acknowledged
}

/// Reads go on while writes cannot.
async fn reads_go_on(client: &reqwest::Client, server: &Server, token: &str, first_id: &str) {
    let (status, body, _) = call(client, Method::GET, server.url("/mood"), Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["entries"].as_array().unwrap().len() >= 5);
    let (status, body, _) = call(
        client,
        Method::GET,
        server.url(&format!("/mood/{first_id}")),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call(client, Method::GET, server.url("/healthz"), None, None).await;
    assert_eq!(status, 200);
}

/// Once the fault is gone, writes succeed again without a restart.
async fn writes_come_back(client: &reqwest::Client, server: &Server, token: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let note = format!("after-{attempt}");
        let (status, body) = post_mood(client, server, token, &note).await;
        if status == 201 {
            return note;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "writes never came back: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// After a clean stop: the database is intact and holds exactly the
/// acknowledged entries.
fn database_holds_exactly(db: &Path, acknowledged: &BTreeSet<String>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn.prepare("SELECT note FROM entries").unwrap();
    let stored: BTreeSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(&stored, acknowledged);
}

async fn some_acknowledged_writes(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
) -> (BTreeSet<String>, String) {
    let mut acknowledged = BTreeSet::new();
    let mut first_id = String::new();
    for i in 0..5 {
        let note = format!("before-{i}");
        let (status, body) = post_mood(client, server, token, &note).await;
        assert_eq!(status, 201, "{body}");
        if i == 0 {
            first_id = body["id"].as_str().unwrap().to_string();
        }
        acknowledged.insert(note);
    }
    (acknowledged, first_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers_when_space_returns() {
    let test = "a_full_disk_refuses_writes_keeps_reads_and_recovers_when_space_returns";
    let Some(mount) = mount_or_skip(test, Mount::tmpfs("8m")) else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let server = start(&mount, &logs);
    let client = reqwest::Client::new();
    let token = user(&client, &server, "alice").await;
    let (mut acknowledged, first_id) = some_acknowledged_writes(&client, &server, &token).await;

    // Fill the disk.
    let filler_path = mount.point.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let block = vec![0u8; 4096];
    while filler.write_all(&block).is_ok() {}
    drop(filler);

    acknowledged.extend(writes_are_refused(&client, &server, &token).await);
    reads_go_on(&client, &server, &token, &first_id).await;

    std::fs::remove_file(&filler_path).unwrap();
    acknowledged.insert(writes_come_back(&client, &server, &token).await);

    let status = server.stop();
    assert!(status.success(), "{status:?}");
    database_holds_exactly(&mount.point.join("moodlog.db"), &acknowledged);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_that_refuse_writes_give_503_keep_reads_and_recover_when_allowed_again() {
    let test = "files_that_refuse_writes_give_503_keep_reads_and_recover_when_allowed_again";
    let Some(mount) = mount_or_skip(test, Mount::ext4(32)) else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let server = start(&mount, &logs);
    let client = reqwest::Client::new();
    let token = user(&client, &server, "alice").await;
    let (mut acknowledged, first_id) = some_acknowledged_writes(&client, &server, &token).await;

    // The database and its log refuse writes, even through the descriptors
    // moodlog holds open. (Permission bits would not: root ignores them,
    // and open descriptors keep the access they were opened with.)
    let db = mount.point.join("moodlog.db");
    let wal = mount.point.join("moodlog.db-wal");
    let files = [db.to_str().unwrap(), wal.to_str().unwrap()];
    let chattr = |flag: &str| {
        let status = Command::new("chattr")
            .arg(flag)
            .args(files)
            .status()
            .unwrap();
        assert!(status.success(), "chattr {flag} failed");
    };
    chattr("+i");

    acknowledged.extend(writes_are_refused(&client, &server, &token).await);
    reads_go_on(&client, &server, &token, &first_id).await;

    chattr("-i");
    acknowledged.insert(writes_come_back(&client, &server, &token).await);

    let status = server.stop();
    assert!(status.success(), "{status:?}");
    database_holds_exactly(&db, &acknowledged);
}
