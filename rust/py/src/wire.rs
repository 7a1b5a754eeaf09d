//! Bindings for `fastvrrp_core::wire`: `parse_advert`, `build_advert`, `Advert`, `WireError`, and the GARP / NA
//! frame builders. Conversion and error mapping only. The GIL is kept: a parse takes tens of nanoseconds, less
//! than releasing and re-taking it would.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::hash::{DefaultHasher, Hash, Hasher};

use fastvrrp_core::wire::{
    self, arp, ndisc,
    vrrp::{self, AdvertParams, Auth, AuthType, ChecksumForm, Family, Version},
    MacAddr,
};
use pyo3::exceptions::PyValueError;
use pyo3::impl_::extract_argument::argument_extraction_error;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString, PyTuple};
use pyo3::{create_exception, intern};

create_exception!(
    fastvrrp._native,
    WireError,
    PyValueError,
    "A VRRP advertisement failed a receive check. `.reason` is a short stable string (\"length\", \"version\", \
     \"checksum\", ...), `.stat` the keepalived stats counter it counts under, or None."
);

fn wire_error(py: Python<'_>, e: vrrp::Error) -> PyErr {
    let err = WireError::new_err(e.to_string());
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail short of memory exhaustion.
    let _ = value.setattr(intern!(py, "reason"), e.reason());
    let _ = value.setattr(intern!(py, "stat"), e.keepalived_stat());
    err
}

/// Inlined, so the address is built where it is used: returned through memory from a call, its
/// byte-aligned fields were stored and reloaded in different widths, which stalls store forwarding.
#[inline(always)]
fn parse_ip(s: &str, what: &str) -> PyResult<IpAddr> {
    // The dotted-quad parser rejects IPv6 text at its first hex letter or colon, so trying it first costs
    // IPv6 little and spares both a scan for ':'.
    if let Some(a) = parse_dotted_quad(s.as_bytes()) {
        return Ok(IpAddr::V4(a));
    }
    if let Some(a) = parse_ipv6_groups(s.as_bytes()) {
        return Ok(IpAddr::V6(a));
    }
    parse_ip_std(s, what)
}

/// An address from the fast parsers as plain integers, which stay in registers; `parse_advert` makes the
/// IpAddr only where it is used (see `parse_ip`).
#[derive(Clone, Copy)]
struct IpBits {
    v6: bool,
    bits: u128,
}

impl IpBits {
    #[inline(always)]
    fn parse(s: &str) -> Option<IpBits> {
        if let Some(a) = parse_dotted_quad(s.as_bytes()) {
            return Some(IpBits {
                v6: false,
                bits: u128::from(a.to_bits()),
            });
        }
        parse_ipv6_groups(s.as_bytes()).map(|a| IpBits {
            v6: true,
            bits: a.to_bits(),
        })
    }

    #[inline(always)]
    fn ip(self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.bits))
        } else {
            // A v4 address was stored from a u32.
            IpAddr::V4(Ipv4Addr::from(self.bits as u32))
        }
    }
}

/// What the fast parsers decline: std decides.
#[cold]
#[inline(never)]
fn parse_ip_std(s: &str, what: &str) -> PyResult<IpAddr> {
    s.parse()
        .map_err(|_| PyValueError::new_err(format!("{what}: not an IP address: {s:?}")))
}

/// Hex digit values by byte; 0xff for anything else. One load instead of a digit-or-letter branch per
/// character (fewer instructions, and digits and letters alternate unpredictably in addresses).
static HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' => d - b'A' + 10,
            _ => 0xff,
        };
        c += 1;
    }
    t
};

