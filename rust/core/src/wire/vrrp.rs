//! VRRP advertisements: v2 (RFC 3768, IPv4) and v3 (RFC 5798 / RFC 9568, IPv4 and IPv6).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! v2: |  Auth Type  |  Adver Int (s) |          Checksum          |
//! v3: |(rsvd)| Max Adver Int (cs, 12 bits) |      Checksum        |
//! |                 IPvX address(es) ...                          |
//! v2 only: |          Authentication Data (8 bytes)               |
//! ```

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::EmitError;

/// IP protocol number (and IPv6 next header) of VRRP.
pub const PROTOCOL: u8 = 112;
/// The fixed header before the address list.
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data trailer.
pub const AUTH_DATA_LEN: usize = 8;
/// The only message type: ADVERTISEMENT.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest v3 interval in centiseconds (12 bits).
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;
/// The IPv4 multicast group of VRRP.
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP.
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The largest VRRP message: v3 with 255 IPv6 addresses.
pub const MAX_LEN: usize = HEADER_LEN + 255 * 16;

mod field {
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2: auth type; v3: reserved (high nibble) and the high bits of the interval.
    pub const AUTH_TYPE: usize = 4;
    /// v2: advertisement interval in seconds.
    pub const ADVER_INT: usize = 5;
    /// v3: 4 reserved bits, then the 12-bit max advertisement interval.
    pub const MAX_ADVER_INT: core::ops::Range<usize> = 4..6;
    pub const CHECKSUM: core::ops::Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// The IP family a VRRP message travels in (it decides the address size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Bytes per address in the address list.
    #[inline]
    pub const fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    /// The family of an address.
    #[inline]
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// VRRP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2 = 2,
    V3 = 3,
}

impl Version {
    /// The version from the header nibble, if it is one we speak.
    #[inline]
    pub const fn from_u8(v: u8) -> Option<Version> {
        match v {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// v2 authentication type (RFC 3768 §5.3.6; RFC 2338 for the deprecated types keepalived still speaks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication.
    None = 0,
    /// 1: simple text password (`auth_type PASS`).
    Pass = 1,
    /// 2: IP Authentication Header (`auth_type AH`). Reported, the ICV is not checked here. Such adverts
    /// travel as IP protocol 51 with the AH header (RFC 4302) first: the caller strips it and passes
    /// the VRRP message that follows.
    Ah = 2,
}

impl AuthType {
    /// The auth type from its wire value, if known.
    #[inline]
    pub const fn from_u8(v: u8) -> Option<AuthType> {
        match v {
            0 => Some(AuthType::None),
            1 => Some(AuthType::Pass),
            2 => Some(AuthType::Ah),
            _ => None,
        }
    }
}

/// v2 authentication: the type and the 8-byte data field (a PASS key is cut to 8 bytes, zero-padded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Auth {
    pub kind: AuthType,
    pub data: [u8; AUTH_DATA_LEN],
}

impl Auth {
    /// No authentication (and the only form v3 has).
    pub const NONE: Auth = Auth {
        kind: AuthType::None,
        data: [0; AUTH_DATA_LEN],
    };

    /// `auth_type PASS` with `auth_pass key`: the key is cut to 8 bytes and zero-padded, as keepalived does.
    pub fn pass(key: &[u8]) -> Auth {
        Auth {
            kind: AuthType::Pass,
            data: pad_key(key),
        }
    }

    /// `auth_type AH` (the data field is carried as given, zero-padded).
    pub fn ah(data: &[u8]) -> Auth {
        Auth {
            kind: AuthType::Ah,
            data: pad_key(data),
        }
    }
}

fn pad_key(key: &[u8]) -> [u8; AUTH_DATA_LEN] {
    let mut data = [0u8; AUTH_DATA_LEN];
    for (d, k) in data.iter_mut().zip(key) {
        *d = *k;
    }
    data
}

/// Compare two 8-byte keys in time independent of where they differ: one 64-bit XOR and one test,
/// with no byte-by-byte early exit.
#[inline]
pub fn keys_equal(a: &[u8; AUTH_DATA_LEN], b: &[u8; AUTH_DATA_LEN]) -> bool {
    (u64::from_ne_bytes(*a) ^ u64::from_ne_bytes(*b)) == 0
}

/// Which checksum a v3 message carries (v2 has only one form, over the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// With the pseudo-header: IPv6 always; IPv4 as keepalived 2.2.7 and FRR send it. The default for emit.
    Pseudo,
    /// IPv4 only: over the message alone (keepalived `v3_checksum_as_v2`, RFC 9568).
    Plain,
}

