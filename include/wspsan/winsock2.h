/*
 * winsock2.h for sources written for Windows: the Winsock names a provider or switch source
 * uses, mapped onto wspsan. Compile such a source with `-I include/wspsan -I include` (installed:
 * `-I $(PREFIX)/include/wspsan -I $(PREFIX)/include`) and its `#include <winsock2.h>` lands here;
 * `#include <ws2spi.h>` (the SPI names) includes this file too.
 *
 * Windows numbering wins here: SOL_SOCKET is 0xffff and the SO_* options, SOMAXCONN and FIONBIO
 * have Windows' values, so `WSPGetSockOpt(s, SOL_SOCKET, SO_ERROR, ...)` means what it means on
 * Windows (the provider takes level 0xffff as Windows' numbering, docs/behaviour.md#section-1).
 * The platform's socket headers are included first (by wspsan.h) and their names replaced, so
 * do not call the platform's own setsockopt/ioctl with these names in the same file.
 * u_long is 32-bit, as on Windows, whatever the platform's <sys/types.h> says.
 */

#ifndef WSPSAN_PORT_WINSOCK2_H
#define WSPSAN_PORT_WINSOCK2_H

#ifndef WSPSAN_UNPREFIXED
#define WSPSAN_UNPREFIXED
#endif
#include <wspsan.h>
#include <arpa/inet.h> /* htons, htonl, ntohs, ntohl, inet_addr, as winsock2.h declares them */
#include <string.h>

/* Calling conventions and pointer decorations: meaningless off Windows. */
#ifndef WSPAPI
#define WSPAPI
#endif
#ifndef WSAAPI
#define WSAAPI
#endif
#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef PASCAL
#define PASCAL
#endif
#ifndef APIENTRY
#define APIENTRY
#endif
#ifndef FAR
#define FAR
#endif
#ifndef NEAR
#define NEAR
#endif
/* SAL-style parameter annotations of the older SDK headers (WinOF's sources use them). */
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef OPTIONAL
#define OPTIONAL
#endif
#ifndef UNREFERENCED_PARAMETER
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#endif

/* Basic Windows types wspsan.h does not already give (it has BOOL, DWORD, WORD, UINT, LONG,
 * ULONG, HANDLE, LPVOID, LPDWORD, LPINT, DWORD_PTR, UINT_PTR, WCHAR, LPWSTR). */
typedef int INT;
typedef int *PINT;
typedef uint8_t BYTE;
typedef BYTE *PBYTE;
typedef BYTE *LPBYTE;
typedef char CHAR;
typedef CHAR *PCHAR;
typedef CHAR *LPSTR;
typedef const CHAR *LPCSTR;
typedef const WCHAR *LPCWSTR;
typedef int16_t SHORT;
typedef uint16_t USHORT;
typedef void VOID;
typedef void *PVOID;
typedef const void *LPCVOID;
typedef BOOL *PBOOL;
typedef BOOL *LPBOOL;
typedef DWORD *PDWORD;
typedef WORD *PWORD;
typedef WORD *LPWORD;
typedef LONG *PLONG;
typedef LONG *LPLONG;
typedef ULONG *PULONG;
typedef uintptr_t ULONG_PTR;
typedef intptr_t LONG_PTR;
typedef intptr_t INT_PTR;

#ifndef TRUE
#define TRUE WSPSAN_TRUE
#endif
#ifndef FALSE
#define FALSE WSPSAN_FALSE
#endif
#ifndef NO_ERROR
#define NO_ERROR 0L
#endif
#ifndef ERROR_SUCCESS
#define ERROR_SUCCESS 0L
#endif

#define MAKEWORD(a, b) ((WORD)(((BYTE)((DWORD_PTR)(a) & 0xff)) | ((WORD)((BYTE)((DWORD_PTR)(b) & 0xff))) << 8))
#define MAKELONG(a, b) ((LONG)(((WORD)((DWORD_PTR)(a) & 0xffff)) | ((DWORD)((WORD)((DWORD_PTR)(b) & 0xffff))) << 16))
#define LOWORD(l) ((WORD)((DWORD_PTR)(l) & 0xffff))
#define HIWORD(l) ((WORD)((DWORD_PTR)(l) >> 16))
#define LOBYTE(w) ((BYTE)((DWORD_PTR)(w) & 0xff))
#define HIBYTE(w) ((BYTE)((DWORD_PTR)(w) >> 8))

