//! Configuration from `CASEDESK_*` environment variables, validated at start.
//! Any variable may instead be read from a file named by `<NAME>_FILE`
//! (for secrets mounted by the orchestrator). A bad value stops the process
//! with one line naming the variable, and never echoes the value.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use chrono::TimeDelta;
use url::Url;

use crate::crypto::MasterKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub database_max_connections: u32,
    /// Whether `serve` applies pending migrations (false when the service's
    /// database role may not change the schema: run `casedesk migrate` as
    /// the owner instead).
    pub migrate_on_start: bool,
    /// PostgreSQL: the role `casedesk migrate` grants the service's
    /// privileges to (no UPDATE, DELETE, TRUNCATE or trigger control on the
    /// audit tables, no schema changes).
    pub service_role: Option<String>,
    pub bind: SocketAddr,
    pub public_url: Url,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub cors_allowed_origins: Vec<String>,
    pub shutdown_grace: Duration,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// The HTTP server's header deadline and connection limit.
    pub http_limits: Limits,
    /// How often a signed checkpoint of the audit chain's head is made.
    pub audit_checkpoint_interval: Duration,
    /// Audit events are kept at least this long, then pruned from the
    /// oldest end behind a signed checkpoint.
    pub audit_keep: TimeDelta,
    /// The interval over which refusals of anonymous callers are counted.
    pub audit_aggregate_interval: TimeDelta,
    /// How long an approved destruction list waits before it is executed.
    pub destruction_waiting_period: TimeDelta,
    /// How often a replica looks for destruction lists due for execution.
    pub destruction_poll_interval: Duration,
    /// How often a replica removes ended sessions, old login failures and
    /// old webhook deliveries and outbox events.
    pub housekeeping_interval: Duration,
    /// A session ends after this long without use.
    pub session_idle: TimeDelta,
    /// A session ends this long after login, used or not.
    pub session_absolute: TimeDelta,
    /// Sessions one account may have at once; a new one ends the oldest.
    pub sessions_per_account: usize,
    /// Members of the roles named here must enrol a second factor; `None`:
    /// every role but the analyst's. `accounts::model::second_factor_roles`
    /// reads the names (a name that is no role stops the start).
    pub mfa_required_roles: Option<Vec<String>>,
    /// Password hashes computed at once, at most.
    pub password_hash_concurrency: usize,
    /// Failed logins from one address within 15 minutes before it is throttled.
    pub login_ip_failures: u64,
    /// Failed logins of one account, from all addresses together, within 15
    /// minutes before the account is locked (a lock that a correct password
    /// with a one-time code, from an address not throttled, still passes).
    pub login_account_failures: u64,
    /// Sign-ins that carry a one-time code, of one account from all addresses
    /// together, within 15 minutes before codes are refused for 15 minutes
    /// from every address but those it signed in from (within 90 days).
    pub login_account_code_failures: u64,
    /// Sign-ins waiting for a hashing thread, at most; more are refused with 503.
    pub password_hash_queue: usize,
    /// Proxies whose `X-Forwarded-For` names the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The e-mail address of the first administrator, made on an empty database.
    pub bootstrap_admin_email: String,
    /// Where the first administrator's one-time password is written when
    /// standard output is not a terminal (mode 0600).
    pub bootstrap_password_file: std::path::PathBuf,
    /// Where staff invitations are sent: an SMTP relay (`smtp://`, `smtps://`).
    pub smtp_url: Option<String>,
    /// Or a directory that receives each message as an `.eml` file.
    pub mail_dir: Option<std::path::PathBuf>,
    /// The sender of the service's mail.
    pub mail_from: String,
    /// How long an invitation's code is valid.
    pub invitation_ttl: TimeDelta,
    /// After-care check-ins, in months after the actual departure.
    pub aftercare_months: Vec<u32>,
    /// The master key, when configured (otherwise the embedded default makes one).
    pub master_key: Option<MasterKey>,
    /// Webhook delivery; see [`Webhooks`].
    pub webhooks: Webhooks,
}

