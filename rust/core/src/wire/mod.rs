//! VRRP wire format (RFC 3768 v2, RFC 5798 / RFC 9568 v3).
