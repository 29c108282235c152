//! `wspsan.Provider` and its device: NICs, limits, fault switches, statistics (SPEC D1 to D3).

use crate::address::repr_list;
use crate::args::{parse_ip, timeout};
use crate::errors::{self, OrRaise};
use crate::faults::FaultInjector;
use crate::records::{DeviceStats, FieldRepr, Limits};
use crate::socket::Socket;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{PoisonError, RwLock};
use wspsan_core::{DeviceConfig, Limits as CoreLimits, Placement, consts};

/// Apply `name=value` limit changes (the keywords of `Provider()` and `Device.set_limits()`).
fn change_limits(limits: &mut CoreLimits, changes: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    for (key, value) in changes.into_iter().flat_map(|d| d.iter()) {
        let key: String = key.extract()?;
        match key.as_str() {
            "max_descriptors" => limits.max_descriptors = value.extract()?,
            "max_backlog" => limits.max_backlog = value.extract()?,
            "max_caller_data" => limits.max_caller_data = value.extract()?,
            "max_callee_data" => limits.max_callee_data = value.extract()?,
            "max_pending" => limits.max_pending = value.extract()?,
            "connect_timeout" => limits.connect_timeout = timeout(value.extract()?)?,
            _ => return Err(PyTypeError::new_err(format!("unknown device limit {key:?}"))),
        }
    }
    Ok(())
}

/// An in-process fabric (SPEC F1): providers made with the same `Fabric` reach each other's
/// listeners, like hosts of one SAN; a NIC address belongs to one of them (AddressInUseError).
///
/// `faults=True` (an injector seeded with `seed`) or `faults=injector` makes a fabric that
/// misbehaves on purpose: its devices exchange connection-setup messages through the injector
/// on a courier thread each, as over the TCP fabric, so connects are answered asynchronously.
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct Fabric(wspsan_core::Fabric);

#[pymethods]
impl Fabric {
    #[new]
    #[pyo3(signature = (*, faults=None, seed=None))]
    fn new(faults: Option<&Bound<'_, PyAny>>, seed: Option<u64>) -> PyResult<Fabric> {
        Ok(Fabric(match crate::faults::from_argument(faults, seed)? {
            Some(injector) => wspsan_core::Fabric::with_faults(injector),
            None => wspsan_core::Fabric::new(),
        }))
    }

    /// The fault injector between the fabric's devices, or None for a fabric without faults.
    #[getter]
    fn faults(&self) -> Option<FaultInjector> {
        self.0.faults().map(FaultInjector)
    }

    /// Wait until no message between the fabric's devices is on its way (delayed ones
    /// included), at most `timeout` seconds; True when none is. At once True on a fabric
    /// without faults.
    #[pyo3(signature = (timeout=10.0))]
    fn settle(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let wait = crate::args::timeout(Some(timeout))?.unwrap_or_default();
        Ok(py.detach(|| self.0.settle(wait)))
    }

    fn __repr__(&self) -> String {
        let faults = match self.0.faults() {
            Some(f) => format!(" faults={}", FaultInjector(f).__repr__()),
            None => String::new(),
        };
        format!("<wspsan.{:?}{faults}>", self.0)
    }
}

/// An independent provider: a descriptor table plus its own emulated SAN device. Providers
/// never see each other's sockets. `nics` may not hold 0.0.0.0 or an address twice
/// (InvalidArgumentError). `fabric` joins a `wspsan.Fabric` (SPEC F1) or, as `"tcp"`, the TCP fabric
/// (F2: fabric peers accepted on `NIC:fabric_port`, `fabric_key` proved by both sides, a peer
/// silent for `liveness` seconds lost). `liveness` also sets the device's liveness interval on
/// a `wspsan.Fabric` with faults (how long an acceptance waits for its confirmation); anywhere
/// else it is a ValueError.
///
/// `close()` (or the end of a `with` block) closes every socket of the provider.
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct Provider(pub(crate) wspsan_core::Provider, RwLock<bool>);

