/* The header compiles after the platform's socket headers, with WSPSAN_UNPREFIXED, as C11 and
 * as C++ (make c-header-check): the plain clashing names stay the platform's. */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#define WSPSAN_UNPREFIXED
#include "wspsan.h"

#ifdef __linux__
typedef char platform_sol_socket[SOL_SOCKET == 1 ? 1 : -1];
typedef char platform_fionbio[FIONBIO == 0x5421 ? 1 : -1];
#endif
typedef char windows_sol_socket[WSPSAN_SOL_SOCKET == 0xffff ? 1 : -1];

/* The plain WSP names map onto the prefixed exports. */
int header_after_platform_unused(void);
int header_after_platform_unused(void) {
    LPWSPLISTEN listen_fn = WSPListen;
    LPWSPACCEPT accept_fn = WSPAccept;
    return listen_fn != 0 && accept_fn != 0;
}
