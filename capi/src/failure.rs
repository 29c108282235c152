//! What a failed export reports: a Winsock error and, for `wspsan_last_error_message`, what was
//! wrong. The bottom of the crate: every other module may use it, it uses none of them.

use core::ffi::c_int;
use std::borrow::Cow;
use wspsan_core::WsaError;

/// Why an export failed: a Winsock error and, for the last-error message, what was wrong.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: c_int,
    pub(crate) detail: Option<Cow<'static, str>>,
}

impl Failure {
    /// A failure with an explanation for `wspsan_last_error_message`.
    pub(crate) fn new(error: WsaError, detail: impl Into<Cow<'static, str>>) -> Failure {
        Failure { code: error.code(), detail: Some(detail.into()) }
    }
}

impl From<WsaError> for Failure {
    fn from(e: WsaError) -> Failure {
        Failure { code: e.code(), detail: None }
    }
}

/// The result every export body returns.
pub(crate) type Outcome<T> = Result<T, Failure>;

/// `WSAEFAULT` for a pointer or length argument.
pub(crate) fn fault(detail: impl Into<Cow<'static, str>>) -> Failure {
    Failure::new(WsaError::Fault, detail)
}