impl ChecksumForm {
    /// "pseudo" or "plain".
    pub const fn as_str(self) -> &'static str {
        match self {
            ChecksumForm::Pseudo => "pseudo",
            ChecksumForm::Plain => "plain",
        }
    }
}

/// Why a received advertisement is dropped: one variant per RFC 5798 §7.1 check that the packet alone decides,
/// so the engine can count drops by reason as keepalived's stats do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Shorter than the header, or a length that no address count explains (`packet_len_err`).
    Length,
    /// Version is neither 2 nor 3, or v2 over IPv6.
    Version,
    /// The src and dst addresses given for the pseudo-header are of different families.
    Family,
    /// Address count is 0, or disagrees with the length (`addr_list_err`).
    AddressCount,
    /// v2 auth type is not 0, 1 or 2 (`invalid_authtype`).
    AuthTypeUnknown,
    /// v2 auth type differs from the configured one (`authtype_mismatch`).
    AuthTypeMismatch,
    /// v2 PASS key differs from the configured one (`auth_failure`).
    Auth,
    /// Interval is 0 (`advert_interval_err`).
    Interval,
    /// Type is not ADVERTISEMENT (`invalid_type_rcvd`).
    Type,
    /// Checksum does not verify in any accepted form.
    Checksum,
    /// The address list differs from the configured VIPs (`addr_list_err`); from [`AddressList::same_set`]
    /// checks by the engine, never returned by [`parse`].
    AddressList,
}

impl Error {
    /// Every variant, in counter-index order ([`Error::index`]).
    pub const ALL: [Error; 11] = [
        Error::Length,
        Error::Version,
        Error::Family,
        Error::AddressCount,
        Error::AuthTypeUnknown,
        Error::AuthTypeMismatch,
        Error::Auth,
        Error::Interval,
        Error::Type,
        Error::Checksum,
        Error::AddressList,
    ];

    /// A stable short reason string (for logs, metrics labels and Python's `WireError.reason`).
    pub const fn reason(self) -> &'static str {
        match self {
            Error::Length => "length",
            Error::Version => "version",
            Error::Family => "family",
            Error::AddressCount => "addr_count",
            Error::AuthTypeUnknown => "auth_type_unknown",
            Error::AuthTypeMismatch => "auth_type",
            Error::Auth => "auth",
            Error::Interval => "interval",
            Error::Type => "type",
            Error::Checksum => "checksum",
            Error::AddressList => "addr_list",
        }
    }

    /// The keepalived `stats` counter this drop adds to, where keepalived has one.
    pub const fn keepalived_stat(self) -> Option<&'static str> {
        match self {
            Error::Length => Some("packet_len_err"),
            Error::AddressCount | Error::AddressList => Some("addr_list_err"),
            Error::AuthTypeUnknown => Some("invalid_authtype"),
            Error::AuthTypeMismatch => Some("authtype_mismatch"),
            Error::Auth => Some("auth_failure"),
            Error::Interval => Some("advert_interval_err"),
            Error::Type => Some("invalid_type_rcvd"),
            Error::Version | Error::Family | Error::Checksum => None,
        }
    }

    /// A dense index (0..ALL.len()) for per-reason counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Length => "bad VRRP packet length",
            Error::Version => "unsupported VRRP version",
            Error::Family => "source and destination address families differ",
            Error::AddressCount => "address count is zero or does not match the length",
            Error::AuthTypeUnknown => "unknown authentication type",
            Error::AuthTypeMismatch => "authentication type mismatch",
            Error::Auth => "authentication failure",
            Error::Interval => "advertisement interval is zero",
            Error::Type => "not an ADVERTISEMENT",
            Error::Checksum => "bad checksum",
            Error::AddressList => "address list differs from the configured VIPs",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}

