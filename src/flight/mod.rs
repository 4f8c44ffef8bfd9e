//! `pondsql serve`: the pond as an Arrow Flight SQL server (DBeaver, ADBC,
//! JDBC, Python), and `pondsql --connect`, the CLI against such a server.
//!
//! A front door: owns the wire (auth.rs, service.rs, metadata.rs) and the
//! users file (users.rs); every statement runs through a `PondSession`, so
//! what a client can do and the errors it gets are the CLI's.

mod auth;
mod authenticate;
pub(crate) mod client;
mod ingest;
mod metadata;
mod prepared;
mod results;
mod run;
mod service;
mod status;
pub(crate) mod users;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::error::Error;
use crate::HostAccess;
use crate::Pond;
use crate::SessionOptions;
use auth::Authority;
use authenticate::AuthenticateFirst;
use service::PondFlightService;
use users::Users;

/// The tracing target of the server's statement log (one INFO line per
/// statement: when, who, outcome, what).
pub(crate) const STATEMENT_LOG: &str = "pondsql::statements";

/// Largest message a client may send (a bulk-ingest batch, bound values).
const MAX_MESSAGE: usize = 256 << 20;

/// How `pondsql serve` runs.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    pub pond: PathBuf,
    pub listen: String,
    pub users: Option<PathBuf>,
    /// Certificate chain and private key (PEM) for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub read_only: bool,
    pub allow_host_files: Option<PathBuf>,
    /// Let remote sessions call API sources (with the server's credentials).
    pub allow_sources: bool,
    /// For all sessions together; `None`: [`default_memory_limit`].
    pub memory_limit: Option<usize>,
    /// How long a result waits for its DoGet; `None`: 2 minutes.
    pub result_timeout: Option<Duration>,
    /// How long a session and a prepared statement live unused; `None`: 8 hours.
    pub idle_timeout: Option<Duration>,
}

/// Serves until SIGTERM or Ctrl-C; calls under way finish first. Prints
/// the address it listens on (`grpc://127.0.0.1:PORT`) once it does.
pub(crate) async fn serve(options: ServeOptions) -> Result<(), Error> {
    let address: SocketAddr = options.listen.parse().map_err(|_| {
        format!(
            "--listen {}: not an address: use IP:PORT, e.g. 127.0.0.1:50051 (port 0 picks a free one)",
            options.listen
        )
    })?;
    let users = match &options.users {
        Some(path) => {
            let users = Users::load(path)?;
            if users.is_empty() {
                return Err(format!(
                    "the users file {} has no users: add one with `pondsql user add --users {} NAME`",
                    path.display(),
                    path.display()
                ).into());
            }
            Some(users)
        }
        None if !address.ip().is_loopback() => {
            return Err(format!(
                "--listen {address}: without --users FILE the server accepts anyone, so it listens on loopback only (127.0.0.1 or ::1); add users with `pondsql user add`"
            ).into())
        }
        None => None,
    };
    let host_access = match &options.allow_host_files {
        Some(dir) => HostAccess::under(dir)
            .map_err(|e| format!("--allow-host-files {}: {e}", dir.display()))?,
        None => HostAccess::Nowhere,
    };
    let pond = Arc::new(Pond::open(&options.pond).await.map_err(|e| e.to_string())?);
    let memory_limit = options.memory_limit.unwrap_or_else(default_memory_limit);
    let session_options = SessionOptions {
        host_access,
        // One pool for every session: what unfetched results and running
        // queries hold together is bounded, however many clients connect.
        memory_pool: Some(SessionOptions::bounded_pool(memory_limit)),
        read_only: options.read_only,
        no_api_sources: !options.allow_sources,
    };
    let result_timeout = options.result_timeout.unwrap_or(results::UNCLAIMED);
    let idle_timeout = options.idle_timeout.unwrap_or(auth::IDLE);
    let authority = Arc::new(Authority::new(pond, users, session_options, idle_timeout));
    let service = Arc::new(PondFlightService::new(
        authority.clone(),
        options.read_only,
        result_timeout,
        idle_timeout,
    ));
    let mut server = Server::builder();
    if let Some((cert, key)) = &options.tls {
        crate::tls::choose_backend();
        let read =
            |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        server = server
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let scheme = if options.tls.is_some() {
        "grpc+tls"
    } else {
        "grpc"
    };
    println!(
        "pondsql {} serving {} on {scheme}://{bound}{} (memory limit {} MiB)",
        env!("CARGO_PKG_VERSION"),
        options.pond.display(),
        if options.read_only {
            " (read-only)"
        } else {
            ""
        },
        memory_limit >> 20
    );
    // Often enough that nothing outlives its timeout by much.
    let sweep_every = (result_timeout.min(idle_timeout) / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(10));
    let sweeper = {
        let service = service.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(sweep_every).await;
                service.sweep();
            }
        })
    };
    let flight =
        FlightServiceServer::from_arc(service.clone()).max_decoding_message_size(MAX_MESSAGE);
    server
        .layer(AuthenticateFirst::new(authority))
        .add_service(flight)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown_signal())
        .await
        .map_err(|e| format!("the server stopped: {e}"))?;
    sweeper.abort();
    // Open blocks of sessions are dropped uncommitted, as at a disconnect.
    service.auth().close_all();
    eprintln!("pondsql serve: stopped");
    Ok(())
}

/// Half the memory of the machine, or of its cgroup in a container (as
/// DuckDB, the server bounds itself by default; the other half is the
/// system's and the page cache's). 256 MiB where neither is known.
pub(crate) fn default_memory_limit() -> usize {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let machine = system.total_memory();
    let cgroup = system
        .cgroup_limits()
        .map(|c| c.total_memory)
        .filter(|bytes| *bytes > 0);
    let total = match (cgroup, machine) {
        (Some(cgroup), 0) => cgroup,
        (Some(cgroup), machine) => cgroup.min(machine),
        (None, machine) => machine,
    };
    usize::try_from(total / 2)
        .unwrap_or(usize::MAX)
        .max(256 << 20)
}

/// SIGTERM (systemd, docker stop) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    eprintln!("pondsql serve: shutting down (calls under way finish first)");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_memory_limit_is_half_the_machine_and_at_least_256_mib() {
        let mut system = sysinfo::System::new();
        system.refresh_memory();
        let limit = super::default_memory_limit() as u64;
        assert!(limit >= 256 << 20, "{limit}");
        if system.total_memory() >= 512 << 20 {
            assert!(limit <= system.total_memory() / 2, "{limit}");
        }
    }
}
