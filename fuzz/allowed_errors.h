/* The codes each C ABI call may fail with on a live descriptor (SPEC X3): the one table both
 * fuzz drivers check against. What a call's circumstances add is each driver's own: WSAENOTSOCK
 * for a dead descriptor, WSAENETDOWN with the device down, WSAEINPROGRESS inside a condition
 * function, the codes of the argument checks where a driver keeps them apart, and the upcalls'.
 *
 * tests/c/fuzz.c includes this file with ALLOWED(fn, set) defined to an enum constant
 * ALLOWED_fn (K(NAME) is the bit of WSAENAME or WSANAME); fuzz/fuzz_targets/capi_calls/calls.rs
 * reads it with include_str! and takes every K(NAME) of the line ALLOWED(fn, ...). One line each.
 */
ALLOWED(SOCKET, K(MFILE) | K(NOBUFS))
ALLOWED(BIND, K(FAULT) | K(AFNOSUPPORT) | K(ADDRNOTAVAIL) | K(INVAL) | K(ADDRINUSE) | K(NOBUFS))
ALLOWED(LISTEN, K(INVAL) | K(ISCONN) | K(MFILE) | K(NOBUFS))
ALLOWED(CONNECT, K(FAULT) | K(AFNOSUPPORT) | K(ADDRNOTAVAIL) | K(INVAL) | K(ISCONN) | K(ALREADY) | K(CONNREFUSED) | K(NOBUFS) | K(WOULDBLOCK))
ALLOWED(ACCEPT, K(FAULT) | K(INVAL) | K(WOULDBLOCK) | K(CONNREFUSED) | K(TRY_AGAIN) | K(MFILE) | K(NOBUFS) | K(ACCES) | K(INTR))
ALLOWED(SOCKNAME, K(FAULT) | K(INVAL))
ALLOWED(PEERNAME, K(FAULT) | K(NOTCONN))
ALLOWED(GETSOCKOPT, K(FAULT) | K(NOPROTOOPT) | K(INVAL))
ALLOWED(SETSOCKOPT, K(FAULT) | K(NOPROTOOPT) | K(INVAL))
ALLOWED(IOCTL, K(FAULT) | K(INVAL) | K(OPNOTSUPP))
ALLOWED(EVENTSELECT, K(INVAL))
ALLOWED(ENUMNETWORKEVENTS, K(FAULT) | K(INVAL))
ALLOWED(SWITCH_HANDLE, K(FAULT))