/// Expected length of a message of `version` with `count` addresses of `family`.
#[inline]
pub const fn message_len(version: Version, family: Family, count: usize) -> usize {
    let trailer = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + count * family.addr_len() + trailer
}

/// A read/write view of a VRRP message (the IP payload) in a byte buffer.
///
/// Accessors never panic: on a buffer too short for a field they read zero and write nothing. Use
/// [`Packet::new_checked`] to know the buffer holds the whole message its header announces.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checks.
    #[inline]
    pub const fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// Wrap a buffer and run [`Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Check the header is there, the version is known (and v2 is IPv4), and the buffer length is exactly what
    /// the address count announces.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        let Some(&ver_type) = data.get(field::VER_TYPE) else {
            return Err(Error::Length);
        };
        if data.len() < HEADER_LEN {
            return Err(Error::Length);
        }
        let version = Version::from_u8(ver_type >> 4).ok_or(Error::Version)?;
        if version == Version::V2 && self.family == Family::V6 {
            return Err(Error::Version);
        }
        let count = usize::from(data[field::COUNT]);
        if count == 0 {
            return Err(Error::AddressCount);
        }
        let expected = message_len(version, self.family, count);
        if data.len() == expected {
            return Ok(());
        }
        // A length that some other count would explain means the count field is wrong; otherwise the length is.
        let fixed = message_len(version, self.family, 0);
        if data.len() > fixed && (data.len() - fixed) % self.family.addr_len() == 0 {
            Err(Error::AddressCount)
        } else {
            Err(Error::Length)
        }
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The family given at construction.
    #[inline]
    pub fn family(&self) -> Family {
        self.family
    }

    #[inline]
    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// Version nibble as on the wire.
    #[inline]
    pub fn version(&self) -> u8 {
        self.byte(field::VER_TYPE) >> 4
    }

    /// Type nibble as on the wire.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.byte(field::VER_TYPE) & 0x0f
    }

    /// Virtual router ID.
    #[inline]
    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    /// Priority (0: the master is leaving; 255: the address owner).
    #[inline]
    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    /// Count of addresses.
    #[inline]
    pub fn addr_count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// v2 auth type as on the wire (in v3 this byte holds the reserved bits and the interval's high bits).
    #[inline]
    pub fn auth_type(&self) -> u8 {
        self.byte(field::AUTH_TYPE)
    }

    /// v2 advertisement interval in seconds.
    #[inline]
    pub fn adver_int(&self) -> u8 {
        self.byte(field::ADVER_INT)
    }

    /// v3 max advertisement interval in centiseconds (12 bits; the reserved bits are ignored).
    #[inline]
    pub fn max_adver_int(&self) -> u16 {
        u16::from_be_bytes([
            self.byte(field::MAX_ADVER_INT.start),
            self.byte(field::ADVER_INT),
        ]) & 0x0fff
    }

    /// The interval in centiseconds whichever the version (v2 seconds × 100).
    #[inline]
    pub fn interval_cs(&self) -> u16 {
        if self.version() == 2 {
            u16::from(self.adver_int()) * 100
        } else {
            self.max_adver_int()
        }
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([
            self.byte(field::CHECKSUM.start),
            self.byte(field::CHECKSUM.start + 1),
        ])
    }

    /// The address list bytes the count announces (shorter if the buffer is).
    #[inline]
    pub fn address_bytes(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let len = usize::from(self.addr_count()) * self.family.addr_len();
        let end = (field::ADDRESSES + len).min(data.len());
        data.get(field::ADDRESSES..end).unwrap_or(&[])
    }

    /// The address list, without allocation.
    #[inline]
    pub fn addresses(&self) -> AddressList<'_> {
        AddressList::Wire {
            family: self.family,
            bytes: self.address_bytes(),
        }
    }

    /// v2 authentication data (zeros for v3 or a short buffer).
    #[inline]
    pub fn auth_data(&self) -> [u8; AUTH_DATA_LEN] {
        let mut out = [0u8; AUTH_DATA_LEN];
        if self.version() == 2 {
            let start = field::ADDRESSES + usize::from(self.addr_count()) * self.family.addr_len();
            if let Some(src) = self.buffer.as_ref().get(start..start + AUTH_DATA_LEN) {
                out.copy_from_slice(src);
            }
        }
        out
    }

    /// Check the checksum. v2: over the message. v3 IPv6: with the pseudo-header. v3 IPv4: either form, and
    /// the one that matched is returned (pseudo first). Returns `None` for v2 when it verifies, and
    /// `Err(Error::Checksum)` when nothing verifies. `src`/`dst` are the IP header's addresses.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> Result<Option<ChecksumForm>, Error> {
        let data = self.buffer.as_ref();
        let message = checksum::sum(data);
        if self.version() == 2 {
            return if checksum::verifies(message) {
                Ok(None)
            } else {
                Err(Error::Checksum)
            };
        }
        let pseudo = pseudo_sum(src, dst, data.len())?;
        if checksum::verifies(message + pseudo) {
            return Ok(Some(ChecksumForm::Pseudo));
        }
        if self.family == Family::V4 && checksum::verifies(message) {
            return Ok(Some(ChecksumForm::Plain));
        }
        Err(Error::Checksum)
    }
}