/// The common case of IPv6 text for `parse_ip`: hex groups with at most one `::`, no embedded
/// IPv4 and no zone, in one pass over the bytes. Anything else returns None and goes to the std
/// parser, so what is accepted stays exactly what std accepts.
#[inline]
fn parse_ipv6_groups(s: &[u8]) -> Option<Ipv6Addr> {
    if s.len() < 2 || s.len() > 39 {
        return None;
    }
    // Groups are shifted into integers, not stored to an array: reading an array of 16-bit stores back
    // as wider words stalls store forwarding, which cost more than the whole parse.
    let (mut head, mut tail) = (0u128, 0u128);
    let (mut nh, mut nt) = (0u32, 0u32);
    let mut gap = false;
    let (mut v, mut digits) = (0u32, 0u32);
    let mut rest = s;
    if let [b':', after @ ..] = s {
        if after.first() != Some(&b':') {
            return None;
        }
        gap = true;
        rest = &after[1..];
    }
    for &c in rest {
        let h = HEX[usize::from(c)];
        if h < 16 {
            // A group's digit count is checked when it ends, off this per-digit path; extra digits
            // shift out of the u32 harmlessly, as the group is refused then.
            v = (v << 4) | u32::from(h);
            digits += 1;
        } else if c == b':' {
            if digits > 4 {
                return None;
            }
            if digits == 0 {
                // Only right after another ':' (a leading one is handled above): a "::".
                if gap {
                    return None;
                }
                gap = true;
            } else {
                if gap {
                    tail = (tail << 16) | u128::from(v);
                    nt += 1;
                } else {
                    head = (head << 16) | u128::from(v);
                    nh += 1;
                }
                if nh + nt > 8 {
                    return None;
                }
                v = 0;
                digits = 0;
            }
        } else {
            return None;
        }
    }
    if digits > 4 {
        return None;
    }
    if digits > 0 {
        if gap {
            tail = (tail << 16) | u128::from(v);
            nt += 1;
        } else {
            head = (head << 16) | u128::from(v);
            nh += 1;
        }
    } else if !gap || nt > 0 {
        // Ends in a single ':' (only a trailing "::" leaves no group after the gap).
        return None;
    }
    if !gap {
        return (nh == 8).then(|| Ipv6Addr::from(head));
    }
    // "::" stands for at least one zero group.
    if nh + nt > 7 {
        return None;
    }
    // nh <= 7 here, so the shift stays below 128 bits; with nh == 0, head is 0 anyway.
    let head = head.checked_shl(16 * (8 - nh)).unwrap_or(0);
    Some(Ipv6Addr::from(head | tail))
}

#[inline]
fn dec_digit(c: Option<&u8>) -> Option<u32> {
    c.map(|c| c.wrapping_sub(b'0'))
        .filter(|d| *d <= 9)
        .map(u32::from)
}

/// The common case of `parse_ip`, several times faster than `core::net`'s general parser: four
/// decimal octets without leading zeros. Anything else returns None and goes to the std parser,
/// so what is accepted stays exactly what std accepts.
#[inline]
fn parse_dotted_quad(s: &[u8]) -> Option<Ipv4Addr> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    // Octets are shifted into a u32 rather than stored to an array (see parse_ipv6_groups).
    let mut addr = 0u32;
    let mut i = 0;
    for k in 0..4 {
        if k > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let d0 = dec_digit(s.get(i))?;
        i += 1;
        let mut value = d0;
        if let Some(d1) = dec_digit(s.get(i)) {
            // A leading zero, which std rejects.
            if d0 == 0 {
                return None;
            }
            value = value * 10 + d1;
            i += 1;
            if let Some(d2) = dec_digit(s.get(i)) {
                value = value * 10 + d2;
                i += 1;
            }
        }
        if value > 255 {
            return None;
        }
        addr = (addr << 8) | value;
    }
    (i == s.len()).then_some(Ipv4Addr::from(addr))
}

/// Interned "pseudo"/"plain" for the checksum_form attribute.
fn form_str(py: Python<'_>, form: Option<ChecksumForm>) -> Option<Bound<'_, PyString>> {
    form.map(|f| match f {
        ChecksumForm::Pseudo => intern!(py, "pseudo").clone(),
        ChecksumForm::Plain => intern!(py, "plain").clone(),
    })
}

/// What equality and hashing of an Advert look at: every field.
type AdvertKey<'a> = (
    u8,
    u8,
    u8,
    u16,
    Family,
    [u128; 2],
    u8,
    Option<&'a [u8]>,
    u8,
    &'a [u8],
    Option<ChecksumForm>,
);

/// A received, validated VRRP advertisement (immutable).
#[pyclass(frozen, freelist = 64, module = "fastvrrp._native", name = "Advert")]
pub struct Advert {
    version: u8,
    vrid: u8,
    priority: u8,
    interval_cs: u16,
    family: Family,
    /// The address list's bytes, left-aligned big-endian in two u128 when it fits (up to 32 bytes: two
    /// IPv6 or eight IPv4 addresses), else in `addr_more`. Loaded through registers: a byte copy into an
    /// array, then the move of the Advert, stalled store forwarding; and holding no Python reference
    /// keeps deallocation free of pyo3's reference-count bookkeeping.
    addrs: [u128; 2],
    addr_len: u8,
    addr_more: Option<Box<[u8]>>,
    auth_type: u8,
    auth_data: [u8; 8],
    auth_len: u8,
    checksum_form: Option<ChecksumForm>,
}

