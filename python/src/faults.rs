//! `wspsan.FaultInjector` and `wspsan.FaultStats`: the knobs of a fabric that misbehaves on
//! purpose (delay, loss, copies, reordering, partitions of connection-setup messages), seeded so
//! that a failing scenario replays.

use crate::args::{parse_ip, timeout};
use crate::errors::{OrRaise, to_pyerr};
use crate::records::{FieldRepr, engine_record};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::net::Ipv4Addr;
use wspsan_core::{MessageKind, WsaError};

wspsan_core::for_each_fault_stat!(engine_record! {
    /// Faults a fault injector injected, by kind of fault.
    FaultStats from wspsan_core::FaultStats;
});

/// A message kind by name (`"request"`, `"answer"`, `"confirm"`, `"withdraw"`, `"close"`); None
/// is every kind. Another name is a ValueError.
fn kind(name: Option<&str>) -> PyResult<Option<MessageKind>> {
    name.map(|n| {
        MessageKind::from_name(n).ok_or_else(|| {
            let names: Vec<&str> = MessageKind::ALL.iter().map(|k| k.name()).collect();
            PyValueError::new_err(format!("{n:?} is not a message kind (one of {names:?}, or None for all)"))
        })
    })
    .transpose()
}

/// A device address of a partition: one IPv4 address, not 0.0.0.0 (InvalidArgumentError).
fn device_ip(text: &str) -> PyResult<Ipv4Addr> {
    let ip = parse_ip(text)?;
    if ip.is_unspecified() {
        return Err(to_pyerr(WsaError::Inval, None));
    }
    Ok(ip)
}

/// A fault injector on a fabric's connection-setup messages (requests, answers, confirmations,
/// withdrawals, closes): knobs settable at any time from any thread, every random choice drawn
/// from one seeded generator (the same seed and the same sequence of messages give the same
/// faults), and a counter for each fault injected. Handles of one injector compare equal.
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct FaultInjector(pub(crate) wspsan_core::FaultInjector);

#[pymethods]
impl FaultInjector {
    /// A new injector with every knob off, its random choices drawn from `seed`.
    #[new]
    #[pyo3(signature = (seed=0))]
    fn new(seed: u64) -> FaultInjector {
        FaultInjector(wspsan_core::FaultInjector::new(seed))
    }

    /// Delay every message of `kind` by a time drawn uniformly from `min`..`max` seconds (`max`
    /// omitted: a fixed delay of `min`; 0: no delay). InvalidArgumentError when `min > max`.
    #[pyo3(signature = (kind, min, max=None))]
    fn delay(&self, kind: Option<&str>, min: f64, max: Option<f64>) -> PyResult<()> {
        let k = self::kind(kind)?;
        let lo = timeout(Some(min))?.unwrap_or_default();
        let hi = timeout(Some(max.unwrap_or(min)))?.unwrap_or_default();
        self.0.delay(k, lo, hi).or_raise()
    }

    /// Drop the next `n` messages of `kind` (None: the next `n` messages, whatever their kind).
    #[pyo3(signature = (kind, n=1))]
    fn drop_next(&self, kind: Option<&str>, n: u64) -> PyResult<()> {
        self.0.drop_next(self::kind(kind)?, n);
        Ok(())
    }

    /// Drop each message of `kind` with probability `p` (0 to 1, else InvalidArgumentError).
    fn drop_probability(&self, kind: Option<&str>, p: f64) -> PyResult<()> {
        self.0.drop_probability(self::kind(kind)?, p).or_raise()
    }

    /// Deliver each message of `kind` twice with probability `p` (0 to 1, else InvalidArgumentError).
    fn duplicate_probability(&self, kind: Option<&str>, p: f64) -> PyResult<()> {
        self.0.duplicate_probability(self::kind(kind)?, p).or_raise()
    }

    /// Reorder messages within windows of `window` messages (0 or 1: keep their order).
    fn reorder(&self, window: usize) {
        self.0.reorder(window);
    }

    /// Cut the devices owning addresses `a` and `b` off from each other: every message between
    /// them is lost until `heal()`.
    fn partition(&self, a: &str, b: &str) -> PyResult<()> {
        self.0.partition(device_ip(a)?, device_ip(b)?);
        Ok(())
    }

    /// End the partition between `a` and `b`; with neither, end every partition.
    #[pyo3(signature = (a=None, b=None))]
    fn heal(&self, a: Option<&str>, b: Option<&str>) -> PyResult<()> {
        let between = match (a, b) {
            (None, None) => None,
            (Some(a), Some(b)) => Some((device_ip(a)?, device_ip(b)?)),
            _ => return Err(PyTypeError::new_err("heal() takes both addresses or neither")),
        };
        self.0.heal(between);
        Ok(())
    }

    /// Restart the random choices from `seed`.
    fn reseed(&self, seed: u64) {
        self.0.reseed(seed);
    }

    /// Turn every knob off (the counters and the generator carry on).
    fn clear(&self) {
        self.0.clear();
    }

    /// Whether any knob is on.
    #[getter]
    fn active(&self) -> bool {
        self.0.active()
    }

    /// How many faults were injected so far, by kind of fault.
    fn stats(&self) -> FaultStats {
        self.0.stats().into()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<FaultInjector>().is_ok_and(|o| self.0.same(&o.get().0))
    }

    pub(crate) fn __repr__(&self) -> String {
        format!("<wspsan.FaultInjector active={} {}>", self.0.active().field_repr(), self.stats().__repr__())
    }
}

/// The injector a `Fabric(faults=...)` argument asks for: True (a new one seeded with `seed`),
/// an injector of the caller's, or False/None (none).
pub(crate) fn from_argument(
    faults: Option<&Bound<'_, PyAny>>,
    seed: Option<u64>,
) -> PyResult<Option<wspsan_core::FaultInjector>> {
    let Some(f) = faults.filter(|f| !f.is_none()) else {
        return match seed {
            None => Ok(None),
            Some(_) => Err(PyValueError::new_err("seed needs faults=True")),
        };
    };
    if let Ok(i) = f.cast::<FaultInjector>() {
        return match seed {
            None => Ok(Some(i.get().0.clone())),
            Some(_) => Err(PyValueError::new_err("seed goes with faults=True, not with a FaultInjector of its own")),
        };
    }
    match f.extract::<bool>() {
        Ok(true) => Ok(Some(wspsan_core::FaultInjector::new(seed.unwrap_or(0)))),
        Ok(false) => from_argument(None, seed),
        Err(_) => Err(PyTypeError::new_err("faults is True, False, None or a wspsan.FaultInjector")),
    }
}