#[inline]
fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> Result<u64, Error> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ok(checksum::pseudo_v4(s, d, PROTOCOL, len)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ok(checksum::pseudo_v6(s, d, PROTOCOL, len)),
        _ => Err(Error::Family),
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    /// Set version and type.
    #[inline]
    pub fn set_version_type(&mut self, version: u8, msg_type: u8) {
        self.set_byte(field::VER_TYPE, (version << 4) | (msg_type & 0x0f));
    }

    /// Set the virtual router ID.
    #[inline]
    pub fn set_vrid(&mut self, v: u8) {
        self.set_byte(field::VRID, v);
    }

    /// Set the priority.
    #[inline]
    pub fn set_priority(&mut self, v: u8) {
        self.set_byte(field::PRIORITY, v);
    }

    /// Set the address count.
    #[inline]
    pub fn set_addr_count(&mut self, v: u8) {
        self.set_byte(field::COUNT, v);
    }

    /// Set the v2 auth type.
    #[inline]
    pub fn set_auth_type(&mut self, v: u8) {
        self.set_byte(field::AUTH_TYPE, v);
    }

    /// Set the v2 interval in seconds.
    #[inline]
    pub fn set_adver_int(&mut self, v: u8) {
        self.set_byte(field::ADVER_INT, v);
    }

    /// Set the v3 max advertisement interval in centiseconds (12 bits; reserved bits are zeroed).
    #[inline]
    pub fn set_max_adver_int(&mut self, cs: u16) {
        let [hi, lo] = (cs & 0x0fff).to_be_bytes();
        self.set_byte(field::MAX_ADVER_INT.start, hi);
        self.set_byte(field::ADVER_INT, lo);
    }

    /// Set the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        let [hi, lo] = v.to_be_bytes();
        self.set_byte(field::CHECKSUM.start, hi);
        self.set_byte(field::CHECKSUM.start + 1, lo);
    }

    /// Write address `index` of the list (ignored if it does not fit or the family differs).
    pub fn set_address(&mut self, index: usize, addr: IpAddr) {
        let len = self.family.addr_len();
        let start = field::ADDRESSES + index * len;
        let Some(slot) = self.buffer.as_mut().get_mut(start..start + len) else {
            return;
        };
        match addr {
            IpAddr::V4(a) if len == 4 => slot.copy_from_slice(&a.octets()),
            IpAddr::V6(a) if len == 16 => slot.copy_from_slice(&a.octets()),
            _ => {}
        }
    }

    /// Write the v2 authentication data after the address list the count announces.
    pub fn set_auth_data(&mut self, data: &[u8; AUTH_DATA_LEN]) {
        let start = field::ADDRESSES + usize::from(self.addr_count()) * self.family.addr_len();
        if let Some(slot) = self.buffer.as_mut().get_mut(start..start + AUTH_DATA_LEN) {
            slot.copy_from_slice(data);
        }
    }

    /// Compute and write the checksum over the whole buffer (which must be exactly the message).
    /// v2 ignores `form` and the addresses; v3 uses the pseudo-header unless `form` is `Plain`.
    pub fn fill_checksum(
        &mut self,
        form: ChecksumForm,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), EmitError> {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let mut acc = checksum::sum(data);
        if self.version() != 2 && form == ChecksumForm::Pseudo {
            acc += pseudo_sum(src, dst, data.len()).map_err(|_| EmitError::AddressFamily)?;
        }
        self.set_checksum(checksum::complement(acc));
        Ok(())
    }
}

