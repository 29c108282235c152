//! Counted `WSPStartup` / `WSPCleanup` over one provider (SPEC X1, X2), as a WSP front end
//! (the C ABI, the Python `wsp` mirror through it) runs them.
//!
//! The rules: startups are counted and each cleanup undoes one; calls other than startup
//! see the session only while a startup is in force (X2); a startup or cleanup from inside one
//! of the provider's condition functions fails with `WSAEINPROGRESS` and changes nothing (A14
//! holds for every call); the last cleanup closes every socket with no lock held (T1: the
//! socket hooks, the switch's upcalls, run then), and a startup meanwhile waits for it to end
//! on another thread, or fails with `WSAEINPROGRESS` on the cleanup's own thread (from one of
//! those upcalls), where waiting would never end.
//!
//! The session keeps what its first startup brought (`T`: for the C ABI, the switch's upcall
//! table) until its last cleanup, and installs that startup's socket hooks on the provider.

use crate::{Provider, Result, SocketHooks, WsaError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

/// A counted session (SPEC X1, X2) keeping a `T` from its first startup to its last cleanup.
#[derive(Debug)]
pub struct Session<T> {
    state: Mutex<State<T>>,
    /// Startups in force as every call sees them; 0 while the last cleanup closes.
    started: AtomicU32,
    /// Notified when a last cleanup is over.
    closed: Condvar,
}

#[derive(Debug)]
struct State<T> {
    /// Startups not yet undone by a cleanup.
    count: u32,
    /// The thread running the last cleanup, while it closes the sockets.
    closing: Option<ThreadId>,
    /// What the first startup of the session brought.
    kept: Option<T>,
}

/// What a successful startup did.
#[derive(Debug, PartialEq, Eq)]
pub enum Started<T> {
    /// It began a new session, which keeps its `T` and its hooks.
    New,
    /// It joined the session in force: its `T` is handed back unused, its hooks dropped.
    Joined(T),
}

/// What a successful cleanup did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleaned<T> {
    /// Undid one of several startups; the session goes on.
    Counted,
    /// Ended the session: every socket is closed and the hooks removed; here is what it kept.
    Ended(T),
}

impl<T> Default for Session<T> {
    fn default() -> Self {
        Session::new()
    }
}

