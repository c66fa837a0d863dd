//! Configuration: command-line flags with `MOODLOG_*` environment fallbacks.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use axum::http::Uri;
use clap::{Args, Parser, Subcommand};
use jiff::{SignedDuration, Span, SpanRelativeTo};

pub use crate::auth::IpBlock;
pub use crate::store::sqlite::Durability;

#[derive(Debug, Parser)]
#[command(
    name = "moodlog",
    version,
    about = "A mood-tracking backend with streaks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the migrations, then serve HTTP (the default).
    Serve(Box<ServeArgs>),
    /// Run the database migrations and exit.
    Migrate(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (created if missing) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. Parsed after clap, so
    /// that a password in a bad URL is never echoed in an error.
    #[arg(
        long,
        env = "MOODLOG_DATABASE_URL",
        default_value = "sqlite://moodlog.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// SQLite only: `process` answers a write once it is in the WAL (it
    /// survives a crash of moodlog); `power` also fsyncs it (it survives
    /// power loss) at a cost in write throughput.
    #[arg(
        long,
        env = "MOODLOG_DURABILITY",
        value_enum,
        default_value = "process"
    )]
    pub durability: Durability,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MOODLOG_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Sign-ups allowed per client address per hour; 0 turns the limit off.
    #[arg(long, env = "MOODLOG_SIGNUP_LIMIT", default_value_t = 20)]
    pub signup_limit: u32,

    /// The origin browsers see, e.g. `https://mood.example.org` behind a TLS
    /// proxy. Without it, the origin is `http://` + the request's `Host`.
    #[arg(long, env = "MOODLOG_PUBLIC_URL", value_parser = parse_origin)]
    pub public_url: Option<String>,

    /// Longest time a request may take before it is answered 503.
    #[arg(long, env = "MOODLOG_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: SignedDuration,

    /// Longest a connection may take to send a request's headers, counted
    /// from when it is ready for the request: it bounds slow headers and
    /// idle keep-alive connections alike. Behind a load balancer that keeps
    /// connections open, set it above the balancer's idle timeout.
    #[arg(long, env = "MOODLOG_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: SignedDuration,

    /// Longest a request's body may take to arrive in full, counted from
    /// the end of its headers; a slower one is answered 408.
    #[arg(long, env = "MOODLOG_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: SignedDuration,

    /// Most connections open at once; further ones wait in the kernel's
    /// listen queue until one closes.
    #[arg(long, env = "MOODLOG_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// A session unused for this long ends.
    #[arg(long, env = "MOODLOG_SESSION_IDLE_TIMEOUT", default_value = "7d", value_parser = parse_duration)]
    pub session_idle_timeout: SignedDuration,

    /// A session ends this long after login, however much it is used.
    #[arg(long, env = "MOODLOG_SESSION_LIFETIME", default_value = "30d", value_parser = parse_duration)]
    pub session_lifetime: SignedDuration,

    /// SQLite reader connections (each on its own thread).
    #[arg(long, env = "MOODLOG_SQLITE_READERS", default_value_t = 4)]
    pub sqlite_readers: usize,

    /// Addresses or CIDR blocks of load balancers in front of moodlog:
    /// requests from them are attributed to the client their
    /// `X-Forwarded-For` names (for throttling). Comma-separated.
    #[arg(
        long = "trusted-proxy",
        env = "MOODLOG_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpBlock>,

    /// PostgreSQL only: most connections this instance holds open.
    #[arg(long, env = "MOODLOG_PG_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pg_pool_size: u32,

    /// PostgreSQL only: the server cancels any statement running longer.
    #[arg(long, env = "MOODLOG_PG_STATEMENT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub pg_statement_timeout: SignedDuration,

    /// Password hashes computed at once (each takes 19 MiB while it runs).
    #[arg(long, env = "MOODLOG_HASH_CONCURRENCY", default_value_t = 2)]
    pub hash_concurrency: usize,

    /// MiB of serialized `GET /mood` bodies kept in memory; 0 turns the
    /// cache off.
    #[arg(long, env = "MOODLOG_MOOD_CACHE_MB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=65536))]
    pub mood_cache_mb: u32,

    /// Log format.
    #[arg(long, env = "MOODLOG_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `Application::build` needs; tests fill it in directly.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: DatabaseUrl,
    pub durability: Durability,
    pub signup_limit: u32,
    pub public_url: Option<String>,
    pub request_timeout: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub session_idle_timeout: SignedDuration,
    pub session_lifetime: SignedDuration,
    pub sqlite_readers: usize,
    pub pg_pool_size: usize,
    pub pg_statement_timeout: Duration,
    pub hash_concurrency: usize,
    pub trusted_proxies: Vec<IpBlock>,
    /// Bytes of `GET /mood` bodies to cache (0: none).
    pub mood_cache_bytes: u64,
}

impl Config {
    /// The defaults of `moodlog serve`, on the given database.
    pub fn new(database_url: DatabaseUrl) -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("valid address"),
            database_url,
            durability: Durability::Process,
            signup_limit: 20,
            public_url: None,
            request_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            session_idle_timeout: SignedDuration::from_hours(7 * 24),
            session_lifetime: SignedDuration::from_hours(30 * 24),
            sqlite_readers: 4,
            pg_pool_size: 16,
            pg_statement_timeout: Duration::from_secs(5),
            hash_concurrency: 2,
            trusted_proxies: Vec::new(),
            mood_cache_bytes: 16 << 20,
        }
    }
}

impl DatabaseArgs {
    pub fn database_url(&self) -> anyhow::Result<DatabaseUrl> {
        self.database_url
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))
    }
}