/// Up to 16 bytes as a left-aligned big-endian u128, without going through memory.
#[inline(always)]
fn be_chunk(b: &[u8]) -> u128 {
    if let Ok(a) = <[u8; 16]>::try_from(b) {
        return u128::from_be_bytes(a);
    }
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return u128::from(u32::from_be_bytes(a)) << 96;
    }
    let v = b.iter().fold(0u128, |v, x| (v << 8) | u128::from(*x));
    // len <= 16 here; with len 0 the shift is 128 bits and v is 0 anyway.
    v.checked_shl(8 * (16 - b.len().min(16)) as u32).unwrap_or(0)
}

/// An Advert's address-list bytes, laid out for reading.
struct AddrBuf<'a> {
    inline: [u8; 32],
    len: usize,
    more: Option<&'a [u8]>,
}

impl AddrBuf<'_> {
    fn as_slice(&self) -> &[u8] {
        self.more.unwrap_or(&self.inline[..self.len.min(32)])
    }
}

impl Advert {
    fn from_repr(r: &vrrp::Repr<'_>) -> Advert {
        let (family, bytes) = match r.addresses {
            vrrp::AddressList::Wire { family, bytes } => (family, bytes),
            // parse only returns wire lists.
            vrrp::AddressList::Ips(_) => (Family::V4, &[][..]),
        };
        let (addrs, addr_more) = if bytes.len() <= 32 {
            let (a, b) = bytes.split_at(bytes.len().min(16));
            ([be_chunk(a), be_chunk(b)], None)
        } else {
            ([0, 0], Some(Box::from(bytes)))
        };
        let auth_len = if r.version == Version::V2 {
            // Trailing NULs are padding: drop them, so build(auth_data=...) of what we report gives the bytes back.
            r.auth
                .data
                .iter()
                .rposition(|b| *b != 0)
                .map_or(0, |i| i + 1)
        } else {
            0
        };
        Advert {
            version: r.version as u8,
            vrid: r.vrid,
            priority: r.priority,
            interval_cs: r.interval_cs,
            family,
            addrs,
            // Only read when addr_more is None, that is when it is at most 32.
            addr_len: bytes.len().min(32) as u8,
            addr_more,
            auth_type: r.auth.kind as u8,
            auth_data: r.auth.data,
            auth_len: auth_len as u8,
            checksum_form: r.checksum_form,
        }
    }

    fn addr_buf(&self) -> AddrBuf<'_> {
        let mut inline = [0u8; 32];
        inline[..16].copy_from_slice(&self.addrs[0].to_be_bytes());
        inline[16..].copy_from_slice(&self.addrs[1].to_be_bytes());
        AddrBuf {
            inline,
            len: usize::from(self.addr_len),
            more: self.addr_more.as_deref(),
        }
    }

    fn key(&self) -> AdvertKey<'_> {
        (
            self.version,
            self.vrid,
            self.priority,
            self.interval_cs,
            self.family,
            self.addrs,
            self.addr_len,
            self.addr_more.as_deref(),
            self.auth_type,
            &self.auth_data[..usize::from(self.auth_len)],
            self.checksum_form,
        )
    }

    /// The addresses, in wire order.
    fn address_list(&self) -> Vec<IpAddr> {
        let buf = self.addr_buf();
        wire::AddressList::Wire {
            family: self.family,
            bytes: buf.as_slice(),
        }
        .iter()
        .collect()
    }
}

/// Each octet's decimal text, left-aligned in the first three bytes, and its length in the fourth: an
/// address is four fixed-size copies, without a branch per digit.
static OCTET_TEXT: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut o = 0;
    while o < 256 {
        let (h, d, u) = ((o / 100) as u8, ((o / 10) % 10) as u8, (o % 10) as u8);
        t[o] = if o >= 100 {
            [b'0' + h, b'0' + d, b'0' + u, 3]
        } else if o >= 10 {
            [b'0' + d, b'0' + u, 0, 2]
        } else {
            [b'0' + u, 0, 0, 1]
        };
        o += 1;
    }
    t
};

