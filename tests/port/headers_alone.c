/* <ws2spi.h> alone, then <winsock2.h> alone after the platform's socket headers, give Windows'
 * names with Windows' values and widths (make port-check compiles this as C11 and as C++17).
 * SPEC section 1: u_long is 32-bit, SOL_SOCKET and the options have Windows' numbering. */
#ifdef PORT_AFTER_PLATFORM
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <winsock2.h>
#else
#include <ws2spi.h>
#endif
#include <ws2spi.h> /* twice, and after winsock2.h: include guards */

#define PORT_ASSERT(name, cond) typedef char port_assert_##name[(cond) ? 1 : -1]

PORT_ASSERT(u_long_32, sizeof(u_long) == 4);
PORT_ASSERT(u_short_16, sizeof(u_short) == 2);
PORT_ASSERT(u_char_8, sizeof(u_char) == 1);
PORT_ASSERT(dword_32, sizeof(DWORD) == 4);
PORT_ASSERT(word_16, sizeof(WORD) == 2);
PORT_ASSERT(socket_ptr, sizeof(SOCKET) == sizeof(void *));
PORT_ASSERT(sockaddr_in_16, sizeof(SOCKADDR_IN) == 16);
PORT_ASSERT(makeword, MAKEWORD(2, 2) == 0x0202 && MAKEWORD(1, 2) == 0x0201);
PORT_ASSERT(lobyte_hibyte, LOBYTE(0x0302) == 2 && HIBYTE(0x0302) == 3);
PORT_ASSERT(loword_hiword, LOWORD(0x00040003) == 3 && HIWORD(0x00040003) == 4);
PORT_ASSERT(sol_socket, SOL_SOCKET == 0xffff);
PORT_ASSERT(so_numbers, SO_ACCEPTCONN == 0x0002 && SO_REUSEADDR == 0x0004 && SO_LINGER == 0x0080 &&
                            SO_SNDBUF == 0x1001 && SO_RCVBUF == 0x1002 && SO_ERROR == 0x1007 && SO_TYPE == 0x1008);
PORT_ASSERT(so_conndata, SO_CONNDATA == 0x7000 && SO_CONNDATALEN == 0x7004);
PORT_ASSERT(fionbio, FIONBIO == 0x8004667EUL);
PORT_ASSERT(somaxconn, SOMAXCONN == 0x7fffffff);
PORT_ASSERT(true_false, TRUE == 1 && FALSE == 0 && NO_ERROR == 0);
PORT_ASSERT(errors, WSAECONNREFUSED == 10061 && WSAEWOULDBLOCK == 10035 && WSATRY_AGAIN == 11002);

/* The plain SPI names are wspsan's exports, with Windows' pointer types. */
int port_headers_alone_unused(void);
int port_headers_alone_unused(void) {
    LPWSPSTARTUP startup = WSPStartup;
    LPWSPACCEPT accept_fn = WSPAccept;
    LPWSAEVENT ev = NULL;
    INT n = 0;
    BOOL ok = TRUE;
    return startup != NULL && accept_fn != NULL && ev == NULL && n == 0 && ok;
}
