"""The typed model of a keepalived.conf, as the daemon consumes it.

Every value here is resolved: defaults applied, inherited globals copied in, ranges checked.
Every object read from the file carries the `location` of the keyword that made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

State = Literal["MASTER", "BACKUP"]
Family = Literal["inet", "inet6"]
AuthType = Literal["PASS", "AH"]
Protocol = Literal["TCP", "UDP", "SCTP"]
LvsMethod = Literal["NAT", "DR", "TUN"]
#: lvs_flush_on_stop: NO (delete each real server and service), FULL (bare keyword), VS.
LvsFlushOnStop = Literal["NO", "FULL", "VS"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a keyword was read: file path, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


#: The location of values that come from defaults, not from the file.
NOWHERE = Location("<default>", 0, 0)


@dataclass(frozen=True, slots=True)
class Command:
    """A script to run: the command line as written and the user/group to run it as."""

    command: str
    user: str | None = None
    group: str | None = None
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class NotifyFifo:
    """A FIFO that receives state lines, and an optional script that reads it."""

    path: str
    user: str | None = None
    group: str | None = None
    location: Location = NOWHERE


#: The GARP defaults under `vrrp_min_garp`: one GARP/NA on takeover and no second block.
MIN_GARP_DEFAULTS: dict[str, Any] = {
    "vrrp_garp_master_delay": 0.0, "vrrp_garp_master_repeat": 1,
    "vrrp_garp_lower_prio_delay": 0.0, "vrrp_garp_lower_prio_repeat": 1}


@dataclass(frozen=True, slots=True)
class GlobalDefs:
    """The `global_defs` block, with keepalived's defaults."""

    router_id: str | None = None
    vrrp_version: int = 2
    vrrp_strict: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: float = 0.0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay: float | None = None
    vrrp_garp_lower_prio_repeat: int | None = None
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_lower_prio_no_advert: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_min_garp: bool = False
    vrrp_mcast_group4: str = "224.0.0.18"
    vrrp_mcast_group6: str = "ff02::12"
    vrrp_priority: int | None = None
    vrrp_cpu_affinity: tuple[int, ...] | None = None
    vrrp_rt_priority: int | None = None
    vrrp_no_swap: bool = False
    vrrp_check_unicast_src: bool = False
    v3_checksum_as_v2: bool = False
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: str | None = None
    smtp_port: int = 25
    smtp_connect_timeout: float = 30.0
    smtp_helo_name: str | None = None
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    notify_fifo: NotifyFifo | None = None
    notify_fifo_script: Command | None = None
    vrrp_notify_fifo: NotifyFifo | None = None
    vrrp_notify_fifo_script: Command | None = None
    lvs_notify_fifo: NotifyFifo | None = None
    lvs_notify_fifo_script: Command | None = None
    dynamic_interfaces: bool = False
    max_auto_priority: int | None = None
    lvs_timeouts: tuple[int, int, int] | None = None
    lvs_flush: bool = False
    lvs_flush_on_stop: LvsFlushOnStop = "NO"
    checker_no_swap: bool = False
    checker_rt_priority: int | None = None
    checker_priority: int | None = None
    checker_rlimit_rttime: int | None = None
    #: fastvrrp extension: which LVS dataplane to drive ("auto", "ipvs", "nftables").
    lvs_backend: str = "auto"
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One line of virtual_ipaddress / virtual_ipaddress_excluded / static_ipaddress."""

    address: str
    prefix: int
    dev: str | None = None
    label: str | None = None
    brd: str | None = None
    scope: str | None = None
    peer: str | None = None
    no_track: bool = False
    use_vmac: bool = False
    preferred_lft: int | None = None
    flags: tuple[str, ...] = ()
    location: Location = NOWHERE

    @property
    def family(self) -> Family:
        """`inet6` when the address is IPv6."""
        return "inet6" if ":" in self.address else "inet"


@dataclass(frozen=True, slots=True)
class Route:
    """One line of virtual_routes / static_routes, parsed like `ip route add`."""

    destination: str
    type: str = "unicast"
    source: str | None = None
    via: str | None = None
    dev: str | None = None
    table: str | None = None
    metric: int | None = None
    scope: str | None = None
    protocol: str | None = None
    no_track: bool = False
    nexthops: tuple[tuple[str, ...], ...] = ()
    #: The tokens as written, for options the model does not name.
    words: tuple[str, ...] = ()
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of virtual_rules / static_rules, parsed like `ip rule add`."""

    source: str | None = None
    destination: str | None = None
    table: str | None = None
    preference: int | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: str | None = None
    action: str | None = None
    no_track: bool = False
    words: tuple[str, ...] = ()
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class UnicastPeer:
    """A unicast_peer entry: adverts go to it, and received TTLs are checked against the range."""

    address: str
    min_ttl: int = 0
    max_ttl: int = 255
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class TrackRef:
    """A reference from an instance/group to a tracked interface/script/file/process.

    `weight` None means: the tracker's own weight (interfaces: 0, i.e. fault on failure).
    """

    name: str
    weight: int | None = None
    reverse: bool = False
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class VrrpScript:
    """A `vrrp_script` block."""

    name: str
    location: Location
    script: Command | None = None
    interval: float = 1.0
    timeout: float = 1.0
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False