/// Text of an address, formatted on the stack (no heap String per address).
struct AddrText {
    buf: [u8; 48],
    len: usize,
}

impl AddrText {
    fn new(addr: IpAddr) -> AddrText {
        match addr {
            IpAddr::V4(a) => AddrText::v4(a.octets()),
            // Longest IPv6 text is 45 bytes (IPv4-mapped with a full prefix), within the buffer.
            IpAddr::V6(a) => {
                let mut t = AddrText {
                    buf: [0; 48],
                    len: 0,
                };
                let _ = fmt::Write::write_fmt(&mut t, format_args!("{a}"));
                t
            }
        }
    }

    #[inline]
    fn v4(octets: [u8; 4]) -> AddrText {
        let mut t = AddrText {
            buf: [0; 48],
            len: 0,
        };
        // At most 15 bytes are used; each copy writes 3 from an offset of at most 12 (within the 48).
        let mut n = 0;
        for (i, o) in octets.into_iter().enumerate() {
            let text = OCTET_TEXT[usize::from(o)];
            if let Some(slot) = t.buf.get_mut(n..n + 3) {
                slot.copy_from_slice(&text[..3]);
            }
            n += usize::from(text[3]);
            if i < 3 {
                if let Some(slot) = t.buf.get_mut(n) {
                    *slot = b'.';
                }
                n += 1;
            }
        }
        t.len = n;
        t
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len.min(48)]).unwrap_or("")
    }
}

impl fmt::Write for AddrText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[pymethods]
impl Advert {
    /// VRRP version: 2 or 3.
    #[getter]
    fn version(&self) -> u8 {
        self.version
    }

    /// Virtual router ID.
    #[getter]
    fn vrid(&self) -> u8 {
        self.vrid
    }

    /// Sender's priority (0: the master is leaving).
    #[getter]
    fn priority(&self) -> u8 {
        self.priority
    }

    /// Advertisement interval in seconds (v2: whole seconds; v3: centisecond steps).
    #[getter]
    fn interval(&self) -> f64 {
        f64::from(self.interval_cs) / 100.0
    }

