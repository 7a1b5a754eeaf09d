//! Bindings for `fastvrrp_core::engine`: `InstanceSpec`, `Event` and `Engine`.
//! Conversion, GIL release and error mapping only.

use std::time::Duration;

use fastvrrp_core::engine::{self, spec, EngineError, EngineOptions};
use fastvrrp_core::fsm::GratuitousConfig;
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn to_py_err(e: EngineError) -> PyErr {
    match e {
        EngineError::Spec(_) | EngineError::UnknownInstance(_) | EngineError::Duplicate(_) => {
            PyValueError::new_err(e.to_string())
        }
        EngineError::AlreadyRunning | EngineError::Stopped | EngineError::Gone => {
            PyRuntimeError::new_err(e.to_string())
        }
        EngineError::Timeout => PyTimeoutError::new_err(e.to_string()),
        EngineError::Io(io) => PyErr::from(io),
    }
}

fn spec_err(e: spec::SpecError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn u8_in(what: &str, v: i64, lo: i64) -> PyResult<u8> {
    u8::try_from(v)
        .ok()
        .filter(|&b| i64::from(b) >= lo)
        .ok_or_else(|| PyValueError::new_err(format!("{what} {v} out of range {lo}..255")))
}

type VipTuple = (String, i64, Option<String>, Option<String>, Option<String>);

/// A unicast peer: an address, or `(address, min_ttl, max_ttl)`.
#[derive(FromPyObject)]
enum PeerArg {
    WithTtl(String, i64, i64),
    Plain(String),
}

/// One VRRP instance for the engine (immutable; build a new one to change it).
#[pyclass(frozen, module = "fastvrrp._native")]
pub struct InstanceSpec {
    inner: spec::InstanceSpec,
}

#[pymethods]
impl InstanceSpec {
    #[new]
    #[pyo3(signature = (
        *, name, ifname, vrid, version, family, priority, advert_interval, preempt = true,
        preempt_delay = 0.0, start_master = false, auth_type = 0, auth_pass = Vec::new(), vips = Vec::new(),
        unicast_src = None, unicast_peers = Vec::new(), checksum_form = "pseudo", skip_check_adv_addr = false,
        garp_master_delay = 5.0, garp_master_repeat = 5, garp_master_refresh = 0.0, garp_interval = 0.0,
        send_ifname = None, garp_master_refresh_repeat = 1, garp_lower_prio_repeat = None,
        garp_lower_prio_delay = None, lower_prio_no_advert = false, higher_prio_send_advert = false,
        down_timer_adverts = 3, sync_group = None, mcast_group = None, unicast_ttl = 255
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        ifname: String,
        vrid: i64,
        version: i64,
        family: &str,
        priority: i64,
        advert_interval: f64,
        preempt: bool,
        preempt_delay: f64,
        start_master: bool,
        auth_type: i64,
        auth_pass: Vec<u8>,
        vips: Vec<VipTuple>,
        unicast_src: Option<String>,
        unicast_peers: Vec<PeerArg>,
        checksum_form: &str,
        skip_check_adv_addr: bool,
        garp_master_delay: f64,
        garp_master_repeat: u32,
        garp_master_refresh: f64,
        garp_interval: f64,
        send_ifname: Option<String>,
        garp_master_refresh_repeat: u32,
        garp_lower_prio_repeat: Option<u32>,
        garp_lower_prio_delay: Option<f64>,
        lower_prio_no_advert: bool,
        higher_prio_send_advert: bool,
        down_timer_adverts: i64,
        sync_group: Option<String>,
        mcast_group: Option<String>,
        unicast_ttl: i64,
    ) -> PyResult<Self> {
        let version = spec::version(version).map_err(spec_err)?;
        let parse_ip = |s: &str| {
            s.parse()
                .map_err(|_| spec_err(spec::SpecError::Address(s.to_owned())))
        };
        let vips = vips
            .into_iter()
            .map(|(addr, prefix, dev, label, brd)| {
                let prefix = u8_in("prefix of VIP", prefix, 0)?;
                spec::Vip::parse(&addr, prefix, dev, label, brd.as_deref()).map_err(spec_err)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let master_delay =
            spec::seconds("garp_master_delay", garp_master_delay).map_err(spec_err)?;
        let gratuitous = GratuitousConfig {
            master_delay,
            master_repeat: garp_master_repeat,
            master_refresh: spec::seconds("garp_master_refresh", garp_master_refresh)
                .map_err(spec_err)?,
            interval: spec::seconds("garp_interval", garp_interval).map_err(spec_err)?,
            master_refresh_repeat: garp_master_refresh_repeat,
            lower_prio_repeat: garp_lower_prio_repeat.unwrap_or(garp_master_repeat),
            lower_prio_delay: match garp_lower_prio_delay {
                Some(d) => spec::seconds("garp_lower_prio_delay", d).map_err(spec_err)?,
                None => master_delay,
            },
        };
        let inner = spec::InstanceSpec {
            name,
            ifname,
            vrid: u8_in("vrid", vrid, 1)?,
            version,
            family: spec::IpFamily::parse(family).map_err(spec_err)?,
            priority: u8_in("priority", priority, 1)?,
            advert_interval_cs: spec::advert_interval_cs(version, advert_interval)
                .map_err(spec_err)?,
            preempt,
            preempt_delay: spec::seconds("preempt_delay", preempt_delay).map_err(spec_err)?,
            start_master,
            auth: spec::auth(version, auth_type, &auth_pass).map_err(spec_err)?,
            vips,
            unicast_src: unicast_src.as_deref().map(parse_ip).transpose()?,
            unicast_peers: unicast_peers
                .iter()
                .map(|p| match p {
                    PeerArg::Plain(a) | PeerArg::WithTtl(a, _, _) => parse_ip(a),
                })
                .collect::<PyResult<_>>()?,
            unicast_peer_ttl: unicast_peers
                .iter()
                .map(|p| match p {
                    PeerArg::Plain(_) => Ok((0, 255)),
                    PeerArg::WithTtl(_, lo, hi) => {
                        Ok((u8_in("min_ttl", *lo, 0)?, u8_in("max_ttl", *hi, 0)?))
                    }
                })
                .collect::<PyResult<_>>()?,
            checksum_form: spec::checksum_form(checksum_form).map_err(spec_err)?,
            skip_check_adv_addr,
            gratuitous,
            send_ifname,
            lower_prio_no_advert,
            higher_prio_send_advert,
            down_timer_adverts: u8_in("down_timer_adverts", down_timer_adverts, 1)?,
            sync_group,
            mcast_group: mcast_group.as_deref().map(parse_ip).transpose()?,
            unicast_ttl: u8_in("unicast_ttl", unicast_ttl, 1)?,
        };
        inner.validate().map_err(spec_err)?;
        Ok(InstanceSpec { inner })
    }

    /// The instance's name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "InstanceSpec(name={:?}, ifname={:?}, vrid={}, family={:?}, priority={})",
            s.name, s.ifname, s.vrid, s.family, s.priority
        )
    }
}