impl Provider {
    fn wrap(p: wspsan_core::Provider) -> Provider {
        Provider(p, RwLock::new(false))
    }
}

#[pymethods]
impl Provider {
    #[new]
    #[pyo3(signature = (
        nics=None, *, fabric=None, fabric_port=wspsan_core::DEFAULT_PORT, fabric_key=None,
        liveness=None, wildcard_bind=true, **limits
    ), text_signature = "(nics=None, *, fabric=None, fabric_port=7470, fabric_key=None, liveness=None, \
                          wildcard_bind=True, **limits)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        nics: Option<Vec<String>>,
        fabric: Option<&Bound<'_, PyAny>>,
        fabric_port: u16,
        fabric_key: Option<&Bound<'_, PyAny>>,
        liveness: Option<f64>,
        wildcard_bind: bool,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Provider> {
        let mut config = DeviceConfig { wildcard_bind, ..DeviceConfig::default() };
        if let Some(nics) = nics {
            config.nics = nics.iter().map(|n| parse_ip(n)).collect::<PyResult<_>>()?;
        }
        // 0.0.0.0 or a NIC given twice: InvalidArgumentError, as Device.add_nic says for the same NICs.
        config.validate().or_raise()?;
        change_limits(&mut config.limits, limits)?;
        let key: Option<Vec<u8>> = match fabric_key {
            None => None,
            Some(k) => Some(match k.extract::<String>() {
                Ok(s) => s.into_bytes(),
                Err(_) => k.extract::<Vec<u8>>().map_err(|_| PyTypeError::new_err("fabric_key is str or bytes"))?,
            }),
        };
        let no_liveness = || PyValueError::new_err("liveness needs fabric=\"tcp\" or a wspsan.Fabric with faults");
        let provider = match fabric {
            None if liveness.is_some() => return Err(no_liveness()),
            None if key.is_none() => wspsan_core::Provider::with_config(config),
            Some(f) if f.extract::<String>().is_ok_and(|s| s == "tcp") => {
                let liveness = timeout(Some(liveness.unwrap_or(wspsan_core::DEFAULT_LIVENESS.as_secs_f64())))?
                    .ok_or_else(|| PyValueError::new_err("liveness must be a positive number of seconds"))?;
                let tcp = wspsan_core::TcpConfig { port: fabric_port, key, liveness, ..Default::default() };
                // Binding the fabric ports and starting the I/O thread: no Python code runs there.
                py.detach(|| wspsan_core::Provider::on_tcp_fabric(config, tcp)).or_raise()?
            }
            Some(f) if key.is_none() => match f.cast::<Fabric>() {
                Ok(f) => {
                    let fabric = &f.get().0;
                    let liveness = match liveness {
                        Some(_) if fabric.faults().is_none() => return Err(no_liveness()),
                        Some(s) => Some(timeout(Some(s))?.unwrap_or_default()),
                        None => None,
                    };
                    let p = wspsan_core::Provider::on_fabric(fabric, config).or_raise()?;
                    if let Some(l) = liveness {
                        p.device().set_liveness(l).or_raise()?;
                    }
                    p
                }
                Err(_) => return Err(PyTypeError::new_err("fabric is a wspsan.Fabric, \"tcp\" or None")),
            },
            _ => return Err(PyValueError::new_err("fabric_key needs fabric=\"tcp\"")),
        };
        Ok(Provider::wrap(provider))
    }

    /// A provider placed where the `WSPSAN_*` variables of `environ` (default `os.environ`) say,
    /// read by the same rules as the C ABI's first `WSPStartup` (SPEC F3): `WSPSAN_FABRIC`,
    /// `WSPSAN_NICS`, `WSPSAN_FABRIC_PORT`, `WSPSAN_FABRIC_KEY`. A value that cannot be parsed
    /// raises InvalidArgumentError naming the variable. Device limits as keyword arguments, as `Provider()`.
    #[staticmethod]
    #[pyo3(signature = (environ=None, **limits))]
    fn from_environment(
        py: Python<'_>,
        environ: Option<&Bound<'_, PyAny>>,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Provider> {
        let env = match environ {
            Some(e) => e.clone(),
            None => py.import("os")?.getattr("environ")?,
        };
        let mut vars = std::collections::HashMap::new();
        for name in Placement::VARIABLES {
            if let Ok(v) = env.get_item(name) {
                vars.insert(name, v.extract::<String>()?); // a value that is no str: TypeError
            }
        }
        let mut placement = Placement::from_vars(|name| vars.get(name).cloned())
            .map_err(|e| errors::to_pyerr_detail(e.error, &e.to_string()))?;
        change_limits(&mut placement.device.limits, limits)?;
        let what = format!("a device with NICs {:?}", placement.device.nics);
        let provider = py.detach(|| placement.build()).map_err(|e| errors::to_pyerr_detail(e, &what))?;
        Ok(Provider::wrap(provider))
    }

    /// The provider's device.
    #[getter]
    fn device(&self) -> Device {
        Device(self.0.device())
    }

    /// A new blocking socket (`WSPSocket`, SPEC S1).
    #[pyo3(signature = (family=consts::AF_INET, r#type=consts::SOCK_STREAM, proto=0),
           text_signature = "($self, family=2, type=1, proto=0)")]
    fn socket(&self, family: i32, r#type: i32, proto: i32) -> PyResult<Socket> {
        // Held while the socket is made, so that a concurrent close() closes it too.
        let closed = self.1.read().unwrap_or_else(PoisonError::into_inner);
        if *closed {
            return Err(PyValueError::new_err("the wspsan.Provider is closed"));
        }
        let fd = self.0.socket_with(family, r#type, proto).or_raise()?;
        Ok(Socket::new(self.0.clone(), fd))
    }

    /// Close every socket of the provider (SPEC K1 to K3 for each: queued connectors are
    /// refused, blocked accepts wake with CallInterruptedError, peers see FD_CLOSE). The
    /// `Socket` objects stay, closed: `close()` on them is harmless and any other call raises
    /// NotASocketError (WSAENOTSOCK), as for a socket closed by its own `close()`. Afterwards
    /// `socket()` raises ValueError; the device and its statistics remain readable. Closing
    /// twice is harmless; from inside one of the provider's condition functions it raises
    /// OperationInProgressError (SPEC A14) and closes nothing.
    fn close(&self) -> PyResult<()> {
        // With the GIL held throughout, as socket() holds its read lock: close_all never waits
        // for Python code (condition functions run on the accepting threads, with no lock held).
        let mut closed = self.1.write().unwrap_or_else(PoisonError::into_inner);
        self.0.close_all().or_raise()?;
        *closed = true;
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        *self.1.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _ty: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) -> PyResult<()> {
        self.close()
    }

    /// Device-wide statistics (SPEC D3).
    fn stats(&self) -> DeviceStats {
        self.0.device().stats().into()
    }

    /// The fault injector on the device's outgoing fabric messages (setup messages only, never
    /// the TCP fabric's handshake and liveness): its `Fabric`'s when that has faults, its own on
    /// the TCP fabric (seed 0, every knob off until set); None for a device whose connects are
    /// direct calls.
    #[getter]
    fn fabric_faults(&self) -> Option<FaultInjector> {
        self.0.fabric_faults().map(FaultInjector)
    }

    fn __repr__(&self) -> String {
        let d = self.0.device();
        format!("<wspsan.Provider nics={} open_sockets={}>", repr_list(&d.nics()), d.stats().open_sockets)
    }
}