    /// The address list, as strings, in wire order.
    #[getter]
    fn addresses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        // Built on each access, from the bytes: most callers never read it.
        let buf = self.addr_buf();
        let bytes = buf.as_slice();
        match self.family {
            Family::V4 => PyTuple::new(
                py,
                bytes.chunks_exact(4).map(|c| {
                    let octets = [c[0], c[1], c[2], c[3]];
                    PyString::new(py, AddrText::v4(octets).as_str())
                }),
            ),
            Family::V6 => PyTuple::new(
                py,
                bytes.chunks_exact(16).map(|c| {
                    // chunks_exact gives 16 bytes.
                    let octets: [u8; 16] = c.try_into().unwrap_or([0; 16]);
                    PyString::new(py, AddrText::new(IpAddr::V6(octets.into())).as_str())
                }),
            ),
        }
    }

    /// v2 auth type (0 none, 1 PASS, 2 AH); 0 for v3.
    #[getter]
    fn auth_type(&self) -> u8 {
        self.auth_type
    }

    /// v2 authentication data without its NUL padding; b"" for v3.
    #[getter]
    fn auth_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.auth_data[..usize::from(self.auth_len)])
    }

    /// v3: "pseudo" or "plain", the checksum form that verified; None for v2.
    #[getter]
    fn checksum_form<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        form_str(py, self.checksum_form)
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.key() == other.key()
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.key().hash(&mut h);
        h.finish()
    }

    fn __repr__(&self) -> String {
        let addrs: Vec<String> = self
            .address_list()
            .into_iter()
            .map(|a| format!("'{a}'"))
            .collect();
        let tuple = if addrs.len() == 1 {
            format!("({},)", addrs[0])
        } else {
            format!("({})", addrs.join(", "))
        };
        let data: String = self.auth_data[..usize::from(self.auth_len)]
            .iter()
            .map(|b| match *b {
                b'\'' | b'\\' => format!("\\{}", char::from(*b)),
                0x20..=0x7e => char::from(*b).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect();
        let form = self
            .checksum_form
            .map_or("None".to_owned(), |f| format!("'{}'", f.as_str()));
        format!(
            "Advert(version={}, vrid={}, priority={}, interval={:?}, addresses={tuple}, auth_type={}, \
             auth_data=b'{data}', checksum_form={form})",
            self.version,
            self.vrid,
            self.priority,
            f64::from(self.interval_cs) / 100.0,
            self.auth_type,
        )
    }
}

#[inline]
fn expected_auth(auth_type: Option<u8>, auth_data: Option<&[u8]>) -> PyResult<Option<Auth>> {
    let Some(t) = auth_type else {
        if auth_data.is_some() {
            return Err(PyValueError::new_err("auth_data needs auth_type"));
        }
        return Ok(None);
    };
    let kind =
        AuthType::from_u8(t).ok_or_else(|| PyValueError::new_err("auth_type must be 0, 1 or 2"))?;
    let data = auth_data.unwrap_or(b"");
    if data.len() > vrrp::AUTH_DATA_LEN {
        return Err(PyValueError::new_err("auth_data is at most 8 bytes"));
    }
    // Gathered in a register, not copied into the array: a short memcpy followed by the array's 8-byte
    // load stalled store forwarding (a fifth of this function's time).
    let key = data
        .iter()
        .rev()
        .fold(0u64, |key, b| (key << 8) | u64::from(*b));
    Ok(Some(Auth {
        kind,
        data: key.to_le_bytes(),
    }))
}

/// An argument's text: an exact `str` is recognised by its type pointer (the subclass-aware check is a
/// call under abi3); anything else goes through the same cast, error and note as pyo3's `&str` argument.
#[inline(always)]
fn str_arg<'a>(obj: &'a Bound<'_, PyAny>, name: &str) -> PyResult<&'a str> {
    let text = match obj.cast_exact::<PyString>() {
        Ok(s) => s.to_str(),
        Err(_) => obj
            .cast::<PyString>()
            .map_err(PyErr::from)
            .and_then(|s| s.to_str()),
    };
    text.map_err(|e| argument_extraction_error(obj.py(), name, e))
}

/// `str_arg` for `bytes`.
#[inline(always)]
fn bytes_arg<'a, 'py>(obj: &'a Bound<'py, PyAny>, name: &str) -> PyResult<&'a Bound<'py, PyBytes>> {
    match obj.cast_exact::<PyBytes>() {
        Ok(b) => Ok(b),
        Err(_) => obj
            .cast::<PyBytes>()
            .map_err(|e| argument_extraction_error(obj.py(), name, e.into())),
    }
}

/// A float argument. An exact `int` (the usual `interval=1`) is read as an integer: through `float()` it would
/// allocate a float object first. Anything else goes through pyo3's `f64` extraction and its errors.
#[inline(always)]
fn float_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if let Ok(i) = obj.cast_exact::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            // Interval-sized integers are exact in f64; larger ones round, as float() would.
            return Ok(v as f64);
        }
    }
    obj.extract::<f64>()
        .map_err(|e| argument_extraction_error(obj.py(), name, e))
}

/// Parse and validate a VRRP advertisement (the IP payload, without the IP header). `src`/`dst` are the IP
/// header's addresses (v3 checksums cover them). With `auth_type` (and `auth_data`, the key) a v2 advert must
/// carry that authentication; without, it is not checked. Raises WireError (a ValueError) on any failed check.
#[pyfunction]
#[pyo3(signature = (payload, src, dst, *, auth_type = None, auth_data = None))]
fn parse_advert(
    py: Python<'_>,
    payload: &Bound<'_, PyAny>,
    src: &Bound<'_, PyAny>,
    dst: &Bound<'_, PyAny>,
    auth_type: Option<&Bound<'_, PyAny>>,
    auth_data: Option<&Bound<'_, PyAny>>,
) -> PyResult<Advert> {
    // Converted here, in argument order, so errors are what pyo3 would raise for typed arguments.
    let payload = bytes_arg(payload, "payload")?;
    let (src, dst) = (str_arg(src, "src")?, str_arg(dst, "dst")?);
    let auth_type = auth_type
        .map(|a| a.extract::<u8>())
        .transpose()
        .map_err(|e| argument_extraction_error(payload.py(), "auth_type", e))?;
    let auth_data = auth_data
        .map(|a| bytes_arg(a, "auth_data").map(|b| b.as_bytes()))
        .transpose()?;
    let (src, dst) = match (IpBits::parse(src), IpBits::parse(dst)) {
        (Some(s), Some(d)) => (s.ip(), d.ip()),
        _ => (parse_ip(src, "src")?, parse_ip(dst, "dst")?),
    };
    let expected = expected_auth(auth_type, auth_data)?;
    let bytes = payload.as_bytes();
    match vrrp::parse(bytes, src, dst, expected.as_ref()) {
        Ok(r) => Ok(Advert::from_repr(&r)),
        Err(e) => Err(wire_error(py, e)),
    }
}

