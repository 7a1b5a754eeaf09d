"""Reading keepalived.conf: what a user writes and what fastvrrp understands from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fastvrrp.cli import main
from fastvrrp.config import CheckResult, check_file
from fastvrrp.config.model import HttpGet, TcpCheck, VrrpInstance

SEED = Path(__file__).parent.parent / "configs" / "seed"
ETH = frozenset({"lo", "eth0", "eth1"})


def check_text(tmp_path: Path, text: str, config_id: str = "node1",
               name: str = "keepalived.conf") -> CheckResult:
    path = tmp_path / name
    path.write_text(text)
    return check_file(str(path), config_id, interfaces=ETH)


def instance(result: CheckResult, index: int = 0) -> VrrpInstance:
    assert result.config is not None
    return result.config.vrrp_instances[index]


def messages(result: CheckResult) -> list[tuple[int, str, str]]:
    return [(d.location.line, d.severity, d.message) for d in result.diagnostics]


def vrrp(body: str, name: str = "VI_1") -> str:
    return (f"vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id 51\n"
            f"{body}\n    virtual_ipaddress {{\n        198.18.0.100/24\n    }}\n}}\n")


# --- the seed pair -------------------------------------------------------------------------


def test_seed_master_resolves_to_the_classic_pair() -> None:
    result = check_file(str(SEED / "master.conf"), "node1", interfaces=ETH)
    assert result.config is not None
    config = result.config
    inst = config.vrrp_instances[0]
    assert (inst.name, inst.state, inst.interface) == ("VI_1", "MASTER", "eth0")
    assert (inst.virtual_router_id, inst.priority, inst.advert_int, inst.version) == (
        51, 100, 1.0, 2)
    assert (inst.auth_type, inst.auth_pass) == ("PASS", b"1111")
    vip = inst.virtual_ipaddress[0]
    assert (vip.address, vip.prefix, vip.location.line) == ("198.18.0.100", 24, 29)
    assert [(t.name, t.weight) for t in inst.track_scripts] == [("chk_httpd", None)]
    assert inst.notify_master is not None
    assert (inst.notify_master.command, inst.notify_master.user) == (
        "/usr/local/bin/vrrp-notify.sh master", None)
    script = config.vrrp_scripts[0]
    assert (script.name, script.interval, script.timeout, script.weight) == (
        "chk_httpd", 2.0, 2.0, -20)
    assert config.global_defs.notification_email == ("ops@example.net",)
    assert config.global_defs.smtp_server == "198.18.0.25"
    vs = config.virtual_servers[0]
    assert (vs.ip, vs.port, vs.lvs_sched, vs.lvs_method, vs.protocol, vs.delay_loop) == (
        "198.18.0.100", 80, "rr", "NAT", "TCP", 6.0)
    http, tcp = (rs.checkers[0] for rs in vs.real_servers)
    assert isinstance(http, HttpGet) and isinstance(tcp, TcpCheck)
    assert http.urls[0].status_code == ((200, 200),)
    assert (http.connect_timeout, http.retry, http.delay_before_retry, http.delay_loop) == (
        3.0, 3, 3.0, 6.0)
    assert (tcp.connect_timeout, tcp.retry, tcp.delay_before_retry) == (3.0, 1, 1.0)


def test_seed_backup_differs_only_in_state_and_priority() -> None:
    master = check_file(str(SEED / "master.conf"), "n", interfaces=ETH).config
    backup = check_file(str(SEED / "backup.conf"), "n", interfaces=ETH).config
    assert master is not None and backup is not None
    m_inst, b_inst = master.vrrp_instances[0], backup.vrrp_instances[0]
    assert (b_inst.state, b_inst.priority) == ("BACKUP", 90)
    assert (m_inst.virtual_router_id, m_inst.virtual_ipaddress[0].address) == (
        b_inst.virtual_router_id, b_inst.virtual_ipaddress[0].address)


# --- defaults and ranges -------------------------------------------------------------------


def test_state_master_without_priority_is_owner(tmp_path: Path) -> None:
    assert instance(check_text(tmp_path, vrrp("    state MASTER"))).priority == 255
    assert instance(check_text(tmp_path, vrrp("    state BACKUP"))).priority == 100


def test_v2_advert_int_rounds_with_a_warning(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp("    advert_int 1.5"))
    assert instance(result).advert_int == 2.0
    assert (4, "warning", "(VI_1) VRRPv2 advertisement interval 1.500000s must be an integer. "
            "rounding") in messages(result)
    assert result.exit_code == 5


def test_v3_keeps_centiseconds(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp("    version 3\n    advert_int 0.05"))
    assert (instance(result).version, instance(result).advert_int) == (3, 0.05)
    assert result.exit_code == 0


def test_ipv6_vips_force_v3(tmp_path: Path) -> None:
    text = ("vrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n"
            " virtual_ipaddress {\n  2001:2::10/64\n }\n}\n")
    inst = instance(check_text(tmp_path, text))
    assert (inst.family, inst.version, inst.virtual_ipaddress[0].prefix) == ("inet6", 3, 64)


def test_auth_pass_is_cut_to_8_bytes(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp(
        "    authentication {\n        auth_type PASS\n        auth_pass 123456789abc\n    }"))
    assert instance(result).auth_pass == b"12345678"
    assert (6, "warning", "Truncating auth_pass to 8 characters") in messages(result)


@pytest.mark.parametrize(("line", "message"), [
    ("priority 0", "(VI_1) Priority not valid! must be between 1 & 255. Using default 100"),
    ("priority 256", "number '256' outside range [1, 255]"),
    ("advert_int 300", "(VI_1) Advert interval (300) not valid! Must be > 0 - ignoring"),
])
def test_out_of_range_values_keep_the_default(tmp_path: Path, line: str, message: str) -> None:
    result = check_text(tmp_path, vrrp("    " + line))
    assert any(msg == message for _, _, msg in messages(result))
    assert (instance(result).priority, instance(result).advert_int) == (100, 1.0)
    assert result.exit_code == 5


def test_vrid_is_required(tmp_path: Path) -> None:
    result = check_text(tmp_path, "vrrp_instance VI_9 {\n interface eth0\n}\n")
    assert result.config is not None and result.config.vrrp_instances == ()
    assert (1, "error", "(VI_9) the virtual router id must be set") in messages(result)


def test_use_vmac_defaults_to_vrrp_dot_vrid(tmp_path: Path) -> None:
    assert instance(check_text(tmp_path, vrrp("    use_vmac"))).use_vmac == "vrrp.51"
    assert instance(check_text(tmp_path, vrrp("    use_vmac vm1"))).use_vmac == "vm1"


def test_garp_settings_inherit_globals(tmp_path: Path) -> None:
    text = ("global_defs {\n vrrp_garp_master_delay 2\n vrrp_garp_master_refresh 60\n}\n"
            + vrrp("    garp_master_repeat 3"))
    inst = instance(check_text(tmp_path, text))
    assert (inst.garp_master_delay, inst.garp_master_repeat, inst.garp_master_refresh) == (
        2.0, 3, 60.0)


def test_strict_mode_refuses_authentication(tmp_path: Path) -> None:
    text = "global_defs {\n vrrp_strict\n}\n" + vrrp(
        "    authentication {\n        auth_type PASS\n        auth_pass x\n    }")
    result = check_text(tmp_path, text)
    assert instance(result).auth_type is None and instance(result).strict_mode
    assert "(VI_1) Strict mode does not support authentication. Ignoring." in [
        msg for _, _, msg in messages(result)]


def test_nopreempt_needs_backup(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp("    state MASTER\n    nopreempt"))
    assert not instance(result).nopreempt
    assert result.exit_code == 5


def test_missing_interface_is_named(tmp_path: Path) -> None:
    text = vrrp("").replace("interface eth0", "interface eth7")
    result = check_text(tmp_path, text)
    assert (2, "warning", "WARNING - interface eth7 for vrrp_instance VI_1 doesn't exist") in (
        messages(result))


# --- keywords ------------------------------------------------------------------------------


def test_unknown_keyword_warns_and_goes_on(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp("    bogus_kw 1 {\n        inner 2\n    }\n    priority 7"))
    assert (4, "warning", "Unknown keyword 'bogus_kw'") in messages(result)
    assert instance(result).priority == 7
    assert result.diagnostics[0].location.column == 5


def test_not_yet_supported_keyword_is_a_note(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp("    track_src_ip"))
    assert (4, "note", "'track_src_ip' is not supported by fastvrrp yet - ignored") in messages(
        result)
    assert result.exit_code == 0


def test_deprecated_aliases(tmp_path: Path) -> None:
    text = ("virtual_server 198.18.0.1 80 {\n lb_algo wrr\n lb_kind DR\n protocol TCP\n"
            " nb_get_retry 4\n real_server 198.18.0.2 80 {\n  TCP_CHECK {\n  }\n }\n}\n")
    result = check_text(tmp_path, text)
    assert result.config is not None
    vs = result.config.virtual_servers[0]
    assert (vs.lvs_sched, vs.lvs_method, vs.retry) == ("wrr", "DR", 4)
    assert vs.real_servers[0].checkers[0].retry == 4
    assert [m for m in messages(result) if m[1] != "note"] == [
        (5, "warning", "'nb_get_retry' is deprecated - use 'retry'")]


# --- the language --------------------------------------------------------------------------


def test_brace_on_the_next_line_and_inline_blocks(tmp_path: Path) -> None:
    text = ("vrrp_instance VI_1\n{\n interface eth0\n virtual_router_id 5\n"
            " virtual_ipaddress { 198.18.0.1 198.18.0.2 }\n}\n")
    result = check_text(tmp_path, text)
    assert [v.address for v in instance(result).virtual_ipaddress] == ["198.18.0.1"]
    text = text.replace("{ 198.18.0.1 198.18.0.2 }", "{\n 198.18.0.1\n 198.18.0.2 }")
    assert len(instance(check_text(tmp_path, text)).virtual_ipaddress) == 2


def test_comments_and_quoted_strings(tmp_path: Path) -> None:
    text = vrrp('    notify "/bin/echo \'a # b\' \\x41\\t!" root # comment\n    ! more')
    inst = instance(check_text(tmp_path, text))
    assert inst.notify is not None
    assert (inst.notify.command, inst.notify.user) == ("/bin/echo 'a # b' A\t!", "root")


def test_conditional_lines_follow_the_config_id(tmp_path: Path) -> None:
    text = vrrp("@main    priority 240\n@backup  priority 200\n@^main   advert_int 3")
    main_inst = instance(check_text(tmp_path, text, config_id="main"))
    backup_inst = instance(check_text(tmp_path, text, config_id="backup"))
    assert (main_inst.priority, main_inst.advert_int) == (240, 1.0)
    assert (backup_inst.priority, backup_inst.advert_int) == (200, 3.0)


def test_macros_substitute_recursively_at_use(tmp_path: Path) -> None:
    text = ("$BASE=198.18.${SUB}\n$SUB=0\n"
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n"
            " notify \"$UNDEFINED ${_INSTANCE}\"\n virtual_ipaddress {\n  ${BASE}.100/32\n"
            "$SUB=7\n  ${BASE}.100/32\n }\n}\n")
    inst = instance(check_text(tmp_path, text, config_id="host1"))
    assert [v.address for v in inst.virtual_ipaddress] == ["198.18.0.100", "198.18.7.100"]
    assert inst.notify is not None and inst.notify.command == "$UNDEFINED host1"


def test_multiline_macro_expands_to_blocks(tmp_path: Path) -> None:
    text = ("$INST= \\\nvrrp_instance VI_${N} { \\\n interface eth0 \\\n"
            " virtual_router_id ${N} \\\n@high priority 130 \\\n"
            " virtual_ipaddress { \\\n  198.18.0.${N} \\\n } \\\n}\n"
            "$N=1\n$INST\n$N=2\n$INST\n")
    result = check_text(tmp_path, text, config_id="high")
    assert result.config is not None
    assert [(i.name, i.virtual_router_id, i.priority)
            for i in result.config.vrrp_instances] == [("VI_1", 1, 130), ("VI_2", 2, 130)]
    assert result.config.vrrp_instances[1].location.line == 13


def test_seq_and_lst_generators(tmp_path: Path) -> None:
    text = ("~SEQ(N, 1, 3) vrrp_script s$N { script /bin/true }\n"
            "vrrp_instance X {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n"
            "  ~LST({A, B}, {1,2},{3,4}) 198.18.${A}.${B}\n  ~SEQx(H, 10, 2, 14) 2001:2::${H}\n"
            " }\n}\n")
    result = check_text(tmp_path, text)
    inst = instance(result)
    assert result.config is not None
    assert [s.name for s in result.config.vrrp_scripts] == ["s1", "s2", "s3"]
    assert [v.address for v in inst.virtual_ipaddress] == ["198.18.1.2", "198.18.3.4"]
    assert any("address family must match" in msg for _, _, msg in messages(result))


def test_predefined_random_stays_in_range(tmp_path: Path) -> None:
    inst = instance(check_text(tmp_path, vrrp("    priority ${_RANDOM 10 20}")))
    assert 10 <= inst.priority <= 20


def test_include_globs_braces_relative_to_the_includer(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "a.conf").write_text(vrrp("", "VI_A").replace("51", "1"))
    (conf_d / "b.conf").write_text(vrrp("", "VI_B").replace("51", "2"))
    (conf_d / "c.conf").write_text(vrrp("", "VI_C").replace("51", "3"))
    (conf_d / "skip.txt").write_text("garbage {\n")
    result = check_text(tmp_path, "include conf.d/{a,b}.conf\ninclude conf.d/c*.conf\n")
    assert result.config is not None
    assert [i.name for i in result.config.vrrp_instances] == ["VI_A", "VI_B", "VI_C"]
    assert result.config.vrrp_instances[2].location.file == str(conf_d / "c.conf")
    assert result.exit_code == 0


def test_include_variants_and_loops(tmp_path: Path) -> None:
    (tmp_path / "loop.conf").write_text("include keepalived.conf\n")
    result = check_text(tmp_path, "include loop.conf\ninclude none/*.conf\nincludem nofile\n")
    found = messages(result)
    assert (1, "error", "include loop: '" + str(tmp_path / "keepalived.conf")
            + "' is already being read") in found
    assert (2, "note", "config files missing 'none/*.conf'") in found
    assert (3, "error", "config files missing 'nofile'") in found


def test_unbalanced_braces_are_reported(tmp_path: Path) -> None:
    result = check_text(tmp_path, "vrrp_instance VI_1 {\n interface eth0\n}\n}\n")
    assert (4, "warning", "Extra '}' found") in messages(result)
    result = check_text(tmp_path, "vrrp_instance VI_1 {\n interface eth0\n")
    assert (1, "warning", "missing '}' for the block opened by 'vrrp_instance'") in messages(
        result)


# --- the command ---------------------------------------------------------------------------


def test_check_command_prints_diagnostics_and_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_text(vrrp("    priority 0"))
    result = CliRunner().invoke(main, ["check", "-f", str(path), "-i", "x"])
    assert result.exit_code == 5
    assert f"{path}:4:14: error: number '0' outside range [1, 255]" in result.output


def test_check_command_missing_file_is_fatal(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "-f", str(tmp_path / "nope.conf")])
    assert result.exit_code == 4
    assert "fatal: config file" in result.output


def test_check_command_dump_is_json(tmp_path: Path) -> None:
    import json

    result = CliRunner().invoke(main, ["check", "-f", str(SEED / "backup.conf"), "--dump"])
    data = json.loads(result.stdout)
    assert data["vrrp_instances"][0]["priority"] == 90
    assert data["virtual_servers"][0]["real_servers"][0]["checkers"][0]["type"] == "HTTP_GET"


def test_plain_flags_ignore_a_value_as_keepalived_does(tmp_path: Path) -> None:
    result = check_text(tmp_path, vrrp("    dont_track_primary off\n    smtp_alert off"))
    inst = instance(result)
    # keepalived sets a plain flag whatever follows it; smtp_alert reads a BOOL.
    assert (inst.dont_track_primary, inst.smtp_alert) == (True, False)
    assert (4, "note", "'dont_track_primary' takes no argument - 'off' ignored") in messages(
        result)
    assert result.exit_code == 0


def test_a_macro_can_hold_a_conditional(tmp_path: Path) -> None:
    text = "$IF_MAIN=@main\n" + vrrp("$IF_MAIN priority 240")
    assert instance(check_text(tmp_path, text, config_id="main")).priority == 240
    assert instance(check_text(tmp_path, text, config_id="backup")).priority == 100
