//! The sans-IO VRRP state machine (RFC 5798 §6, with keepalived's Fault state).
