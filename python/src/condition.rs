//! Condition functions written in Python (SPEC A5 to A10, A14), and the QoS they see.

use crate::address::{repr, to_tuple};
use crate::wait::Raised;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes};
use std::net::SocketAddrV4;
use std::sync::{Mutex, PoisonError};
use wspsan_core::{ConditionRequest as CoreRequest, Decision};

/// `wspsan.FlowSpec`, its keyword-only constructor, its repr and its conversions, from the
/// engine's field list.
macro_rules! flowspec {
    ($($(#[$fm:meta])* $f:ident ($w:ident): $t:ty,)*) => {
        /// One direction of a QoS request, as Windows' `FLOWSPEC`.
        #[pyclass(frozen, get_all, eq, module = "wspsan")]
        #[derive(Clone, PartialEq)]
        pub(crate) struct FlowSpec {
            $($f: $t,)*
        }

        #[pymethods]
        impl FlowSpec {
            #[new]
            #[pyo3(signature = (*, $($f = 0),*))]
            #[allow(clippy::too_many_arguments)]
            fn new($($f: $t),*) -> FlowSpec {
                FlowSpec { $($f),* }
            }

            fn __repr__(&self) -> String {
                let fields = [$(format!("{}={}", stringify!($f), self.$f)),*];
                format!("wspsan.FlowSpec({})", fields.join(", "))
            }
        }

        impl From<&FlowSpec> for wspsan_core::FlowSpec {
            fn from(f: &FlowSpec) -> Self {
                wspsan_core::FlowSpec { $($f: f.$f,)* }
            }
        }

        impl From<&wspsan_core::FlowSpec> for FlowSpec {
            fn from(f: &wspsan_core::FlowSpec) -> Self {
                FlowSpec { $($f: f.$f,)* }
            }
        }
    };
}
wspsan_core::for_each_flowspec_field!(flowspec! {});

/// The quality of service a connect asks for (`QOS`); the condition function sees it as
/// `request.qos`.
#[pyclass(frozen, eq, module = "wspsan")]
#[derive(Clone, PartialEq)]
pub(crate) struct Qos(pub(crate) wspsan_core::Qos);

#[pymethods]
impl Qos {
    #[new]
    #[pyo3(signature = (sending=None, receiving=None, provider_specific=b"".to_vec()),
           text_signature = "(sending=None, receiving=None, provider_specific=b'')")]
    fn new(sending: Option<&FlowSpec>, receiving: Option<&FlowSpec>, provider_specific: Vec<u8>) -> Qos {
        Qos(wspsan_core::Qos {
            sending: sending.map(Into::into).unwrap_or_default(),
            receiving: receiving.map(Into::into).unwrap_or_default(),
            provider_specific,
        })
    }

    #[getter]
    fn sending(&self) -> FlowSpec {
        (&self.0.sending).into()
    }

    #[getter]
    fn receiving(&self) -> FlowSpec {
        (&self.0.receiving).into()
    }

    #[getter]
    fn provider_specific<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.provider_specific)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "wspsan.Qos(sending={}, receiving={}, provider_specific={})",
            self.sending().__repr__(),
            self.receiving().__repr__(),
            self.provider_specific(py).repr()?,
        ))
    }
}

/// One pending request as the condition function sees it (SPEC A5). Set `callee_data` to send
/// bytes back to the connector (cut to `callee_data_capacity`).
#[pyclass(module = "wspsan")]
pub(crate) struct ConditionRequest {
    caller: SocketAddrV4,
    callee: SocketAddrV4,
    caller_data: Option<Py<PyBytes>>,
    qos: Option<Py<Qos>>,
    #[pyo3(get)]
    callback_data: Py<PyAny>,
    #[pyo3(get)]
    callee_data_capacity: usize,
    callee_data: Py<PyBytes>,
    /// `*g`: holds 0; any other value makes the answer invalid (SPEC A10).
    #[pyo3(get, set)]
    group: u32,
}

#[pymethods]
impl ConditionRequest {
    /// The connector's `(host, port)` (`lpCallerId`).
    #[getter]
    fn caller_address(&self) -> (String, u16) {
        to_tuple(self.caller)
    }

    /// The local `(host, port)` the request was addressed to (`lpCalleeId`).
    #[getter]
    fn callee_address(&self) -> (String, u16) {
        to_tuple(self.callee)
    }

    /// The caller data, or None when the connector sent none.
    #[getter]
    fn caller_data(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.caller_data.as_ref().map(|b| b.clone_ref(py))
    }

    /// The connector's QoS, or None.
    #[getter]
    fn qos(&self, py: Python<'_>) -> Option<Py<Qos>> {
        self.qos.as_ref().map(|q| q.clone_ref(py))
    }