/// An address list without allocation: either bytes of a received message or a caller's slice.
#[derive(Clone, Copy, Debug)]
pub enum AddressList<'a> {
    /// Addresses as on the wire (a whole number of `family.addr_len()` chunks).
    Wire { family: Family, bytes: &'a [u8] },
    /// Addresses from the caller (e.g. the configured VIPs), for emit.
    Ips(&'a [IpAddr]),
}

impl<'a> AddressList<'a> {
    /// Number of addresses.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            AddressList::Wire { family, bytes } => bytes.len() / family.addr_len(),
            AddressList::Ips(ips) => ips.len(),
        }
    }

    /// True when there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterate over the addresses.
    #[inline]
    pub fn iter(&self) -> Addresses<'a> {
        match *self {
            AddressList::Wire { family, bytes } => Addresses::Wire { family, bytes },
            AddressList::Ips(ips) => Addresses::Ips(ips.iter()),
        }
    }

    /// True when `addr` is in the list.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.iter().any(|a| a == *addr)
    }

    /// keepalived's VIP check: same count, and every configured VIP is in the list, and (stricter than
    /// keepalived, which misses duplicates) every listed address is configured; order does not matter.
    /// On `false` the engine drops the advert as [`Error::AddressList`] (2.2.7) or warns (2.3.3+).
    pub fn same_set(&self, vips: &[IpAddr]) -> bool {
        self.len() == vips.len()
            && vips.iter().all(|v| self.contains(v))
            && self.iter().all(|a| vips.contains(&a))
    }

    /// The family shared by all the addresses, or `None` if empty or mixed.
    pub fn family(&self) -> Option<Family> {
        match self {
            AddressList::Wire { family, .. } => (!self.is_empty()).then_some(*family),
            AddressList::Ips(ips) => {
                let first = Family::of(ips.first()?);
                ips.iter().all(|a| Family::of(a) == first).then_some(first)
            }
        }
    }
}

impl PartialEq for AddressList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for AddressList<'_> {}

impl<'a> IntoIterator for AddressList<'a> {
    type Item = IpAddr;
    type IntoIter = Addresses<'a>;
    fn into_iter(self) -> Addresses<'a> {
        self.iter()
    }
}