fn to_u8(v: i64, what: &str, min: i64) -> PyResult<u8> {
    u8::try_from(v)
        .ok()
        .filter(|x| i64::from(*x) >= min)
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be {min}..255, got {v}")))
}

/// Addresses held on the stack by `build_advert`; longer lists (rare: keepalived warns past 20) go to the heap.
const INLINE_ADDRESSES: usize = 16;

/// One address of `build`'s list: an exact `str` is read in place; anything else (an `ipaddress` object, say)
/// through its `str()`, as before.
#[inline(always)]
fn address_item(item: &Bound<'_, PyAny>) -> PyResult<IpAddr> {
    match item.cast_exact::<PyString>() {
        Ok(s) => parse_ip(s.to_str()?, "addresses"),
        Err(_) => parse_ip(item.str()?.to_str()?, "addresses"),
    }
}

/// Parse `build`'s address list into `inline` when it fits, else into `heap`, and return the addresses.
/// An exact list or tuple is read by index; any other object goes through pyo3's sequence extraction
/// (its errors: a `str` is refused, a non-sequence is a TypeError).
fn address_list<'a>(
    addresses: &Bound<'_, PyAny>,
    inline: &'a mut [IpAddr; INLINE_ADDRESSES],
    heap: &'a mut Vec<IpAddr>,
) -> PyResult<&'a [IpAddr]> {
    let mut push = |i: usize, item: &Bound<'_, PyAny>| -> PyResult<()> {
        let ip = address_item(item)?;
        match inline.get_mut(i) {
            Some(slot) if heap.is_empty() => *slot = ip,
            _ => {
                if heap.is_empty() {
                    heap.extend_from_slice(&inline[..]);
                }
                heap.push(ip);
            }
        }
        Ok(())
    };
    let n = if let Ok(list) = addresses.cast_exact::<PyList>() {
        // Indexed, not iterated: a list mutated by an address's __str__ cannot make this read out of bounds.
        let mut i = 0;
        while i < list.len() {
            push(i, &list.get_item(i)?)?;
            i += 1;
        }
        i
    } else if let Ok(tuple) = addresses.cast_exact::<PyTuple>() {
        for (i, item) in tuple.iter().enumerate() {
            push(i, &item)?;
        }
        tuple.len()
    } else {
        let items: Vec<Bound<'_, PyAny>> = addresses
            .extract()
            .map_err(|e| argument_extraction_error(addresses.py(), "addresses", e))?;
        for (i, item) in items.iter().enumerate() {
            push(i, item)?;
        }
        items.len()
    };
    Ok(if n <= INLINE_ADDRESSES {
        &inline[..n]
    } else {
        &heap[..]
    })
}

/// Build a VRRP advertisement payload (no IP header) from simple values: `interval` in seconds (v2 whole
/// seconds, v3 centisecond steps up to 40.95), `addresses` of the family of `src`/`dst`, v2 auth, and the v3 IPv4
/// checksum form ("pseudo", the default and keepalived's, or "plain"; ignored for v2). Raises ValueError on
/// values that cannot be sent.
#[pyfunction]
#[pyo3(signature = (version, vrid, priority, interval, addresses, src, dst, auth_type = 0, auth_data = None,
                    checksum_form = None),
       text_signature = "(version, vrid, priority, interval, addresses, src, dst, auth_type=0, auth_data=None, \
                          checksum_form='pseudo')")]
