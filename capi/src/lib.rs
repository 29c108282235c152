//! wspsan C ABI (libwspsan). See include/wspsan.h.

pub mod eventfd;