/// A provider's emulated SAN device: NICs, limits and fault switches, all changeable at run
/// time (SPEC D1, D2).
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct Device(wspsan_core::Device);

#[pymethods]
impl Device {
    /// The NIC addresses.
    #[getter]
    fn nics(&self) -> Vec<String> {
        self.0.nics().iter().map(ToString::to_string).collect()
    }

    /// The fabric's liveness interval in seconds (SPEC F7): a peer silent this long is lost, and
    /// an acceptance waits this long for the connector's confirmation. For a device on the TCP
    /// fabric or on a `Fabric` with faults; None for one whose connects are direct calls (alone,
    /// or on a `Fabric` without faults), and setting it there raises InvalidArgumentError.
    #[getter]
    fn liveness(&self) -> Option<f64> {
        self.0.liveness().map(|d| d.as_secs_f64())
    }

    #[setter]
    fn set_liveness(&self, seconds: f64) -> PyResult<()> {
        let d = timeout(Some(seconds))?.unwrap_or_default();
        self.0.set_liveness(d).or_raise()
    }

    /// Add a NIC (an existing one or 0.0.0.0: WSAEINVAL; one another device on the same fabric
    /// owns: WSAEADDRINUSE).
    fn add_nic(&self, address: &str) -> PyResult<()> {
        self.0.add_nic(parse_ip(address)?).or_raise()
    }

