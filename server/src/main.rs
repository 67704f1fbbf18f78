//! `flowgate-server`: reads its configuration, opens the database and serves until SIGINT or
//! SIGTERM.

use anyhow::Context as _;
use clap::Parser as _;
use flowgate_server::store::{self, Store};
use flowgate_server::{AppState, Args, Command, ServerConfig};
use tracing_subscriber::EnvFilter;

// This thread opens the database and accepts connections; the worker threads that `run` starts
// serve them, each with a runtime of its own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter =
        EnvFilter::try_new(&args.log).with_context(|| format!("FLOWGATE_LOG {:?}", args.log))?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if args.log_format == "json" {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    if let Some(Command::Openapi) = &args.command {
        println!("{}", flowgate_server::openapi::document().to_pretty_json()?);
        return Ok(());
    }
    if let Some(Command::MigrateTo { url }) = &args.command {
        return migrate_to(&args.database_url, url).await;
    }
    let config = ServerConfig::from_args_and_env(&args)?;
    if let Some(Command::RotateKey { new_key }) = &args.command {
        let rotated = flowgate_server::state::rotate_key(&config, new_key.as_deref()).await?;
        println!(
            "sealed {} platform tokens anew with the new key",
            rotated.resealed
        );
        match rotated.key_file {
            Some(file) => println!("{} now holds the new key", file.display()),
            None => println!(
                "start every server with FLOWGATE_SECRET_KEY set to the new key: one given the \
                 old key refuses to start"
            ),
        }
        return Ok(());
    }
    let metrics_addr = config.metrics_addr;
    let state = AppState::open(config).await?;
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for metrics on {addr} (FLOWGATE_METRICS_ADDR)"))?;
        let addr = listener.local_addr()?;
        println!("flowgate metrics on http://{addr}/metrics");
        let app = flowgate_server::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "flowgate is listening");
    // Scripts and tests starting the server on port 0 read the address from this line.
    println!("flowgate listening on http://{addr}");
    flowgate_server::run(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `migrate-to`: copies the database at `from` into the empty one at `to`.
async fn migrate_to(from: &str, to: &str) -> anyhow::Result<()> {
    let source = Store::open(from)
        .await
        .with_context(|| format!("the database to copy, {}", store::redacted(from)))?;
    let target = Store::open(to)
        .await
        .with_context(|| format!("the target database, {}", store::redacted(to)))?;
    let copied = store::migrate::copy(&source, &target).await?;
    for (table, rows) in &copied {
        println!("{table}: {rows} rows");
    }
    println!("copied into {}", store::redacted(to));
    if let Some(key) = store::context_file(from, ".secret-key").filter(|k| k.exists()) {
        println!(
            "platform tokens are sealed with the key in {}: give its contents to every server \
             as FLOWGATE_SECRET_KEY",
            key.display()
        );
    }
    Ok(())
}

/// Completes at SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
