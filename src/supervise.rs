//! Background tasks that must not die quietly. `supervise` runs a task, and
//! when it panics logs it, counts the restart and runs it again after a
//! pause; while it is down its `Liveness` says so. The audit appender, the
//! refusal counter's flush, the checkpoint timer and the webhook worker run
//! under it; `/health/ready` reports the appender (503 while it is down), as
//! no read of personal data may be served that cannot be recorded.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Whether a supervised task runs, and how often it was restarted.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    running: AtomicBool,
    restarts: AtomicU64,
}

impl Liveness {
    pub(crate) fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Acquire)
    }
}

/// Starts `task` under supervision on the current runtime: a panic restarts
/// it after `pause`; a task that returns is done (its input has closed).
/// `running` is true from the moment this returns, so a readiness probe
/// right after start does not see a task that has not been polled yet.
pub(crate) fn supervise<F, Fut>(
    name: &'static str,
    pause: Duration,
    mut task: F,
) -> (Arc<Liveness>, tokio::task::JoinHandle<()>)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let liveness = Arc::new(Liveness::default());
    liveness.running.store(true, Ordering::Release);
    let live = liveness.clone();
    let handle = tokio::spawn(async move {
        loop {
            live.running.store(true, Ordering::Release);
            let run = tokio::spawn(task());
            // aborting the supervisor aborts the run too (a dropped
            // JoinHandle would leave it running)
            let _abort = AbortOnDrop(run.abort_handle());
            let outcome = run.await;
            live.running.store(false, Ordering::Release);
            match outcome {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    live.restarts.fetch_add(1, Ordering::AcqRel);
                    tracing::error!(task = name, "a background task panicked; restarting it");
                    tokio::time::sleep(pause).await;
                }
                // cancelled: the runtime is shutting down
                Err(_) => return,
            }
        }
    });
    (liveness, handle)
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_restarted_and_is_down_while_it_pauses() {
        let runs = Arc::new(AtomicU32::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
        let counted = runs.clone();
        let (live, handle) = supervise("test", Duration::from_millis(200), move || {
            let runs = counted.clone();
            let rx = rx.clone();
            async move {
                if runs.fetch_add(1, Ordering::AcqRel) == 0 {
                    #[allow(clippy::panic)]
                    {
                        panic!("first run fails");
                    }
                }
                // the second run ends when told to
                if let Some(rx) = rx.lock().await.take() {
                    rx.await.ok();
                }
            }
        });
        assert!(live.running());
        // the first run panics; during the pause the task is down
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(live.restarts(), 1);
        assert!(!live.running(), "down while it pauses");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(runs.load(Ordering::Acquire), 2, "restarted");
        assert!(live.running());
        tx.send(()).ok();
        handle.await.unwrap();
        assert!(!live.running(), "a task that returns is done");
        assert_eq!(live.restarts(), 1);
    }

    #[tokio::test]
    async fn aborting_the_supervisor_aborts_the_task() {
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = ticks.clone();
        let (_, handle) = supervise("test", Duration::from_millis(10), move || {
            let ticks = counted.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::AcqRel);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle.abort();
        let _ = handle.await;
        let at_abort = ticks.load(Ordering::Acquire);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(at_abort > 0);
        assert_eq!(ticks.load(Ordering::Acquire), at_abort, "the task stopped");
    }
}
