/* The header compiles on its own, as C11 and as C++ (make c-header-check), and defines every
 * name SPEC section 1 lists (SPEC X1). */
#include "wspsan.h"

/* The clash rule: WSPSAN_<NAME> always holds the Windows value; the plain name exists. */
typedef char windows_somaxconn[WSPSAN_SOMAXCONN == 0x7fffffff ? 1 : -1];
typedef char windows_sol_socket[WSPSAN_SOL_SOCKET == 0xffff ? 1 : -1];
typedef char windows_so_acceptconn[WSPSAN_SO_ACCEPTCONN == 0x0002 ? 1 : -1];
typedef char windows_so_error[WSPSAN_SO_ERROR == 0x1007 ? 1 : -1];
typedef char windows_so_type[WSPSAN_SO_TYPE == 0x1008 ? 1 : -1];
typedef char windows_fionbio[WSPSAN_FIONBIO == 0x8004667Eu ? 1 : -1];
typedef char plain_names[(SOMAXCONN + SOL_SOCKET + SO_ACCEPTCONN + SO_ERROR + SO_TYPE + FIONBIO) != 0 ? 1 : -1];
typedef char hint[SOMAXCONN_HINT(300) == -300 ? 1 : -1];
typedef char sio[SIO_ADDRESS_LIST_QUERY == 0x48000016u ? 1 : -1];
typedef char widths[sizeof(DWORD) == 4 && sizeof(ULONG) == 4 && sizeof(LONG) == 4 && sizeof(GROUP) == 4 &&
                    sizeof(WORD) == 2 && sizeof(SOCKET) == sizeof(void *) && sizeof(DWORD_PTR) == sizeof(void *)
                        ? 1 : -1];
typedef char wsabuf[sizeof(WSABUF) == 2 * sizeof(void *) ? 1 : -1];
typedef char flowspec[sizeof(FLOWSPEC) == 32 ? 1 : -1];
typedef char protocol_info[sizeof(WSAPROTOCOL_INFOW) == 628 ? 1 : -1];
typedef char proc_table[sizeof(WSPPROC_TABLE) == 30 * sizeof(void *) ? 1 : -1];
typedef char upcall_table[sizeof(WSPUPCALLTABLE) == 15 * sizeof(void *) ? 1 : -1];
typedef char events[FD_MAX_EVENTS == 10 && FD_ACCEPT == 0x08 && FD_CONNECT_BIT == 4 ? 1 : -1];
typedef char invalid[INVALID_SOCKET == (SOCKET)-1 && SOCKET_ERROR == -1 ? 1 : -1];
typedef char version[WSPSAN_VERSION_MAJOR >= 0 && sizeof(WSPSAN_VERSION_STRING) > 1 ? 1 : -1];

int header_alone_unused(void);
int header_alone_unused(void) { return CF_ACCEPT + CF_REJECT + CF_DEFER + WSAECONNREFUSED; }
