//! The `casedesk` binary: parse the command line, load the configuration, start.

/// mimalloc instead of the system allocator: a list page builds and frees
/// thousands of small values (rows, JSON), and glibc's malloc took a fifth of
/// the service's CPU time under the benchmark's list load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{io::BufRead, path::PathBuf, process::ExitCode, sync::Arc};

use casedesk::{
    accounts::{bootstrap, model::Role},
    clock::{Clock, SystemClock},
    config::Config,
    crypto::MasterKey,
    keyring, telemetry,
};
use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "casedesk",
    version,
    about = "Case management for Shelter City stays and exchange placements"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document, or write it to a file.
    Openapi {
        /// Write the document here instead of to standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Manage staff accounts from the command line.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Manage the master key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap every data key (and the keyring and TOTP secrets) under a new
    /// master key, without touching the encrypted fields. The current key
    /// comes from the configuration; afterwards, configure the new one.
    Rotate {
        /// A file holding the new key: base64 of 32 random bytes.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create an account; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        email: String,
        /// A role; repeat for several (admin, shelter_coordinator, shelter_caseworker,
        /// exchange_coordinator, exchange_officer, analyst, auditor).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The display name (defaults to the e-mail address).
        #[arg(long)]
        name: Option<String>,
    },
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("casedesk: {message}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let shutdown = shutdown_signal();
    if let Command::Openapi { output } = &command {
        let spec = casedesk::spec_json();
        return match output {
            None => {
                print!("{spec}");
                ExitCode::SUCCESS
            }
            Some(path) => match std::fs::write(path, spec) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("cannot write {}: {e}", path.display())),
            },
        };
    }

    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(format!("configuration: {e}")),
    };
    telemetry::init(config.log_format, &config.log_filter);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let bind = config.bind;
    let admin_email = config.bootstrap_admin_email.clone();
    let state = match casedesk::prepare(config, clock.clone()).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };

    match command {
        Command::Migrate => {
            println!("casedesk: migrations applied");
            ExitCode::SUCCESS
        }
        Command::Staff {
            command: StaffCommand::Create { email, roles, name },
        } => {
            let mut parsed = Vec::new();
            for r in &roles {
                match Role::parse(r) {
                    Some(role) => parsed.push(role),
                    None => return fail(format!("--role {r}: not a role")),
                }
            }
            let mut line = Zeroizing::new(String::new());
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                return fail("cannot read the password from standard input");
            }
            let password = line.trim_end_matches(['\r', '\n']);
            let name = name.unwrap_or_else(|| email.clone());
            match bootstrap::create_from_cli(
                &state.db,
                &state.hasher,
                clock.as_ref(),
                &email,
                &name,
                &parsed,
                password,
            )
            .await
            {
                Ok(id) => {
                    println!("casedesk: created staff account {id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate { new_key_file },
        } => {
            let text = match std::fs::read_to_string(&new_key_file) {
                Ok(t) => Zeroizing::new(t),
                Err(e) => {
                    return fail(format!(
                        "--new-key-file {}: {}",
                        new_key_file.display(),
                        e.kind()
                    ))
                }
            };
            let new_key = match MasterKey::from_base64(&text) {
                Ok(k) => k,
                Err(e) => return fail(format!("--new-key-file {}: {e}", new_key_file.display())),
            };
            match keyring::rotate(&state.db, &state.keys.master, &new_key, clock.as_ref()).await {
                Ok(done) => {
                    println!(
                        "casedesk: re-wrapped {} data keys, {} keyring entries, {} TOTP secrets and {} webhook secrets under the new master key",
                        done.data_keys, done.keyring_entries, done.totp_secrets, done.webhook_secrets
                    );
                    println!("casedesk: now configure the new key (CASEDESK_MASTER_KEY_FILE) and restart every replica");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("rotation failed, nothing changed: {e}")),
            }
        }
        Command::Serve | Command::Openapi { .. } => {
            serve(state, bind, &admin_email, shutdown).await
        }
    }
}

async fn serve(
    state: casedesk::AppState,
    bind: std::net::SocketAddr,
    admin_email: &str,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> ExitCode {
    match bootstrap::first_admin(&state.db, &state.hasher, state.clock.as_ref(), admin_email).await
    {
        Ok(Some((email, password))) => {
            // Shown once, on the terminal only: never logged.
            println!("casedesk: created the first administrator");
            println!("  e-mail:             {email}");
            println!("  one-time password:  {}", password.as_str());
            println!("  (it must be changed at the first sign-in)");
        }
        Ok(None) => {}
        Err(e) => return fail(e),
    }
    let bound = match casedesk::bind(bind).await {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot listen on {bind}: {e}")),
    };
    tracing::info!(address = %bound.addr, "casedesk listening");
    match bound.run(state, shutdown).await {
        Ok(()) => {
            tracing::info!("casedesk stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("server error: {e}")),
    }
}

/// Installs the SIGINT and SIGTERM handlers now (so a signal that arrives
/// while the service starts is not lost) and returns a future that completes
/// on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = term => {},
                () = int => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