impl<T> Session<T> {
    /// No session in force.
    pub const fn new() -> Self {
        Session {
            state: Mutex::new(State { count: 0, closing: None, kept: None }),
            started: AtomicU32::new(0),
            closed: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a startup is in force as every other call sees it (SPEC X2): false before the
    /// first startup, after the last cleanup and while that cleanup closes the sockets.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire) != 0
    }

    /// `WSPStartup` on provider `p` (SPEC X1): `WSAEINPROGRESS` from one of its condition
    /// functions (A14) or from an upcall of the last cleanup on its own thread; on another
    /// thread a startup waits for that cleanup to end. A startup that begins a session installs
    /// `hooks` on `p` and keeps `kept`, before any other call can see the session.
    pub fn start(&self, p: &Provider, hooks: Option<Arc<dyn SocketHooks>>, kept: T) -> Result<Started<T>> {
        if p.in_condition() {
            return Err(WsaError::InProgress);
        }
        let mut state = self.state();
        while let Some(closer) = state.closing {
            if closer == std::thread::current().id() {
                // An upcall of the last cleanup: waiting for that cleanup would never end.
                return Err(WsaError::InProgress);
            }
            state = self.closed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let started = if state.count == 0 {
            p.set_hooks(hooks);
            state.kept = Some(kept);
            Started::New
        } else {
            Started::Joined(kept)
        };
        state.count += 1;
        self.started.store(state.count, Ordering::Release);
        Ok(started)
    }

    /// `WSPCleanup` on provider `p` (SPEC X1, X2): `WSAEINPROGRESS` from one of its condition
    /// functions, changing nothing (A14); `WSANOTINITIALISED` with no startup in force (the last
    /// cleanup under way included). The last one closes every socket of `p` with no lock held,
    /// removes the hooks and hands back what the session kept.
    pub fn cleanup(&self, p: &Provider) -> Result<Cleaned<T>> {
        if p.in_condition() {
            return Err(WsaError::InProgress);
        }
        let mut state = self.state();
        if state.count == 0 || state.closing.is_some() {
            return Err(WsaError::NotInitialised);
        }
        if state.count > 1 {
            state.count -= 1;
            self.started.store(state.count, Ordering::Release);
            return Ok(Cleaned::Counted);
        }
        // The last cleanup: new calls see WSANOTINITIALISED from now on; the sockets are closed
        // with the session's hooks still installed and the lock released (T1).
        state.closing = Some(std::thread::current().id());
        self.started.store(0, Ordering::Release);
        drop(state);
        let mut closing = Closing { session: self, ended: false, done: false };
        p.close_all()?; // cannot fail: A14 was checked above (Closing would restore anyway)
        p.set_hooks(None);
        closing.ended = true;
        match closing.finish() {
            Some(kept) => Ok(Cleaned::Ended(kept)),
            None => unreachable!("a session in force keeps what its first startup brought"),
        }
    }

    /// What the session in force keeps (SPEC X5: the C ABI's upcall table), while a startup
    /// is in force or its last cleanup closes the sockets.
    pub fn kept(&self) -> Option<T>
    where
        T: Clone,
    {
        self.state().kept.clone()
    }

    /// A WSP function the provider does not implement (SPEC X1): `WSANOTINITIALISED` with no
    /// startup in force (X2), `WSAEINPROGRESS` from one of `p`'s condition functions (A14 holds
    /// for every call, these included), else `WSAEOPNOTSUPP`.
    pub fn unimplemented(&self, p: &Provider) -> WsaError {
        if !self.is_started() {
            WsaError::NotInitialised
        } else if p.in_condition() {
            WsaError::InProgress
        } else {
            WsaError::OpNotSupp
        }
    }
}

/// Ends the closing state of a session however the last cleanup leaves (a panic included).
struct Closing<'a, T> {
    session: &'a Session<T>,
    /// Whether every socket was closed: the session ends. Otherwise it stays as it was.
    ended: bool,
    /// Whether the closing state is over already.
    done: bool,
}

impl<T> Closing<'_, T> {
    /// End the closing state: what the session kept when it ended, else nothing.
    fn finish(&mut self) -> Option<T> {
        if std::mem::replace(&mut self.done, true) {
            return None;
        }
        let session = self.session;
        let mut state = session.state();
        let kept = if self.ended {
            state.count = 0;
            state.kept.take()
        } else {
            session.started.store(state.count, Ordering::Release);
            None
        };
        state.closing = None;
        drop(state);
        session.closed.notify_all();
        kept
    }
}

