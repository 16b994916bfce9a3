//! Child processes the tests start, signalled from Rust (no `kill` command:
//! minimal systems and slim images lack procps) and killed when the guard is
//! dropped, so a failing or panicking test leaves no orphaned process.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long [`ChildGuard::terminate`] waits for an exit before SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(30);

/// A running child process, killed (SIGKILL) and reaped on drop.
pub struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child: Some(child) }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child already waited for")
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("child already waited for").id()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.id()).expect("pid fits i32"));
        kill(pid, signal).unwrap_or_else(|e| panic!("sending {signal} to {pid}: {e}"));
    }

    /// Sends SIGTERM and waits for the exit; SIGKILL (and a panic) when the
    /// process is still running after a grace period.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let mut child = self.child.take().expect("child already waited for");
        let asked = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                return status;
            }
            if asked.elapsed() > TERMINATE_GRACE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("process {} ignored SIGTERM for {TERMINATE_GRACE:?}; killed it", child.id());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
