"""A small client of libnftables' JSON interface (ctypes), with `nft -j -f -` as a fallback."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from typing import Any

#: nft_ctx_output_set_flags bit for JSON output.
NFT_CTX_OUTPUT_JSON = 1 << 4


class NftError(RuntimeError):
    """nftables refused a command; the message is nft's own."""


class Nft:
    """Runs JSON commands in the caller's network namespace, one transaction per call."""

    def __init__(self) -> None:
        self._lib: ctypes.CDLL | None = None
        self._ctx: int | None = None
        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError:
            if shutil.which("nft") is None:
                raise NftError("neither libnftables.so.1 nor nft is installed") from None
            return
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise NftError("nft_ctx_new failed")
        lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        self._lib, self._ctx = lib, ctx

    @property
    def via(self) -> str:
        """'libnftables' or 'nft' (the CLI fallback)."""
        return "libnftables" if self._lib is not None else "nft"

    def run(self, commands: list[dict[str, Any]]) -> dict[str, Any]:
        """Run `{"nftables": commands}` as one transaction; return nft's JSON output, if any."""
        return self.run_text(json.dumps({"nftables": commands}))

    def run_text(self, text: str) -> dict[str, Any]:
        """Run a JSON document (or native nft syntax) as one transaction."""
        if self._lib is None or self._ctx is None:
            proc = subprocess.run(["nft", "-j", "-f", "-"], input=text, capture_output=True,
                                  text=True, check=False)
            if proc.returncode != 0:
                raise NftError(proc.stderr.strip())
            out = proc.stdout
        else:
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, text.encode())
            if rc != 0:
                error = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
                raise NftError(error.decode(errors="replace").strip())
            out = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        if not out.strip():
            return {}
        result: dict[str, Any] = json.loads(out)
        return result

    def list_table(self, family: str, name: str) -> dict[str, Any] | None:
        """`list table` as JSON, or None when the table does not exist."""
        try:
            return self.run([{"list": {"table": {"family": family, "name": name}}}])
        except NftError:
            return None

    def close(self) -> None:
        """Free the libnftables context."""
        if self._lib is not None and self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None
            self._lib = None