/* Winsock's BSD-style unsigned types with Windows' widths. u_char, u_short and u_int have the
 * same types as the platform's (so typedefs that repeat them are legal in C11 and C++); the
 * platform's u_long, where it has one, is 64-bit on LP64, so u_long names Winsock's 32-bit type
 * instead. <sys/types.h> has already been read (wspsan.h includes <sys/socket.h>), so the macro
 * cannot reach its typedef. */
typedef unsigned char u_char;
typedef unsigned short u_short;
typedef unsigned int u_int;
typedef uint32_t WSPSAN_U_LONG;
#undef u_long
#define u_long WSPSAN_U_LONG
typedef uint64_t u_int64;

/* Addresses, as Windows names them (the platform's structures: AF_INET, 16 bytes). */
typedef struct sockaddr SOCKADDR;
typedef struct sockaddr *PSOCKADDR;
typedef struct sockaddr *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN;
typedef struct sockaddr_in *PSOCKADDR_IN;
typedef struct sockaddr_in *LPSOCKADDR_IN;
typedef struct in_addr IN_ADDR;
typedef struct in_addr *PIN_ADDR;
typedef struct in_addr *LPIN_ADDR;
typedef struct linger LINGER;
typedef struct linger *PLINGER;
typedef struct linger *LPLINGER;

/* Events and the other Winsock 2 types under their pointer names. */
typedef WSAEVENT *LPWSAEVENT;
typedef HANDLE *LPHANDLE;
typedef struct WSAPROTOCOL_INFOW *PWSAPROTOCOL_INFOW;
typedef struct QOS *PQOS;
typedef struct FLOWSPEC *PFLOWSPEC;
typedef struct FLOWSPEC *LPFLOWSPEC;
typedef struct WSANETWORKEVENTS *PWSANETWORKEVENTS;
typedef struct SOCKET_ADDRESS *PSOCKET_ADDRESS;
typedef struct SOCKET_ADDRESS *LPSOCKET_ADDRESS;
typedef struct SOCKET_ADDRESS_LIST *PSOCKET_ADDRESS_LIST;
typedef struct SOCKET_ADDRESS_LIST *LPSOCKET_ADDRESS_LIST;
typedef struct WSAOVERLAPPED OVERLAPPED;
typedef struct WSAOVERLAPPED *LPOVERLAPPED;
/* The SPI is Unicode only: the generic name is the W structure. */
typedef struct WSAPROTOCOL_INFOW WSAPROTOCOL_INFO;
typedef struct WSAPROTOCOL_INFOW *LPWSAPROTOCOL_INFO;

#define WSA_INVALID_EVENT ((WSAEVENT)NULL)
#define WSABASEERR 10000
#define WSA_FLAG_OVERLAPPED 0x01
#define SG_UNCONSTRAINED_GROUP 0x01
#define SG_CONSTRAINED_GROUP 0x02

/* Windows' option level and option numbers (winsock2.h). Level 0xffff tells the provider to
 * read the option number in Windows' numbering. */