@dataclass(frozen=True, slots=True)
class TrackFile:
    """A `track_file` (alias `vrrp_track_file`) block."""

    name: str
    location: Location
    file: str | None = None
    weight: int = 1
    weight_reverse: bool = False
    init_file: str | None = None
    init_value: int = 0
    init_overwrite: bool = False


@dataclass(frozen=True, slots=True)
class TrackProcess:
    """A `vrrp_track_process` block."""

    name: str
    location: Location
    process: str | None = None
    parameters: tuple[str, ...] = ()
    param_match: Literal["exact", "partial", "initial"] = "exact"
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    fork_delay: float = 0.0
    terminate_delay: float = 0.0
    delay: float = 0.0
    full_command: bool = False


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    """A `vrrp_instance` block, with every default resolved."""

    name: str
    location: Location
    state: State | None = None
    interface: str | None = None
    virtual_router_id: int = 0
    priority: int = 100
    advert_int: float = 1.0
    version: int = 2
    family: Family = "inet"
    nopreempt: bool = False
    preempt_delay: float = 0.0
    auth_type: AuthType | None = None
    auth_pass: bytes = b""
    virtual_ipaddress: tuple[VirtualAddress, ...] = ()
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[Route, ...] = ()
    virtual_rules: tuple[Rule, ...] = ()
    mcast_src_ip: str | None = None
    mcast_dst_ip: str | None = None
    unicast_src_ip: str | None = None
    unicast_peers: tuple[UnicastPeer, ...] = ()
    unicast_ttl: int = 255
    check_unicast_src: bool = False
    use_vmac: str | None = None
    vmac_mac: str | None = None
    vmac_xmit_base: bool = False
    dont_track_primary: bool = False
    track_interfaces: tuple[TrackRef, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()
    notify_master: Command | None = None
    notify_backup: Command | None = None
    notify_fault: Command | None = None
    notify_stop: Command | None = None
    notify: Command | None = None
    notify_master_rx_lower_pri: Command | None = None
    smtp_alert: bool = False
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_repeat: int = 5
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    v3_checksum_as_v2: bool = False
    accept: bool = True
    strict_mode: bool = False
    skip_check_adv_addr: bool = False
    promote_secondaries: bool = False
    down_timer_adverts: int = 3
    #: The sync group this instance belongs to, if any.
    sync_group: str | None = None


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup:
    """A `vrrp_sync_group` block."""

    name: str
    location: Location
    group: tuple[str, ...] = ()
    notify_master: Command | None = None
    notify_backup: Command | None = None
    notify_fault: Command | None = None
    notify_stop: Command | None = None
    notify: Command | None = None
    smtp_alert: bool = False
    global_tracking: bool = False
    sync_group_tracking_weight: bool = False
    track_interfaces: tuple[TrackRef, ...] = ()
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_processes: tuple[TrackRef, ...] = ()


# --- LVS -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Url:
    """A `url` block of HTTP_GET / SSL_GET. `status_code` holds inclusive ranges."""

    path: str = "/"
    digest: str | None = None
    status_code: tuple[tuple[int, int], ...] = ((200, 299),)
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class Checker:
    """Options every health checker shares; `None` means inherited from the real server."""

    connect_ip: str | None = None
    connect_port: int | None = None
    bindto: str | None = None
    bind_if: str | None = None
    bind_port: int | None = None
    fwmark: int | None = None
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float = 1.0
    delay_loop: float = 60.0
    warmup: float | None = None
    alpha: bool = False
    log_all_failures: bool = False
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class TcpCheck(Checker):
    """TCP_CHECK: a connect succeeds."""


@dataclass(frozen=True, slots=True)
class HttpGet(Checker):
    """HTTP_GET: every url answers with a wanted status (and digest/regex)."""

    delay_before_retry: float = 3.0
    urls: tuple[Url, ...] = ()
    http_protocol: str = "1.0"
    virtualhost: str | None = None
    fast_recovery: bool = False


@dataclass(frozen=True, slots=True)
class SslGet(HttpGet):
    """SSL_GET: HTTP_GET over TLS."""

    enable_sni: bool = False


@dataclass(frozen=True, slots=True)
class MiscCheck(Checker):
    """MISC_CHECK: a script's exit code decides (and with misc_dynamic, the weight)."""

    retry: int = 0
    misc_path: Command | None = None
    misc_timeout: float | None = None
    misc_dynamic: bool = False


@dataclass(frozen=True, slots=True)
class SmtpCheck(Checker):
    """SMTP_CHECK: the server greets and answers HELO."""

    helo_name: str | None = None


@dataclass(frozen=True, slots=True)
class DnsCheck(Checker):
    """DNS_CHECK: a query of `type` for `name` gets an answer."""

    retry: int = 3
    type: str = "SOA"
    name: str = "."


@dataclass(frozen=True, slots=True)
class PingCheck(Checker):
    """PING_CHECK: an ICMP echo gets a reply."""


@dataclass(frozen=True, slots=True)
class UdpCheck(Checker):
    """UDP_CHECK: a datagram gets no ICMP error (or a matching reply)."""

    payload: bytes | None = None
    require_reply: bool = False
    reply_data: bytes | None = None
    min_reply_length: int = 0
    max_reply_length: int | None = None


@dataclass(frozen=True, slots=True)
class FileCheck(Checker):
    """FILE_CHECK: a track_file's value sets the weight or fails the server."""

    track_file: str | None = None
    weight: int | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class RealServer:
    """A `real_server` block."""

    ip: str
    port: int | None
    location: Location
    weight: int = 1
    lvs_method: LvsMethod | None = None
    inhibit_on_failure: bool = False
    notify_up: Command | None = None
    notify_down: Command | None = None
    uthreshold: int | None = None
    lthreshold: int | None = None
    smtp_alert: bool | None = None
    virtualhost: str | None = None
    alpha: bool = False
    checkers: tuple[Checker, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualServer:
    """A `virtual_server` block: exactly one of ip/fwmark/group is set."""

    location: Location
    ip: str | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    family: Family = "inet"
    protocol: Protocol = "TCP"
    lvs_sched: str = "wlc"
    lvs_method: LvsMethod = "NAT"
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None
    persistence_engine: str | None = None
    delay_loop: float = 60.0
    connect_timeout: float = 5.0
    retry: int | None = None
    delay_before_retry: float | None = None
    warmup: float | None = None
    virtualhost: str | None = None
    sorry_server: tuple[str, int | None] | None = None
    sorry_server_inhibit: bool = False
    alpha: bool = False
    omega: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Command | None = None
    quorum_down: Command | None = None
    inhibit_on_failure: bool = False
    ha_suspend: bool = False
    ops: bool = False
    smtp_alert: bool | None = None
    real_servers: tuple[RealServer, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualServerGroupMember:
    """One line of a virtual_server_group: an address (or range) and port, or a fwmark."""

    ip: str | None = None
    range_end: str | None = None
    port: int | None = None
    fwmark: int | None = None
    family: Family | None = None
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    """A `virtual_server_group` block."""

    name: str
    location: Location
    members: tuple[VirtualServerGroupMember, ...] = ()


@dataclass(frozen=True, slots=True)
class SslSettings:
    """The top-level `SSL` block: SSL_GET's client certificate, its key, and the CA that,
    when given, verifies the servers (without it, as in keepalived, they are not verified)."""

    password: str | None = None
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None
    location: Location = NOWHERE


@dataclass(frozen=True, slots=True)
class Config:
    """A whole keepalived.conf, resolved."""

    global_defs: GlobalDefs = GlobalDefs()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    vrrp_sync_groups: tuple[VrrpSyncGroup, ...] = ()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    track_processes: tuple[TrackProcess, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    static_ipaddress: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[Route, ...] = ()
    static_rules: tuple[Rule, ...] = ()
    #: The `SSL` block, if any (SSL_GET's client side).
    ssl: SslSettings | None = None
    #: Every file read, the main file first.
    files: tuple[str, ...] = ()
