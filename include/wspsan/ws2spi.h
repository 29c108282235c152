/*
 * ws2spi.h for sources written for Windows: the Winsock 2 SPI names (WSPStartup, WSPPROC_TABLE,
 * WSPUPCALLTABLE, the LPWSP* and LPWPU* types, LPCONDITIONPROC) mapped onto wspsan, plus every
 * name of <winsock2.h> (this file includes it, as Windows' ws2spi.h does). Compile with
 * `-I include/wspsan -I include`; see winsock2.h beside this file for what changes meaning.
 *
 * The plain WSP names (WSPStartup, WSPListen, ...) call wspsan's exports (wspsan_WSPStartup,
 * ...): a switch, a test or a layered provider calls them, or reaches the same functions
 * through the WSPPROC_TABLE that WSPStartup fills.
 */

#ifndef WSPSAN_PORT_WS2SPI_H
#define WSPSAN_PORT_WS2SPI_H

#include "winsock2.h"

/* The SPI version wspsan implements, as WSPStartup reports it in WSPDATA.wVersion. */
#define WSPSAN_SPI_VERSION MAKEWORD(2, 2)

/* Pointer names of the SPI structures that Windows' ws2spi.h also spells out. */
typedef struct WSPPROC_TABLE *PWSPPROC_TABLE;
typedef struct WSPUPCALLTABLE *PWSPUPCALLTABLE;
typedef struct WSPDATA *PWSPDATA;

#endif /* WSPSAN_PORT_WS2SPI_H */
