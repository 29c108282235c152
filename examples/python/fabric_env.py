"""The device the fabric examples run on, read from the environment as the C ABI reads it (SPEC F3).

    WSPSAN_FABRIC       "tcp", or absent / "local" (in-process)
    WSPSAN_NICS         comma-separated IPv4 addresses, the device's NICs in order (default 127.0.0.1)
    WSPSAN_FABRIC_PORT  the port fabric peers are accepted on (default 7470)
    WSPSAN_FABRIC_KEY   the fabric key (SPEC F9)

The C programs get this from the library at WSPStartup; a `wspsan.Provider` takes the same settings
as arguments, so this turns the one into the other with the same rules for bad values.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
import wspsan


class PlacementError(ValueError):
    """A WSPSAN_* variable that cannot be parsed (the C ABI's WSPStartup fails with WSAEINVAL)."""


def provider_from_env(
    env: Mapping[str, str] | None = None, *, connect_timeout: float | None = None
) -> wspsan.Provider:
    """A provider placed where WSPSAN_* in `env` (default: os.environ) says, with the device's
    connect timeout (SPEC D2) when one is given."""
    env = os.environ if env is None else env
    fabric = env.get("WSPSAN_FABRIC", "").strip()
    if fabric not in ("", "local", "tcp"):
        raise PlacementError(f'WSPSAN_FABRIC: {fabric!r} is neither "tcp" nor "local"')
    nics = ["127.0.0.1"]
    if "WSPSAN_NICS" in env:
        nics = []
        for part in env["WSPSAN_NICS"].split(","):
            try:
                ip = str(ipaddress.IPv4Address(part.strip()))
            except ValueError:
                raise PlacementError(f"WSPSAN_NICS: {part.strip()!r} is not an IPv4 address") from None
            if ip == "0.0.0.0" or ip in nics:
                raise PlacementError(f"WSPSAN_NICS: {ip} is 0.0.0.0 or given twice")
            nics.append(ip)
    port_text = env.get("WSPSAN_FABRIC_PORT")
    key = env.get("WSPSAN_FABRIC_KEY")
    if fabric != "tcp":
        if port_text is not None or key is not None:
            which = "WSPSAN_FABRIC_KEY" if key is not None else "WSPSAN_FABRIC_PORT"
            raise PlacementError(f'{which}: set, but WSPSAN_FABRIC is not "tcp"')
        return wspsan.Provider(nics, connect_timeout=connect_timeout)
    port = 7470
    if port_text is not None:
        try:
            port = int(port_text.strip())
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise PlacementError(f"WSPSAN_FABRIC_PORT: {port_text!r} is not a port from 1 to 65535")
    if key == "":
        raise PlacementError("WSPSAN_FABRIC_KEY: the key is empty")
    return wspsan.Provider(nics, fabric="tcp", fabric_port=port, fabric_key=key, connect_timeout=connect_timeout)
