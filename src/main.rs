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
    /// Export and verify the audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the public key that signs the chain's checkpoints (pin it).
    PublicKey,
    /// Prune the events older than CASEDESK_AUDIT_KEEP_YEARS behind the newest
    /// signed checkpoint that old. Run it as the database's owner where the
    /// service's role may not delete (CASEDESK_MIGRATE_ON_START=false).
    Prune,
    /// Write a segment of the chain to a file, for verification offline.
    Export {
        /// The file to write (JSON).
        #[arg(long, short)]
        output: PathBuf,
        /// The first sequence number (default 1).
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// The last sequence number (default: the head).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Verify an exported segment against checkpoints kept outside the
    /// system, without the database. With CASEDESK_MASTER_KEY[_FILE] set,
    /// every hash is recomputed; without it, links and checkpoints are checked.
    Verify {
        /// A segment written by `casedesk audit export`.
        #[arg(long)]
        segment: PathBuf,
        /// Checkpoints kept outside: a JSON array, or a page of
        /// `GET /api/v1/audit-checkpoints` (`{"items": [...]}`).
        #[arg(long)]
        checkpoints: PathBuf,
        /// The pinned public key (base64) every checkpoint must be signed with.
        #[arg(long)]
        public_key: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Since when the master key in use has been in use, and how many
    /// defenders were erased since: their erasure is final once the key is
    /// retired with `keys rotate` and the old key destroyed.
    Status,
    /// Re-wrap every data key (and the keyring and TOTP secrets) under a new
    /// master key. Without --reencrypt the data keys and encrypted fields stay
    /// as they are, so the old master key with an old dump still reads them.
    /// The current key comes from the configuration; afterwards, configure
    /// the new one.
    Rotate {
        /// A file holding the new key: base64 of 32 random bytes.
        #[arg(long)]
        new_key_file: PathBuf,
        /// Also give every defender a new data key and re-encrypt its values,
        /// so that an old master key with an old dump cannot read what is
        /// stored from now on (re-wrapping alone keeps the data keys).
        #[arg(long)]
        reencrypt: bool,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create an account; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        email: String,
        /// A role; repeat for several.
        #[arg(long = "role", required = true, value_parser = role_names())]
        roles: Vec<String>,
        /// The display name (defaults to the e-mail address).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print a new invitation code for an account (for deployments without
    /// mail: hand it to the staff member, who chooses a password with it).
    Invite {
        #[arg(long)]
        email: String,
    },
}

/// The roles `--role` accepts (clap lists them in the help), from `Role::ALL`.
fn role_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Role::ALL.iter().map(|r| r.as_str()))
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

    if let Command::Audit {
        command:
            AuditCommand::Verify {
                segment,
                checkpoints,
                public_key,
            },
    } = &command
    {
        return audit_verify_offline(segment, checkpoints, public_key);
    }

    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(format!("configuration: {e}")),
    };
    // the settings an area reads itself, checked as early as the others
    let roles = config.mfa_required_roles.as_deref();
    if let Err(e) = casedesk::accounts::model::second_factor_roles(roles) {
        return fail(format!("configuration: {e}"));
    }
    telemetry::init(config.log_format, &config.log_filter);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let bind = config.bind;
    let admin_email = config.bootstrap_admin_email.clone();
    let password_file = config.bootstrap_password_file.clone();
    // `migrate` migrates whatever CASEDESK_MIGRATE_ON_START says
    let mut config = config;
    if matches!(command, Command::Migrate) {
        config.migrate_on_start = true;
    }
    let service_role = config.service_role.clone();
    let state = match casedesk::prepare(config, clock.clone()).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };

    match command {
        Command::Migrate => {
            println!("casedesk: migrations applied");
            if let Some(role) = service_role {
                if let Err(e) = casedesk::db::grant_service_role(&state.db, &role).await {
                    return fail(format!(
                        "granting the service role its privileges failed: {e}"
                    ));
                }
                println!("casedesk: the service role {role} may read and write the case tables and only append to the audit trail");
            }
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
                &state.keys.audit,
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
        Command::Staff {
            command: StaffCommand::Invite { email },
        } => match bootstrap::invite_from_cli(
            &state.db,
            &state.keys.audit,
            clock.as_ref(),
            &email,
            state.config.invitation_ttl,
        )
        .await
        {
            Ok(issued) => {
                println!("casedesk: a new invitation for {email}; earlier ones have ended");
                println!("  enrolment code:  {}", issued.code.as_str());
                println!(
                    "  valid once, until {} (POST /api/v1/enrolments)",
                    issued
                        .expires_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Keys {
            command: KeysCommand::Status,
        } => match keyring::erasures_since_retirement(&state.db).await {
            Ok((since, erased)) => {
                println!(
                    "casedesk: the master key in use has been in use since {}",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                if erased > 0 {
                    println!("casedesk: {erased} defenders were erased since then; retire the key (keys rotate --new-key-file ..., then destroy the old key) to make their erasure final");
                } else {
                    println!("casedesk: no defender was erased since then");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("reading the keyring failed: {e}")),
        },
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    new_key_file,
                    reencrypt,
                },
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
            if reencrypt {
                match casedesk::shelter::vault::renew_data_keys(&state.db, &state.keys, clock.now())
                    .await
                {
                    Ok(done) => println!(
                        "casedesk: gave {} defenders new data keys and re-encrypted {} values",
                        done.defenders, done.values
                    ),
                    Err(e) => return fail(format!("re-encryption failed, nothing changed: {e}")),
                }
                match casedesk::exchange::care::renew_data_keys(&state.db, &state.keys, clock.now())
                    .await
                {
                    Ok(n) => println!(
                        "casedesk: gave {n} participants new data keys and re-encrypted their care records"
                    ),
                    Err(e) => {
                        return fail(format!(
                            "re-encryption of participants failed (the defenders' is done; the participants' changed nothing): {e}"
                        ))
                    }
                }
            }
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
        Command::Audit {
            command: AuditCommand::Prune,
        } => match casedesk::audit::prune::prune(
            &state.db,
            &state.keys.audit,
            clock.now(),
            state.config.audit_keep,
        )
        .await
        {
            Ok(Some((point, gone))) => {
                println!(
                    "casedesk: pruned {gone} audit events up to seq {} behind a signed checkpoint",
                    point.seq
                );
                ExitCode::SUCCESS
            }
            Ok(None) => {
                println!("casedesk: no checkpointed audit event is older than the retention; nothing pruned");
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!(
                "pruning the audit trail failed, nothing changed: {e}"
            )),
        },
        Command::Audit {
            command: AuditCommand::PublicKey,
        } => {
            println!("{}", state.keys.audit.public_key());
            ExitCode::SUCCESS
        }
        Command::Audit {
            command: AuditCommand::Export { output, from, to },
        } => {
            let wrapped = match keyring::wrapped_audit_chain(&state.db).await {
                Ok(w) => w,
                Err(e) => return fail(format!("reading the keyring failed: {e}")),
            };
            let segment =
                match casedesk::audit::export::segment(&state.db, from, to, wrapped, clock.now())
                    .await
                {
                    Ok(s) => s,
                    Err(e) => return fail(format!("reading the audit trail failed: {e}")),
                };
            let count = segment.events.len();
            let text = match serde_json::to_string_pretty(&segment) {
                Ok(t) => t,
                Err(e) => return fail(format!("cannot write the segment: {e}")),
            };
            match std::fs::write(&output, text) {
                Ok(()) => {
                    println!(
                        "casedesk: wrote {count} audit events to {}",
                        output.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("cannot write {}: {e}", output.display())),
            }
        }
        Command::Serve | Command::Openapi { .. } | Command::Audit { .. } => {
            serve(state, bind, &admin_email, &password_file, shutdown).await
        }
    }
}

/// Writes `text` to a new file that only its owner may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

async fn serve(
    state: casedesk::AppState,
    bind: std::net::SocketAddr,
    admin_email: &str,
    password_file: &std::path::Path,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> ExitCode {
    match bootstrap::first_admin(
        &state.db,
        &state.keys.audit,
        &state.hasher,
        state.clock.as_ref(),
        admin_email,
    )
    .await
    {
        Ok(Some((email, password))) => {
            // Shown once, on a terminal only: never logged. Where standard
            // output is not a terminal (a container's log), it goes to a
            // file only its owner reads.
            use std::io::IsTerminal;
            println!("casedesk: created the first administrator");
            println!("  e-mail:             {email}");
            if std::io::stdout().is_terminal() {
                println!("  one-time password:  {}", password.as_str());
            } else {
                let text = format!(
                    "e-mail: {email}\none-time password: {}\n",
                    password.as_str()
                );
                if let Err(e) = write_private(password_file, &text) {
                    return fail(format!(
                        "cannot write the first administrator's password to {}: {e}; set CASEDESK_BOOTSTRAP_PASSWORD_FILE to a writable path, empty the database and start again",
                        password_file.display()
                    ));
                }
                println!(
                    "  one-time password:  in {} (mode 0600: read it, then delete it)",
                    password_file.display()
                );
            }
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

/// `casedesk audit verify`: the offline check. Exit status 0 when the
/// segment verifies, 1 when it is broken, 2 when it cannot be checked.
fn audit_verify_offline(segment: &PathBuf, checkpoints: &PathBuf, public_key: &str) -> ExitCode {
    use casedesk::audit::{chain::Checkpoint, export};
    let read = |path: &PathBuf| -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
    };
    let segment: export::Segment = match read(segment)
        .and_then(|v| serde_json::from_value(v).map_err(|e| format!("not a segment: {e}")))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("casedesk: {e}");
            return ExitCode::from(2);
        }
    };
    if segment.format != export::FORMAT {
        eprintln!("casedesk: unknown segment format {}", segment.format);
        return ExitCode::from(2);
    }
    let checkpoints: Vec<Checkpoint> = match read(checkpoints).and_then(|v| {
        let list = v.get("items").cloned().unwrap_or(v);
        serde_json::from_value(list).map_err(|e| format!("not a list of checkpoints: {e}"))
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("casedesk: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match casedesk::config::master_key_from_env() {
        Ok(Some(master)) => match segment
            .chain_key
            .as_deref()
            .and_then(|w| keyring::unwrap_audit_chain(&master, w))
        {
            Some(k) => Some(k),
            None => {
                eprintln!("casedesk: the master key does not open this segment's chain key");
                return ExitCode::from(2);
            }
        },
        Ok(None) => None,
        Err(e) => {
            eprintln!("casedesk: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let result = export::verify_offline(segment, &checkpoints, public_key.trim(), key.as_ref());
    println!(
        "events {}..{}: {} verified; {} checkpoints compared; hashes {}",
        result.first_seq.unwrap_or(0),
        result.last_seq.unwrap_or(0),
        result.checked,
        result.checkpoints_compared,
        if result.hashes_recomputed {
            "recomputed with the chain key"
        } else {
            "not recomputed (no CASEDESK_MASTER_KEY): links and checkpoints only"
        }
    );
    match result.broken {
        None => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Some(b) => {
            println!(
                "broken at seq {}{}: {}",
                b.seq,
                b.event_id
                    .map(|id| format!(" (event {id})"))
                    .unwrap_or_default(),
                b.fault.as_str()
            );
            ExitCode::FAILURE
        }
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