/// Iterator over an [`AddressList`].
#[derive(Clone, Debug)]
pub enum Addresses<'a> {
    Wire { family: Family, bytes: &'a [u8] },
    Ips(core::slice::Iter<'a, IpAddr>),
}

impl Iterator for Addresses<'_> {
    type Item = IpAddr;

    #[inline]
    fn next(&mut self) -> Option<IpAddr> {
        match self {
            Addresses::Wire {
                family: Family::V4,
                bytes,
            } => {
                let (head, rest) = bytes.split_first_chunk::<4>()?;
                *bytes = rest;
                Some(IpAddr::V4(Ipv4Addr::from(*head)))
            }
            Addresses::Wire {
                family: Family::V6,
                bytes,
            } => {
                let (head, rest) = bytes.split_first_chunk::<16>()?;
                *bytes = rest;
                Some(IpAddr::V6(Ipv6Addr::from(*head)))
            }
            Addresses::Ips(it) => it.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            Addresses::Wire { family, bytes } => bytes.len() / family.addr_len(),
            Addresses::Ips(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Addresses<'_> {}

/// A parsed, validated advertisement, or one to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr<'a> {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: whole seconds × 100).
    pub interval_cs: u16,
    pub addresses: AddressList<'a>,
    /// v2 authentication; [`Auth::NONE`] for v3.
    pub auth: Auth,
    /// v3: the checksum form that verified (parse) or to write (emit; `None` means pseudo). v2: `None`.
    pub checksum_form: Option<ChecksumForm>,
}

impl<'a> Repr<'a> {
    /// Validate a message and return its fields. Checks, in order (the first failure is returned):
    /// length ([`Error::Length`]), version ([`Error::Version`]), address count ([`Error::AddressCount`]),
    /// v2 auth type known / equal to `expected_auth` / key equal ([`Error::AuthTypeUnknown`],
    /// [`Error::AuthTypeMismatch`], [`Error::Auth`]), interval non-zero ([`Error::Interval`]),
    /// type ([`Error::Type`]), checksum ([`Error::Checksum`]). `expected_auth = None` skips the auth checks
    /// except the unknown-type one; v3 has no auth and ignores it.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: IpAddr,
        dst: IpAddr,
        expected_auth: Option<&Auth>,
    ) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        if Family::of(&src) != packet.family || Family::of(&dst) != packet.family {
            return Err(Error::Family);
        }
        let data: &'a [u8] = packet.buffer.as_ref();
        let version = if packet.version() == 2 {
            Version::V2
        } else {
            Version::V3
        };
        let auth = if version == Version::V2 {
            let kind = AuthType::from_u8(packet.auth_type()).ok_or(Error::AuthTypeUnknown)?;
            let auth = Auth {
                kind,
                data: packet.auth_data(),
            };
            if let Some(expected) = expected_auth {
                if expected.kind != kind {
                    return Err(Error::AuthTypeMismatch);
                }
                if kind == AuthType::Pass && !keys_equal(&expected.data, &auth.data) {
                    return Err(Error::Auth);
                }
            }
            auth
        } else {
            Auth::NONE
        };
        let interval_cs = packet.interval_cs();
        if interval_cs == 0 {
            return Err(Error::Interval);
        }
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(Error::Type);
        }
        let checksum_form = packet.verify_checksum(src, dst)?;
        let count = usize::from(packet.addr_count());
        let bytes = data
            .get(field::ADDRESSES..field::ADDRESSES + count * packet.family.addr_len())
            .unwrap_or(&[]);
        Ok(Repr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            interval_cs,
            addresses: AddressList::Wire {
                family: packet.family,
                bytes,
            },
            auth,
            checksum_form,
        })
    }

    /// The family of the addresses (`None` if there are none or they are mixed).
    pub fn family(&self) -> Option<Family> {
        self.addresses.family()
    }

    /// Length of the message [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let family = self.family().unwrap_or(Family::V4);
        message_len(self.version, family, self.addresses.len())
    }

    /// Check the fields can be emitted, returning the family.
    fn check_emit(&self, src: IpAddr, dst: IpAddr) -> Result<Family, EmitError> {
        if self.vrid == 0 {
            return Err(EmitError::Vrid);
        }
        if self.addresses.is_empty() {
            return Err(EmitError::NoAddresses);
        }
        if self.addresses.len() > 255 {
            return Err(EmitError::TooManyAddresses);
        }
        let family = self.family().ok_or(EmitError::AddressFamily)?;
        if Family::of(&src) != family || Family::of(&dst) != family {
            return Err(EmitError::AddressFamily);
        }
        match self.version {
            Version::V2 => {
                if family == Family::V6 {
                    return Err(EmitError::V2OverIpv6);
                }
                if self.interval_cs == 0
                    || self.interval_cs % 100 != 0
                    || self.interval_cs > 255 * 100
                {
                    return Err(EmitError::Interval);
                }
            }
            Version::V3 => {
                if self.interval_cs == 0 || self.interval_cs > MAX_V3_INTERVAL_CS {
                    return Err(EmitError::Interval);
                }
                if self.auth.kind != AuthType::None {
                    return Err(EmitError::AuthInV3);
                }
                if family == Family::V6 && self.checksum_form == Some(ChecksumForm::Plain) {
                    return Err(EmitError::ChecksumForm);
                }
            }
        }
        Ok(family)
    }

    /// Write the message into the front of `buf` and return its length. `src`/`dst` are the IP addresses it
    /// will be sent with (the pseudo-header uses them; unicast uses the peer's real address).
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<usize, EmitError> {
        let family = self.check_emit(src, dst)?;
        let len = message_len(self.version, family, self.addresses.len());
        let out = buf.get_mut(..len).ok_or(EmitError::BufferTooSmall)?;
        let mut packet = Packet::new_unchecked(out, family);
        packet.set_version_type(self.version as u8, TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        // check_emit bounds the count to 255.
        packet.set_addr_count(self.addresses.len() as u8);
        match self.version {
            Version::V2 => {
                packet.set_auth_type(self.auth.kind as u8);
                packet.set_adver_int((self.interval_cs / 100) as u8);
            }
            Version::V3 => packet.set_max_adver_int(self.interval_cs),
        }
        for (i, addr) in self.addresses.iter().enumerate() {
            packet.set_address(i, addr);
        }
        if self.version == Version::V2 {
            packet.set_auth_data(&self.auth.data);
        }
        packet.fill_checksum(self.checksum_form.unwrap_or(ChecksumForm::Pseudo), src, dst)?;
        Ok(len)
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VRRPv{} vrid={} prio={} int={}.{:02}s addrs=[",
            self.version as u8,
            self.vrid,
            self.priority,
            self.interval_cs / 100,
            self.interval_cs % 100
        )?;
        for (i, a) in self.addresses.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str("]")?;
        if self.version == Version::V2 {
            write!(f, " auth={:?}", self.auth.kind)?;
        }
        if let Some(form) = self.checksum_form {
            write!(f, " csum={}", form.as_str())?;
        }
        Ok(())
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check_len() {
            Ok(()) => write!(
                f,
                "VRRP v{} type={} vrid={} prio={} count={} int_cs={} csum={:#06x}",
                self.version(),
                self.msg_type(),
                self.vrid(),
                self.priority(),
                self.addr_count(),
                self.interval_cs(),
                self.checksum()
            ),
            Err(e) => write!(f, "VRRP ({e})"),
        }
    }
}