    /// Remove a NIC (not a NIC: WSAEADDRNOTAVAIL). Sockets bound to it keep working.
    fn remove_nic(&self, address: &str) -> PyResult<()> {
        self.0.remove_nic(parse_ip(address)?).or_raise()
    }

    /// The current limits.
    #[getter]
    fn limits(&self) -> Limits {
        self.0.limits().into()
    }

    /// Change some limits, by keyword (`max_backlog=8`, `connect_timeout=0.5`, ...). Illegal values
    /// become the nearest legal one (max_backlog 0 -> 1, caller/callee data above 65536 -> 65536).
    #[pyo3(signature = (**changes))]
    fn set_limits(&self, changes: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let mut limits = self.0.limits();
        change_limits(&mut limits, changes)?;
        self.0.set_limits(limits);
        Ok(())
    }

    /// Fault switch: every call fails with WSAENETDOWN, blocked calls wake with it.
    #[getter]
    fn network_down(&self) -> bool {
        self.0.faults().network_down
    }

    #[setter]
    fn set_network_down(&self, on: bool) {
        self.0.set_network_down(on);
    }

    /// Fault switch: socket and pending-request allocation fails with WSAENOBUFS.
    #[getter]
    fn buffer_exhaustion(&self) -> bool {
        self.0.faults().buffer_exhaustion
    }

    #[setter]
    fn set_buffer_exhaustion(&self, on: bool) {
        self.0.set_buffer_exhaustion(on);
    }

    /// Fault switch: a lower descriptor limit (descriptor exhaustion), or None.
    #[getter]
    fn descriptor_limit(&self) -> Option<usize> {
        self.0.faults().descriptor_limit
    }

    #[setter]
    fn set_descriptor_limit(&self, limit: Option<usize>) {
        self.0.set_descriptor_limit(limit);
    }

    /// Seconds after which an unanswered connect is withdrawn (WSAETIMEDOUT), or None.
    #[getter]
    fn connect_timeout(&self) -> Option<f64> {
        self.0.limits().connect_timeout.map(|d| d.as_secs_f64())
    }

    #[setter]
    fn set_connect_timeout(&self, seconds: Option<f64>) -> PyResult<()> {
        self.0.set_connect_timeout(timeout(seconds)?);
        Ok(())
    }

    /// Whether 0.0.0.0 binds to every NIC (SPEC B2); off: WSAEADDRNOTAVAIL.
    #[getter]
    fn wildcard_bind(&self) -> bool {
        self.0.wildcard_bind()
    }

    #[setter]
    fn set_wildcard_bind(&self, on: bool) {
        self.0.set_wildcard_bind(on);
    }

    /// Device-wide statistics (SPEC D3).
    fn stats(&self) -> DeviceStats {
        self.0.stats().into()
    }

    fn __repr__(&self) -> String {
        let f = self.0.faults();
        format!(
            "<wspsan.Device nics={} {} network_down={} buffer_exhaustion={} descriptor_limit={} wildcard_bind={}>",
            repr_list(&self.0.nics()),
            self.limits().__repr__(),
            f.network_down.field_repr(),
            f.buffer_exhaustion.field_repr(),
            f.descriptor_limit.field_repr(),
            self.0.wildcard_bind().field_repr(),
        )
    }
}
