"""Reading keepalived.conf: the lexer/reader, keyword tables, typed model and `check`."""

from fastvrrp.config.check import CheckResult, check_file, default_config_id, to_jsonable
from fastvrrp.config.diagnostics import Diagnostic
from fastvrrp.config.model import Config, Location

__all__ = ["CheckResult", "Config", "Diagnostic", "Location", "check_file", "default_config_id",
           "to_jsonable"]
