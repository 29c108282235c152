//! A value alone on its cache line(s), so that threads writing it do not slow down threads
//! reading its neighbours (false sharing).

use std::ops::Deref;

/// `T` aligned to 128 bytes (two lines: adjacent-line prefetchers pair them).
#[derive(Default, Debug)]
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub(crate) T);

impl<T> Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