/// How webhook notifications are delivered.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// Hosts whose callback URLs may use plain http (others must be https).
    pub allowed_hosts: Vec<String>,
    /// Networks deliveries may reach although they are not public (loopback,
    /// private, link-local, ...); none by default.
    pub private_networks: Vec<ipnet::IpNet>,
    /// How long one delivery attempt may take.
    pub timeout: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; each later wait is three times longer.
    pub retry_base: TimeDelta,
    /// How often each replica looks for due deliveries when not woken sooner.
    pub poll_interval: Duration,
    /// Whether this process delivers at all (a replica may leave it to others).
    pub worker: bool,
    /// How long delivered webhook deliveries are kept, for inspection.
    pub delivered_keep: TimeDelta,
    /// How long failed deliveries are kept for a retry (and pending ones of
    /// a deactivated subscription), after their last attempt (or creation).
    pub failed_keep: TimeDelta,
    /// How long outbox events stay readable in the feed (and longer while a
    /// delivery still needs them); a cursor older than this gets a 410.
    pub feed_window: TimeDelta,
}

/// The limits of the server (`CASEDESK_HTTP_*`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's header block must arrive within this; an idle kept-alive
    /// connection is closed after it too.
    pub header_timeout: Duration,
    /// Connections open at once, at most.
    pub max_connections: usize,
    /// A write that makes no progress for this long ends the connection.
    pub write_timeout: Duration,
    /// Connections one address holds at once, at most.
    pub max_connections_per_address: usize,
    /// Addresses without a share of their own (the trusted proxies).
    pub shared_addresses: Vec<ipnet::IpNet>,
}

/// A configuration problem: the variable and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/casedesk.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

fn webhooks(source: &dyn Source) -> Result<Webhooks, ConfigError> {
    let allowed_hosts = match read(source, "CASEDESK_WEBHOOK_ALLOWED_HOSTS")? {
        None => Vec::new(),
        Some(list) => {
            let mut hosts = Vec::new();
            for host in list.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                if url::Host::parse(host).is_err() || host.contains([':', '/', '@']) {
                    return Err(err(
                        "CASEDESK_WEBHOOK_ALLOWED_HOSTS",
                        "expected a comma-separated list of host names or IPv4 addresses, without ports",
                    ));
                }
                hosts.push(host.to_ascii_lowercase());
            }
            hosts
        }
    };
    let private_networks = parse_networks(
        source,
        "CASEDESK_WEBHOOK_PRIVATE_NETWORKS",
        "expected a comma-separated list of networks such as 10.20.0.0/16",
    )?;
    Ok(Webhooks {
        allowed_hosts,
        private_networks,
        timeout: Duration::from_secs(parse_number(
            source,
            "CASEDESK_WEBHOOK_TIMEOUT_SECONDS",
            10_u64,
            1..=60,
        )?),
        max_attempts: parse_number(source, "CASEDESK_WEBHOOK_MAX_ATTEMPTS", 8_u32, 1..=20)?,
        retry_base: TimeDelta::seconds(parse_number(
            source,
            "CASEDESK_WEBHOOK_RETRY_BASE_SECONDS",
            60_i64,
            1..=3600,
        )?),
        poll_interval: Duration::from_millis(parse_number(
            source,
            "CASEDESK_WEBHOOK_POLL_MILLISECONDS",
            1000_u64,
            10..=60_000,
        )?),
        worker: match read(source, "CASEDESK_WEBHOOK_WORKER")?.as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(err("CASEDESK_WEBHOOK_WORKER", "expected true or false")),
        },
        delivered_keep: TimeDelta::days(parse_number(
            source,
            "CASEDESK_WEBHOOK_DELIVERED_KEEP_DAYS",
            7_i64,
            0..=3650,
        )?),
        failed_keep: TimeDelta::days(parse_number(
            source,
            "CASEDESK_WEBHOOK_FAILED_KEEP_DAYS",
            30_i64,
            1..=3650,
        )?),
        feed_window: TimeDelta::days(parse_number(
            source,
            "CASEDESK_FEED_WINDOW_DAYS",
            30_i64,
            1..=3650,
        )?),
    })
}