    /// The bytes that go back to the connector (empty unless set).
    #[getter]
    fn callee_data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.callee_data.clone_ref(py)
    }

    #[setter]
    fn set_callee_data(&mut self, py: Python<'_>, data: Vec<u8>) {
        self.callee_data = PyBytes::new(py, &data).unbind();
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let data = match &self.caller_data {
            Some(b) => b.bind(py).repr()?.to_string(),
            None => "None".into(),
        };
        Ok(format!(
            "<wspsan.ConditionRequest caller_address={} callee_address={} caller_data={data}>",
            repr(self.caller),
            repr(self.callee)
        ))
    }
}

/// The raw answer that stands for a Python value that is not a `CF_*` int: outside
/// {CF_ACCEPT, CF_REJECT, CF_DEFER}, so the engine and the C trampoline of `wspsan.wsp` (which
/// hands the C ABI `to_raw()`) both see an invalid answer (SPEC A10).
const NOT_AN_ANSWER: i32 = i32::MIN;

/// The answer a Python value stands for: an `int` (or `CF` member) is a `CF_*` value, anything
/// else (including `bool`, a likely mistake) is an invalid answer (SPEC A10).
pub(crate) fn decision(value: &Bound<'_, PyAny>) -> Decision {
    if value.is_instance_of::<PyBool>() {
        return Decision::Invalid(NOT_AN_ANSWER);
    }
    match value.extract::<i64>() {
        Ok(v) => i32::try_from(v).map_or(Decision::Invalid(NOT_AN_ANSWER), Decision::from_raw),
        Err(_) => Decision::Invalid(NOT_AN_ANSWER),
    }
}

/// Why an answer is invalid (SPEC A10), for the message of the InvalidArgumentError it causes;
/// None for a valid answer. A mistake such as `return True` then says what was expected.
pub(crate) fn invalid_reason(value: &Bound<'_, PyAny>, group: u32) -> Option<String> {
    if let Decision::Invalid(_) = decision(value) {
        let mut shown = value.repr().map_or_else(|_| "an object without a repr".to_owned(), |r| r.to_string());
        if shown.chars().count() > 80 {
            shown = shown.chars().take(77).collect::<String>() + "...";
        }
        let ty = value.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Some(format!(
            "the condition function returned {shown} ({ty}); expected CF_ACCEPT (0), CF_REJECT (1) or CF_DEFER (2)"
        ));
    }
    (group != 0).then(|| format!("the condition function set request.group to {group}; it must stay 0"))
}

/// One request as the engine or the C ABI hands it to a condition function.
pub(crate) struct Request<'a> {
    pub(crate) caller: SocketAddrV4,
    pub(crate) callee: SocketAddrV4,
    pub(crate) caller_data: Option<&'a [u8]>,
    pub(crate) qos: Option<wspsan_core::Qos>,
    pub(crate) callee_data_capacity: usize,
}

/// What the Python condition answered, with the callee data and group it left in the request.
pub(crate) struct Answer<'py> {
    pub(crate) value: Bound<'py, PyAny>,
    pub(crate) callee_data: Vec<u8>,
    pub(crate) group: u32,
}

/// Call a Python condition with a `ConditionRequest` for `req`.
pub(crate) fn call<'py>(
    py: Python<'py>,
    condition: &Py<PyAny>,
    callback_data: Py<PyAny>,
    req: Request<'_>,
) -> PyResult<Answer<'py>> {
    let request = Py::new(
        py,
        ConditionRequest {
            caller: req.caller,
            callee: req.callee,
            caller_data: req.caller_data.map(|d| PyBytes::new(py, d).unbind()),
            qos: req.qos.map(|q| Py::new(py, Qos(q))).transpose()?,
            callback_data,
            callee_data_capacity: req.callee_data_capacity,
            callee_data: PyBytes::new(py, b"").unbind(),
            group: 0,
        },
    )?;
    let value = condition.bind(py).call1((request.clone_ref(py),))?;
    let r = request.try_borrow(py)?;
    Ok(Answer { value, callee_data: r.callee_data.as_bytes(py).to_vec(), group: r.group })
}

/// Run a Python condition callable for one request of the engine. Called with the GIL released:
/// takes it for the call. A Python exception is kept in `raised` and the request abandoned
/// (it stays at the head of the queue); why an answer is invalid goes to `invalid`.
pub(crate) fn run(
    condition: &Py<PyAny>,
    callback_data: &Py<PyAny>,
    req: &mut CoreRequest<'_>,
    raised: &Raised,
    invalid: &Mutex<Option<String>>,
) -> Decision {
    Python::attach(|py| {
        let view = Request {
            caller: req.caller_address(),
            callee: req.callee_address(),
            caller_data: req.caller_data(),
            qos: req.qos().cloned(),
            callee_data_capacity: req.callee_data_capacity(),
        };
        match call(py, condition, callback_data.clone_ref(py), view) {
            Ok(answer) => {
                req.set_callee_data(&answer.callee_data);
                *req.group_mut() = answer.group;
                if let Some(reason) = invalid_reason(&answer.value, answer.group) {
                    *invalid.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                }
                decision(&answer.value)
            }
            Err(e) => {
                raised.store(e);
                Decision::Abandon
            }
        }
    })
}