impl<T> Drop for Closing<'_, T> {
    fn drop(&mut self) {
        drop(self.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Descriptor;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Socket hooks that count what they see; `on_close` runs inside the close hook.
    #[derive(Default)]
    struct Counting {
        created: AtomicUsize,
        closed: AtomicUsize,
        on_close: Mutex<Option<Box<dyn FnMut() + Send>>>,
    }

    impl SocketHooks for Counting {
        fn created(&self, _s: Descriptor) -> Result<u64> {
            Ok(self.created.fetch_add(1, Ordering::SeqCst) as u64 + 100)
        }
        fn closed(&self, _s: Descriptor, _context: u64) {
            self.closed.fetch_add(1, Ordering::SeqCst);
            if let Some(f) = self.on_close.lock().unwrap().as_mut() {
                f();
            }
        }
    }

    // SPEC X1, X2
    #[test]
    fn startups_are_counted_and_each_cleanup_undoes_one() {
        let p = Provider::new();
        let session: Session<&str> = Session::new();
        assert!(!session.is_started());
        assert_eq!(session.cleanup(&p), Err(WsaError::NotInitialised), "no startup yet");
        assert_eq!(session.start(&p, None, "first"), Ok(Started::New));
        assert_eq!(session.start(&p, None, "second"), Ok(Started::Joined("second")), "the first one's is kept");
        assert!(session.is_started());
        assert_eq!(session.kept(), Some("first"));
        let s = p.socket().unwrap();
        assert_eq!(session.cleanup(&p), Ok(Cleaned::Counted));
        assert!(session.is_started(), "one startup is still in force");
        assert!(p.context(s).is_ok(), "a counted cleanup closes nothing");
        assert_eq!(session.cleanup(&p), Ok(Cleaned::Ended("first")));
        assert!(!session.is_started());
        assert_eq!(session.kept(), None);
        assert_eq!(p.context(s), Err(WsaError::NotSock), "the last cleanup closed every socket");
        assert_eq!(session.cleanup(&p), Err(WsaError::NotInitialised), "one cleanup too many");
        assert_eq!(session.start(&p, None, "again"), Ok(Started::New), "a new session");
        assert_eq!(session.kept(), Some("again"));
    }

    // SPEC X1, X5
    #[test]
    fn the_first_startups_hooks_serve_the_session_and_run_at_the_last_cleanup() {
        let p = Provider::new();
        let session: Session<()> = Session::new();
        let first = Arc::new(Counting::default());
        let second = Arc::new(Counting::default());
        session.start(&p, Some(first.clone()), ()).unwrap();
        session.start(&p, Some(second.clone()), ()).unwrap();
        let s = p.socket().unwrap();
        assert_eq!(p.context(s), Ok(100), "the first startup's hooks made the handle");
        assert_eq!(second.created.load(Ordering::SeqCst), 0);
        session.cleanup(&p).unwrap();
        assert_eq!(first.closed.load(Ordering::SeqCst), 0);
        session.cleanup(&p).unwrap();
        assert_eq!(first.closed.load(Ordering::SeqCst), 1, "the last cleanup closed the socket through them");
        let after = p.socket().unwrap();
        assert_eq!(p.context(after), Ok(0), "hooks removed with the session");
    }

    // SPEC X1, T1: a startup from an upcall of the last cleanup cannot wait for it.
    #[test]
    fn a_startup_from_an_upcall_of_the_last_cleanup_is_wsaeinprogress() {
        let p = Arc::new(Provider::new());
        let session: Arc<Session<u32>> = Arc::new(Session::new());
        let hooks = Arc::new(Counting::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        {
            let (p, session, seen) = (p.clone(), session.clone(), seen.clone());
            *hooks.on_close.lock().unwrap() = Some(Box::new(move || {
                seen.lock().unwrap().push((session.is_started(), session.start(&p, None, 2)));
            }));
        }
        session.start(&p, Some(hooks.clone()), 1).unwrap();
        p.socket().unwrap();
        assert_eq!(session.cleanup(&p), Ok(Cleaned::Ended(1)));
        assert_eq!(*seen.lock().unwrap(), vec![(false, Err(WsaError::InProgress))], "X2 while closing, and no wait");
        *hooks.on_close.lock().unwrap() = None; // the hooks hold the session: break the circle
    }

    // SPEC X1, T1: on another thread a startup waits for the last cleanup, then begins anew.
    #[test]
    fn a_startup_on_another_thread_waits_for_the_last_cleanup() {
        let p = Arc::new(Provider::new());
        let session: Arc<Session<u32>> = Arc::new(Session::new());
        let hooks = Arc::new(Counting::default());
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        *hooks.on_close.lock().unwrap() = Some(Box::new(move || {
            entered_tx.send(()).unwrap();
            release_rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).unwrap();
        }));
        session.start(&p, Some(hooks.clone()), 1).unwrap();
        p.socket().unwrap();
        let cleaner = {
            let (p, session) = (p.clone(), session.clone());
            std::thread::spawn(move || session.cleanup(&p))
        };
        entered_rx.recv_timeout(Duration::from_secs(10)).expect("the last cleanup runs the close hook");
        let starter = {
            let (p, session) = (p.clone(), session.clone());
            std::thread::spawn(move || session.start(&p, None, 2))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!starter.is_finished(), "the startup waits while the last cleanup closes");
        release_tx.send(()).unwrap();
        assert_eq!(cleaner.join().unwrap(), Ok(Cleaned::Ended(1)));
        assert_eq!(starter.join().unwrap(), Ok(Started::New), "then begins a new session");
        assert_eq!(session.kept(), Some(2));
        *hooks.on_close.lock().unwrap() = None;
    }

    // SPEC X2, A14 (for the functions the provider does not implement)
    #[test]
    fn an_unimplemented_call_fails_after_the_session_and_reentry_checks() {
        let p = Provider::new();
        let session: Session<()> = Session::new();
        assert_eq!(session.unimplemented(&p), WsaError::NotInitialised);
        session.start(&p, None, ()).unwrap();
        assert_eq!(session.unimplemented(&p), WsaError::OpNotSupp);
    }
}