/// Where values come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

fn err(variable: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        reason: reason.into(),
    }
}

/// Reads `name`, or the file named by `name_FILE`; empty counts as unset.
fn read(source: &dyn Source, name: &str) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    let direct = source.get(name).filter(|v| !v.trim().is_empty());
    let file = source.get(&file_var).filter(|v| !v.trim().is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(err(
            name,
            format!("set either {name} or {file_var}, not both"),
        )),
        (Some(v), None) => Ok(Some(v.trim().to_owned())),
        (None, Some(path)) => std::fs::read_to_string(path.trim())
            .map(|content| Some(content.trim().to_owned()))
            .map_err(|e| {
                err(
                    &file_var,
                    format!("cannot read the file it names: {}", e.kind()),
                )
            }),
        (None, None) => Ok(None),
    }
}

/// A comma-separated list of networks (`10.1.0.0/16`) or single addresses.
fn parse_networks(
    source: &dyn Source,
    name: &str,
    expected: &str,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(list) = read(source, name)? else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| err(name, expected))
        })
        .collect()
}

fn parse_number<T>(
    source: &dyn Source,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match read(source, name)? {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(err(
                name,
                format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

/// The master key alone (`CASEDESK_MASTER_KEY[_FILE]`), for commands that
/// need nothing else, such as the offline audit check.
pub fn master_key_from_env() -> Result<Option<MasterKey>, ConfigError> {
    read(&Environment, "CASEDESK_MASTER_KEY")?
        .map(|text| {
            MasterKey::from_base64(&text).map_err(|_| {
                err(
                    "CASEDESK_MASTER_KEY",
                    "expected the base64 of exactly 32 random bytes (openssl rand -base64 32)",
                )
            })
        })
        .transpose()
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let database_url = read(source, "CASEDESK_DATABASE_URL")?
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(err(
                "CASEDESK_DATABASE_URL",
                "expected a sqlite: or postgres:// URL",
            ));
        }
        let database_max_connections = parse_number(
            source,
            "CASEDESK_DATABASE_MAX_CONNECTIONS",
            10_u32,
            1..=1000,
        )?;

        let migrate_on_start = match read(source, "CASEDESK_MIGRATE_ON_START")?.as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(err("CASEDESK_MIGRATE_ON_START", "expected true or false")),
        };
        let service_role = match read(source, "CASEDESK_SERVICE_ROLE")? {
            None => None,
            Some(role) => {
                let valid = role.len() <= 63
                    && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && role
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    return Err(err(
                        "CASEDESK_SERVICE_ROLE",
                        "expected a PostgreSQL role name of lower-case letters, digits and _",
                    ));
                }
                Some(role)
            }
        };

        let bind_text = read(source, "CASEDESK_BIND")?.unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            err(
                "CASEDESK_BIND",
                "expected an address and port such as 127.0.0.1:8080",
            )
        })?;

        let public_url = match read(source, "CASEDESK_PUBLIC_URL")? {
            None => Url::parse(&format!("http://{bind}/"))
                .map_err(|_| err("CASEDESK_BIND", "cannot derive a public URL from it"))?,
            Some(text) => {
                let url = Url::parse(&text).map_err(|_| {
                    err(
                        "CASEDESK_PUBLIC_URL",
                        "expected an absolute URL such as https://casedesk.example.org",
                    )
                })?;
                if !matches!(url.scheme(), "http" | "https")
                    || url.host().is_none()
                    || url.query().is_some()
                    || url.fragment().is_some()
                {
                    return Err(err(
                        "CASEDESK_PUBLIC_URL",
                        "expected an http or https URL with a host and no query or fragment",
                    ));
                }
                let mut url = url;
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                url
            }
        };

        let log_format = match read(source, "CASEDESK_LOG_FORMAT")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(err("CASEDESK_LOG_FORMAT", "expected text or json")),
        };
        let log_filter = read(source, "CASEDESK_LOG")?.unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
            return Err(err(
                "CASEDESK_LOG",
                "expected a tracing filter such as info or casedesk=debug",
            ));
        }

        let cors_allowed_origins = match read(source, "CASEDESK_CORS_ALLOWED_ORIGINS")? {
            None => Vec::new(),
            Some(list) => {
                let mut origins = Vec::new();
                for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    let parsed = Url::parse(origin).ok().filter(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host().is_some()
                            && u.path() == "/"
                            && !origin.ends_with('/')
                    });
                    if parsed.is_none() || origin == "*" {
                        return Err(err(
                            "CASEDESK_CORS_ALLOWED_ORIGINS",
                            "expected a comma-separated list of origins such as https://app.example.org (no paths, no *)",
                        ));
                    }
                    origins.push(origin.to_owned());
                }
                origins
            }
        };

        let shutdown_grace = Duration::from_secs(parse_number(
            source,
            "CASEDESK_SHUTDOWN_GRACE_SECONDS",
            30_u64,
            1..=600,
        )?);

        let body_timeout = Duration::from_secs(parse_number(
            source,
            "CASEDESK_BODY_TIMEOUT_SECONDS",
            30_u64,
            1..=600,
        )?);

        let http_limits = Limits {
            header_timeout: Duration::from_secs(parse_number(
                source,
                "CASEDESK_HTTP_HEADER_TIMEOUT_SECONDS",
                10_u64,
                1..=300,
            )?),
            max_connections: parse_number(
                source,
                "CASEDESK_HTTP_MAX_CONNECTIONS",
                512_usize,
                1..=100_000,
            )?,
            write_timeout: Duration::from_secs(parse_number(
                source,
                "CASEDESK_HTTP_WRITE_TIMEOUT_SECONDS",
                30_u64,
                1..=600,
            )?),
            max_connections_per_address: parse_number(
                source,
                "CASEDESK_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
                64_usize,
                1..=100_000,
            )?,
            // the trusted proxies, once read below
            shared_addresses: Vec::new(),
        };

        let audit_keep_years: i64 =
            parse_number(source, "CASEDESK_AUDIT_KEEP_YEARS", 10_i64, 1..=100)?;
        // a year is taken as 366 days: kept at least that long
        let audit_keep = TimeDelta::days(audit_keep_years * 366);
        let destruction_waiting_period = TimeDelta::days(parse_number(
            source,
            "CASEDESK_DESTRUCTION_WAITING_DAYS",
            7_i64,
            0..=365,
        )?);
        let destruction_poll_interval = Duration::from_secs(parse_number(
            source,
            "CASEDESK_DESTRUCTION_POLL_SECONDS",
            60_u64,
            1..=86_400,
        )?);
        let housekeeping_interval = Duration::from_secs(parse_number(
            source,
            "CASEDESK_HOUSEKEEPING_SECONDS",
            600_u64,
            5..=86_400,
        )?);
        let audit_checkpoint_interval = Duration::from_secs(parse_number(
            source,
            "CASEDESK_AUDIT_CHECKPOINT_SECONDS",
            300_u64,
            5..=86_400,
        )?);
        let audit_aggregate_interval = TimeDelta::seconds(parse_number(
            source,
            "CASEDESK_AUDIT_AGGREGATE_SECONDS",
            60_i64,
            1..=3_600,
        )?);

        let session_idle = TimeDelta::minutes(parse_number(
            source,
            "CASEDESK_SESSION_IDLE_MINUTES",
            30_i64,
            1..=1440,
        )?);
        let session_absolute = TimeDelta::hours(parse_number(
            source,
            "CASEDESK_SESSION_ABSOLUTE_HOURS",
            12_i64,
            1..=168,
        )?);
        let sessions_per_account =
            parse_number(source, "CASEDESK_SESSIONS_PER_ACCOUNT", 10_usize, 1..=1000)?;
        // empty means "no role": read directly, as `read` takes empty for unset;
        // the _FILE form is read like every other setting's
        let mfa_setting = match source.get("CASEDESK_MFA_REQUIRED_ROLES") {
            Some(_) if source.get("CASEDESK_MFA_REQUIRED_ROLES_FILE").is_some() => {
                return Err(err(
                    "CASEDESK_MFA_REQUIRED_ROLES",
                    "set either CASEDESK_MFA_REQUIRED_ROLES or CASEDESK_MFA_REQUIRED_ROLES_FILE, not both",
                ))
            }
            Some(v) => Some(v),
            None => read(source, "CASEDESK_MFA_REQUIRED_ROLES")?,
        };
        let mfa_required_roles = mfa_setting.map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        });
        // half the cores by default: sign-ins never take the whole machine
        let half_the_cores = std::thread::available_parallelism()
            .map_or(1, |n| n.get() / 2)
            .max(1);
        let password_hash_concurrency = parse_number(
            source,
            "CASEDESK_PASSWORD_HASH_CONCURRENCY",
            half_the_cores,
            1..=64,
        )?;
        let login_ip_failures =
            parse_number(source, "CASEDESK_LOGIN_IP_FAILURES", 20_u64, 5..=10_000)?;
        let login_account_failures = parse_number(
            source,
            "CASEDESK_LOGIN_ACCOUNT_FAILURES",
            50_u64,
            10..=10_000,
        )?;
        let login_account_code_failures = parse_number(
            source,
            "CASEDESK_LOGIN_ACCOUNT_CODE_FAILURES",
            10_u64,
            3..=1_000,
        )?;
        let password_hash_queue =
            parse_number(source, "CASEDESK_PASSWORD_HASH_QUEUE", 16_usize, 0..=10_000)?;
        let trusted_proxies = parse_networks(
            source,
            "CASEDESK_TRUSTED_PROXIES",
            "expected a comma-separated list of IP addresses or networks such as 10.0.0.5,10.1.0.0/16",
        )?;
        let mut http_limits = http_limits;
        http_limits.shared_addresses = trusted_proxies.clone();
        let bootstrap_admin_email = read(source, "CASEDESK_BOOTSTRAP_ADMIN_EMAIL")?
            .unwrap_or_else(|| "admin@casedesk.local".to_owned());
        if crate::text::Email::parse(&bootstrap_admin_email).is_err() {
            return Err(err(
                "CASEDESK_BOOTSTRAP_ADMIN_EMAIL",
                "expected an e-mail address",
            ));
        }
        let bootstrap_password_file = read(source, "CASEDESK_BOOTSTRAP_PASSWORD_FILE")?
            .unwrap_or_else(|| "casedesk-first-admin.txt".to_owned())
            .into();
        let smtp_url = read(source, "CASEDESK_SMTP_URL")?;
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(err(
                    "CASEDESK_SMTP_URL",
                    "expected an smtp:// or smtps:// URL",
                ));
            }
        }
        let mail_dir = read(source, "CASEDESK_MAIL_DIR")?.map(std::path::PathBuf::from);
        let mail_from = read(source, "CASEDESK_MAIL_FROM")?
            .unwrap_or_else(|| "Casedesk <casedesk@localhost>".to_owned());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err(
                "CASEDESK_MAIL_FROM",
                "expected a mail address, such as Casedesk <casedesk@city.example>",
            ));
        }
        let invitation_ttl = TimeDelta::hours(parse_number(
            source,
            "CASEDESK_INVITATION_HOURS",
            72_i64,
            1..=720,
        )?);
        let aftercare_months = match read(source, "CASEDESK_AFTERCARE_MONTHS")? {
            None => vec![1, 3, 6],
            Some(list) => {
                let mut months = Vec::new();
                for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match part.parse::<u32>() {
                        Ok(m) if (1..=60).contains(&m) => months.push(m),
                        _ => return Err(err(
                            "CASEDESK_AFTERCARE_MONTHS",
                            "expected a comma-separated list of months from 1 to 60, such as 1,3,6",
                        )),
                    }
                }
                months.sort_unstable();
                months.dedup();
                months
            }
        };
        let master_key = match read(source, "CASEDESK_MASTER_KEY")? {
            None => None,
            Some(text) => Some(MasterKey::from_base64(&text).map_err(|_| {
                err(
                    "CASEDESK_MASTER_KEY",
                    "expected the base64 of exactly 32 random bytes (openssl rand -base64 32)",
                )
            })?),
        };
        if master_key.is_none() && !database_url.starts_with("sqlite:") {
            return Err(err(
                "CASEDESK_MASTER_KEY",
                "required with PostgreSQL (set it or CASEDESK_MASTER_KEY_FILE); only the embedded SQLite default makes its own",
            ));
        }

        let webhooks = webhooks(source)?;

        Ok(Self {
            database_url,
            database_max_connections,
            migrate_on_start,
            service_role,
            bind,
            public_url,
            log_format,
            log_filter,
            cors_allowed_origins,
            shutdown_grace,
            body_timeout,
            http_limits,
            audit_checkpoint_interval,
            audit_keep,
            audit_aggregate_interval,
            destruction_waiting_period,
            destruction_poll_interval,
            housekeeping_interval,
            session_idle,
            session_absolute,
            sessions_per_account,
            mfa_required_roles,
            password_hash_concurrency,
            login_ip_failures,
            login_account_failures,
            login_account_code_failures,
            password_hash_queue,
            trusted_proxies,
            bootstrap_admin_email,
            bootstrap_password_file,
            smtp_url,
            mail_dir,
            mail_from,
            invitation_ttl,
            aftercare_months,
            master_key,
            webhooks,
        })
    }

    /// A configuration for tests and tools: defaults, with this database,
    /// port 0 and a fresh master key.
    pub fn for_database(database_url: &str) -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        vars.insert(
            "CASEDESK_MASTER_KEY".to_owned(),
            MasterKey::generate().to_base64().to_string(),
        );
        vars.insert("CASEDESK_DATABASE_URL".to_owned(), database_url.to_owned());
        vars.insert("CASEDESK_BIND".to_owned(), "127.0.0.1:0".to_owned());
        Self::from_source(&vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = Config::from_source(&vars(&[])).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.bind.to_string(), DEFAULT_BIND);
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_the_value() {
        let cases = [
            ("CASEDESK_BIND", "nope-secret"),
            ("CASEDESK_LOG_FORMAT", "xml-secret"),
            ("CASEDESK_PUBLIC_URL", "ftp://secret"),
            ("CASEDESK_DATABASE_URL", "mysql://u:secret@h/db"),
            ("CASEDESK_CORS_ALLOWED_ORIGINS", "*"),
            ("CASEDESK_DATABASE_MAX_CONNECTIONS", "0"),
        ];
        for (name, value) in cases {
            let e = Config::from_source(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(e.variable, name);
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    #[test]
    fn file_variants() {
        let dir = std::env::temp_dir().join(format!("casedesk-cfg-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db");
        std::fs::write(&file, "sqlite://elsewhere/x.db\n").unwrap();
        let c = Config::from_source(&vars(&[(
            "CASEDESK_DATABASE_URL_FILE",
            file.to_str().unwrap(),
        )]))
        .unwrap();
        assert_eq!(c.database_url, "sqlite://elsewhere/x.db");
        let e = Config::from_source(&vars(&[("CASEDESK_DATABASE_URL_FILE", "/nonexistent/x")]))
            .unwrap_err();
        assert_eq!(e.variable, "CASEDESK_DATABASE_URL_FILE");
        // the second-factor roles read their _FILE form too (it was ignored)
        let roles = dir.join("roles");
        std::fs::write(&roles, "admin, auditor\n").unwrap();
        let c = Config::from_source(&vars(&[(
            "CASEDESK_MFA_REQUIRED_ROLES_FILE",
            roles.to_str().unwrap(),
        )]))
        .unwrap();
        let names = c.mfa_required_roles.unwrap_or_default();
        assert_eq!(names, ["admin", "auditor"]);
        std::fs::remove_dir_all(dir).ok();
    }
}
