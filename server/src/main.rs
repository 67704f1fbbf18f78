//! `flowgate-server`: reads its configuration, opens the database and serves until SIGINT or
//! SIGTERM.

use anyhow::Context as _;
use clap::Parser as _;
use flowgate_server::{AppState, Args, ServerConfig};
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
    let config = ServerConfig::from_args_and_env(&args)?;
    let state = AppState::open(config).await?;
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