/// Something the engine reports: a state transition, a fault appearing or clearing, a warning.
#[pyclass(frozen, module = "fastvrrp._native")]
pub struct Event {
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    instance: String,
    #[pyo3(get)]
    old_state: &'static str,
    #[pyo3(get)]
    new_state: &'static str,
    #[pyo3(get)]
    reason: String,
    #[pyo3(get)]
    priority: u8,
    #[pyo3(get)]
    monotonic: f64,
}

#[pymethods]
impl Event {
    fn __repr__(&self) -> String {
        format!(
            "Event(kind={:?}, instance={:?}, old_state={:?}, new_state={:?}, reason={:?}, priority={}, monotonic={:.6})",
            self.kind, self.instance, self.old_state, self.new_state, self.reason, self.priority, self.monotonic
        )
    }
}

impl From<engine::Event> for Event {
    fn from(e: engine::Event) -> Self {
        Event {
            kind: e.kind,
            instance: e.instance,
            old_state: e.old_state,
            new_state: e.new_state,
            reason: e.reason,
            priority: e.priority,
            monotonic: e.monotonic_ns as f64 / 1e9,
        }
    }
}

/// The VRRP engine: a Rust thread that owns the sockets and the clock and runs the state machines
/// without the GIL.
#[pyclass(frozen, module = "fastvrrp._native")]
pub struct Engine {
    inner: engine::Engine,
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (*, rt_priority = None, no_swap = false, nice = None, cpu_affinity = None))]
    fn new(
        py: Python<'_>,
        rt_priority: Option<i64>,
        no_swap: bool,
        nice: Option<i64>,
        cpu_affinity: Option<Vec<i64>>,
    ) -> PyResult<Self> {
        let rt_priority = rt_priority
            .map(|p| u8_in("rt_priority", p, 1))
            .transpose()?;
        if rt_priority.is_some_and(|p| p > 99) {
            return Err(PyValueError::new_err("rt_priority out of range 1..99"));
        }
        let nice = nice
            .map(|n| {
                i8::try_from(n)
                    .ok()
                    .filter(|n| (-20..=19).contains(n))
                    .ok_or_else(|| PyValueError::new_err(format!("nice {n} out of range -20..19")))
            })
            .transpose()?;
        let cpu_affinity = cpu_affinity
            .map(|cpus| {
                cpus.into_iter()
                    .map(|c| {
                        u16::try_from(c).ok().filter(|&c| c < 1024).ok_or_else(|| {
                            PyValueError::new_err(format!("CPU {c} out of range 0..1023"))
                        })
                    })
                    .collect::<PyResult<Vec<_>>>()
            })
            .transpose()?;
        let options = EngineOptions {
            rt_priority,
            no_swap,
            nice,
            cpu_affinity,
        };
        // The engine thread is spawned here and inherits this thread's network namespace.
        let inner = py
            .detach(|| engine::Engine::new(options))
            .map_err(to_py_err)?;
        Ok(Engine { inner })
    }

    /// Add an instance, before or after `start`. A missing interface gives a FAULT event.
    fn add_instance(&self, py: Python<'_>, spec: &InstanceSpec) -> PyResult<()> {
        let spec = spec.inner.clone();
        py.detach(|| self.inner.add_instance(spec))
            .map_err(to_py_err)
    }

    /// Replace instance `name`'s spec (reload) keeping its state: a master keeps its role, its
    /// VIPs are diffed and the new ones announced. Changes the FSM cannot take in place (interval,
    /// preempt, ...) make a master hand over (priority 0) and come back as at startup.
    fn update_instance(&self, py: Python<'_>, name: &str, spec: &InstanceSpec) -> PyResult<()> {
        let spec = spec.inner.clone();
        py.detach(|| self.inner.update_instance(name, spec))
            .map_err(to_py_err)
    }

    /// Remove an instance: a master sends priority 0 and removes its VIPs.
    fn remove_instance(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.inner.remove_instance(name))
            .map_err(to_py_err)
    }

    /// Start the instances (the engine thread runs from construction).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.start()).map_err(to_py_err)
    }

    /// A file descriptor that is readable while events are pending.
    fn event_fd(&self) -> i32 {
        self.inner.event_fd()
    }

    /// Take the pending events (never blocks).
    fn events(&self, py: Python<'_>) -> Vec<Event> {
        py.detach(|| self.inner.events())
            .into_iter()
            .map(Event::from)
            .collect()
    }

    /// Set an instance's effective priority (trackers' result).
    fn set_priority(&self, py: Python<'_>, name: &str, priority: i64) -> PyResult<()> {
        let priority = u8_in("priority", priority, 0)?;
        py.detach(|| self.inner.set_priority(name, priority))
            .map_err(to_py_err)
    }

    /// Raise or clear a fault from Python (trackers, sync groups).
    #[pyo3(signature = (name, fault, reason = ""))]
    fn set_fault(&self, py: Python<'_>, name: &str, fault: bool, reason: &str) -> PyResult<()> {
        py.detach(|| self.inner.set_fault(name, fault, reason))
            .map_err(to_py_err)
    }

    /// keepalived's JSON: one `{"data": {...}, "stats": {...}}` per instance.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let all = py.detach(|| self.inner.status()).map_err(to_py_err)?;
        let out = PyList::empty(py);
        for s in all {
            let data = PyDict::new(py);
            data.set_item("iname", &s.iname)?;
            data.set_item("ifp_ifname", &s.ifname)?;
            data.set_item("vrid", s.vrid)?;
            data.set_item("state", s.state)?;
            data.set_item("wantstate", s.wantstate)?;
            data.set_item("base_priority", s.base_priority)?;
            data.set_item("effective_priority", s.effective_priority)?;
            data.set_item("adver_int", s.adver_int)?;
            data.set_item("master_adver_int", s.master_adver_int)?;
            data.set_item("vips", &s.vips)?;
            data.set_item("last_transition", s.last_transition)?;
            data.set_item("master_addr", s.master_addr.map(|a| a.to_string()))?;
            let extra = PyDict::new(py);
            for (k, v) in &s.engine {
                extra.set_item(*k, *v)?;
            }
            data.set_item("engine", extra)?;
            let stats = PyDict::new(py);
            for (k, v) in &s.stats {
                stats.set_item(*k, *v)?;
            }
            let entry = PyDict::new(py);
            entry.set_item("data", data)?;
            entry.set_item("stats", stats)?;
            out.append(entry)?;
        }
        Ok(out)
    }

    /// Stop: masters send priority 0 and remove their VIPs; joins the thread.
    #[pyo3(signature = (timeout = 2.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = Duration::try_from_secs_f64(timeout).map_err(|_| {
            PyValueError::new_err(format!("timeout {timeout} is not a valid duration"))
        })?;
        py.detach(|| self.inner.stop(timeout)).map_err(to_py_err)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<InstanceSpec>()?;
    m.add_class::<Event>()?;
    m.add_class::<Engine>()?;
    Ok(())
}