#[allow(clippy::too_many_arguments)]
fn build_advert<'py>(
    py: Python<'py>,
    version: i64,
    vrid: i64,
    priority: i64,
    interval: &Bound<'py, PyAny>,
    addresses: &Bound<'py, PyAny>,
    src: &Bound<'py, PyAny>,
    dst: &Bound<'py, PyAny>,
    auth_type: i64,
    auth_data: Option<&Bound<'py, PyAny>>,
    checksum_form: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    // Converted in argument order, so errors are what pyo3 would raise for typed arguments.
    let interval = float_arg(interval, "interval")?;
    let (src, dst) = (str_arg(src, "src")?, str_arg(dst, "dst")?);
    let auth_data = auth_data
        .map(|a| bytes_arg(a, "auth_data").map(|b| b.as_bytes()))
        .transpose()?;
    let checksum_form = checksum_form
        .map(|f| str_arg(f, "checksum_form"))
        .transpose()?;
    let version = match version {
        2 => Version::V2,
        3 => Version::V3,
        _ => {
            return Err(PyValueError::new_err(format!(
                "version must be 2 or 3, got {version}"
            )))
        }
    };
    let vrid = to_u8(vrid, "vrid", 1)?;
    let priority = to_u8(priority, "priority", 0)?;
    let x = interval * 100.0;
    // The nearest integer for every value the checks below accept (within 1e-6 of an integer from 1 up),
    // without a libm call; the cast saturates, and NaN becomes 0, which the range check refuses.
    let cs = (x + 0.5) as i64;
    if !x.is_finite() || !(1..=65535).contains(&cs) || (x - cs as f64).abs() > 1e-6 {
        return Err(PyValueError::new_err(format!(
            "interval must be a positive multiple of 0.01 s, got {interval}"
        )));
    }
    // The range check above bounds cs to u16.
    let interval_cs = cs as u16;
    let mut inline = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); INLINE_ADDRESSES];
    let mut heap = Vec::new();
    let ips = address_list(addresses, &mut inline, &mut heap)?;
    let auth_type = u8::try_from(auth_type)
        .ok()
        .and_then(AuthType::from_u8)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "auth_type must be 0 (none), 1 (PASS) or 2 (AH), got {auth_type}"
            ))
        })?;
    let auth = expected_auth(Some(auth_type as u8), auth_data)?.unwrap_or(Auth::NONE);
    let checksum_form = match checksum_form {
        Some("pseudo") | None => ChecksumForm::Pseudo,
        Some("plain") => ChecksumForm::Plain,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "checksum_form must be 'pseudo', 'plain' or None, got {other:?}"
            )))
        }
    };
    let params = AdvertParams {
        version,
        vrid,
        priority,
        interval_cs,
        addresses: ips,
        auth,
        checksum_form,
        src: parse_ip(src, "src")?,
        dst: parse_ip(dst, "dst")?,
    };
    // Written in place into the new bytes object; its length is known up front. A list of mixed families
    // has no family: any length will do, as build refuses it before writing.
    let family = ips.first().map_or(Family::V4, Family::of);
    let len = vrrp::message_len(version, family, ips.len());
    PyBytes::new_with(py, len, |buf| {
        vrrp::build(buf, &params)
            .map(|_| ())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    })
}

fn parse_mac(s: &str) -> PyResult<MacAddr> {
    let err = || PyValueError::new_err(format!("not a MAC address: {s:?}"));
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut mac {
        let p = parts.next().ok_or_else(err)?;
        if p.is_empty() || p.len() > 2 {
            return Err(err());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
    }
    if parts.next().is_some() {
        return Err(err());
    }
    Ok(mac)
}

/// A gratuitous ARP request Ethernet frame announcing `vip` at `mac` ("aa:bb:cc:dd:ee:ff").
#[pyfunction]
fn build_garp<'py>(py: Python<'py>, mac: &str, vip: &str) -> PyResult<Bound<'py, PyBytes>> {
    let vip: Ipv4Addr = vip
        .parse()
        .map_err(|_| PyValueError::new_err(format!("not an IPv4 address: {vip:?}")))?;
    let mut buf = [0u8; arp::FRAME_LEN];
    let n = arp::emit_gratuitous(&mut buf, parse_mac(mac)?, vip)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &buf[..n]))
}

