//! Wire formats: VRRP v2 (RFC 3768) and v3 (RFC 5798 / RFC 9568) advertisements, gratuitous ARP, and
//! unsolicited IPv6 Neighbour Advertisements. Parse, validate and emit; no allocation, no panics on any input.
//!
//! Modelled on smoltcp's `wire`: a `Packet<T: AsRef<[u8]>>` view with field accessors and checksum
//! verify/fill, and a `Repr` value with `parse`, `buffer_len` and `emit`.
//!
//! # API used by the engine (stable)
//!
//! Receive (`payload` is the IP payload; `src`/`dst` are the IP header's addresses, used for the v3
//! pseudo-header — for unicast the real destination):
//! ```
//! use core::net::IpAddr;
//! use fastvrrp_core::wire::{self, vrrp::{Auth, Error}};
//! # let payload: &[u8] = &[];
//! let src: IpAddr = "198.18.0.1".parse().unwrap();
//! let dst: IpAddr = "224.0.0.18".parse().unwrap();
//! let expected = Auth::pass(b"secret");
//! match wire::vrrp::parse(payload, src, dst, Some(&expected)) {
//!     Ok(advert) => {
//!         // advert.version, .vrid, .priority, .interval_cs, .auth, .checksum_form
//!         let vips: [IpAddr; 0] = [];
//!         if !advert.addresses.same_set(&vips) { /* count Error::AddressList */ }
//!         for _addr in advert.addresses.iter() {}
//!     }
//!     Err(e) => {
//!         // e.reason() is the short stable string, e.keepalived_stat() the keepalived counter name,
//!         // e.index() a dense index for a `[u64; Error::ALL.len()]` counter array.
//!         let _ = (e.reason(), e.keepalived_stat(), e.index());
//!     }
//! }
//! ```
//! - [`vrrp::parse`]`(payload, src, dst, Option<&Auth>) -> Result<vrrp::Repr<'_>, vrrp::Error>`
//! - [`vrrp::Repr`] `{ version, vrid, priority, interval_cs, addresses, auth, checksum_form }`;
//!   `Repr::emit(&self, buf, src, dst) -> Result<usize, EmitError>`, `Repr::buffer_len()`.
//! - [`vrrp::AddressList`]: `iter()`, `len()`, `contains()`, `same_set(&[IpAddr])` (keepalived's VIP check).
//! - [`vrrp::Error`]: `Length, Version, Family, AddressCount, AuthTypeUnknown, AuthTypeMismatch, Auth, Interval,
//!   Type, Checksum, AddressList`; `reason()`, `keepalived_stat()`, `index()`, `Error::ALL`.
//!
//! Send:
//! - [`vrrp::build`]`(buf, &AdvertParams { version, vrid, priority, interval_cs, addresses: &[IpAddr], auth,
//!   checksum_form, src, dst }) -> Result<usize, EmitError>`; [`vrrp::MAX_LEN`] bytes always suffice.
//! - [`arp::emit_gratuitous`]`(buf, mac, vip: Ipv4Addr) -> Result<usize, EmitError>`: a whole Ethernet frame,
//!   [`arp::FRAME_LEN`] (42) bytes.
//! - [`ndisc::emit_unsolicited_na_frame`]`(buf, mac, src: Ipv6Addr, vip: Ipv6Addr, router: bool)` (a whole
//!   Ethernet frame, [`ndisc::FRAME_LEN`] = 86 bytes) and [`ndisc::emit_unsolicited_na_packet`] (the IPv6 packet
//!   without Ethernet, [`ndisc::PACKET_LEN`] = 72 bytes). `src` is the interface's link-local address.

use core::fmt;

pub mod arp;
mod checksum;
pub mod ndisc;
pub mod vrrp;

pub use vrrp::{
    build, parse, AddressList, AdvertParams, Auth, AuthType, ChecksumForm, Error, Family, Packet,
    Repr, Version,
};

/// A 48-bit Ethernet address.
pub type MacAddr = [u8; 6];

/// Why a value cannot be emitted. Every variant is a caller error (bad parameters or buffer), never input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmitError {
    /// The buffer is shorter than the message.
    BufferTooSmall,
    /// VRID 0 is not a valid virtual router.
    Vrid,
    /// An advertisement needs at least one address.
    NoAddresses,
    /// More than 255 addresses.
    TooManyAddresses,
    /// Addresses of mixed families, or not the family of src/dst.
    AddressFamily,
    /// VRRPv2 is IPv4 only.
    V2OverIpv6,
    /// Interval out of range: v2 whole seconds 1..=255, v3 centiseconds 1..=4095.
    Interval,
    /// Authentication exists only in VRRPv2.
    AuthInV3,
    /// The message-only (plain) checksum is for VRRPv3 over IPv4 only.
    ChecksumForm,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            EmitError::BufferTooSmall => "buffer too small",
            EmitError::Vrid => "vrid must be 1..255",
            EmitError::NoAddresses => "at least one address is needed",
            EmitError::TooManyAddresses => "at most 255 addresses fit in an advertisement",
            EmitError::AddressFamily => "addresses, src and dst must all be of one family",
            EmitError::V2OverIpv6 => "VRRPv2 is IPv4 only",
            EmitError::Interval => {
                "interval out of range (v2: whole seconds 1..255; v3: 0.01..40.95 s in centiseconds)"
            }
            EmitError::AuthInV3 => "authentication exists only in VRRPv2",
            EmitError::ChecksumForm => "the plain checksum form is for VRRPv3 over IPv4 only",
        };
        f.write_str(text)
    }
}

impl core::error::Error for EmitError {}