/// Parse and validate a received VRRP message (the IP payload). `src`/`dst` are the IP header's addresses; the
/// family is taken from them. See [`Repr::parse`] for the checks and their order.
#[inline]
pub fn parse<'a>(
    payload: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    expected_auth: Option<&Auth>,
) -> Result<Repr<'a>, Error> {
    let packet = Packet::new_unchecked(payload, Family::of(&src));
    Repr::parse(&packet, src, dst, expected_auth)
}

/// Simple parameters of an advertisement to send; see [`build`].
#[derive(Clone, Copy, Debug)]
pub struct AdvertParams<'a> {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Centiseconds (v2: a multiple of 100, at most 25500; v3: 1..=4095).
    pub interval_cs: u16,
    /// All of one family, the family of `src` and `dst`.
    pub addresses: &'a [IpAddr],
    /// v2 only; use [`Auth::NONE`] for v3.
    pub auth: Auth,
    /// v3 IPv4 only; ignored for v2, must be `Pseudo` for IPv6.
    pub checksum_form: ChecksumForm,
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// Emit a complete advertisement payload into `buf`, returning its length.
pub fn build(buf: &mut [u8], params: &AdvertParams<'_>) -> Result<usize, EmitError> {
    let repr = Repr {
        version: params.version,
        vrid: params.vrid,
        priority: params.priority,
        interval_cs: params.interval_cs,
        addresses: AddressList::Ips(params.addresses),
        auth: params.auth,
        checksum_form: match params.version {
            Version::V2 => None,
            Version::V3 => Some(params.checksum_form),
        },
    };
    repr.emit(buf, params.src, params.dst)
}

#[cfg(test)]
mod tests;