/// An unsolicited Neighbour Advertisement Ethernet frame for `vip` at `mac`, from link-local `src`.
#[pyfunction]
#[pyo3(signature = (mac, src, vip, router = false))]
fn build_unsolicited_na<'py>(
    py: Python<'py>,
    mac: &str,
    src: &str,
    vip: &str,
    router: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let v6 = |s: &str| -> PyResult<Ipv6Addr> {
        s.parse()
            .map_err(|_| PyValueError::new_err(format!("not an IPv6 address: {s:?}")))
    };
    let mut buf = [0u8; ndisc::FRAME_LEN];
    let n = ndisc::emit_unsolicited_na_frame(&mut buf, parse_mac(mac)?, v6(src)?, v6(vip)?, router)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &buf[..n]))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("WireError", m.py().get_type::<WireError>())?;
    m.add_class::<Advert>()?;
    m.add_function(wrap_pyfunction!(parse_advert, m)?)?;
    m.add_function(wrap_pyfunction!(build_advert, m)?)?;
    m.add_function(wrap_pyfunction!(build_garp, m)?)?;
    m.add_function(wrap_pyfunction!(build_unsolicited_na, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_dotted_quad;
    use core::net::Ipv4Addr;

    #[test]
    fn addr_text_matches_display() {
        for a in [
            "0.0.0.0",
            "198.18.0.100",
            "255.255.255.255",
            "10.1.20.3",
            "2001:2::100",
            "::ffff:198.18.0.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "0:0:0:0:0:ffff:255.255.255.255",
        ] {
            let ip: core::net::IpAddr = a.parse().expect("valid");
            assert_eq!(super::AddrText::new(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn every_octet_text_matches_display() {
        for o in 0..=255u8 {
            for octets in [[o, 0, 255, o], [1, o, 10, 100], [o; 4]] {
                let text = super::AddrText::v4(octets);
                assert_eq!(text.as_str(), Ipv4Addr::from(octets).to_string());
            }
        }
    }

    #[test]
    fn ipv6_groups_agree_with_std() {
        let cases = [
            "::",
            "::1",
            "1::",
            "fe80::1",
            "ff02::12",
            "2001:2::100",
            "2001:db8:0:0:0:0:0:1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::8",
            "1::2::3",
            ":::",
            ":1::",
            "1:",
            ":",
            "12345::",
            "FE80::ABCD",
            "fe80::1%eth0",
            "::ffff:198.18.0.1",
            "g::1",
            "1::2:",
            "0000:0000:0000:0000:0000:0000:0000:0001",
            "1:2:3:4:5:6:7",
            "1::2:3:4:5:6:7",
            "::1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "1:2:3::4:5:6:7",
            "ff02::12",
            "fe80::1:2",
            "a::b::",
            "::a::",
            "1::",
            "::ffff",
            "12:34",
            "1:::2",
        ];
        for c in cases {
            let fast = super::parse_ipv6_groups(c.as_bytes());
            let std = c.parse::<core::net::Ipv6Addr>().ok();
            // The fast path may decline (None) and leave it to std, but never disagree.
            assert!(fast.is_none() || fast == std, "{c:?}: {fast:?} vs {std:?}");
            if !c.contains(['.', '%']) {
                assert_eq!(fast, std, "{c:?}");
            }
        }
    }

    #[test]
    fn fast_parsers_agree_with_std_on_generated_text() {
        // Deterministic pseudo-random strings over the characters that matter.
        let alphabet = b"0129af:.F";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 18) as usize;
            let text: String = (0..len)
                .map(|k| char::from(alphabet[((x >> (k * 3 + 5)) % 9) as usize]))
                .collect();
            let v4 = parse_dotted_quad(text.as_bytes());
            assert_eq!(v4, text.parse::<Ipv4Addr>().ok(), "{text:?}");
            let v6 = super::parse_ipv6_groups(text.as_bytes());
            let std6 = text.parse::<core::net::Ipv6Addr>().ok();
            assert!(v6.is_none() || v6 == std6, "{text:?}");
            if !text.contains('.') {
                assert_eq!(v6, std6, "{text:?}");
            }
        }
    }

    #[test]
    fn dotted_quad_agrees_with_std() {
        let cases = [
            "198.18.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4.5",
            "1..2.3",
            "",
            "a.b.c.d",
            "1.2.3.0004",
            "1.2.3.-4",
            "1.2.3.4 ",
            "::1",
            "0.0.0.00",
            "00.1.2.3",
            "1.2.3.255",
            "1.2.3.256",
            "300.1.1.1",
            "1.2.3.4.5.6.7",
            ".1.2.3",
            "1.2.3.",
            "198.018.0.1",
            "100.200.10.0",
        ];
        for c in cases {
            assert_eq!(
                parse_dotted_quad(c.as_bytes()),
                c.parse::<Ipv4Addr>().ok(),
                "{c:?}"
            );
        }
    }
}
