//! The `casedesk` binary as a child process: configured like an operator
//! would, its address read from its JSON log.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_casedesk");

/// The binary to run: this build's, or `CASEDESK_TEST_BINARY` (another
/// build, to compare a benchmark side by side with it in one run).
pub fn binary() -> String {
    std::env::var("CASEDESK_TEST_BINARY").unwrap_or_else(|_| BIN.to_owned())
}

pub fn command(database_url: &str, extra: &[(&str, &str)]) -> Command {
    command_of(&binary(), database_url, extra)
}

/// [`command`] for a given binary (two builds compared in one run).
pub fn command_of(binary: &str, database_url: &str, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEDESK_DATABASE_URL", database_url)
        .env("CASEDESK_BIND", "127.0.0.1:0")
        .env("CASEDESK_LOG_FORMAT", "json")
        // standard output is a pipe here: the first administrator's
        // password goes to a file of its own (see `first_admin_password`)
        .env(
            "CASEDESK_BOOTSTRAP_PASSWORD_FILE",
            std::env::temp_dir().join(format!(
                "casedesk-first-admin-{}.txt",
                uuid::Uuid::now_v7().simple()
            )),
        );
    if !database_url.starts_with("sqlite") {
        // one key per database, the same for every run of the binary against it
        use base64::Engine;
        let digest = casedesk::crypto::sha256_hex(database_url.as_bytes());
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        cmd.env(
            "CASEDESK_MASTER_KEY",
            base64::engine::general_purpose::STANDARD.encode(bytes),
        );
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub struct Running {
    pub child: Child,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub base: String,
}

pub fn collect<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    reader: R,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut r = BufReader::new(reader).lines();
        while let Ok(Some(line)) = r.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The first administrator's one-time password: the started binary names
/// the file it wrote it to (its standard output is not a terminal), which
/// must be readable by its owner only; the password is never on stdout.
pub fn first_admin_password(running: &Running) -> String {
    let out = running.stdout.lock().unwrap().join("\n");
    let path = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("one-time password:  in "))
        .and_then(|rest| rest.split(" (mode 0600").next())
        .unwrap_or_else(|| panic!("no password file named: {out}"))
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{path}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("one-time password: "))
        .unwrap()
        .trim()
        .to_owned();
    assert!(!out.contains(&password), "the password is not on stdout");
    std::fs::remove_file(&path).unwrap();
    password
}

pub async fn start(database_url: &str, extra: &[(&str, &str)]) -> Running {
    start_of(&binary(), database_url, extra, Duration::from_secs(10)).await
}

/// [`start`] for a given binary, waiting at most `wait` for it to listen.
pub async fn start_of(
    binary: &str,
    database_url: &str,
    extra: &[(&str, &str)],
    wait: Duration,
) -> Running {
    let mut child = command_of(binary, database_url, extra).spawn().unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let mut base = None;
    for _ in 0..(wait.as_millis() / 50).max(1) {
        let address = stderr.lock().unwrap().iter().find_map(|l| {
            if let Ok(v) = serde_json::from_str::<Value>(l) {
                return (v["fields"]["message"] == "casedesk listening")
                    .then(|| v["fields"]["address"].as_str().unwrap().to_owned());
            }
            // a text log line: `... casedesk listening address=127.0.0.1:1234 ...`
            let plain: String = strip_colour(l);
            plain.contains("casedesk listening").then(|| {
                plain
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("address="))
                    .unwrap()
                    .to_owned()
            })
        });
        if let Some(a) = address {
            base = Some(format!("http://{a}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = base.unwrap_or_else(|| panic!("did not start: {:?}", stderr.lock().unwrap()));
    Running {
        child,
        stdout,
        stderr,
        base,
    }
}

pub async fn terminate(mut running: Running) -> (std::process::ExitStatus, Running) {
    let pid = running.child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), running.child.wait())
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    (status, running)
}

/// A log line without ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_colour(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