impl TryFrom<ServeArgs> for Config {
    type Error = anyhow::Error;

    fn try_from(args: ServeArgs) -> anyhow::Result<Self> {
        Ok(Self {
            bind: args.bind,
            database_url: args.database.database_url()?,
            durability: args.database.durability,
            signup_limit: args.signup_limit,
            public_url: args.public_url,
            request_timeout: args.request_timeout.unsigned_abs(),
            header_timeout: args.header_timeout.unsigned_abs(),
            body_timeout: args.body_timeout.unsigned_abs(),
            max_connections: args.max_connections as usize,
            session_idle_timeout: args.session_idle_timeout,
            session_lifetime: args.session_lifetime,
            sqlite_readers: args.sqlite_readers,
            pg_pool_size: args.pg_pool_size as usize,
            pg_statement_timeout: args.pg_statement_timeout.unsigned_abs(),
            hash_concurrency: args.hash_concurrency,
            trusted_proxies: args.trusted_proxies,
            mood_cache_bytes: u64::from(args.mood_cache_mb) << 20,
        })
    }
}

/// Where the data lives, chosen by the URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

/// A PostgreSQL URL, parsed. It may carry a password, so it prints (and
/// logs) without it.
#[derive(Clone)]
pub struct PostgresUrl {
    config: Box<tokio_postgres::Config>,
    shown: String,
}

impl PostgresUrl {
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

impl PartialEq for PostgresUrl {
    fn eq(&self, other: &Self) -> bool {
        self.shown == other.shown && self.config.get_password() == other.config.get_password()
    }
}

impl Eq for PostgresUrl {}

impl FromStr for PostgresUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // The driver's message names the part at fault, never the input.
        let config = tokio_postgres::Config::from_str(s)
            .map_err(|e| format!("not a valid postgres:// URL: {e}"))?;
        let user = config.get_user().unwrap_or("");
        let password = if config.get_password().is_some() {
            ":***"
        } else {
            ""
        };
        let at = if user.is_empty() {
            String::new()
        } else {
            format!("{user}{password}@")
        };
        let shown = format!(
            "postgres://{at}{}",
            crate::store::postgres::address(&config)
        );
        Ok(Self {
            config: Box::new(config),
            shown,
        })
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            // `sqlite://moodlog.db` is relative, `sqlite:///var/lib/m.db` absolute.
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err("a sqlite URL needs a file path, e.g. sqlite://moodlog.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return s.parse().map(Self::Postgres);
        }
        let scheme = s.split_once(':').map_or("", |(scheme, _)| scheme);
        Err(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        ))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&url.shown),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Accepts `7d`, `12h`, `90s`, `1h 30m` or ISO 8601 (`P7D`).
fn parse_duration(s: &str) -> Result<SignedDuration, String> {
    let span: Span = s.parse().map_err(|e| format!("not a duration: {e}"))?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("not a duration: {e}"))?;
    if duration <= SignedDuration::ZERO {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Reduces a public URL to its origin, `scheme://host[:port]`.
fn parse_origin(s: &str) -> Result<String, String> {
    let uri: Uri = s.parse().map_err(|e| format!("not a URL: {e}"))?;
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    let (Some(scheme @ ("http" | "https")), Some(authority)) = (scheme.as_deref(), uri.authority())
    else {
        return Err("must be an http:// or https:// URL".into());
    };
    if authority.as_str().contains('@') {
        return Err("must not contain credentials".into());
    }
    Ok(format!(
        "{scheme}://{}",
        authority.as_str().to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            "sqlite://moodlog.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("moodlog.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/moodlog.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("/var/lib/moodlog.db".into()))
        );
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
        let err = "mysql://root:hunter2@db/x"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn postgres_urls_never_show_their_password() {
        let url: DatabaseUrl = "postgres://mood:hunter2@db.internal:6432/moodlog"
            .parse()
            .unwrap();
        let DatabaseUrl::Postgres(pg) = &url else {
            panic!("postgres expected");
        };
        assert_eq!(pg.config().get_password(), Some(&b"hunter2"[..]));
        assert_eq!(pg.config().get_dbname(), Some("moodlog"));
        for shown in [url.to_string(), format!("{url:?}")] {
            assert_eq!(shown, "postgres://mood:***@db.internal:6432/moodlog");
        }
        let plain: DatabaseUrl = "postgresql://postgres@127.0.0.1/test".parse().unwrap();
        assert_eq!(plain.to_string(), "postgres://postgres@127.0.0.1:5432/test");
        for bad in [
            "postgres://mood:hunter2@db:notaport/x",
            "postgres://mood:hunter2@db/x?sslmode=bogus",
        ] {
            let err = bad.parse::<DatabaseUrl>().unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(SignedDuration::from_hours(168)));
        assert_eq!(parse_duration("90s"), Ok(SignedDuration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(
            parse_origin("https://Mood.Example.org/app/"),
            Ok("https://mood.example.org".into())
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080".into())
        );
        assert!(parse_origin("ftp://x").is_err());
        assert!(parse_origin("mood.example.org").is_err());
    }

    #[test]
    fn cli_defaults_match_config_defaults() {
        let Cli {
            command: Some(Command::Serve(args)),
        } = Cli::try_parse_from(["moodlog", "serve"]).unwrap()
        else {
            panic!("serve expected");
        };
        let from_cli = Config::try_from(*args).unwrap();
        let defaults = Config::new(DatabaseUrl::Sqlite("moodlog.db".into()));
        assert_eq!(format!("{from_cli:?}"), format!("{defaults:?}"));
    }
}
