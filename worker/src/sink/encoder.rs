//! The threads that encode cut segments, at a lower CPU priority than reading.
//!
//! Why their own threads and priority: every record goes through the reading task (poll,
//! decode) one after the other, while a cut segment can be encoded at any time before the
//! memory limits are reached. On a small node the sink's busy threads outnumber the cores, and
//! at equal priority the scheduler gave the encoder as much CPU as the reader: the reader, the
//! sink's bottleneck, got a fraction of a core while cores were shared out evenly. Niced, the
//! encoder takes the CPU the reader leaves. Memory stays bounded: if encoding falls behind,
//! buffered bytes grow until the memory cap pauses reading, which frees the CPU for encoding.
//!
//! Raising a thread's nice value needs no privilege (a container that may not lower it is
//! fine: this never does). Where it cannot be set, encoding runs at normal priority, as before.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

/// How much lower the encoders run than the rest of the sink: with nice 10 the scheduler gives
/// a busy reader about ten times an encoder's share of a contended core, and the encoder
/// still gets every idle cycle.
pub const ENCODER_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of encoder threads taking jobs in order; they stop when the pool is dropped.
pub struct EncoderPool {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("encoder threads could not be started: {0}")]
    Start(std::io::Error),
    #[error("encoder thread panicked: {0}")]
    Panicked(String),
    #[error("encoder threads are gone")]
    Gone,
}

impl EncoderPool {
    /// Starts `threads` encoder threads (at least one) at [`ENCODER_NICE`].
    pub fn start(threads: usize) -> Result<Self, EncoderError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("sink-encoder-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match next {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(EncoderError::Start)?;
        }
        Ok(EncoderPool { jobs })
    }

    /// Runs `work` on an encoder thread and waits for its result without blocking the async
    /// threads. A panic in `work` comes back as an error; the thread goes on with the next job.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, EncoderError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|panic| {
                panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned())
            });
            // The caller may have gone (shutdown); the result is then not needed.
            let _ = done.send(outcome);
        });
        self.jobs.send(job).map_err(|_| EncoderError::Gone)?;
        result
            .await
            .map_err(|_| EncoderError::Gone)?
            .map_err(EncoderError::Panicked)
    }
}

/// Lowers the calling thread's priority by [`ENCODER_NICE`] (Linux: per thread, by its id).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        let current = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
        if let Err(e) = rustix::process::setpriority_process(Some(tid), current + ENCODER_NICE) {
            tracing::warn!(error = %e, "could not lower the encoder thread's priority; encoding at normal priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = EncoderPool::start(2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pool.run(|| 6 * 7).await.ok(), Some(42));
        let err = pool.run(|| -> u8 { panic!("bad segment") }).await;
        assert!(
            matches!(&err, Err(EncoderError::Panicked(m)) if m == "bad segment"),
            "{err:?}"
        );
        // Both threads still take work after one job panicked.
        let results = futures_util::future::join_all((0..4).map(|i| pool.run(move || i))).await;
        let results: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
        assert_eq!(results, vec![0, 1, 2, 3]);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn encoder_threads_run_niced_and_the_caller_does_not() {
        let before = rustix::process::getpriority_process(None).unwrap_or_else(|e| panic!("{e}"));
        let pool = EncoderPool::start(1).unwrap_or_else(|e| panic!("{e}"));
        let inside = pool
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inside, (before + ENCODER_NICE).min(19));
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after, before);
    }
}
