"""Prometheus metrics from a live pair: the text parses, and the counters move across a failover."""

from __future__ import annotations

from typing import Any

import pytest
from ops_helpers import VIP, instance_conf, ready, scrape, start
from prometheus_client.parser import text_string_to_metric_families

from fastvrrp.lab import Lab

pytestmark = pytest.mark.netns

KEEPALIVED_NAMES = {
    "keepalived_up", "keepalived_vrrp_state",
    "keepalived_advertisements_received", "keepalived_advertisements_sent",
    "keepalived_become_master", "keepalived_release_master",
    "keepalived_packet_length_errors", "keepalived_advertisements_interval_errors",
    "keepalived_ip_ttl_errors", "keepalived_invalid_type_received",
    "keepalived_address_list_errors", "keepalived_authentication_invalid",
    "keepalived_authentication_mismatch", "keepalived_authentication_failure",
    "keepalived_priority_zero_received", "keepalived_priority_zero_sent",
}


def metrics(lab: Lab, host: str) -> dict[str, Any]:
    """name -> list of (labels, value), through prometheus_client's own parser."""
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(scrape(lab, host)):
        out[family.name] = family
    return out


def value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    for family in families.values():
        for sample in family.samples:
            if sample.name == sample_name and all(
                    sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise KeyError(sample_name, labels)


def test_metrics_parse_and_move_across_a_failover(lab: Lab) -> None:
    start(lab, "r1", instance_conf(150), metrics=True)
    start(lab, "r2", instance_conf(100), metrics=True)
    assert lab.wait_for(lambda: ready(lab, "r1") and ready(lab, "r2"), 10)
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1", 5)

    before = metrics(lab, "r2")
    assert set(before) >= KEEPALIVED_NAMES
    key = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    assert value(before, "keepalived_vrrp_state", ip_address=f"{VIP}/24", **key) == 1
    assert value(before, "keepalived_up") == 1
    rcvd = value(before, "keepalived_advertisements_received_total", **key)
    became = value(before, "keepalived_become_master_total", **key)
    takeovers = value(before, "fastvrrp_takeover_seconds_count", **key)
    assert value(before, "fastvrrp_split_brain_other_masters", **key) == 0
    assert rcvd > 0

    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holder(VIP) == "r2", 5)
    assert lab.wait_for(
        lambda: value(metrics(lab, "r2"), "keepalived_vrrp_state", **key) == 2, 2)
    after = metrics(lab, "r2")
    assert value(after, "keepalived_become_master_total", **key) == became + 1
    assert value(after, "keepalived_advertisements_sent_total", **key) > 0
    assert value(after, "fastvrrp_takeover_seconds_count", **key) == takeovers + 1
    assert value(after, "fastvrrp_takeover_seconds_bucket", le="+Inf", **key) == takeovers + 1
    sent_late = value(after, "fastvrrp_advert_send_lateness_seconds_count", **key)
    assert sent_late > 0
    # A real histogram: the engine exports its buckets, and +Inf holds every advert.
    assert value(after, "fastvrrp_advert_send_lateness_seconds_bucket", le="+Inf",
                 **key) == sent_late
    assert value(after, "fastvrrp_advert_send_lateness_seconds_bucket", le="0.05",
                 **key) <= sent_late


def test_split_brain_gauge_counts_another_master(lab: Lab) -> None:
    # Two masters that cannot hear each other's priority win: both are owners of the VIP.
    conf = instance_conf(150).replace("state BACKUP", "state MASTER")
    start(lab, "r1", conf, metrics=True)
    start(lab, "r2", conf.replace("priority 150", "priority 255"), metrics=True)
    assert lab.wait_for(lambda: ready(lab, "r1") and ready(lab, "r2"), 10)
    key = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
    # r2 (255) is master; r1 (150) yields. Make r1 deaf to r2 to force a split brain.
    lab.run("r1", ["nft", "add table inet fvsb; add chain inet fvsb in "
                   "{ type filter hook input priority 0; }; "
                   "add rule inet fvsb in ip saddr 198.18.0.2 ip protocol 112 drop"])
    assert lab.wait_for(lambda: value(metrics(lab, "r1"), "keepalived_vrrp_state",
                                      ip_address=f"{VIP}/24", **key) == 2, 5)
    # r2 hears r1's lower-priority adverts while master: that is the split brain it reports.
    assert lab.wait_for(
        lambda: value(metrics(lab, "r2"), "fastvrrp_split_brain_other_masters", **key) == 1, 5)
    # Healed: r1 hears r2 again and yields; r2 stops counting it after Master_Down.
    lab.run("r1", ["nft", "delete table inet fvsb"])
    assert lab.wait_for(
        lambda: value(metrics(lab, "r2"), "fastvrrp_split_brain_other_masters", **key) == 0, 5)
