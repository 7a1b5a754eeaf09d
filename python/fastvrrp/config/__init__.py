"""Reading keepalived.conf: the lexer/reader, keyword tables, typed model and `check`."""

from fastvrrp.config.model import Config, Location

__all__ = ["Config", "Location"]
