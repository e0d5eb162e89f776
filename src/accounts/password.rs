//! Password hashing: argon2id with explicit parameters (at least OWASP's
//! minimum: 19 MiB, 2 iterations, 1 lane), stored as PHC strings, computed on
//! a fixed set of threads, each reusing its working memory, so that a flood
//! of logins can neither starve other requests nor swell the process.

use std::sync::{mpsc, Arc, Mutex};

use argon2::{
    password_hash::{Output, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;
/// The most memory a stored hash may ask for when verified (64 MiB).
const MAX_VERIFY_KIB: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Failed,
}

/// The argon2 working memory of one hashing thread, reused by every hash it
/// computes and wiped after each.
type Memory = Vec<Block>;
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Hashes on a fixed set of threads of its own, each with its own reused
/// working memory. The bound keeps a flood of sign-ins from starving other
/// requests; the reuse keeps memory flat (allocating 19 MiB per sign-in on
/// tokio's blocking pool left the allocator holding hundreds of MiB).
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    dummy: Arc<String>,
    /// One permit per hash being computed or waiting for a thread: the
    /// threads plus the queue. A sign-in that finds none is refused at once
    /// (503) instead of queueing behind a burst: 400 guesses at once
    /// delayed another address's sign-in by 4.6 s.
    admission: Arc<tokio::sync::Semaphore>,
}

/// A place among the hashes being computed or waiting, held until the hash is done.
pub struct Admitted {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Hasher {
    /// Starts `concurrency` hashing threads (at least one), admitting at
    /// most `waiting` more hashes to wait for them.
    pub fn new(concurrency: usize, waiting: usize) -> Result<Self, HashError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("casedesk-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory: Memory = Vec::new();
                    loop {
                        let job = {
                            let Ok(queue) = queue.lock() else { return };
                            match queue.recv() {
                                Ok(job) => job,
                                Err(_) => return, // every Hasher is gone
                            }
                        };
                        job(&mut memory);
                    }
                })
                .map_err(|_| HashError::Failed)?;
        }
        let random = Zeroizing::new(crate::crypto::one_time_password().to_string());
        let dummy = hash_with(&mut Vec::new(), random.as_bytes())?;
        Ok(Self {
            jobs,
            dummy: Arc::new(dummy),
            admission: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1) + waiting)),
        })
    }

    /// A place for one hash now, or `None` when the threads and the queue are
    /// full (the caller refuses the request with `Retry-After`).
    pub fn try_admit(&self) -> Option<Admitted> {
        self.admission
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|p| Admitted { _permit: p })
    }

    /// A place for one hash, waiting for one (for signed-in callers, whose
    /// number the session checks bound).
    async fn admit(&self) -> Option<Admitted> {
        self.admission
            .clone()
            .acquire_owned()
            .await
            .ok()
            .map(|p| Admitted { _permit: p })
    }

    /// Runs `work` on a hashing thread, waiting for a free one.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |memory: &mut Memory| {
                let _ = tx.send(work(memory));
            }))
            .ok()?;
        rx.await.ok()
    }

    /// A PHC string of argon2id over `password`, with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _admitted = self.admit().await.ok_or(HashError::Failed)?;
        let password = Zeroizing::new(password.to_owned());
        self.run(move |memory| hash_with(memory, password.as_bytes()))
            .await
            .ok_or(HashError::Failed)?
    }

    /// Checks a password against a stored PHC string. Without one (unknown
    /// account) it checks against a dummy hash, so both cost the same work.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        match self.admit().await {
            Some(admitted) => self.verify_admitted(admitted, password, phc).await,
            None => false,
        }
    }

    /// [`Hasher::verify`] in a place already taken with [`Hasher::try_admit`].
    pub async fn verify_admitted(
        &self,
        admitted: Admitted,
        password: &str,
        phc: Option<&str>,
    ) -> bool {
        let _admitted = admitted;
        let exists = phc.is_some();
        let phc = phc.map_or_else(|| self.dummy.as_str().to_owned(), str::to_owned);
        let password = Zeroizing::new(password.to_owned());
        let ok = self
            .run(move |memory| verify_with(memory, password.as_bytes(), &phc))
            .await
            .unwrap_or(false);
        ok && exists
    }
}