#undef SOL_SOCKET
#define SOL_SOCKET WSPSAN_SOL_SOCKET
#undef SO_DEBUG
#define SO_DEBUG 0x0001
#undef SO_ACCEPTCONN
#define SO_ACCEPTCONN WSPSAN_SO_ACCEPTCONN
#undef SO_REUSEADDR
#define SO_REUSEADDR 0x0004
#undef SO_KEEPALIVE
#define SO_KEEPALIVE 0x0008
#undef SO_DONTROUTE
#define SO_DONTROUTE 0x0010
#undef SO_BROADCAST
#define SO_BROADCAST 0x0020
#undef SO_USELOOPBACK
#define SO_USELOOPBACK 0x0040
#undef SO_LINGER
#define SO_LINGER 0x0080
#undef SO_OOBINLINE
#define SO_OOBINLINE 0x0100
#undef SO_DONTLINGER
#define SO_DONTLINGER ((int)(~SO_LINGER))
#undef SO_EXCLUSIVEADDRUSE
#define SO_EXCLUSIVEADDRUSE ((int)(~SO_REUSEADDR))
#undef SO_SNDBUF
#define SO_SNDBUF WSPSAN_SO_SNDBUF
#undef SO_RCVBUF
#define SO_RCVBUF WSPSAN_SO_RCVBUF
#undef SO_SNDLOWAT
#define SO_SNDLOWAT 0x1003
#undef SO_RCVLOWAT
#define SO_RCVLOWAT 0x1004
#undef SO_SNDTIMEO
#define SO_SNDTIMEO 0x1005
#undef SO_RCVTIMEO
#define SO_RCVTIMEO 0x1006
#undef SO_ERROR
#define SO_ERROR WSPSAN_SO_ERROR
#undef SO_TYPE
#define SO_TYPE WSPSAN_SO_TYPE
#undef SOMAXCONN
#define SOMAXCONN WSPSAN_SOMAXCONN
#undef FIONBIO
#define FIONBIO WSPSAN_FIONBIO
#undef FIONREAD
#define FIONREAD 0x4004667F
#undef SIOCATMARK
#define SIOCATMARK 0x40047307

/* Windows' fd_set and timeval under their Winsock names (wspsan.h keeps them apart from the
 * platform's `fd_set` and `struct timeval`, which stay as they are). */
typedef struct WSPSAN_FD_SET FD_SET;
typedef struct WSPSAN_FD_SET *PFD_SET;
typedef struct WSPSAN_FD_SET *LPFD_SET;
typedef struct WSPSAN_TIMEVAL TIMEVAL;
typedef struct WSPSAN_TIMEVAL *PTIMEVAL;
typedef struct WSPSAN_TIMEVAL *LPTIMEVAL;

/* Service and provider flags of a WSAPROTOCOL_INFOW catalog entry. */
#define XP1_CONNECTIONLESS 0x00000001
#define XP1_GUARANTEED_DELIVERY 0x00000002
#define XP1_GUARANTEED_ORDER 0x00000004
#define XP1_MESSAGE_ORIENTED 0x00000008
#define XP1_PSEUDO_STREAM 0x00000010
#define XP1_GRACEFUL_CLOSE 0x00000020
#define XP1_EXPEDITED_DATA 0x00000040
#define XP1_CONNECT_DATA 0x00000080
#define XP1_DISCONNECT_DATA 0x00000100
#define XP1_SUPPORT_BROADCAST 0x00000200
#define XP1_SUPPORT_MULTIPOINT 0x00000400
#define XP1_MULTIPOINT_CONTROL_PLANE 0x00000800
#define XP1_MULTIPOINT_DATA_PLANE 0x00001000
#define XP1_QOS_SUPPORTED 0x00002000
#define XP1_INTERRUPT 0x00004000
#define XP1_UNI_SEND 0x00008000
#define XP1_UNI_RECV 0x00010000
#define XP1_IFS_HANDLES 0x00020000
#define XP1_PARTIAL_MESSAGE 0x00040000
#define XP1_SAN_SUPPORT_SDP 0x00080000
#define PFL_MULTIPLE_PROTO_ENTRIES 0x00000001
#define PFL_RECOMMENDED_PROTO_ENTRY 0x00000002
#define PFL_HIDDEN 0x00000004
#define PFL_MATCHES_PROTOCOL_ZERO 0x00000008
#define BIGENDIAN 0x0000
#define LITTLEENDIAN 0x0001
#define SECURITY_PROTOCOL_NONE 0x0000

/* WSACreateEvent and WSACloseEvent (eventfd-backed) come from wspsan.h under WSPSAN_UNPREFIXED. */

#endif /* WSPSAN_PORT_WINSOCK2_H */
