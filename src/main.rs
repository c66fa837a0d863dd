use std::process::ExitCode;

use clap::Parser;
use moodlog::config::{Cli, Command, DatabaseArgs, ServeArgs};
use moodlog::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command.unwrap_or_else(|| {
        // `moodlog` alone serves, with flags from the environment.
        match Cli::parse_from(["moodlog", "serve"]).command {
            Some(serve) => serve,
            None => unreachable!("`serve` was given"),
        }
    });
    let result = match command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => migrate(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moodlog: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let mut config = Config::new(args.database_url()?);
    config.durability = args.durability;
    let applied = moodlog::app::migrate(&config).await?;
    println!("applied {applied} migration(s) to {}", config.database_url);
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    moodlog::telemetry::init(args.log_format);
    let config = Config::try_from(args)?;
    let app = Application::build(config.clone()).await?;
    println!("listening on http://{}", app.local_addr());
    tracing::info!(database = %config.database_url, "serving");
    app.run_until_stopped().await?;
    Ok(())
}