/// How much lower than the request threads a hashing thread runs (a nice
/// value). Sign-ins are a burst of pure CPU; at equal priority 50 of them
/// at once doubled every other request's p99. At nice 10 the scheduler gives
/// a hashing thread about a tenth of a busy core's time and all of an idle
/// one, so a flood of sign-ins (or of password guesses) waits for the work
/// in progress instead of delaying it, and still never starves.
/// `ThreadPriority::Crossplatform(22)` is nice 10 for Linux's normal policy
/// (thread-priority maps 0..=99 onto nice 19..=-20; a test checks).
const HASH_PRIORITY: u8 = 22;

/// Lowers the calling thread's scheduling priority (on Linux: this thread
/// only). A failure leaves the thread at normal priority.
fn lower_priority() {
    use thread_priority::{set_current_thread_priority, ThreadPriority, ThreadPriorityValue};
    let lowered = ThreadPriorityValue::try_from(HASH_PRIORITY)
        .map_err(|_| ())
        .and_then(|v| {
            set_current_thread_priority(ThreadPriority::Crossplatform(v)).map_err(|_| ())
        });
    if lowered.is_err() {
        tracing::warn!("could not lower the priority of a password hashing thread");
    }
}

fn params() -> Result<Params, HashError> {
    Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(32)).map_err(|_| HashError::Failed)
}

/// argon2id into `out`, in `memory` (grown as needed, wiped afterwards).
fn compute(
    memory: &mut Memory,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let result = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]);
    memory[..blocks].fill(Block::default());
    result.map_err(|_| HashError::Failed)
}

fn hash_with(memory: &mut Memory, password: &[u8]) -> Result<String, HashError> {
    let params = params()?;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0_u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|_| HashError::Failed)?;
    let mut out = Zeroizing::new([0_u8; 32]);
    compute(memory, &params, password, salt_bytes, out.as_mut())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|_| HashError::Failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(out.as_ref()).map_err(|_| HashError::Failed)?),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Memory, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    if params.block_count() > MAX_VERIFY_KIB {
        return false;
    }
    let mut salt_buf = [0_u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0_u8; expected.len()]);
    compute(memory, &params, password, salt_bytes, &mut out).is_ok()
        && crate::crypto::constant_time_eq(&out, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of the calling thread, from /proc (Linux).
    #[cfg(target_os = "linux")]
    fn own_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_nice_10_and_request_threads_do_not() {
        let before = own_nice();
        let h = Hasher::new(1, 0).unwrap();
        let nice = h.run(|_| own_nice()).await.unwrap();
        assert_eq!(nice, 10);
        assert_eq!(own_nice(), before, "only the hashing thread is lowered");
    }

    #[tokio::test]
    async fn hashes_are_phc_argon2id_with_owasp_parameters() {
        let h = Hasher::new(2, 0).unwrap();
        let phc = h.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery staple", Some(&phc)).await);
        assert!(!h.verify("wrong horse battery staple", Some(&phc)).await);
        assert!(!h.verify("correct horse battery staple", None).await);
    }

    #[tokio::test]
    async fn admission_is_bounded_by_threads_and_queue() {
        let h = Hasher::new(1, 2).unwrap();
        let held: Vec<Admitted> = (0..3).filter_map(|_| h.try_admit()).collect();
        assert_eq!(held.len(), 3);
        assert!(h.try_admit().is_none(), "a fourth is refused");
        drop(held);
        assert!(h.try_admit().is_some());
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_itself_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap())
            .hash_password(b"an older stored passphrase", &salt)
            .unwrap()
            .to_string();
        let mut memory = Vec::new();
        assert!(verify_with(
            &mut memory,
            b"an older stored passphrase",
            &stored
        ));
        assert!(!verify_with(&mut memory, b"another passphrase", &stored));
        assert!(
            memory.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)),
            "wiped after use"
        );
    }
}
