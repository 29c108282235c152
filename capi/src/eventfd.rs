//! Event objects on Linux: eventfds (SPEC section 8). `WSAEVENT` holds the fd,
//! `(WSAEVENT)(intptr_t)fd`; the provider signals its own duplicate of it
//! ([`EventFd::duplicate`]). Shared by the C ABI and the Python module.

use std::os::fd::RawFd;
use wspsan_core::Signal;

/// A signal that writes to (set) or drains (reset) an eventfd it does not own. The number must
/// stay open for as long as the signal is used: an [`EventFd`] owns its number for that reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdSignal(pub RawFd);

impl Signal for FdSignal {
    fn set(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local; a bad fd only makes write fail.
        unsafe { libc::write(self.0, (&raw const one).cast(), 8) };
    }

    fn reset(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live local. On a non-blocking eventfd the read
        // returns EAGAIN when already reset; on a blocking one we only read when poll says so.
        // Known limit: two threads resetting the same *blocking* caller-made eventfd at once can
        // both see it readable; one read then waits for (and swallows) the next set. Eventfds
        // from wspsan_WSACreateEvent and wspsan.Event are non-blocking and immune.
        unsafe {
            let mut pfd = libc::pollfd { fd: self.0, events: libc::POLLIN, revents: 0 };
            if libc::poll(&mut pfd, 1, 0) == 1 && pfd.revents & libc::POLLIN != 0 {
                libc::read(self.0, (&raw mut value).cast(), 8);
            }
        }
    }
}

/// An eventfd this process owns (`wspsan_WSACreateEvent`, Python's `wspsan.Event`),
/// closed on drop.
#[derive(Debug)]
pub struct EventFd(RawFd);

impl EventFd {
    /// Make a new non-blocking, close-on-exec eventfd in the reset state.
    pub fn new() -> std::io::Result<EventFd> {
        // SAFETY: plain syscall, no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 { Err(std::io::Error::last_os_error()) } else { Ok(EventFd(fd)) }
    }

    /// The file descriptor, for poll, epoll, selectors or asyncio.
    pub fn fd(&self) -> RawFd {
        self.0
    }

    /// An owned, close-on-exec duplicate of the caller's eventfd `fd`, so that signalling it
    /// never reaches whatever reuses the number once the caller closes `fd`. Any eventfd works,
    /// including ones made with `eventfd(2)`; anything else (another kind of file, a closed
    /// number) is `InvalidInput`.
    pub fn duplicate(fd: RawFd) -> std::io::Result<EventFd> {
        if fd < 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
        }
        // SAFETY: fcntl on a number we do not own makes a new descriptor or fails.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let owned = EventFd(dup);
        // Checked on the duplicate, which nobody else can close or reuse meanwhile.
        if is_eventfd(dup) {
            Ok(owned)
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("fd {fd} is not an eventfd")))
        }
    }

    /// Give up ownership: the caller closes the fd (`wspsan_WSACloseEvent`).
    pub fn into_raw(self) -> RawFd {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }

    /// The signal that sets and resets this eventfd.
    pub fn signal(&self) -> FdSignal {
        FdSignal(self.0)
    }

    /// Whether the event is set now (non-destructive).
    pub fn is_set(&self) -> bool {
        let mut pfd = libc::pollfd { fd: self.0, events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd on the stack, zero timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 && pfd.revents & libc::POLLIN != 0 }
    }
}

/// Whether `fd` is an open eventfd of this process: `/proc/self/fd/<fd>` links to
/// `anon_inode:[eventfd]`.
pub fn is_eventfd(fd: RawFd) -> bool {
    fd >= 0
        && std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .is_ok_and(|target| target.as_os_str() == "anon_inode:[eventfd]")
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.0) };
    }
}

impl Signal for EventFd {
    fn set(&self) {
        self.signal().set();
    }
    fn reset(&self) {
        self.signal().reset();
    }
}
