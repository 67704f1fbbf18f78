//! Connection workers: threads (four per core by default, [`crate::config::default_workers`]),
//! each running its own single-threaded tokio runtime, and each connection served from start
//! to end by one of them.
//!
//! A decision is a few microseconds of work between a read and a write. tokio's work-stealing
//! runtime spends a good part of that again on moving tasks between its threads and waking idle
//! ones; with a runtime per thread a connection's task never moves, and a worker wakes only for
//! its own connections (the model of actix-web and of most servers written in C). The accepting
//! thread hands each new connection to the worker with the fewest open ones.
//!
//! Under `bench/load/run.sh`'s load this served more decisions per second than one
//! multi-thread runtime, with less CPU per decision in the server and in the load generator
//! (whose reads now find several responses at once; BENCHMARKS.md, "The decision service over
//! HTTP"). The price: a worker that the system
//! does not run for a while holds up its connections, where a work-stealing runtime would have
//! moved them; [`crate::config::default_workers`] starts four per core for that reason.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The running workers. [`Workers::stop`] ends them; tasks still running on them are dropped.
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

struct Worker {
    runtime: Handle,
    /// Connections handed to this worker and not yet finished.
    open: Arc<AtomicUsize>,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Workers {
    /// Starts `count` workers (at least one).
    pub(crate) fn start(count: usize) -> io::Result<Workers> {
        let workers = (0..count.max(1))
            .map(|n| {
                let runtime = Builder::new_current_thread().enable_all().build()?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = oneshot::channel::<()>();
                let thread = std::thread::Builder::new()
                    .name(format!("flowgate-worker-{n}"))
                    .spawn(move || {
                        let _ = runtime.block_on(stopped);
                    })?;
                Ok(Worker {
                    runtime: handle,
                    open: Arc::default(),
                    stop,
                    thread,
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(Workers { workers })
    }

    /// Runs `connection` to its end on the worker with the fewest open connections. Its
    /// first poll is on that worker: what it registers then (a socket, timers) belongs to that
    /// worker's runtime.
    pub(crate) fn spawn(&self, connection: impl Future<Output = ()> + Send + 'static) {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
            .expect("at least one worker");
        let open = OpenConnection::new(worker.open.clone());
        worker.runtime.spawn(async move {
            let _open = open;
            connection.await;
        });
    }

    /// Stops every worker and waits for its thread to end.
    pub(crate) fn stop(self) {
        for worker in self.workers {
            drop(worker.stop);
            if worker.thread.join().is_err() {
                tracing::error!("a connection worker panicked");
            }
        }
    }
}

/// Counts a connection as open on its worker while it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_busy_worker_and_are_counted_until_they_end() {
        let workers = Workers::start(2).unwrap();
        let (release, released) = tokio::sync::watch::channel(false);
        let (names, mut ran) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 {
            let names = names.clone();
            let mut released = released.clone();
            workers.spawn(async move {
                let name = std::thread::current().name().map(str::to_string);
                names.send(name).unwrap();
                let _ = released.wait_for(|r| *r).await;
            });
        }
        let mut threads: Vec<_> = (0..4)
            .map(|_| ran.blocking_recv().unwrap().unwrap())
            .collect();
        threads.sort();
        assert_eq!(
            threads,
            [
                "flowgate-worker-0",
                "flowgate-worker-0",
                "flowgate-worker-1",
                "flowgate-worker-1"
            ]
        );
        let open = |w: &Worker| w.open.load(Ordering::Relaxed);
        assert_eq!(workers.workers.iter().map(open).collect::<Vec<_>>(), [2, 2]);
        release.send(true).unwrap();
        while workers.workers.iter().map(open).sum::<usize>() > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        workers.stop();
    }
}
